using System.CommandLine;
using System.Text.Json;
using Augur.Generation;
using Spectre.Console;

namespace Augur.Cli.Commands;

static class PerplexityCommand
{
    public static Command Create()
    {
        var model = new ModelArguments();
        var file = new Option<string?>("--file", "-f") { Description = "text to score (default: tinystories-valid-sample.txt from the shared data folder)" };
        var ctx = new Option<int>("--ctx", "-c") { Description = "context length of each chunk; the second half of every chunk is scored", DefaultValueFactory = _ => 128 };
        var json = new Option<bool>("--json") { Description = "print the result as one JSON line" };
        var cmd = new Command("perplexity", "perplexity of a text, chunked as llama.cpp's llama-perplexity does") { file, ctx, json };
        model.AddTo(cmd);
        cmd.SetAction(r => CliErrors.Run(() =>
        {
            string path = r.GetValue(file) ?? SharedAssets.Data("tinystories-valid-sample.txt");
            string text = TextInput.ReadFile(path);
            using var loaded = model.Open(r);
            PerplexityResult result = null!;
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new RemainingTimeColumn())
                .Start(p =>
                {
                    var task = p.AddTask("chunks", maxValue: 1);
                    result = Perplexity.Measure(loaded.Model, loaded.Tokenizer, text, r.GetValue(ctx), (done, total) => (task.MaxValue, task.Value) = (total, done));
                });
            if (r.GetValue(json))
                Console.WriteLine(JsonSerializer.Serialize(new
                {
                    perplexity = result.Perplexity, mean_nll = result.MeanNegativeLogLikelihood, scored_tokens = result.ScoredTokens,
                    chunks = result.Chunks, ctx = result.ContextLength,
                }));
            else
                Console.WriteLine($"perplexity {result.Perplexity:F4} (mean negative log-likelihood {result.MeanNegativeLogLikelihood:F4}) over {result.ScoredTokens:N0} tokens in {result.Chunks} chunks of {result.ContextLength}");
            return 0;
        }));
        return cmd;
    }
}
