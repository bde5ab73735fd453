using System.Security.Cryptography;
using System.Text;
using System.Text.Json;

namespace Augur.Chat;

/// <summary>A call as a model wrote it: the function's name and its arguments (the JSON text of an object). An id the
/// model may have written is not kept: the ids a reply's calls get are always new (<see cref="IToolCallSyntax.NewId"/>).</summary>
public readonly record struct WrittenCall(string Name, string Arguments);

/// <summary>
/// How a model family writes tool calls in its reply. <see cref="ChatPrompt"/> finds the one a model's template
/// writes (it renders a call and reads it back with each syntax); a model whose template does not handle tools gets
/// <see cref="ToolCallSyntaxes.Hermes"/>, the documented default.
/// </summary>
public interface IToolCallSyntax
{
    string Name { get; }

    /// <summary>The key a call object puts its arguments under.</summary>
    string ArgumentsKey { get; }

    /// <summary>The calls <paramref name="text"/> holds in this syntax (empty when it holds none).</summary>
    IReadOnlyList<WrittenCall> Read(string text);

    /// <summary>GBNF rules whose <c>root</c> is a reply of calls, each the rule <c>call</c> (one call object);
    /// with <paramref name="parallel"/>, up to <paramref name="max"/> calls where the syntax can hold several.</summary>
    string ReplyRules(bool parallel, int max);

    /// <summary>A new call id, of the form the family's template accepts.</summary>
    string NewId();
}

/// <summary>The syntaxes Augur reads and can force.</summary>
public static class ToolCallSyntaxes
{
    /// <summary>Hermes / Qwen 2.5 / Qwen 3: <c>&lt;tool_call&gt;{"name": …, "arguments": {…}}&lt;/tool_call&gt;</c>, one block per call.</summary>
    public static IToolCallSyntax Hermes { get; } = new HermesSyntax();

    /// <summary>Mistral (Nemo and its v3 tokenizer): <c>[TOOL_CALLS][{"name": …, "arguments": {…}}, …]</c> (the template
    /// adds each call's id when it writes the conversation back).</summary>
    public static IToolCallSyntax Mistral { get; } = new MistralSyntax();

    /// <summary>Llama 3.1 / 3.2: the reply is one bare <c>{"name": …, "parameters": {…}}</c>.</summary>
    public static IToolCallSyntax LlamaJson { get; } = new LlamaJsonSyntax();

    /// <summary>Every syntax; a reply is read with the model's own first, then with these in this order.</summary>
    public static IReadOnlyList<IToolCallSyntax> All { get; } = [Hermes, Mistral, LlamaJson];

    internal static string OpenAiId() => "call_" + Guid.NewGuid().ToString("N")[..24];

    /// <summary>A call object's name and arguments (an object under <paramref name="argumentsKey"/>), or null.</summary>
    internal static WrittenCall? Call(JsonElement o, params string[] argumentsKey)
    {
        if (o.ValueKind != JsonValueKind.Object) return null;
        if (!o.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String) return null;
        foreach (string key in argumentsKey)
            if (o.TryGetProperty(key, out var args) && args.ValueKind == JsonValueKind.Object)
                return new WrittenCall(name.GetString()!, args.GetRawText());
        return null;
    }

    /// <summary>The whole text as one JSON value, or null.</summary>
    internal static JsonElement? Whole(string json)
    {
        try { using var doc = JsonDocument.Parse(json); return doc.RootElement.Clone(); }
        catch (JsonException) { return null; }
    }

    /// <summary>The JSON value <paramref name="text"/> starts with, ignoring what follows it (an end-of-turn token a
    /// template writes, a model's chatter after the call), or null.</summary>
    internal static JsonElement? Leading(string text)
    {
        var reader = new Utf8JsonReader(Encoding.UTF8.GetBytes(text));
        try { return JsonDocument.TryParseValue(ref reader, out var doc) ? Own(doc) : null; }
        catch (JsonException) { return null; }

        static JsonElement Own(JsonDocument doc) { using (doc) return doc.RootElement.Clone(); }
    }
}

sealed class HermesSyntax : IToolCallSyntax
{
    public string Name => "hermes";
    public string ArgumentsKey => "arguments";

    public IReadOnlyList<WrittenCall> Read(string text)
    {
        var calls = new List<WrittenCall>();
        foreach (var block in text.Split("<tool_call>").Skip(1))
        {
            int end = block.IndexOf("</tool_call>", StringComparison.Ordinal);
            if (ToolCallSyntaxes.Whole(end < 0 ? block : block[..end]) is { } o && ToolCallSyntaxes.Call(o, ArgumentsKey) is { } c) calls.Add(c);
        }
        return calls;
    }

    public string ReplyRules(bool parallel, int max) =>
        "call-block ::= \"<tool_call>\" \"\\n\"? call \"\\n\"? \"</tool_call>\"\n" +
        $"root ::= call-block {(parallel ? $"(\"\\n\" call-block){{0,{max - 1}}}" : "")}\n";

    public string NewId() => ToolCallSyntaxes.OpenAiId();
}

sealed class MistralSyntax : IToolCallSyntax
{
    const string Marker = "[TOOL_CALLS]";
    public string Name => "mistral";
    public string ArgumentsKey => "arguments";

    // [TOOL_CALLS] is a control token in Mistral's own vocabulary, which the detokenizer does not spell: a bare
    // array of call objects is read the same.
    public IReadOnlyList<WrittenCall> Read(string text)
    {
        string t = text.Trim();
        if (t.StartsWith(Marker, StringComparison.Ordinal)) t = t[Marker.Length..].TrimStart();
        if (!t.StartsWith('[') || ToolCallSyntaxes.Leading(t) is not { ValueKind: JsonValueKind.Array } array) return [];
        var calls = new List<WrittenCall>();
        foreach (var o in array.EnumerateArray()) if (ToolCallSyntaxes.Call(o, ArgumentsKey) is { } c) calls.Add(c);
        return calls;
    }

    public string ReplyRules(bool parallel, int max) =>
        $"root ::= \"{Marker}\" \"[\" call {(parallel ? $"(\",\" ws call){{0,{max - 1}}}" : "")} \"]\"\n";

    /// <summary>Nine letters and digits: Mistral's templates refuse any other call id.</summary>
    public string NewId() => RandomNumberGenerator.GetString("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789", 9);
}

sealed class LlamaJsonSyntax : IToolCallSyntax
{
    // Llama 3.x may open the call with <|python_tag|>; as a control token the detokenizer does not spell it.
    const string PythonTag = "<|python_tag|>";
    public string Name => "llama3-json";
    public string ArgumentsKey => "parameters";

    public IReadOnlyList<WrittenCall> Read(string text)
    {
        string t = text.Trim();
        if (t.StartsWith(PythonTag, StringComparison.Ordinal)) t = t[PythonTag.Length..].TrimStart();
        // Models trained on this template also write "arguments" now and then.
        return t.StartsWith('{') && ToolCallSyntaxes.Leading(t) is { } o && ToolCallSyntaxes.Call(o, ArgumentsKey, "arguments") is { } c ? [c] : [];
    }

    /// <summary>One call: the Llama 3.1 template refuses more than one per turn.</summary>
    public string ReplyRules(bool parallel, int max) => "root ::= call\n";

    public string NewId() => ToolCallSyntaxes.OpenAiId();
}
