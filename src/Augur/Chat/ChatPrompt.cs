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
    readonly ChatTemplate _template;
    readonly ITokenizer _tokenizer;
    readonly (string Text, int Id)[] _specials; // control and user-defined tokens, longest text first
    readonly SearchValues<char> _specialStarts;

    public ChatPrompt(ChatTemplate template, ITokenizer tokenizer)
    {
        _template = template;
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

    /// <summary>The model's template (read from its GGUF file), or <see cref="ChatTemplate.DefaultSource"/>.</summary>
    public static ChatPrompt ForModel(LoadedModel model)
    {
        string? source = null;
        if (IsGguf(model.Path))
        {
            using var file = GgufFile.Open(model.Path);
            source = file.Find("tokenizer.chat_template")?.Value as string;
        }
        return new ChatPrompt(string.IsNullOrEmpty(source) ? ChatTemplate.Default : ChatTemplate.Parse(source), model.Tokenizer);
    }

    static bool IsGguf(string path)
    {
        Span<byte> magic = stackalloc byte[4];
        using var fs = File.OpenRead(path);
        return fs.Read(magic) == 4 && BitConverter.ToUInt32(magic) == GgufFile.Magic;
    }

    /// <summary>The prompt text; throws <see cref="ChatTemplateException"/> when the template rejects the conversation.</summary>
    public string Render(IReadOnlyList<ChatTurn> messages)
    {
        var vocab = _tokenizer.Vocabulary;
        return _template.Render(new Dictionary<string, object?>
        {
            ["messages"] = messages.Select(m => new Dictionary<string, object?> { ["role"] = m.Role, ["content"] = m.Content }).ToList(),
            ["add_generation_prompt"] = true,
            ["bos_token"] = vocab.BosId >= 0 ? vocab.Tokens[vocab.BosId] : "",
            ["eos_token"] = vocab.EosId >= 0 ? vocab.Tokens[vocab.EosId] : "",
            ["tools"] = null,
        });
    }

    /// <summary>Prompt ids of the rendered conversation.</summary>
    public int[] Encode(IReadOnlyList<ChatTurn> messages) => Tokenize(Render(messages));

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
