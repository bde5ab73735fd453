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
    PerplexityCommand.Create(),
};
try
{
    return root.Parse(args).Invoke();
}
catch (AugurException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
