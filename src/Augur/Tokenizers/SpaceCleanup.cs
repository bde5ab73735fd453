namespace Augur.Tokenizers;

/// <summary>Hugging Face's <c>clean_up_tokenization</c>: the spaces a word-level detokenizer leaves before punctuation and contractions.</summary>
public static class SpaceCleanup
{
    static readonly (string From, string To)[] Rules =
    [
        (" .", "."), (" ?", "?"), (" !", "!"), (" ,", ","), (" ' ", "'"),
        (" n't", "n't"), (" 'm", "'m"), (" 's", "'s"), (" 've", "'ve"), (" 're", "'re"),
    ];

    public static string Apply(string text)
    {
        foreach (var (from, to) in Rules) text = text.Replace(from, to, StringComparison.Ordinal);
        return text;
    }
}
