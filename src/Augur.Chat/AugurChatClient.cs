using System.Runtime.CompilerServices;
using Augur.Generation;
using Augur.Model;
using Augur.Sampling;
using Microsoft.Extensions.AI;

namespace Augur.Chat;

/// <summary>
/// A <see cref="IChatClient"/> over a model in this process. Concurrent calls are batched together by its own
/// <see cref="BatchScheduler"/>. <see cref="ChatOptions"/> map to <see cref="SamplingOptions"/> (an unset option
/// keeps Augur's default); Augur-only settings go in <see cref="ChatOptions.AdditionalProperties"/>: <c>min_p</c>,
/// <c>speculative</c> (a drafter from <see cref="Speculative.Drafters.Batchable"/>; lossless).
/// The client does not own the model.
/// </summary>
public sealed class AugurChatClient : IChatClient
{
    readonly BatchScheduler _scheduler;
    readonly ChatPrompt _prompt;
    readonly ChatClientMetadata _metadata;

    /// <param name="parallel">Calls computed together; more wait in line.</param>
    /// <param name="contextLength">Tokens per conversation (default: the model's trained context).</param>
    public AugurChatClient(LoadedModel model, int parallel = 1, int? contextLength = null)
    {
        _prompt = ChatPrompt.ForModel(model);
        _scheduler = new BatchScheduler(model.Model, model.Tokenizer, parallel, contextLength);
        _metadata = new ChatClientMetadata("augur", defaultModelId: Path.GetFileNameWithoutExtension(model.Path));
    }

