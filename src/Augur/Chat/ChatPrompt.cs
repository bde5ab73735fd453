using System.Text.Json;
using System.Text.Json.Nodes;
using Augur.ChatTemplates;
using Augur.Gguf;
using Augur.Model;
using Augur.Tokenizers;

namespace Augur.Chat;

/// <summary>One message of a conversation: a role (system, user, assistant, tool) and its text.</summary>
public readonly record struct ChatTurn(string Role, string Content)
{
    /// <summary>An assistant turn's tool calls (none when null).</summary>
    public IReadOnlyList<ToolCall>? ToolCalls { get; init; }

    /// <summary>A tool turn's call: the id of the call whose result <see cref="Content"/> is.</summary>
    public string? ToolCallId { get; init; }
}

/// <summary>
/// Turns a conversation into prompt tokens the way llama.cpp does: the model's own chat template (GGUF
/// <c>tokenizer.chat_template</c>, or ChatML when it has none) rendered with <c>bos_token</c>, <c>eos_token</c>
/// and <c>add_generation_prompt</c>, then tokenized with the model's special tokens recognised in the text.
/// Tools, the calls an assistant turn made and tool results go to the template the way transformers passes them when
/// the template handles tools (<see cref="NativeTools"/>); otherwise they are written into the conversation in
/// Augur's default Hermes style (<see cref="ToolCalls.WithDefaultToolPrompt"/>).
/// </summary>
public sealed class ChatPrompt
{
    readonly ChatTemplate? _template; // null when the model's template failed at load (see LoadProblem)
    readonly ChatTemplate? _toolTemplate; // the template for requests with tools (GGUF tokenizer.chat_template.tool_use, else _template)
    readonly ChatTemplateLimits _limits;
    readonly ITokenizer _tokenizer;
    readonly TimeProvider _clock;

    /// <param name="toolTemplate">A second template for requests with tools, as some models carry (Hermes' tool_use).</param>
    /// <param name="clock">The time <c>strftime_now</c> reads (the system clock when null).</param>
    public ChatPrompt(ChatTemplate template, ITokenizer tokenizer, ChatTemplateLimits? limits = null, ChatTemplate? toolTemplate = null, TimeProvider? clock = null)
        : this((ChatTemplate?)template, tokenizer, limits, null, toolTemplate, clock)
    {
    }

    ChatPrompt(ChatTemplate? template, ITokenizer tokenizer, ChatTemplateLimits? limits, string? loadProblem, ChatTemplate? toolTemplate = null, TimeProvider? clock = null)
    {
        _template = template;
        _toolTemplate = toolTemplate ?? template;
        _limits = (limits ?? ChatTemplateLimits.Default).Validate();
        LoadProblem = loadProblem;
        _tokenizer = tokenizer;
        _clock = clock ?? TimeProvider.System;
        NativeTools = _toolTemplate is null ? null : ProbeToolSyntax();
    }

    /// <summary>The syntax the model's template writes tool calls in, when it handles tools (it prints the tools it is
    /// given, writes an assistant turn's call in a syntax Augur reads back to the same call, and prints a tool result);
    /// null when it does not, and the default Hermes prompt is used.</summary>
    public IToolCallSyntax? NativeTools { get; }

    /// <summary>The syntax the model is prompted (and forced, with a call required) to write calls in.</summary>
    public IToolCallSyntax ToolSyntax => NativeTools ?? ToolCallSyntaxes.Hermes;

    const string ProbeName = "augur_probe_tool", ProbeResult = "augur probe result";
    static readonly ToolDefinition ProbeTool = new(ProbeName, "A probe.",
        JsonDocument.Parse("""{"type": "object", "properties": {"x": {"type": "integer"}}, "required": ["x"]}""").RootElement);

