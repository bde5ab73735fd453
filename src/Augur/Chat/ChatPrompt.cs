using Augur.ChatTemplates;
using Augur.Gguf;
using Augur.Model;
using Augur.Tokenizers;

namespace Augur.Chat;

/// <summary>One message of a conversation: a role (system, user, assistant, …) and its text.</summary>
public readonly record struct ChatTurn(string Role, string Content);

/// <summary>
/// Turns a conversation into prompt tokens the way llama.cpp does: the model's own chat template (GGUF
/// <c>tokenizer.chat_template</c>, or ChatML when it has none) rendered with <c>bos_token</c>, <c>eos_token</c>
/// and <c>add_generation_prompt</c>, then tokenized with the model's special tokens recognised in the text.
/// </summary>
public sealed class ChatPrompt
{
    readonly ChatTemplate? _template; // null when the model's template failed at load (see LoadProblem)
    readonly ChatTemplateLimits _limits;
    readonly ITokenizer _tokenizer;

    public ChatPrompt(ChatTemplate template, ITokenizer tokenizer, ChatTemplateLimits? limits = null)
        : this((ChatTemplate?)template, tokenizer, limits, null)
    {
    }

    ChatPrompt(ChatTemplate? template, ITokenizer tokenizer, ChatTemplateLimits? limits, string? loadProblem)
    {
        _template = template;
        _limits = (limits ?? ChatTemplateLimits.Default).Validate();
        LoadProblem = loadProblem;
        _tokenizer = tokenizer;
    }

    /// <summary>
    /// The model's template (read from its GGUF file), or <see cref="ChatTemplate.DefaultSource"/> when it has none.
    /// The template is parsed and rendered once with a probe conversation; when that fails, <see cref="LoadProblem"/>
    /// says why and chat is refused (every <see cref="Render"/> throws), or, with <paramref name="defaultOnFailure"/>,
    /// the default template is used instead. Loading never fails for the template's sake: completions need none.
    /// </summary>
    public static ChatPrompt ForModel(LoadedModel model, ChatTemplateLimits? limits = null, bool defaultOnFailure = false)
    {
        string? source = null;
        if (IsGguf(model.Path))
        {
            using var file = GgufFile.Open(model.Path);
            source = file.Find("tokenizer.chat_template")?.Value as string;
        }
        if (string.IsNullOrEmpty(source)) return new ChatPrompt(ChatTemplate.Default, model.Tokenizer, limits);
        try
        {
            var prompt = new ChatPrompt(ChatTemplate.Parse(source), model.Tokenizer, limits);
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

    /// <summary>The prompt text; throws <see cref="ChatTemplateException"/> when the template rejects the conversation
    /// or runs past its budget, <see cref="InvalidRequestException"/> when the model's template failed at load, and
    /// <see cref="OperationCanceledException"/> as soon as <paramref name="cancel"/> is cancelled.</summary>
    public string Render(IReadOnlyList<ChatTurn> messages, CancellationToken cancel = default)
    {
        if (_template is null) throw new InvalidRequestException($"chat is unavailable: {LoadProblem}");
        var vocab = _tokenizer.Vocabulary;
        return _template.Render(new Dictionary<string, object?>
        {
            ["messages"] = messages.Select(m => new Dictionary<string, object?> { ["role"] = m.Role, ["content"] = m.Content }).ToList(),
            ["add_generation_prompt"] = true,
            ["bos_token"] = vocab.BosId >= 0 ? vocab.Tokens[vocab.BosId] : "",
            ["eos_token"] = vocab.EosId >= 0 ? vocab.Tokens[vocab.EosId] : "",
            ["tools"] = null,
        }, limits: _limits, cancel: cancel);
    }

    /// <summary>
    /// Prompt ids of the rendered conversation. The control tokens the template writes are special; the same text
    /// inside message content is plain text (no prompt injection through <c>&lt;|im_start|&gt;</c> in a user message).
    /// To know which part of the output is content, the template is rendered a second time with each content replaced
    /// by a placeholder, and the first rendering is aligned with it (the content as given, or trimmed, as templates
    /// often do). If the template rewrote a content beyond that, the prompt is the placeholder rendering with the
    /// contents put back as given when any content spells a control token, else the template's output as it is.
    /// </summary>
    public int[] Encode(IReadOnlyList<ChatTurn> messages, CancellationToken cancel = default)
    {
        string rendered = Render(messages, cancel);
        var pieces = Pieces(Render([.. messages.Select((m, i) => m with { Content = $"{PlaceholderStart}{i}{PlaceholderEnd}" })], cancel));
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
