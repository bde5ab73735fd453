using System.CommandLine;
using Augur.Chat;
using Augur.ChatTemplates;
using Augur.Model;

namespace Augur.Cli.Commands;

/// <summary>The chat-template budget and fallback that `chat` and `serve` share (docs/security.md).</summary>
sealed class TemplateArguments
{
    static readonly ChatTemplateLimits Defaults = ChatTemplateLimits.Default;

    readonly Option<long> _steps = new("--template-max-steps") { Description = "steps a chat-template render may take", DefaultValueFactory = _ => Defaults.MaxSteps };
    readonly Option<long> _output = new("--template-max-output") { Description = "characters a chat-template render may write", DefaultValueFactory = _ => Defaults.MaxOutputChars };
    readonly Option<long> _memory = new("--template-max-memory") { Description = "characters and items a chat-template render may build", DefaultValueFactory = _ => Defaults.MaxBuiltSize };
    readonly Option<bool> _defaultTemplate = new("--default-template") { Description = "use ChatML when the model's chat template fails to load (otherwise chat is refused)" };

    public void AddTo(Command command)
    {
        foreach (Option o in new Option[] { _steps, _output, _memory, _defaultTemplate }) command.Options.Add(o);
    }

    public ChatTemplateLimits Limits(ParseResult r) => new ChatTemplateLimits
    {
        MaxSteps = r.GetValue(_steps),
        MaxOutputChars = r.GetValue(_output),
        MaxBuiltSize = r.GetValue(_memory),
    }.Validate();

    public bool DefaultOnFailure(ParseResult r) => r.GetValue(_defaultTemplate);

    /// <summary>The model's chat prompt for `chat`: a template that failed at load ends the command (one line),
    /// unless --default-template asked for ChatML instead, which is said once on stderr.</summary>
    public ChatPrompt Open(ParseResult r, LoadedModel model)
    {
        var chat = ChatPrompt.ForModel(model, Limits(r), DefaultOnFailure(r));
        if (chat.LoadProblem is { } problem)
        {
            if (!DefaultOnFailure(r)) throw new InvalidRequestException($"{problem} (--default-template uses ChatML instead)");
            Console.Error.WriteLine($"augur: warning: {SafeText.Line(problem)}");
        }
        return chat;
    }
}
