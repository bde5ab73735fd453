using System.Text;

namespace Augur.Tokenizers;

/// <summary>
/// Turns tokens into text chunks as they are generated without ever splitting a UTF-8 character:
/// bytes of an unfinished character are held until the rest arrives; invalid bytes become U+FFFD.
/// </summary>
public sealed class StreamingDetokenizer(ITokenizer tokenizer, int previous = -1)
{
    readonly Decoder _decoder = Encoding.UTF8.GetDecoder();
    readonly char[] _chars = new char[64];
    int _previous = previous;

    /// <summary>The text completed by <paramref name="token"/> (may be empty while a character is unfinished).</summary>
    public string Push(int token)
    {
        var bytes = tokenizer.PieceBytes(token, _previous);
        _previous = token;
        return Convert(bytes, flush: false);
    }

    /// <summary>Whatever is still held (an unfinished character at the end becomes U+FFFD).</summary>
    public string Flush() => Convert([], flush: true);

    string Convert(ReadOnlySpan<byte> bytes, bool flush)
    {
        var sb = new StringBuilder();
        bool completed = false;
        while (!completed)
        {
            _decoder.Convert(bytes, _chars, flush, out int used, out int produced, out completed);
            sb.Append(_chars, 0, produced);
            bytes = bytes[used..];
        }
        return sb.ToString();
    }
}
