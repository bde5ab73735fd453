using System.CommandLine;
using Augur.Model;

namespace Augur.Cli.Commands;

/// <summary>--model and --tokenizer, as every command that runs a model takes them.</summary>
sealed class ModelArguments
{
    readonly Option<string?> _model = new("--model", "-m") { Description = "GGUF file or llama2.c checkpoint (default: stories260K.gguf from the shared models folder)" };
    readonly Option<string?> _tokenizer = new("--tokenizer") { Description = "tokenizer for a llama2.c checkpoint (.model or tokenizer.bin), or to override a GGUF's" };

    public void AddTo(Command command)
    {
        command.Options.Add(_model);
        command.Options.Add(_tokenizer);
    }

    public string ModelPath(ParseResult r) => CliErrors.ModelPath(r.GetValue(_model));
    public string? TokenizerPath(ParseResult r) => r.GetValue(_tokenizer);
    public LoadedModel Open(ParseResult r) => LoadedModel.Open(ModelPath(r), TokenizerPath(r));
}