    public async Task<ChatResponse> GetResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null, CancellationToken cancellationToken = default)
    {
        var run = _scheduler.Submit(Request(messages, options, cancellationToken), cancel: cancellationToken, speculative: Speculative(options));
        var result = await run.Completion.WaitAsync(cancellationToken).ConfigureAwait(false);
        cancellationToken.ThrowIfCancellationRequested();
        var calls = Calls(result.Text, options);
        return new ChatResponse(calls.Count > 0 ? new ChatMessage(ChatRole.Assistant, calls) : new ChatMessage(ChatRole.Assistant, result.Text))
        {
            ResponseId = NewId(),
            ModelId = _metadata.DefaultModelId,
            CreatedAt = DateTimeOffset.UtcNow,
            FinishReason = calls.Count > 0 ? ChatFinishReason.ToolCalls : FinishReason(result),
            Usage = Usage(result),
            RawRepresentation = result,
        };
    }

    public async IAsyncEnumerable<ChatResponseUpdate> GetStreamingResponseAsync(IEnumerable<ChatMessage> messages, ChatOptions? options = null,
        [EnumeratorCancellation] CancellationToken cancellationToken = default)
    {
        // Cancelled when the caller stops enumerating early, so an abandoned request leaves the batch.
        using var abandon = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        try
        {
            var run = _scheduler.Submit(Request(messages, options, abandon.Token), cancel: abandon.Token, speculative: Speculative(options));
            string id = NewId();
            var created = DateTimeOffset.UtcNow;
            ChatResponseUpdate Update() => new() { Role = ChatRole.Assistant, ResponseId = id, MessageId = id, ModelId = _metadata.DefaultModelId, CreatedAt = created };
            // With tools the reply may be a call: it is read whole at the end instead of streamed.
            bool hold = ToolsActive(options);
            await foreach (var token in run.Tokens.ReadAllAsync(cancellationToken).ConfigureAwait(false))
            {
                if (token.Event.Text.Length == 0 || hold) continue;
                var update = Update();
                update.Contents.Add(new TextContent(token.Event.Text));
                yield return update;
            }
            var result = await run.Completion.ConfigureAwait(false);
            cancellationToken.ThrowIfCancellationRequested();
            var last = Update();
            last.FinishReason = FinishReason(result);
            if (hold)
            {
                var calls = Calls(result.Text, options);
                if (calls.Count > 0) { foreach (var c in calls) last.Contents.Add(c); last.FinishReason = ChatFinishReason.ToolCalls; }
                else if (result.Text.Length > 0) last.Contents.Add(new TextContent(result.Text));
            }
            last.Contents.Add(new UsageContent(Usage(result)));
            yield return last;
        }
        finally
        {
            abandon.Cancel();
        }
    }

    GenerationRequest Request(IEnumerable<ChatMessage> messages, ChatOptions? options, CancellationToken cancel)
    {
        var turns = new List<ChatTurn>();
        if (!string.IsNullOrEmpty(options?.Instructions)) turns.Add(new ChatTurn("system", options.Instructions));
        foreach (var m in messages) turns.AddRange(Turns(m));
        var tools = Tools(options);
        var grammar = ResponseGrammar(options?.ResponseFormat);
        if (options?.ToolMode is RequiredChatToolMode required)
        {
            if (grammar is not null) throw new InvalidRequestException("a required tool call contradicts the JSON response format");
            grammar = ToolCalls.CallGrammar(required.RequiredFunctionName is { } name ? tools.Where(t => t.Name == name).ToList() : tools,
                parallel: options.AllowMultipleToolCalls ?? true, _prompt.ToolSyntax);
        }
        var defaults = new SamplingOptions();
        float? minP = options?.AdditionalProperties?.TryGetValue("min_p", out float p) == true ? p : null;
        return new GenerationRequest
        {
            PromptIds = _prompt.Encode(turns, ToolsActive(options) ? tools : null, cancel),
            MaxTokens = options?.MaxOutputTokens ?? _scheduler.ContextLength,
            Stop = options?.StopSequences?.ToArray() ?? [],
            Grammar = grammar,
            Sampling = new SamplingOptions
            {
                Temperature = options?.Temperature ?? defaults.Temperature,
                TopP = options?.TopP ?? defaults.TopP,
                TopK = options?.TopK ?? defaults.TopK,
                MinP = minP ?? defaults.MinP,
                FrequencyPenalty = options?.FrequencyPenalty ?? defaults.FrequencyPenalty,
                PresencePenalty = options?.PresencePenalty ?? defaults.PresencePenalty,
                Seed = options?.Seed is long seed ? FoldSeed(seed) : null,
            },
        };
    }

    static IReadOnlyList<ToolDefinition> Tools(ChatOptions? options) =>
        options?.Tools?.OfType<AIFunctionDeclaration>().Select(f => new ToolDefinition(f.Name, f.Description, f.JsonSchema)).ToList() ?? [];

    static bool ToolsActive(ChatOptions? options) => options?.Tools is { Count: > 0 } && options.ToolMode is not NoneChatToolMode;

    /// <summary>A message as turns: each function result a tool turn, function calls an assistant turn's calls.</summary>
    static IEnumerable<ChatTurn> Turns(ChatMessage m)
    {
        var results = m.Contents.OfType<FunctionResultContent>().ToList();
        foreach (var r in results)
            yield return new ChatTurn("tool", r.Result switch
            {
                string s => s,
                System.Text.Json.JsonElement { ValueKind: System.Text.Json.JsonValueKind.String } e => e.GetString()!, // what an AIFunction returns for a string
                var other => System.Text.Json.JsonSerializer.Serialize(other),
            }) { ToolCallId = r.CallId };
        var calls = m.Contents.OfType<FunctionCallContent>()
            .Select(c => new ToolCall(c.CallId, c.Name, System.Text.Json.JsonSerializer.Serialize(c.Arguments ?? new Dictionary<string, object?>()))).ToList();
        if (calls.Count > 0) yield return new ChatTurn("assistant", m.Text) { ToolCalls = calls };
        else if (results.Count == 0) yield return new ChatTurn(m.Role.Value, m.Text);
    }

    List<AIContent> Calls(string text, ChatOptions? options)
    {
        if (!ToolsActive(options)) return [];
        var calls = ToolCalls.Parse(text, Tools(options), _prompt.ToolSyntax);
        if (options!.AllowMultipleToolCalls == false) calls = calls.Take(1).ToList();
        return calls.Select(c => (AIContent)new FunctionCallContent(c.Id, c.Name,
            System.Text.Json.JsonSerializer.Deserialize<Dictionary<string, object?>>(c.Arguments))).ToList();
    }

    /// <summary>JSON with a schema → that schema's grammar; JSON without one → any object; text → none.</summary>
    static Grammars.Grammar? ResponseGrammar(ChatResponseFormat? format) => format switch
    {
        ChatResponseFormatJson { Schema: { } schema } => Grammars.JsonSchemaGrammar.Compile(schema),
        ChatResponseFormatJson => Grammars.JsonSchemaGrammar.AnyObject,
        _ => null,
    };

    static string Speculative(ChatOptions? options) =>
        options?.AdditionalProperties?.TryGetValue("speculative", out string? name) == true && name is not null ? name : "none";

    /// <summary>A 64-bit seed as the 32-bit one the samplers take (unchanged when it fits).</summary>
    internal static int FoldSeed(long seed) => seed is >= int.MinValue and <= int.MaxValue ? (int)seed : seed.GetHashCode();

    static ChatFinishReason FinishReason(GenerationResult r) =>
        r.FinishReason is Generation.FinishReason.Length or Generation.FinishReason.ContextFull ? ChatFinishReason.Length : ChatFinishReason.Stop;

    static UsageDetails Usage(GenerationResult r) => new()
    {
        InputTokenCount = r.PromptIds.Length,
        OutputTokenCount = r.Ids.Length,
        TotalTokenCount = r.PromptIds.Length + r.Ids.Length,
    };

    static string NewId() => "chatcmpl-" + Guid.NewGuid().ToString("N");

    public object? GetService(Type serviceType, object? serviceKey = null) =>
        serviceKey is not null ? null
        : serviceType == typeof(ChatClientMetadata) ? _metadata
        : serviceType.IsInstanceOfType(this) ? this
        : null;

    public void Dispose() => _scheduler.Dispose();
}
