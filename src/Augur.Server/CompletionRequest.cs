using System.Text.Json;
using Augur.Chat;
using Augur.Sampling;

namespace Augur.Server;

/// <summary>
/// A /v1/chat/completions or /v1/completions body, checked field by field: a wrong type or an out-of-range value
/// is a 400 naming the parameter; fields Augur does not know are ignored, as OpenAI does; null means absent.
/// Sampling fields left out keep Augur's defaults (llama.cpp's: temperature 0.8, top_k 40, top_p 0.95, min_p 0.05).
/// </summary>
sealed class CompletionRequest
{
    public string? Model { get; private init; }
    /// <summary>Chat: the conversation. Completions: null.</summary>
    public List<ChatTurn>? Messages { get; private init; }
    /// <summary>Completions: the prompt as text, or <see cref="PromptIds"/> when given as token ids.</summary>
    public string? PromptText { get; private init; }
    public int[]? PromptIds { get; private init; }
    public int? MaxTokens { get; private init; }
    public required SamplingOptions Sampling { get; init; }
    public string[] Stop { get; private init; } = [];
    public bool Stream { get; private init; }
    public bool IncludeUsage { get; private init; }
    /// <summary>Chat: logprobs: true. Completions: logprobs: N (any N ≥ 0).</summary>
    public bool Logprobs { get; private init; }
    public int TopLogprobs { get; private init; }
    /// <summary>Augur extra: the drafter for speculative decoding (lossless), "none" by default.</summary>
    public string Speculative { get; private init; } = "none";
    /// <summary>From <c>response_format</c>: the grammar the output must match (json_object, json_schema); null for text.</summary>
    public Augur.Grammars.Grammar? Grammar { get; private init; }
    /// <summary>Chat: the functions the model may call (empty: none).</summary>
    public IReadOnlyList<ToolDefinition> Tools { get; private init; } = [];
    /// <summary>Tools were given and tool_choice is not "none": the reply is read for calls.</summary>
    public bool ToolsActive { get; private init; }
    public bool ParallelToolCalls { get; private init; } = true;

    /// <param name="maxChars">The longest text any one field may hold (a prompt, a message, a stop string).</param>
    /// <param name="toolSyntax">How the model writes tool calls: a required call is forced in this syntax.</param>
    public static CompletionRequest Parse(JsonElement body, bool chat, int vocabSize, int maxChars, IToolCallSyntax toolSyntax)
    {
        if (body.ValueKind != JsonValueKind.Object) throw ApiException.Invalid("the request body must be a JSON object");
        var f = new Fields(body, maxChars);
        var defaults = new SamplingOptions();

        long? n = f.Integer("n", 1, long.MaxValue);
        if (n is not (null or 1)) throw ApiException.Invalid($"n must be 1: Augur returns one choice per request (got {n})", "n");
        string speculative = f.String("speculative") ?? "none";
        try { Augur.Speculative.Drafters.CheckBatchable(speculative); }
        catch (InvalidRequestException e) { throw ApiException.Invalid(e.Message, "speculative"); }

        bool logprobs;
        int topLogprobs;
        if (chat)
        {
            logprobs = f.Bool("logprobs") ?? false;
            topLogprobs = (int)(f.Integer("top_logprobs", 0, 20) ?? 0);
            if (topLogprobs > 0 && !logprobs) throw ApiException.Invalid("top_logprobs needs logprobs to be true", "top_logprobs");
        }
        else
        {
            long? count = f.Integer("logprobs", 0, 5);
            logprobs = count is not null;
            topLogprobs = (int)(count ?? 0);
        }

        long? maxTokens = f.Integer("max_completion_tokens", 1, int.MaxValue) ?? f.Integer("max_tokens", 1, int.MaxValue);
        long? seed = f.Integer("seed", long.MinValue, long.MaxValue);
        var streamOptions = f.Get("stream_options");
        if (streamOptions is { ValueKind: not JsonValueKind.Object }) throw ApiException.Invalid("stream_options must be an object", "stream_options");

        var tools = chat ? ToolsOf(f) : [];
        var (choice, named) = chat ? ToolChoice(f, tools) : ("none", null);
        bool parallel = f.Bool("parallel_tool_calls") ?? true;
        var format = ResponseFormat(f);
        Augur.Grammars.Grammar? grammar = format;
        if (choice is "required" or "function")
        {
            if (format is not null) throw ApiException.Invalid($"tool_choice '{choice}' forces a tool call, which contradicts response_format", "tool_choice");
            try { grammar = ToolCalls.CallGrammar(named is null ? tools : tools.Where(t => t.Name == named).ToList(), parallel, toolSyntax); }
            catch (InvalidRequestException e) { throw ApiException.Invalid(e.Message, "tools"); }
        }
        var messages = chat ? Conversation(f) : null;

        return new CompletionRequest
        {
            Model = f.String("model"),
            Messages = messages,
            Tools = tools,
            ToolsActive = tools.Count > 0 && choice != "none",
            ParallelToolCalls = parallel,
            PromptText = chat ? null : PromptTextOf(f),
            PromptIds = chat ? null : PromptIdsOf(f, vocabSize),
            MaxTokens = (int?)maxTokens,
            Stop = Stops(f),
            Stream = f.Bool("stream") ?? false,
            IncludeUsage = streamOptions is { } so && (new Fields(so, maxChars).Bool("include_usage", "stream_options.include_usage") ?? false),
            Logprobs = logprobs,
            TopLogprobs = topLogprobs,
            Speculative = speculative,
            Grammar = grammar,
            Sampling = new SamplingOptions
            {
                Temperature = (float)(f.Number("temperature", 0, 2) ?? defaults.Temperature),
                TopP = (float)(f.Number("top_p", 0, 1) is { } p ? Math.Max(p, 1e-6) : defaults.TopP), // top_p 0: keep only the best token
                TopK = (int)(f.Integer("top_k", 0, int.MaxValue) ?? defaults.TopK),
                MinP = (float)(f.Number("min_p", 0, 1) ?? defaults.MinP),
                PresencePenalty = (float)(f.Number("presence_penalty", -2, 2) ?? 0),
                FrequencyPenalty = (float)(f.Number("frequency_penalty", -2, 2) ?? 0),
                // The samplers take 32 bits; a wider seed is folded, the same way every time.
                Seed = seed is long s ? (s is >= int.MinValue and <= int.MaxValue ? (int)s : s.GetHashCode()) : null,
            },
        };
    }