    IToolCallSyntax? ProbeToolSyntax()
    {
        var probe = new ToolCall("abcdefghi", ProbeName, """{"x": 7}"""); // nine letters: Mistral's templates want that
        ChatTurn user = new("user", "Hello"), assistant = new("assistant", "") { ToolCalls = [probe] },
            result = new("tool", ProbeResult) { ToolCallId = probe.Id };
        try
        {
            string opened = RenderWith(_toolTemplate!, [user], [ProbeTool], true);
            if (!opened.Contains(ProbeName, StringComparison.Ordinal)) return null;
            if (!RenderWith(_toolTemplate!, [user, assistant, result], [ProbeTool], true).Contains(ProbeResult, StringComparison.Ordinal)) return null;
            string called = RenderWith(_toolTemplate!, [user, assistant], [ProbeTool], false);
            string reply = called.StartsWith(opened, StringComparison.Ordinal) ? called[opened.Length..] : called;
            var arguments = JsonNode.Parse(probe.Arguments);
            return ToolCallSyntaxes.All.FirstOrDefault(s =>
                s.Read(reply) is [var c] && c.Name == ProbeName && JsonNode.DeepEquals(JsonNode.Parse(c.Arguments), arguments));
        }
        catch (ChatTemplateException)
        {
            return null;
        }
    }

    /// <summary>
    /// The model's template (read from its GGUF file), or <see cref="ChatTemplate.DefaultSource"/> when it has none;
    /// requests with tools use <c>tokenizer.chat_template.tool_use</c> when the file has one. The template is parsed and rendered once with a probe conversation; when that fails, <see cref="LoadProblem"/>
    /// says why and chat is refused (every <see cref="Render"/> throws), or, with <paramref name="defaultOnFailure"/>,
    /// the default template is used instead. Loading never fails for the template's sake: completions need none.
    /// </summary>
    public static ChatPrompt ForModel(LoadedModel model, ChatTemplateLimits? limits = null, bool defaultOnFailure = false)
    {
        string? source = null, toolSource = null;
        if (IsGguf(model.Path))
        {
            using var file = GgufFile.Open(model.Path);
            source = file.Find("tokenizer.chat_template")?.Value as string;
            toolSource = file.Find("tokenizer.chat_template.tool_use")?.Value as string;
        }
        if (string.IsNullOrEmpty(source)) return new ChatPrompt(ChatTemplate.Default, model.Tokenizer, limits);
        try
        {
            var prompt = new ChatPrompt(ChatTemplate.Parse(source), model.Tokenizer, limits,
                toolTemplate: string.IsNullOrEmpty(toolSource) ? null : ChatTemplate.Parse(toolSource));
            try
            {
                prompt.Render([new ChatTurn("user", "Hello")]);
            }
            catch (ChatTemplateException e) when (e.RaisedByTemplate)
            {
                // The template refusing a conversation on purpose (roles, a required system turn) is its rule, not a fault.
            }
            return prompt;
        }
        catch (ChatTemplateException e)
        {
            string problem = $"the model's chat template cannot be used ({e.Message})";
            return defaultOnFailure
                ? new ChatPrompt(ChatTemplate.Default, model.Tokenizer, limits, problem + "; using the default ChatML template")
                : new ChatPrompt(null, model.Tokenizer, limits, problem);
        }
    }

    /// <summary>Why the model's own template is not in use (it failed to parse or to render a probe conversation),
    /// or null when it is.</summary>
    public string? LoadProblem { get; }

    static bool IsGguf(string path)
    {
        Span<byte> magic = stackalloc byte[4];
        using var fs = File.OpenRead(path);
        return fs.Read(magic) == 4 && BitConverter.ToUInt32(magic) == GgufFile.Magic;
    }

    /// <summary>The prompt text of a conversation, with <paramref name="tools"/> the model may call (none when null or
    /// empty); throws <see cref="ChatTemplateException"/> when the template rejects the conversation or runs past its
    /// budget, <see cref="InvalidRequestException"/> when the model's template failed at load, and
    /// <see cref="OperationCanceledException"/> as soon as <paramref name="cancel"/> is cancelled.</summary>
    public string Render(IReadOnlyList<ChatTurn> messages, IReadOnlyList<ToolDefinition>? tools = null, CancellationToken cancel = default)
    {
        var (turns, template, templateTools) = Prepare(messages, tools);
        return RenderWith(template, turns, templateTools, true, cancel);
    }

