using System.CommandLine;
using System.Text.Json;
using Augur.Cache;
using Augur.Generation;
using Augur.Model;
using Augur.Sampling;
using Augur.Speculative;

namespace Augur.Cli.Commands;

static class GenerateCommand
{
    // Relaxed escaping keeps quotes and non-ASCII text readable in the JSON line.
    static readonly JsonSerializerOptions JsonOutput = new() { Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping };

    public static Command Create()
    {
        var model = new ModelArguments();
        var prompt = new Option<string>("--prompt", "-p") { Description = "the prompt text", Required = true };
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "tokens to generate at most", DefaultValueFactory = _ => 256 };
        var sampling = new SamplingArguments();
        var stop = new Option<string[]>("--stop") { Description = "stop when the text contains this (repeatable)", AllowMultipleArgumentsPerToken = false };
        var ctx = new Option<int?>("--ctx") { Description = "context length (default: the model's); the cache holds only what the prompt and --max-tokens need" };
        var allowLong = new Option<bool>("--allow-long-context") { Description = "allow --ctx beyond the model's trained context" };
        var speculative = new Option<string>("--speculative") { Description = "none|lookup|recycling|aded|swift|draft|auto", DefaultValueFactory = _ => "none" };
        var draftModel = new Option<string?>("--draft-model") { Description = "draft model for --speculative draft (same vocabulary)" };
        var draftMax = new Option<int>("--draft-max") { Description = "most draft tokens per chain", DefaultValueFactory = _ => 10 };
        var kv = new KvArguments();
        var json = new Option<bool>("--json") { Description = "print one JSON object (ids, text, timings) instead of streaming text" };

        var cmd = new Command("generate", "generate text from a prompt")
        {
            prompt, maxTokens, stop, ctx, allowLong, speculative, draftModel, draftMax, json,
        };
        sampling.AddTo(cmd);
        kv.AddTo(cmd);
        model.AddTo(cmd);
        cmd.SetAction(r => CliErrors.Run(() =>
        {
            var request = new GenerationRequest
            {
                Prompt = r.GetValue(prompt)!,
                MaxTokens = r.GetValue(maxTokens),
                Stop = r.GetValue(stop) ?? [],
                Sampling = sampling.Parse(r),
            };
            request.Validate();
            if (r.GetValue(draftMax) < 1) throw new InvalidRequestException($"--draft-max must be ≥ 1 (got {r.GetValue(draftMax)})");
            var kvOptions = kv.Options(r);
            using var loaded = model.Open(r);
            // The cache holds what this run can use: the prompt and the tokens asked for, within the context.
            var config = loaded.Model.Config;
            int limit = ContextWindow.Resolve(config, r.GetValue(ctx) ?? config.ContextLength, r.GetValue(allowLong));
            long fewest = loaded.Tokenizer.Vocabulary.FewestTokens(request.Prompt);
            long promptTokens = fewest >= limit ? fewest : loaded.Tokenizer.Encode(request.Prompt).Length;
            var generator = new Generator(loaded.Model, loaded.Tokenizer, ContextWindow.Resolve(config, limit, true, work: promptTokens + request.MaxTokens + 1), kvOptions);
            using var draft = r.GetValue(draftModel) is { } draftPath ? LoadedModel.Open(draftPath) : null;
            generator.Drafter = Drafters.Create(r.GetValue(speculative)!, loaded.Model, generator.Cache, draft?.Model, r.GetValue(draftMax));
            bool asJson = r.GetValue(json);
            if (!asJson)
            {
                Console.Out.Write(request.Prompt);
                Console.Out.Flush();
            }
            var stdout = Console.Out;
            var result = generator.Generate(request, asJson ? null : e => { stdout.Write(e.Text); stdout.Flush(); });
            if (asJson)
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(new
                {
                    prompt_ids = result.PromptIds,
                    ids = result.Ids,
                    text = result.Text,
                    finish_reason = result.FinishReason.ToString().ToLowerInvariant(),
                    seed = result.Seed,
                    speculative = result.Speculation is { } st ? new
                    {
                        mode = r.GetValue(speculative),
                        steps = st.Steps,
                        drafted = st.Drafted,
                        accepted = st.Accepted,
                        mean_accepted = st.MeanAccepted,
                        accepted_histogram = st.AcceptedHistogram,
                    } : null,
                    timings = new
                    {
                        prompt_tokens = result.PromptIds.Length,
                        prompt_tokens_per_second = result.PromptTokensPerSecond,
                        generated_tokens = result.Ids.Length,
                        generated_tokens_per_second = result.GeneratedTokensPerSecond,
                    },
                }, JsonOutput));
            }
            else
            {
                Console.Out.WriteLine();
                Console.Error.WriteLine($"[prompt: {result.PromptIds.Length} tokens, {result.PromptTokensPerSecond:F1} tok/s | generated: {result.Ids.Length} tokens, {result.GeneratedTokensPerSecond:F1} tok/s | {result.FinishReason}]");
            }
            return 0;
        }));
        return cmd;
    }
}