    /// <summary>
    /// <c>{"type":"text"}</c>, <c>{"type":"json_object"}</c> or <c>{"type":"json_schema","json_schema":{"name":…,"schema":{…},"strict":…}}</c>.
    /// The schema is enforced by the grammar whether or not strict is set (Augur can always enforce it); compiled
    /// grammars are cached by schema text, so their token tables carry over between requests.
    /// </summary>
    static Augur.Grammars.Grammar? ResponseFormat(Fields f)
    {
        if (f.Get("response_format") is not { } rf) return null;
        if (rf.ValueKind != JsonValueKind.Object) throw ApiException.Invalid("response_format must be an object", "response_format");
        var rff = new Fields(rf, f.MaxChars);
        string type = rff.String("type", "response_format.type") ?? throw ApiException.Invalid("response_format.type is required", "response_format.type");
        switch (type)
        {
            case "text": return null;
            case "json_object": return Augur.Grammars.JsonSchemaGrammar.AnyObject;
            case "json_schema":
                var js = rff.Get("json_schema") ?? throw ApiException.Invalid("response_format.json_schema is required for type json_schema", "response_format.json_schema");
                if (js.ValueKind != JsonValueKind.Object) throw ApiException.Invalid("response_format.json_schema must be an object", "response_format.json_schema");
                var jf = new Fields(js, f.MaxChars);
                jf.String("name", "response_format.json_schema.name");
                jf.Bool("strict", "response_format.json_schema.strict");
                var schema = jf.Get("schema");
                if (schema is { ValueKind: not (JsonValueKind.Object or JsonValueKind.True) })
                    throw ApiException.Invalid("response_format.json_schema.schema must be an object", "response_format.json_schema.schema");
                if (schema is null) return Augur.Grammars.JsonSchemaGrammar.AnyObject;
                try { return SchemaGrammars.Get(schema.Value.GetRawText()); }
                catch (InvalidRequestException e) { throw ApiException.Invalid(e.Message, "response_format.json_schema.schema"); }
            default:
                throw ApiException.Invalid($"response_format.type must be text, json_object or json_schema (got '{SafeText.Quote(type)}')", "response_format.type");
        }
    }

