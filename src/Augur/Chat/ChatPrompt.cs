using System.Buffers;
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
    readonly (string Text, int Id)[] _specials; // control and user-defined tokens, longest text first
    readonly SearchValues<char> _specialStarts;

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
        var vocab = tokenizer.Vocabulary;
        _specials = Enumerable.Range(0, vocab.Count)
            .Where(i => vocab.Types[i] is TokenType.Control or TokenType.UserDefined && vocab.Tokens[i].Length > 0)
            .DistinctBy(i => vocab.Tokens[i])
            .Select(i => (vocab.Tokens[i], i))
            .OrderByDescending(s => s.Item1.Length)
            .ToArray();
        _specialStarts = SearchValues.Create(_specials.Select(s => s.Text[0]).Distinct().ToArray());
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

    /// <summary>Prompt ids of the rendered conversation.</summary>
    public int[] Encode(IReadOnlyList<ChatTurn> messages, CancellationToken cancel = default) => Tokenize(Render(messages, cancel));

    /// <summary>
    /// Tokenizes text in which special tokens (<c>&lt;s&gt;</c>, <c>&lt;|im_start|&gt;</c>, …) stand for themselves,
    /// as llama.cpp's parse_special does: each special text becomes its id, the plain text between is encoded
    /// on its own. BOS is added unless the text already starts with it (templates often write it).
    /// </summary>
    public int[] Tokenize(string text)
    {
        var ids = new List<int>();
        int bos = _tokenizer.BosId;
        if (_tokenizer.Vocabulary.AddBos && bos >= 0 && !text.StartsWith(_tokenizer.Vocabulary.Tokens[bos], StringComparison.Ordinal)) ids.Add(bos);
        int plain = 0;
        for (int i = 0; i < text.Length; i++)
        {
            int next = text.AsSpan(i).IndexOfAny(_specialStarts);
            if (next < 0) break;
            i += next;
            foreach (var (special, id) in _specials)
            {
                if (string.CompareOrdinal(text, i, special, 0, special.Length) != 0) continue;
                if (i > plain) ids.AddRange(_tokenizer.Encode(text[plain..i], addBos: false));
                ids.Add(id);
                plain = i + special.Length;
                i = plain - 1;
                break;
            }
        }
        if (plain < text.Length) ids.AddRange(_tokenizer.Encode(text[plain..], addBos: false));
        return ids.ToArray();
    }
}
