namespace Augur.Tokenizers;

/// <summary>Text ↔ token ids.</summary>
public interface ITokenizer
{
    Vocabulary Vocabulary { get; }
    int BosId { get; }
    int EosId { get; }

    /// <summary>Token ids of <paramref name="text"/>, with BOS first when <paramref name="addBos"/>.</summary>
    int[] Encode(string text, bool addBos = true);

    /// <summary>
    /// The bytes <paramref name="token"/> stands for when it follows <paramref name="previous"/>
    /// (control tokens are empty; the leading space of the first piece after BOS is dropped).
    /// Bytes, not text: a multi-byte character can be split across byte tokens.
    /// </summary>
    ReadOnlySpan<byte> PieceBytes(int token, int previous);

    /// <summary>Whole-sequence decode, for convenience and tests.</summary>
    string Decode(ReadOnlySpan<int> tokens, int previous = -1);
}