    static List<ToolCall> CallsOf(JsonElement calls, string at, int maxChars)
    {
        if (calls.ValueKind != JsonValueKind.Array) throw ApiException.Invalid($"{at} must be an array", at);
        var list = new List<ToolCall>();
        int i = 0;
        foreach (var c in calls.EnumerateArray())
        {
            string cat = $"{at}[{i++}]";
            if (c.ValueKind != JsonValueKind.Object) throw ApiException.Invalid($"{cat} must be an object", cat);
            var cf = new Fields(c, maxChars);
            var fn = cf.Get("function") is { ValueKind: JsonValueKind.Object } fe ? new Fields(fe, maxChars) : throw ApiException.Invalid($"{cat}.function must be an object", $"{cat}.function");
            string name = fn.String("name", $"{cat}.function.name") ?? throw ApiException.Invalid($"{cat}.function.name is required", $"{cat}.function.name");
            string args = fn.String("arguments", $"{cat}.function.arguments") ?? "{}";
            try { using var _ = JsonDocument.Parse(args); }
            catch (JsonException) { throw ApiException.Invalid($"{cat}.function.arguments must be a JSON text", $"{cat}.function.arguments"); }
            list.Add(new ToolCall(cf.String("id", $"{cat}.id") ?? "", name, args));
        }
        return list;
    }

    static List<ToolDefinition> ToolsOf(Fields f)
    {
        if (f.Get("tools") is not { } tools) return [];
        if (tools.ValueKind != JsonValueKind.Array) throw ApiException.Invalid("tools must be an array", "tools");
        var list = new List<ToolDefinition>();
        int i = 0;
        foreach (var t in tools.EnumerateArray())
        {
            string at = $"tools[{i++}]";
            if (t.ValueKind != JsonValueKind.Object) throw ApiException.Invalid($"{at} must be an object", at);
            var tf = new Fields(t, f.MaxChars);
            if (tf.String("type", $"{at}.type") is not "function") throw ApiException.Invalid($"{at}.type must be 'function'", $"{at}.type");
            var fn = tf.Get("function") is { ValueKind: JsonValueKind.Object } fe ? new Fields(fe, f.MaxChars) : throw ApiException.Invalid($"{at}.function must be an object", $"{at}.function");
            string name = fn.String("name", $"{at}.function.name") ?? throw ApiException.Invalid($"{at}.function.name is required", $"{at}.function.name");
            if (name.Length is 0 or > 64 || !name.All(ch => char.IsAsciiLetterOrDigit(ch) || ch is '_' or '-'))
                throw ApiException.Invalid($"{at}.function.name must be 1-64 letters, digits, _ or - (got '{SafeText.Quote(name)}')", $"{at}.function.name");
            if (list.Any(d => d.Name == name)) throw ApiException.Invalid($"{at}.function.name '{name}' is given twice", $"{at}.function.name");
            var parameters = fn.Get("parameters");
            if (parameters is { } p)
            {
                if (p.ValueKind != JsonValueKind.Object) throw ApiException.Invalid($"{at}.function.parameters must be an object", $"{at}.function.parameters");
                try { SchemaGrammars.Get(p.GetRawText()); }
                catch (InvalidRequestException e) { throw ApiException.Invalid(e.Message, $"{at}.function.parameters"); }
            }
            list.Add(new ToolDefinition(name, fn.String("description", $"{at}.function.description"), parameters?.Clone()));
        }
        return list;
    }

    /// <summary>tool_choice: "auto" (default with tools), "none" (default without), "required", or a named function.</summary>
    static (string Choice, string? Name) ToolChoice(Fields f, List<ToolDefinition> tools)
    {
        switch (f.Get("tool_choice"))
        {
            case null: return (tools.Count > 0 ? "auto" : "none", null);
            case { ValueKind: JsonValueKind.String } s:
                string choice = s.GetString()!;
                if (choice is not ("auto" or "none" or "required")) throw ApiException.Invalid($"tool_choice must be auto, none, required or a function (got '{SafeText.Quote(choice)}')", "tool_choice");
                if (choice == "required" && tools.Count == 0) throw ApiException.Invalid("tool_choice is 'required' but no tools were given", "tool_choice");
                return (choice, null);
            case { ValueKind: JsonValueKind.Object } o:
                var of = new Fields(o, f.MaxChars);
                string? name = of.Get("function") is { ValueKind: JsonValueKind.Object } fn ? new Fields(fn, f.MaxChars).String("name", "tool_choice.function.name") : null;
                if (of.String("type", "tool_choice.type") != "function" || name is null)
                    throw ApiException.Invalid("tool_choice must be {\"type\":\"function\",\"function\":{\"name\":…}}", "tool_choice");
                if (!tools.Any(t => t.Name == name)) throw ApiException.Invalid($"tool_choice names function '{SafeText.Quote(name)}', which is not in tools", "tool_choice");
                return ("function", name);
            default:
                throw ApiException.Invalid("tool_choice must be a string or an object", "tool_choice");
        }
    }