    /// <summary>What goes to the template: the turns as they are and the tools when it handles tools, else the turns
    /// rewritten with the default tool prompt and no tools.</summary>
    (IReadOnlyList<ChatTurn> Turns, ChatTemplate Template, IReadOnlyList<ToolDefinition>? Tools) Prepare(IReadOnlyList<ChatTurn> messages, IReadOnlyList<ToolDefinition>? tools)
    {
        if (_template is null) throw new InvalidRequestException($"chat is unavailable: {LoadProblem}");
        if (tools is { Count: 0 }) tools = null;
        var template = tools is null ? _template : _toolTemplate!;
        bool toolsInvolved = tools is not null || messages.Any(m => m.Role == "tool" || m.ToolCalls is { Count: > 0 });
        return NativeTools is null && toolsInvolved ? (ToolCalls.WithDefaultToolPrompt(messages, tools), template, null) : (messages, template, tools);
    }

    string RenderWith(ChatTemplate template, IReadOnlyList<ChatTurn> messages, IReadOnlyList<ToolDefinition>? tools, bool addGenerationPrompt, CancellationToken cancel = default)
    {
        var vocab = _tokenizer.Vocabulary;
        return template.Render(new Dictionary<string, object?>
        {
            ["messages"] = messages.Select(m => Message(m, messages)).ToList(),
            ["add_generation_prompt"] = addGenerationPrompt,
            ["bos_token"] = vocab.BosId >= 0 ? vocab.Tokens[vocab.BosId] : "",
            ["eos_token"] = vocab.EosId >= 0 ? vocab.Tokens[vocab.EosId] : "",
            ["tools"] = tools?.Select(t => (object?)ToolCalls.Definition(t)).ToList(),
        }, _clock, _limits, cancel);
    }

    /// <summary>A turn as transformers' templates read it: <c>role</c>, <c>content</c>; an assistant's
    /// <c>tool_calls</c> (<c>id</c>, <c>type</c>, <c>function</c> with <c>name</c> and <c>arguments</c> as an object); a
    /// tool result's <c>tool_call_id</c> and <c>name</c> (the function of the call it answers).</summary>
    static Dictionary<string, object?> Message(ChatTurn m, IReadOnlyList<ChatTurn> all)
    {
        var message = new Dictionary<string, object?> { ["role"] = m.Role };
        if (m.Role == "tool")
        {
            message["tool_call_id"] = m.ToolCallId;
            message["name"] = all.SelectMany(t => t.ToolCalls ?? []).FirstOrDefault(c => c.Id == m.ToolCallId)?.Name;
        }
        message["content"] = m.Content;
        if (m.ToolCalls is { Count: > 0 } calls)
            message["tool_calls"] = calls.Select(c => (object?)new Dictionary<string, object?>
            {
                ["id"] = c.Id,
                ["type"] = "function",
                ["function"] = new Dictionary<string, object?> { ["name"] = c.Name, ["arguments"] = Arguments(c.Arguments) },
            }).ToList();
        return message;
    }

    /// <summary>Arguments as a JSON value (transformers passes an object); text that is not JSON stays text.</summary>
    static object? Arguments(string json)
    {
        try { return JsonNode.Parse(string.IsNullOrWhiteSpace(json) ? "{}" : json); }
        catch (JsonException) { return json; }
    }

