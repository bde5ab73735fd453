using System.CommandLine;
using Augur.Chat;
using Augur.Generation;
using Augur.Model;
using Augur.Speculative;

namespace Augur.Cli.Commands;

static class ChatCommand
{
    public static Command Create()
    {
        var model = new ModelArguments();
        var system = new Option<string?>("--system") { Description = "a system message to start the conversation" };
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "tokens per reply at most", DefaultValueFactory = _ => 256 };
        var ctx = new Option<int?>("--ctx") { Description = $"context length (default: the model's, at most {ContextWindow.DefaultMax})" };
        var allowLong = new Option<bool>("--allow-long-context") { Description = "allow --ctx beyond the model's trained context" };
        var input = new Option<string?>("--input", "-f") { Description = "read the messages from this UTF-8 file, one per line, instead of standard input" };
        var speculative = new Option<string>("--speculative") { Description = "none|lookup|recycling|aded|swift|auto (lossless)", DefaultValueFactory = _ => "none" };
        var sampling = new SamplingArguments();
        var template = new TemplateArguments();
        var kv = new KvArguments();
        var cmd = new Command("chat", "talk with the model: one line of standard input per message, the reply streamed back; /reset forgets, /exit or end of input stops")
        {
            system, maxTokens, ctx, allowLong, input, speculative,
        };
        sampling.AddTo(cmd);
        template.AddTo(cmd);
        kv.AddTo(cmd);
        model.AddTo(cmd);
        cmd.SetAction(r => CliErrors.Run(() =>
        {
            var options = sampling.Parse(r);
            options.Validate();
            if (r.GetValue(maxTokens) < 1) throw new InvalidRequestException($"--max-tokens must be ≥ 1 (got {r.GetValue(maxTokens)})");
            using var reader = r.GetValue(input) is { } path ? new StringReader(TextInput.ReadFile(path)) : TextInput.StandardInput();
            var kvOptions = kv.Options(r);
            using var loaded = model.Open(r);
            var chat = template.Open(r, loaded);
            var generator = new Generator(loaded.Model, loaded.Tokenizer, ContextWindow.Resolve(loaded.Model.Config, r.GetValue(ctx), r.GetValue(allowLong)), kvOptions);
            generator.Drafter = Drafters.Create(r.GetValue(speculative)!, loaded.Model, generator.Cache);
            var turns = new List<ChatTurn>();
            void Reset()
            {
                turns.Clear();
                if (r.GetValue(system) is { Length: > 0 } s) turns.Add(new ChatTurn("system", s));
            }
            Reset();
            bool interactive = r.GetValue(input) is null && !Console.IsInputRedirected;
            var stdout = Console.Out;
            while (true)
            {
                if (interactive) Console.Error.Write("> ");
                string? line = reader.ReadLine();
                if (line is null || line.Trim() == "/exit") break;
                if (line.Trim() == "/reset") { Reset(); continue; }
                if (line.Length == 0) continue;
                turns.Add(new ChatTurn("user", line));
                GenerationResult result;
                try
                {
                    // A conversation whose length alone proves it too long is refused before tokenizing.
                    string text = chat.Render(turns);
                    if (loaded.Tokenizer.Vocabulary.FewestTokens(text) is var fewest && fewest >= generator.ContextLength)
                        throw new InvalidRequestException($"the conversation is at least {fewest:N0} tokens but the context holds {generator.ContextLength}");
                    var request = new GenerationRequest { PromptIds = chat.Tokenize(text), MaxTokens = r.GetValue(maxTokens), Sampling = options };
                    result = generator.Generate(request, e => { stdout.Write(e.Text); stdout.Flush(); });
                }
                catch (InvalidRequestException e) when (interactive)
                {
                    // The conversation outgrew the context: say so and start over rather than end the session.
                    Console.Error.WriteLine($"error: {e.Message}; the conversation is reset");
                    Reset();
                    continue;
                }
                stdout.WriteLine();
                turns.Add(new ChatTurn("assistant", result.Text));
            }
            return 0;
        }));
        return cmd;
    }
}
