using System.Buffers;
using System.Text;
using System.Text.Json;
using Augur.Chat;
using Augur.Generation;
using Augur.Tokenizers;
using Microsoft.AspNetCore.Http;

namespace Augur.Server;

/// <summary>
/// POST /v1/chat/completions and /v1/completions: parse, tokenize (chat through the model's template), hand the
/// request to the <see cref="IRequestScheduler"/> (one machine's batch scheduler or a cluster gateway), then answer in OpenAI's shape, whole or as server-sent events.
/// </summary>
sealed class Completions(IRequestScheduler scheduler, ChatPrompt chat, string modelId, int maxFieldChars)
{
    readonly ITokenizer _tokenizer = scheduler.Tokenizer;

    public async Task HandleAsync(HttpContext http, bool isChat)
    {
        JsonDocument body;
        try
        {
            body = await JsonDocument.ParseAsync(http.Request.Body, cancellationToken: http.RequestAborted);
        }
        catch (JsonException e)
        {
            throw ApiException.Invalid($"the request body is not valid JSON: {e.Message}");
        }
        using var _ = body;
        var request = CompletionRequest.Parse(body.RootElement, isChat, _tokenizer.Vocabulary.Count, maxFieldChars, chat.ToolSyntax);
        if (request.Model is not null && request.Model != modelId)
            throw new ApiException(StatusCodes.Status404NotFound, $"The model '{SafeText.Quote(request.Model)}' does not exist (this server has '{modelId}')", "model", "model_not_found");

        string promptParam = isChat ? "messages" : "prompt";
        int context = scheduler.ContextLength;
        int[] prompt = request.PromptIds ?? (isChat ? Encode(request, context, http.RequestAborted) : Tokenize(request.PromptText!, context, promptParam));
        if (prompt.Length >= context)
            throw ApiException.Invalid($"This model's maximum context length is {context} tokens; the prompt is {prompt.Length} tokens and leaves no room for the answer", promptParam, "context_length_exceeded");
        if (request.MaxTokens > context)
            throw ApiException.Invalid($"max_tokens is too large: {request.MaxTokens}. This model's context holds at most {context} tokens", "max_tokens");

        var run = scheduler.Submit(new GenerationRequest
        {
            PromptIds = prompt,
            MaxTokens = request.MaxTokens ?? context,
            Sampling = request.Sampling,
            Stop = request.Stop,
            Grammar = request.Grammar,
        }, request.TopLogprobs, http.RequestAborted, request.Speculative);

        var reply = new Reply(isChat, request, modelId, _tokenizer, prompt[^1], chat.ToolSyntax);
        if (request.Stream) await StreamAsync(http, run, reply);
        else await WholeAsync(http, run, reply);
    }

    /// <summary>Tokenizes the prompt text, unless its length alone proves it cannot fit.</summary>
    int[] Tokenize(string text, int context, string promptParam)
    {
        CheckFits(text, context, promptParam);
        return chat.Tokenize(text);
    }

    /// <summary>The conversation's prompt ids through <see cref="ChatPrompt.Encode"/>, so control tokens spelled inside
    /// message content stay plain text; the rendered text's length is checked first.</summary>
    int[] Encode(CompletionRequest request, int context, CancellationToken cancel)
    {
        var tools = request.ToolsActive ? request.Tools : null;
        CheckFits(chat.Render(request.Messages!, tools, cancel), context, "messages");
        return chat.Encode(request.Messages!, tools, cancel);
    }

    /// <summary>No token covers more bytes than the vocabulary's longest piece, so a text that long is refused before
    /// the tokenizer spends time on it.</summary>
    void CheckFits(string text, int context, string promptParam)
    {
        long fewest = _tokenizer.Vocabulary.FewestTokens(text);
        if (fewest >= context)
            throw ApiException.Invalid($"This model's maximum context length is {context} tokens; the prompt is at least {fewest:N0} tokens and leaves no room for the answer", promptParam, "context_length_exceeded");
    }

    static async Task WholeAsync(HttpContext http, ScheduledRequest run, Reply reply)
    {
        await foreach (var token in run.Tokens.ReadAllAsync(http.RequestAborted)) reply.Add(token);
        var result = await run.Completion;
        http.Response.ContentType = "application/json";
        await http.Response.WriteAsync(JsonSerializer.Serialize(reply.Whole(result), Json.Options), http.RequestAborted);
    }