    static List<ChatTurn> Conversation(Fields f)
    {
        var messages = f.Get("messages") ?? throw ApiException.Invalid("messages is required", "messages");
        if (messages.ValueKind != JsonValueKind.Array || messages.GetArrayLength() == 0)
            throw ApiException.Invalid("messages must be a non-empty array", "messages");
        var turns = new List<ChatTurn>();
        int i = 0;
        foreach (var m in messages.EnumerateArray())
        {
            string at = $"messages[{i++}]";
            if (m.ValueKind != JsonValueKind.Object) throw ApiException.Invalid($"{at} must be an object", at);
            var mf = new Fields(m, f.MaxChars);
            string role = mf.String("role", $"{at}.role") ?? throw ApiException.Invalid($"{at}.role is required", $"{at}.role");
            if (role is not ("system" or "developer" or "user" or "assistant" or "tool"))
                throw ApiException.Invalid($"{at}.role must be one of system, developer, user, assistant, tool (got '{SafeText.Quote(role)}')", $"{at}.role");
            if (role == "tool")
            {
                string id = mf.String("tool_call_id", $"{at}.tool_call_id") ?? throw ApiException.Invalid($"{at}.tool_call_id is required for a tool message", $"{at}.tool_call_id");
                turns.Add(new ChatTurn("tool", Content(mf, $"{at}.content", role)) { ToolCallId = id });
                continue;
            }
            string content = Content(mf, $"{at}.content", role);
            var calls = role == "assistant" && mf.Get("tool_calls") is { } c ? CallsOf(c, $"{at}.tool_calls", f.MaxChars) : null;
            // Templates know "system"; OpenAI's "developer" is the same thing for them.
            turns.Add(new ChatTurn(role == "developer" ? "system" : role, content) { ToolCalls = calls });
        }
        return turns;
    }

    /// <summary>A string, or an array of text parts (<c>{"type":"text","text":…}</c>) joined; null only for an assistant turn.</summary>
    static string Content(Fields message, string at, string role)
    {
        switch (message.Get("content"))
        {
            case null when role == "assistant":
                return "";
            case null:
                throw ApiException.Invalid($"{at} is required", at);
            case { ValueKind: JsonValueKind.String } s:
                return Text(s, at, message.MaxChars);
            case { ValueKind: JsonValueKind.Array } parts:
                var text = new System.Text.StringBuilder();
                int i = 0;
                foreach (var part in parts.EnumerateArray())
                {
                    string pat = $"{at}[{i++}]";
                    if (part.ValueKind != JsonValueKind.Object) throw ApiException.Invalid($"{pat} must be an object", pat);
                    var pf = new Fields(part, message.MaxChars);
                    string type = pf.String("type", $"{pat}.type") ?? throw ApiException.Invalid($"{pat}.type is required", $"{pat}.type");
                    if (type != "text") throw ApiException.Invalid($"{pat}.type '{SafeText.Quote(type)}' is not supported: this model reads text only", $"{pat}.type");
                    text.Append(pf.String("text", $"{pat}.text") ?? throw ApiException.Invalid($"{pat}.text is required", $"{pat}.text"));
                    if (text.Length > message.MaxChars) throw TooLong(at, message.MaxChars);
                }
                return text.ToString();
            default:
                throw ApiException.Invalid($"{at} must be a string or an array of text parts", at);
        }
    }

    static string? PromptTextOf(Fields f)
    {
        var prompt = f.Get("prompt") ?? throw ApiException.Invalid("prompt is required", "prompt");
        if (prompt.ValueKind == JsonValueKind.String) return Text(prompt, "prompt", f.MaxChars);
        if (prompt.ValueKind != JsonValueKind.Array || prompt.GetArrayLength() == 0)
            throw ApiException.Invalid("prompt must be a string, an array of one string, or an array of token ids", "prompt");
        var first = prompt[0];
        if (first.ValueKind == JsonValueKind.Number) return null;
        if (prompt.GetArrayLength() > 1) throw ApiException.Invalid("prompt must hold one prompt: Augur returns one choice per request", "prompt");
        return first.ValueKind == JsonValueKind.String ? Text(first, "prompt", f.MaxChars) : throw ApiException.Invalid("prompt[0] must be a string", "prompt");
    }

    static int[]? PromptIdsOf(Fields f, int vocabSize)
    {
        var prompt = f.Get("prompt")!.Value;
        if (prompt.ValueKind != JsonValueKind.Array || prompt[0].ValueKind != JsonValueKind.Number) return null;
        return prompt.EnumerateArray().Select(t =>
            t.ValueKind == JsonValueKind.Number && t.TryGetInt32(out int id) && (uint)id < (uint)vocabSize ? id
                : throw ApiException.Invalid($"prompt token ids must be integers in [0, {vocabSize}) (got {SafeText.Quote(t.GetRawText())})", "prompt")).ToArray();
    }

