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
/// Tool calling. A model whose chat template handles tools gets them, its calls and their results through the template
/// (<see cref="ChatPrompt"/>) and writes calls in its family's syntax (<see cref="IToolCallSyntax"/>). Every other model
/// (stories260K has no template at all) gets Augur's documented default, Hermes style: the tools are described in a
/// system turn, a call is <c>&lt;tool_call&gt;{"name": …, "arguments": {…}}&lt;/tool_call&gt;</c>, a result goes back
/// as a user turn in <c>&lt;tool_response&gt;</c> (<see cref="WithDefaultToolPrompt"/>). With a call required,
/// <see cref="CallGrammar"/> makes the output exactly one (or several) valid calls in the model's syntax whose
/// arguments match the tool's schema.
/// </summary>
public static class ToolCalls
{
    /// <summary>Most calls in one reply when parallel calls are allowed (a bound, so a small model stops).</summary>
    public const int MaxParallel = 8;

    public static string SystemPrompt(IReadOnlyList<ToolDefinition> tools)
    {
        // Short: small models have small contexts, and every tool's schema is spelled out after this.
        var sb = new StringBuilder("You may call functions. Tools: <tools>");
        foreach (var t in tools) sb.Append(Definition(t).ToJsonString());
        sb.Append("</tools>\nTo call one, answer <tool_call>{\"name\": <name>, \"arguments\": <arguments object>}</tool_call>");
        return sb.ToString();
    }

    /// <summary>A tool as OpenAI and Hugging Face templates write it: <c>{"type": "function", "function": {"name", "description", "parameters"}}</c>.</summary>
    public static JsonObject Definition(ToolDefinition t)
    {
        var fn = new JsonObject { ["name"] = t.Name };
        if (t.Description is not null) fn["description"] = t.Description;
        fn["parameters"] = t.Parameters is { } p ? JsonNode.Parse(p.GetRawText()) : new JsonObject { ["type"] = "object", ["properties"] = new JsonObject() };
        return new JsonObject { ["type"] = "function", ["function"] = fn };
    }

    /// <summary>
    /// The conversation as a template without tool support gets it: the tool description added to the system turn
    /// (a new one first when there is none), each assistant turn's calls written Hermes-style after its text, each
    /// tool result a user turn in <c>&lt;tool_response&gt;</c>.
    /// </summary>
    public static List<ChatTurn> WithDefaultToolPrompt(IReadOnlyList<ChatTurn> turns, IReadOnlyList<ToolDefinition>? tools)
    {
        var plain = turns.Select(t => t.Role == "tool" ? new ChatTurn("user", RenderResult(t.Content))
            : t.ToolCalls is { Count: > 0 } calls ? new ChatTurn(t.Role, (t.Content.Length > 0 ? t.Content + "\n" : "") + RenderCalls(calls))
            : t).ToList();
        if (tools is not { Count: > 0 }) return plain;
        string prompt = SystemPrompt(tools);
        if (plain.Count > 0 && plain[0].Role == "system") plain[0] = plain[0] with { Content = plain[0].Content + "\n\n" + prompt };
        else plain.Insert(0, new ChatTurn("system", prompt));
        return plain;
    }

    /// <summary>An assistant turn's calls, written the way the default prompt tells the model to write them.</summary>
    public static string RenderCalls(IEnumerable<ToolCall> calls) => string.Join("\n", calls.Select(c =>
        $"<tool_call>\n{{\"name\": {JsonSerializer.Serialize(c.Name)}, \"arguments\": {(string.IsNullOrWhiteSpace(c.Arguments) ? "{}" : c.Arguments)}}}\n</tool_call>"));

    public static string RenderResult(string content) => $"<tool_response>\n{content}\n</tool_response>";

    /// <summary>
    /// The grammar of one call (or up to <see cref="MaxParallel"/>) to one of <paramref name="tools"/>, written in
    /// <paramref name="syntax"/> (Hermes when null). Each tool's parameter schema is placed at <c>#/$defs/tool-i</c> of
    /// one document with its local <c>$ref</c>s rebased there, so references into its own <c>$defs</c> (or to itself,
    /// <c>#</c>) still resolve.
    /// </summary>
    public static Grammar CallGrammar(IReadOnlyList<ToolDefinition> tools, bool parallel, IToolCallSyntax? syntax = null)
    {
        syntax ??= ToolCallSyntaxes.Hermes;
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
                ["properties"] = new JsonObject { ["name"] = new JsonObject { ["const"] = t.Name }, [syntax.ArgumentsKey] = arguments },
                ["required"] = new JsonArray("name", syntax.ArgumentsKey),
                ["additionalProperties"] = false,
            });
        }
        using var schema = JsonDocument.Parse(new JsonObject { ["$defs"] = defs, ["anyOf"] = alternatives }.ToJsonString());
        return Grammar.Parse(JsonSchemaGrammar.ToGbnf(schema.RootElement, "call", syntax.ReplyRules(parallel, MaxParallel)));
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

    /// <summary>
    /// The calls in <paramref name="text"/> to known tools, or none when it holds no well-formed call: read in the
    /// model's own <paramref name="syntax"/> (Hermes when null) first, then in the others; ids are the model's
    /// syntax's (the ids its template accepts when the calls come back in the conversation).
    /// </summary>
    public static IReadOnlyList<ToolCall> Parse(string text, IReadOnlyList<ToolDefinition> tools, IToolCallSyntax? syntax = null)
    {
        syntax ??= ToolCallSyntaxes.Hermes;
        var names = tools.Select(t => t.Name).ToHashSet();
        foreach (var s in ToolCallSyntaxes.All.Prepend(syntax).Distinct())
        {
            var calls = s.Read(text).Where(c => names.Contains(c.Name)).ToList();
            if (calls.Count > 0) return calls.Select(c => new ToolCall(syntax.NewId(), c.Name, c.Arguments)).ToList();
        }
        return [];
    }
}