    static async Task StreamAsync(HttpContext http, ScheduledRequest run, Reply reply)
    {
        http.Response.ContentType = "text/event-stream";
        http.Response.Headers.CacheControl = "no-cache";
        var body = http.Response.BodyWriter;
        var cancel = http.RequestAborted;
        void Write(object chunk)
        {
            body.Write("data: "u8);
            body.Write(JsonSerializer.SerializeToUtf8Bytes(chunk, Json.Options));
            body.Write("\n\n"u8);
        }
        if (reply.First() is { } first) Write(first);
        await body.FlushAsync(cancel);
        try
        {
            // One event per token, but one flush for all the tokens that are ready: when the client or the
            // network falls behind, tokens pile up and go out together instead of costing a send each.
            while (await run.Tokens.WaitToReadAsync(cancel))
            {
                while (run.Tokens.TryRead(out var token))
                    if (reply.Chunk(token) is { } chunk) Write(chunk);
                await body.FlushAsync(cancel);
            }
        }
        catch (Exception e) when (e is not OperationCanceledException)
        {
            // The headers are gone: report the failure in the stream, as llama.cpp does.
            Write(new ApiException(StatusCodes.Status500InternalServerError, e.Message, type: "server_error").Body);
            await body.FlushAsync(cancel);
            return;
        }
        var result = await run.Completion;
        foreach (var chunk in reply.Last(result)) Write(chunk);
        if (reply.IncludeUsage) Write(reply.UsageChunk(result));
        body.Write("data: [DONE]\n\n"u8);
        await body.FlushAsync(cancel);
    }

    /// <summary>Builds the response objects of one request; collects tokens (and logprobs) as they come.</summary>
    sealed class Reply(bool isChat, CompletionRequest request, string model, ITokenizer tokenizer, int lastPromptToken, IToolCallSyntax toolSyntax)
    {
        readonly string _id = (isChat ? "chatcmpl-" : "cmpl-") + Guid.NewGuid().ToString("N");
        readonly long _created = DateTimeOffset.UtcNow.ToUnixTimeSeconds();
        readonly StringBuilder _text = new();
        readonly List<object> _logprobs = []; // chat: content entries; completions: per-token entries
        int _previous = lastPromptToken;
        int _offset; // completions' text_offset: where the next token's text starts

        public bool IncludeUsage => request.IncludeUsage;
        string Object => isChat ? "chat.completion" : "text_completion";
        string ChunkObject => isChat ? "chat.completion.chunk" : "text_completion";

        /// <summary>Collects a token for a whole (non-streamed) response.</summary>
        public void Add(ScheduledToken token)
        {
            _text.Append(token.Event.Text);
            if (Logprob(token) is { } lp) _logprobs.Add(lp);
        }

        /// <summary>The calls in the reply when tools are active (the first only without parallel_tool_calls).</summary>
        IReadOnlyList<ToolCall> Calls()
        {
            if (!request.ToolsActive) return [];
            var calls = ToolCalls.Parse(_text.ToString(), request.Tools, toolSyntax);
            return request.ParallelToolCalls ? calls : calls.Take(1).ToList();
        }

        static object[] CallObjects(IReadOnlyList<ToolCall> calls, bool delta) => calls.Select((c, i) => delta
            ? (object)new { index = i, id = c.Id, type = "function", function = new { name = c.Name, arguments = c.Arguments } }
            : new { id = c.Id, type = "function", function = new { name = c.Name, arguments = c.Arguments } }).ToArray();

        public object Whole(GenerationResult result)
        {
            var calls = isChat ? Calls() : [];
            object message = calls.Count > 0
                ? new { role = "assistant", content = (string?)null, tool_calls = CallObjects(calls, false), refusal = (string?)null }
                : new { role = "assistant", content = _text.ToString(), refusal = (string?)null };
            string finish = calls.Count > 0 ? "tool_calls" : FinishReason(result);
            return new
            {
                id = _id,
                @object = Object,
                created = _created,
                model,
                choices = new[] { isChat
                    ? (object)new { index = 0, message, logprobs = Logprobs(_logprobs), finish_reason = finish }
                    : new { text = _text.ToString(), index = 0, logprobs = Logprobs(_logprobs), finish_reason = finish } },
                usage = Usage(result),
            };
        }

        /// <summary>Chat streams open with the assistant role and empty content, as OpenAI's do.</summary>
        public object? First() => isChat ? Chunk(new { index = 0, delta = new { role = "assistant", content = "" }, logprobs = (object?)null, finish_reason = (string?)null }) : null;