    static string[] Stops(Fields f)
    {
        string[] stops = f.Get("stop") switch
        {
            null => [],
            { ValueKind: JsonValueKind.String } s => [Text(s, "stop", f.MaxChars)],
            { ValueKind: JsonValueKind.Array } a => a.EnumerateArray().Select(e =>
                e.ValueKind == JsonValueKind.String ? Text(e, "stop", f.MaxChars) : throw ApiException.Invalid("stop must be a string or an array of strings", "stop")).ToArray(),
            _ => throw ApiException.Invalid("stop must be a string or an array of strings", "stop"),
        };
        if (stops.Length > 4) throw ApiException.Invalid($"stop holds at most 4 sequences (got {stops.Length})", "stop");
        if (stops.Any(s => s.Length == 0)) throw ApiException.Invalid("stop sequences must not be empty", "stop");
        return stops;
    }

    /// <summary>
    /// A JSON string as text. System.Text.Json parses without checking the bytes inside strings: invalid UTF-8
    /// (overlong forms and encoded surrogates included) or a <c>\uD800</c> escape without its other half only
    /// fails when the string is read, so every string is read here and such a one is a 400 naming the field.
    /// </summary>
    static string Text(JsonElement value, string param, int maxChars)
    {
        string text;
        try
        {
            text = value.GetString()!;
        }
        catch (InvalidOperationException)
        {
            throw ApiException.Invalid($"{param} is not valid Unicode text: it holds invalid UTF-8 bytes or an unpaired surrogate escape", param, "invalid_encoding");
        }
        return text.Length <= maxChars ? text : throw TooLong(param, maxChars);
    }

    static ApiException TooLong(string param, int maxChars) =>
        ApiException.Invalid($"{param} is longer than this server accepts ({maxChars:N0} characters)", param, "field_too_long");

    /// <summary>Typed, range-checked access to an object's fields; JSON null reads as absent.</summary>
    readonly struct Fields(JsonElement obj, int maxChars)
    {
        public int MaxChars => maxChars;

        public JsonElement? Get(string name) =>
            obj.TryGetProperty(name, out var v) && v.ValueKind != JsonValueKind.Null ? v : null;

        public string? String(string name, string? param = null) => Get(name) switch
        {
            null => null,
            { ValueKind: JsonValueKind.String } v => Text(v, param ?? name, maxChars),
            _ => throw ApiException.Invalid($"{param ?? name} must be a string", param ?? name),
        };

        public bool? Bool(string name, string? param = null) => Get(name) switch
        {
            null => null,
            { ValueKind: JsonValueKind.True } => true,
            { ValueKind: JsonValueKind.False } => false,
            _ => throw ApiException.Invalid($"{param ?? name} must be a boolean", param ?? name),
        };

        public long? Integer(string name, long min, long max)
        {
            if (Get(name) is not { } v) return null;
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetInt64(out long x))
                throw ApiException.Invalid(v.ValueKind == JsonValueKind.Number && !v.GetRawText().AsSpan().ContainsAny('.', 'e', 'E')
                    ? $"{name} is too large (got {SafeText.Quote(v.GetRawText())})" : $"{name} must be an integer (got {SafeText.Quote(v.GetRawText())})", name);
            if (x < min || x > max) throw ApiException.Invalid(max == long.MaxValue
                ? $"{name} must be ≥ {min} (got {x})" : $"{name} must be in [{min}, {max}] (got {x})", name);
            return x;
        }

        public double? Number(string name, double min, double max)
        {
            if (Get(name) is not { } v) return null;
            if (v.ValueKind != JsonValueKind.Number || !v.TryGetDouble(out double x) || !double.IsFinite(x))
                throw ApiException.Invalid($"{name} must be a number (got {SafeText.Quote(v.GetRawText())})", name);
            if (x < min || x > max) throw ApiException.Invalid($"{name} must be in [{min}, {max}] (got {x})", name);
            return x;
        }
    }
}

/// <summary>Compiled schema grammars by schema text, so repeated schemas reuse their token tables (bounded).</summary>
static class SchemaGrammars
{
    static readonly System.Collections.Concurrent.ConcurrentDictionary<string, Augur.Grammars.Grammar> Cache = new();
    const int Capacity = 64;

    public static Augur.Grammars.Grammar Get(string schema)
    {
        if (Cache.TryGetValue(schema, out var g)) return g;
        g = Augur.Grammars.JsonSchemaGrammar.Compile(schema);
        if (Cache.Count >= Capacity) Cache.Clear();
        return Cache.GetOrAdd(schema, g);
    }
}
