using System.Text;
using System.Text.Json;
using System.Text.Json.Nodes;
using Augur.Grammars;

namespace Augur.Chat;

/// <summary>A function the model may call: its name, what it does, and a JSON Schema for its arguments.</summary>
public sealed record ToolDefinition(string Name, string? Description, JsonElement? Parameters);

/// <summary>A call the model made: which function, and its arguments as JSON text.</summary>
public sealed record ToolCall(string Id, string Name, string Arguments);

/// <summary>
/// Tool calling in Hermes style, Augur's documented default for every model (stories260K has no template, and
/// the shared templates differ in how they take tools): the tools are described in a system turn, a call is
/// <c>&lt;tool_call&gt;{"name": …, "arguments": {…}}&lt;/tool_call&gt;</c>, a result goes back as a user turn in
/// <c>&lt;tool_response&gt;</c>. <see cref="Parse"/> also reads Mistral's <c>[TOOL_CALLS][…]</c> and Llama 3.x's
/// bare <c>{"name": …, "parameters": …}</c>. With a call required, <see cref="CallGrammar"/> makes the output
/// exactly one (or several) valid calls whose arguments match the tool's schema.
/// </summary>
public static class ToolCalls
{
    /// <summary>Most calls in one reply when parallel calls are allowed (a bound, so a small model stops).</summary>
    public const int MaxParallel = 8;

    public static string SystemPrompt(IReadOnlyList<ToolDefinition> tools)
    {
        // Short: small models have small contexts, and every tool's schema is spelled out after this.
        var sb = new StringBuilder("You may call functions. Tools: <tools>");
        foreach (var t in tools)
        {
            var fn = new JsonObject { ["name"] = t.Name };
            if (t.Description is not null) fn["description"] = t.Description;
            fn["parameters"] = t.Parameters is { } p ? JsonNode.Parse(p.GetRawText()) : new JsonObject { ["type"] = "object" };
            sb.Append(new JsonObject { ["type"] = "function", ["function"] = fn }.ToJsonString());
        }
        sb.Append("</tools>\nTo call one, answer <tool_call>{\"name\": <name>, \"arguments\": <arguments object>}</tool_call>");
        return sb.ToString();
    }

    /// <summary>Adds the tool description to the system turn (a new one first when there is none).</summary>
    public static void AddToolPrompt(List<ChatTurn> turns, IReadOnlyList<ToolDefinition> tools)
    {
        string prompt = SystemPrompt(tools);
        if (turns.Count > 0 && turns[0].Role == "system") turns[0] = turns[0] with { Content = turns[0].Content + "\n\n" + prompt };
        else turns.Insert(0, new ChatTurn("system", prompt));
    }

    /// <summary>An assistant turn's calls, written the way the model is told to write them.</summary>
    public static string RenderCalls(IEnumerable<ToolCall> calls) => string.Join("\n", calls.Select(c =>
        $"<tool_call>\n{{\"name\": {JsonSerializer.Serialize(c.Name)}, \"arguments\": {(string.IsNullOrWhiteSpace(c.Arguments) ? "{}" : c.Arguments)}}}\n</tool_call>"));

    public static string RenderResult(string content) => $"<tool_response>\n{content}\n</tool_response>";

