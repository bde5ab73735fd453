namespace Augur.Tokenizers;

/// <summary>Text ↔ token ids.</summary>
public interface ITokenizer
{
    Vocabulary Vocabulary { get; }
    int BosId { get; }
    int EosId { get; }

    /// <summary>
    /// Token ids of <paramref name="text"/>, with the vocabulary's BOS (and EOS, where it asks) when <paramref name="addBos"/>.
    /// User-defined pieces written in the text are always matched; control pieces (<c>&lt;|im_start|&gt;</c>, …) only
    /// when <paramref name="parseSpecial"/>, which is for text a chat template wrote, never for a user's text: inside
    /// <paramref name="plainText"/> (the message content a template copied into its output) they never match.
    /// </summary>
    int[] Encode(string text, bool addBos = true, bool parseSpecial = false, IReadOnlyList<Range>? plainText = null);

    /// <summary>
    /// The bytes <paramref name="token"/> stands for when it follows <paramref name="previous"/>
    /// (control tokens are empty; SentencePiece drops the leading space of the first piece after BOS).
    /// Bytes, not text: a multi-byte character can be split across byte tokens.
    /// </summary>
    ReadOnlySpan<byte> PieceBytes(int token, int previous);

    /// <summary>Whole-sequence decode; control tokens are written as their text when <paramref name="renderSpecial"/>.</summary>
    string Decode(ReadOnlySpan<int> tokens, int previous = -1, bool renderSpecial = false);

    /// <summary>
    /// Whole-sequence decode with the clean-up of spaces the vocabulary asks for (Llama 3's <c>clean_up_tokenization_spaces</c>,
    /// llama.cpp's <c>clean_spaces</c>): Hugging Face's rule, dropping the space before <c>. ? ! ,</c> and contractions.
    /// Streaming output never applies it (neither does llama.cpp's token_to_piece).
    /// </summary>
    string DecodeCleaned(ReadOnlySpan<int> tokens) => Decode(tokens);

    /// <summary>Whether generating <paramref name="token"/> ends the generation (see <see cref="Vocabulary.EndOfGeneration"/>).</summary>
    bool IsEndOfGeneration(int token) => Vocabulary.EndOfGeneration.Contains(token);
}