    /// <summary>
    /// Prompt ids of the rendered conversation. The control tokens the template writes are special; the same text
    /// inside message content is plain text (no prompt injection through <c>&lt;|im_start|&gt;</c> in a user message).
    /// To know which part of the output is content, the template is rendered a second time with each content replaced
    /// by a placeholder, and the first rendering is aligned with it (the content as given, or trimmed, as templates
    /// often do). If the template rewrote a content beyond that, the prompt is the placeholder rendering with the
    /// contents put back as given when any content spells a control token, else the template's output as it is.
    /// </summary>
    public int[] Encode(IReadOnlyList<ChatTurn> messages, IReadOnlyList<ToolDefinition>? tools = null, CancellationToken cancel = default)
    {
        (messages, var template, tools) = Prepare(messages, tools);
        string rendered = RenderWith(template, messages, tools, true, cancel);
        // An empty content has nothing to protect, and templates test it ("if content"): it stays empty.
        var pieces = Pieces(RenderWith(template, [.. messages.Select((m, i) => m.Content.Length == 0 ? m : m with { Content = $"{PlaceholderStart}{i}{PlaceholderEnd}" })], tools, true, cancel));
        var spans = new List<Range>();
        if (Align(rendered, pieces, messages, spans)) return Tokenize(rendered, spans);
        if (!messages.Any(m => SpellsControlToken(m.Content))) return Tokenize(rendered);
        var sb = new System.Text.StringBuilder();
        spans.Clear();
        foreach (var (text, message) in pieces)
        {
            if (message < 0) { sb.Append(text); continue; }
            int start = sb.Length;
            sb.Append(messages[message].Content);
            spans.Add(start..sb.Length);
        }
        return Tokenize(sb.ToString(), spans);
    }

    // Private-use characters: no template writes them.
    const char PlaceholderStart = '\uE000', PlaceholderEnd = '\uE001';

    /// <summary>Template text (message -1) and placeholders (the message index) of a placeholder rendering.</summary>
    static List<(string Text, int Message)> Pieces(string marked)
    {
        var pieces = new List<(string, int)>();
        int pos = 0;
        while (pos < marked.Length)
        {
            int start = marked.IndexOf(PlaceholderStart, pos), end = start < 0 ? -1 : marked.IndexOf(PlaceholderEnd, start);
            if (start < 0 || end < 0 || !int.TryParse(marked.AsSpan(start + 1, end - start - 1), out int index)) break;
            if (start > pos) pieces.Add((marked[pos..start], -1));
            pieces.Add(("", index));
            pos = end + 1;
        }
        if (pos < marked.Length) pieces.Add((marked[pos..], -1));
        return pieces;
    }

    static bool Align(string rendered, List<(string Text, int Message)> pieces, IReadOnlyList<ChatTurn> messages, List<Range> spans)
    {
        int pos = 0;
        for (int k = 0; k < pieces.Count; k++)
        {
            var (text, message) = pieces[k];
            if (message < 0)
            {
                if (!rendered.AsSpan(pos).StartsWith(text)) return false;
                pos += text.Length;
                continue;
            }
            if (message >= messages.Count) return false;
            string content = messages[message].Content;
            string? next = k + 1 < pieces.Count && pieces[k + 1].Message < 0 ? pieces[k + 1].Text : null;
            bool found = false;
            foreach (string form in (string[])[content, content.Trim(), content.TrimStart(), content.TrimEnd()])
            {
                if (!rendered.AsSpan(pos).StartsWith(form)) continue;
                int after = pos + form.Length;
                if (next is not null ? !rendered.AsSpan(after).StartsWith(next) : k + 1 == pieces.Count && after != rendered.Length) continue;
                spans.Add(pos..after);
                pos = after;
                found = true;
                break;
            }
            if (!found) return false;
        }
        return pos == rendered.Length;
    }

    bool SpellsControlToken(string content)
    {
        var vocab = _tokenizer.Vocabulary;
        return _tokenizer.Encode(content, addBos: false, parseSpecial: true).Any(id => vocab.Types[id] is TokenType.Control or TokenType.Unknown);
    }

    /// <summary>
    /// Tokenizes text in which special tokens (<c>&lt;s&gt;</c>, <c>&lt;|im_start|&gt;</c>, …) stand for themselves,
    /// as llama.cpp's parse_special does, except inside <paramref name="plainText"/>. BOS is added unless the text
    /// already starts with it (templates often write it).
    /// </summary>
    public int[] Tokenize(string text, IReadOnlyList<Range>? plainText = null)
    {
        var vocab = _tokenizer.Vocabulary;
        bool addBos = vocab.AddBos && _tokenizer.BosId >= 0 && !text.StartsWith(vocab.Tokens[_tokenizer.BosId], StringComparison.Ordinal);
        var ids = _tokenizer.Encode(text, addBos: false, parseSpecial: true, plainText);
        return addBos ? [_tokenizer.BosId, .. ids] : ids;
    }
}
