using System.CommandLine;
using Augur;
using Augur.Cli.Commands;

var root = new RootCommand("augur: run large language models in pure .NET")
{
    GenerateCommand.Create(),
    ChatCommand.Create(),
    InspectCommand.Create(),
    TokenizeCommand.Create(),
    ConvertCommand.Create(),
    SynthCommand.Create(),
    QuantizeCommand.Create(),
    ServeCommand.Create(),
    NodeCommand.Create(),
    PerplexityCommand.Create(),
};
try
{
    var parsed = root.Parse(args);
    // A value that does not parse (--ctx 99999999999, --port x) is one line and exit 1, like every other error,
    // not the help text.
    if (parsed.Errors.Count > 0)
    {
        Console.Error.WriteLine($"error: {SafeText.Line(System.Text.RegularExpressions.Regex.Replace(parsed.Errors[0].Message, @" as expected type '[^']*'", ""))} (see --help)");
        return 1;
    }
    return parsed.Invoke();
}
catch (AugurException e)
{
    Console.Error.WriteLine($"error: {SafeText.Line(e.Message)}");
    return 1;
}
