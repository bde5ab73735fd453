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

    public static KvType ParseKvType(string value) => value.ToLowerInvariant() switch
    {
        "f32" => KvType.F32,
        "f16" => KvType.F16,
        _ => throw new InvalidRequestException($"--kv-type {value} is not supported (supported: f32, f16)"),
    };

    public static Command Create()
    {
        var model = new Option<string?>("--model", "-m") { Description = "GGUF file or llama2.c checkpoint (default: stories260K.gguf from the shared models folder)" };
        var tokenizer = new Option<string?>("--tokenizer") { Description = "tokenizer for a llama2.c checkpoint (.model or tokenizer.bin), or to override a GGUF's" };
        var prompt = new Option<string>("--prompt", "-p") { Description = "the prompt text", Required = true };
        var maxTokens = new Option<int>("--max-tokens", "-n") { Description = "tokens to generate at most", DefaultValueFactory = _ => 256 };
        var temperature = new Option<float>("--temperature", "-t") { Description = "0 = greedy", DefaultValueFactory = _ => 0.8f };
        var topK = new Option<int>("--top-k") { Description = "keep the k most likely tokens (0 = off)", DefaultValueFactory = _ => 40 };
        var topP = new Option<float>("--top-p") { Description = "nucleus sampling mass (1 = off)", DefaultValueFactory = _ => 0.95f };
        var minP = new Option<float>("--min-p") { Description = "drop tokens below this fraction of the best one's probability (0 = off)", DefaultValueFactory = _ => 0.05f };
        var repeat = new Option<float>("--repeat-penalty") { Description = "1 = off", DefaultValueFactory = _ => 1.0f };
        var presence = new Option<float>("--presence-penalty") { DefaultValueFactory = _ => 0f };
        var frequency = new Option<float>("--frequency-penalty") { DefaultValueFactory = _ => 0f };
        var seed = new Option<int?>("--seed", "-s") { Description = "random seed (same seed, same output)" };
        var stop = new Option<string[]>("--stop") { Description = "stop when the text contains this (repeatable)", AllowMultipleArgumentsPerToken = false };
        var ctx = new Option<int?>("--ctx") { Description = "context length (default: the model's)" };
        var speculative = new Option<string>("--speculative") { Description = "none|lookup|recycling|aded|swift|draft|auto", DefaultValueFactory = _ => "none" };
        var draftModel = new Option<string?>("--draft-model") { Description = "draft model for --speculative draft (same vocabulary)" };
        var draftMax = new Option<int>("--draft-max") { Description = "most draft tokens per chain", DefaultValueFactory = _ => 10 };
        var kvType = new Option<string>("--kv-type") { Description = "KV cache element type: f32 or f16 (half the memory)", DefaultValueFactory = _ => "f32" };
        var json = new Option<bool>("--json") { Description = "print one JSON object (ids, text, timings) instead of streaming text" };

        var cmd = new Command("generate", "generate text from a prompt")
        {
            model, tokenizer, prompt, maxTokens, temperature, topK, topP, minP, repeat, presence, frequency, seed, stop, ctx, speculative, draftModel, draftMax, kvType, json,
        };
        cmd.SetAction(r => CliErrors.Run(() =>
        {
            var request = new GenerationRequest
            {
                Prompt = r.GetValue(prompt)!,
                MaxTokens = r.GetValue(maxTokens),
                Stop = r.GetValue(stop) ?? [],
                Sampling = new SamplingOptions
                {
                    Temperature = r.GetValue(temperature),
                    TopK = r.GetValue(topK),
                    TopP = r.GetValue(topP),
                    MinP = r.GetValue(minP),
                    RepeatPenalty = r.GetValue(repeat),
                    PresencePenalty = r.GetValue(presence),
                    FrequencyPenalty = r.GetValue(frequency),
                    Seed = r.GetValue(seed),
                },
            };
            request.Validate();
            using var loaded = LoadedModel.Open(CliErrors.ModelPath(r.GetValue(model)), r.GetValue(tokenizer));
            var generator = new Generator(loaded.Model, loaded.Tokenizer, r.GetValue(ctx), ParseKvType(r.GetValue(kvType)!));
            if (r.GetValue(draftMax) < 1) throw new InvalidRequestException($"--draft-max must be ≥ 1 (got {r.GetValue(draftMax)})");
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
