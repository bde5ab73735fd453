namespace Augur.Tokenizers;

/// <summary>Picks the tokenizer a vocabulary needs by its GGUF <c>tokenizer.ggml.model</c>.</summary>
public static class TokenizerFactory
{
    static readonly Dictionary<string, Func<Vocabulary, ITokenizer>> Kinds = new()
    {
        [Vocabulary.SentencePieceModel] = v => new SentencePieceTokenizer(v),
        [Vocabulary.ByteLevelModel] = v => new ByteLevelBpeTokenizer(v),
    };

    public static IReadOnlyCollection<string> Models => Kinds.Keys;

    public static ITokenizer Create(Vocabulary vocabulary) =>
        Kinds.TryGetValue(vocabulary.Model, out var make) ? make(vocabulary)
            : throw new ModelFormatException($"{vocabulary.Source}: tokenizer.ggml.model = '{vocabulary.Model}' is not supported (supported: {string.Join(", ", Kinds.Keys)})");
}
