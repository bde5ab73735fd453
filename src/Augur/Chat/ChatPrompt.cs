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

    public ChatPrompt(ChatTemplate template, ITokenizer tokenizer)
    {
        _template = template;
        _tokenizer = tokenizer;
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
    /// as llama.cpp's parse_special does. BOS is added unless the text already starts with it (templates often write it).
    /// </summary>
    public int[] Tokenize(string text)
    {
        var vocab = _tokenizer.Vocabulary;
        bool addBos = vocab.AddBos && _tokenizer.BosId >= 0 && !text.StartsWith(vocab.Tokens[_tokenizer.BosId], StringComparison.Ordinal);
        var ids = _tokenizer.Encode(text, addBos: false, parseSpecial: true);
        return addBos ? [_tokenizer.BosId, .. ids] : ids;
    }
}