    /// <summary>
    /// The grammar of one call (or up to <see cref="MaxParallel"/>) to one of <paramref name="tools"/>. Each tool's
    /// parameter schema is placed at <c>#/$defs/tool-i</c> of one document with its local <c>$ref</c>s rebased there,
    /// so references into its own <c>$defs</c> (or to itself, <c>#</c>) still resolve.
    /// </summary>
    public static Grammar CallGrammar(IReadOnlyList<ToolDefinition> tools, bool parallel)
    {
        if (tools.Count == 0) throw new InvalidRequestException("a tool call is required but no tools were given");
        var alternatives = new JsonArray();
        var defs = new JsonObject();
        for (int i = 0; i < tools.Count; i++)
        {
            var t = tools[i];
            JsonNode arguments = new JsonObject { ["type"] = "object" };
            if (t.Parameters is { } p)
            {
                defs[$"tool-{i}"] = Rebase(JsonNode.Parse(p.GetRawText()), $"#/$defs/tool-{i}");
                arguments = new JsonObject { ["$ref"] = $"#/$defs/tool-{i}" };
            }
            alternatives.Add(new JsonObject
            {
                ["type"] = "object",
                ["properties"] = new JsonObject { ["name"] = new JsonObject { ["const"] = t.Name }, ["arguments"] = arguments },
                ["required"] = new JsonArray("name", "arguments"),
                ["additionalProperties"] = false,
            });
        }
        using var schema = JsonDocument.Parse(new JsonObject { ["$defs"] = defs, ["anyOf"] = alternatives }.ToJsonString());
        string repeat = parallel ? $"(\"\\n\" call-block){{0,{MaxParallel - 1}}}" : "";
        string rules = $"call-block ::= \"<tool_call>\" \"\\n\"? call \"\\n\"? \"</tool_call>\"\nroot ::= call-block {repeat}\n";
        return Grammar.Parse(JsonSchemaGrammar.ToGbnf(schema.RootElement, "call", rules));
    }

    /// <summary>Every local <c>$ref</c> in <paramref name="node"/> (<c>#</c>, <c>#/…</c>) made relative to <paramref name="root"/>.</summary>
    static JsonNode? Rebase(JsonNode? node, string root)
    {
        switch (node)
        {
            case JsonObject o:
                foreach (var (key, value) in o.ToList())
                    o[key] = key == "$ref" && value is JsonValue v && v.TryGetValue(out string? r) && (r == "#" || r.StartsWith("#/", StringComparison.Ordinal))
                        ? root + r[1..]
                        : Rebase(value?.DeepClone(), root);
                return o;
            case JsonArray a:
                for (int i = 0; i < a.Count; i++) a[i] = Rebase(a[i]?.DeepClone(), root);
                return a;
            default:
                return node;
        }
    }

    /// <summary>The calls in <paramref name="text"/> to known tools, or none when it holds no well-formed call.</summary>
    public static IReadOnlyList<ToolCall> Parse(string text, IReadOnlyList<ToolDefinition> tools)
    {
        var found = new List<(string Name, string Arguments)>();
        string trimmed = text.Trim();
        if (trimmed.Contains("<tool_call>", StringComparison.Ordinal))
        {
            foreach (var block in trimmed.Split("<tool_call>").Skip(1))
            {
                int end = block.IndexOf("</tool_call>", StringComparison.Ordinal);
                if (Call(end < 0 ? block : block[..end], "arguments") is { } c) found.Add(c);
            }
        }
        else if (trimmed.StartsWith("[TOOL_CALLS]", StringComparison.Ordinal))
        {
            if (TryParse(trimmed["[TOOL_CALLS]".Length..]) is { ValueKind: JsonValueKind.Array } calls)
                foreach (var c in calls.EnumerateArray()) if (Call(c.GetRawText(), "arguments") is { } call) found.Add(call);
        }
        else if (trimmed.StartsWith('{') && (Call(trimmed, "parameters") ?? Call(trimmed, "arguments")) is { } llama)
            found.Add(llama);
        var names = tools.Select(t => t.Name).ToHashSet();
        return found.Where(c => names.Contains(c.Name))
            .Select(c => new ToolCall("call_" + Guid.NewGuid().ToString("N")[..24], c.Name, c.Arguments)).ToList();
    }

    static (string Name, string Arguments)? Call(string json, string argumentsKey)
    {
        if (TryParse(json) is not { ValueKind: JsonValueKind.Object } o) return null;
        if (!o.TryGetProperty("name", out var name) || name.ValueKind != JsonValueKind.String) return null;
        if (!o.TryGetProperty(argumentsKey, out var args) || args.ValueKind != JsonValueKind.Object) return null;
        return (name.GetString()!, args.GetRawText());
    }

    static JsonElement? TryParse(string json)
    {
        try { using var doc = JsonDocument.Parse(json); return doc.RootElement.Clone(); }
        catch (JsonException) { return null; }
    }
}