        /// <summary>A chunk for a streamed token, or null when it adds nothing to send (text held back, no logprobs wanted).</summary>
        public object? Chunk(ScheduledToken token)
        {
            // With tools the reply may be a call: its text is held back and sent at the end as content or tool_calls.
            if (request.ToolsActive) { _text.Append(token.Event.Text); return null; }
            var lp = Logprob(token);
            if (token.Event.Text.Length == 0 && lp is null) return null;
            object? logprobs = lp is null ? null : Logprobs([lp]);
            return Chunk(isChat
                ? new { index = 0, delta = new { content = token.Event.Text }, logprobs, finish_reason = (string?)null }
                : new { text = token.Event.Text, index = 0, logprobs, finish_reason = (string?)null });
        }

        public IEnumerable<object> Last(GenerationResult result)
        {
            var calls = Calls();
            string finish = calls.Count > 0 ? "tool_calls" : FinishReason(result);
            if (calls.Count > 0)
                yield return Chunk(new { index = 0, delta = new { tool_calls = CallObjects(calls, true) }, logprobs = (object?)null, finish_reason = (string?)null });
            else if (request.ToolsActive && _text.Length > 0)
                yield return Chunk(new { index = 0, delta = new { content = _text.ToString() }, logprobs = (object?)null, finish_reason = (string?)null });
            yield return Chunk(isChat
                ? new { index = 0, delta = new { }, logprobs = (object?)null, finish_reason = (string?)finish }
                : new { text = "", index = 0, logprobs = (object?)null, finish_reason = (string?)finish });
        }

        /// <summary>With stream_options.include_usage: a last chunk with no choices and the usage.</summary>
        public object UsageChunk(GenerationResult result) => new { id = _id, @object = ChunkObject, created = _created, model, choices = Array.Empty<object>(), usage = Usage(result) };

        object Chunk(object choice) => request.IncludeUsage
            ? new { id = _id, @object = ChunkObject, created = _created, model, choices = new[] { choice }, usage = (object?)null }
            : new { id = _id, @object = ChunkObject, created = _created, model, choices = new[] { choice } };

        static object Usage(GenerationResult r) => new
        {
            prompt_tokens = r.PromptIds.Length,
            completion_tokens = r.Ids.Length,
            total_tokens = r.PromptIds.Length + r.Ids.Length,
        };

        static string FinishReason(GenerationResult r) => r.FinishReason is Generation.FinishReason.Length or Generation.FinishReason.ContextFull ? "length" : "stop";

        /// <summary>The logprobs entry of one generated token (null when not asked for, or for trailing flushed text).</summary>
        object? Logprob(ScheduledToken token)
        {
            if (!request.Logprobs || token.Event.Token < 0) return null;
            int previous = _previous;
            _previous = token.Event.Token;
            // bytes as a list of numbers (OpenAI's shape), not base64.
            (string Text, int[] Bytes) Piece(int id)
            {
                var bytes = tokenizer.PieceBytes(id, previous);
                int[] numbers = new int[bytes.Length];
                for (int i = 0; i < bytes.Length; i++) numbers[i] = bytes[i];
                return (Encoding.UTF8.GetString(bytes), numbers);
            }
            var (text, bytes) = Piece(token.Event.Token);
            if (isChat)
                return new
                {
                    token = text,
                    logprob = token.Event.Logprob,
                    bytes,
                    top_logprobs = token.Top.Select(t => { var (tt, tb) = Piece(t.Token); return new { token = tt, logprob = t.Logprob, bytes = tb }; }).ToArray(),
                };
            var entry = new CompletionLogprob(text, token.Event.Logprob, token.Top.GroupBy(t => Piece(t.Token).Text).ToDictionary(g => g.Key, g => g.First().Logprob), _offset);
            _offset += text.Length;
            return entry;
        }

        object? Logprobs(List<object> entries)
        {
            if (!request.Logprobs) return null;
            if (isChat) return new { content = entries, refusal = (object?)null };
            var tokens = entries.Cast<CompletionLogprob>().ToList();
            return new
            {
                tokens = tokens.Select(t => t.Token),
                token_logprobs = tokens.Select(t => t.Logprob),
                top_logprobs = tokens.Select(t => t.Top),
                text_offset = tokens.Select(t => t.Offset),
            };
        }

        sealed record CompletionLogprob(string Token, float Logprob, Dictionary<string, float> Top, int Offset);
    }
}
