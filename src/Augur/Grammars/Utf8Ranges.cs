namespace Augur.Grammars;

/// <summary>
/// Spells a range of code points as UTF-8 byte-range sequences (the construction RE2 and Rust's regex use):
/// the range is split until every piece has one encoded length and differs only in a suffix of
/// continuation bytes, so each piece is a sequence of byte ranges whose product is exactly that piece.
/// </summary>
static class Utf8Ranges
{
    public static void Split(int lo, int hi, List<(byte Lo, byte Hi)[]> output)
    {
        if (lo > hi) return;
        // Surrogates have no UTF-8 encoding.
        if (lo <= 0xDFFF && hi >= 0xD800)
        {
            Split(lo, 0xD7FF, output);
            Split(0xE000, hi, output);
            return;
        }
        foreach (int max in (ReadOnlySpan<int>)[0x7F, 0x7FF, 0xFFFF])
            if (lo <= max && hi > max) { Split(lo, max, output); Split(max + 1, hi, output); return; }
        if (hi < 0x80) { output.Add([((byte)lo, (byte)hi)]); return; }
        int n = Length(lo);
        for (int i = 1; i < n; i++)
        {
            int m = (1 << (6 * i)) - 1;
            if ((lo & ~m) == (hi & ~m)) continue;
            if ((lo & m) != 0) { Split(lo, lo | m, output); Split((lo | m) + 1, hi, output); return; }
            if ((hi & m) != m) { Split(lo, (hi & ~m) - 1, output); Split(hi & ~m, hi, output); return; }
        }
        var a = Encode(lo);
        var b = Encode(hi);
        var seq = new (byte, byte)[n];
        for (int i = 0; i < n; i++) seq[i] = (a[i], b[i]);
        output.Add(seq);
    }

    static int Length(int cp) => cp < 0x80 ? 1 : cp < 0x800 ? 2 : cp < 0x10000 ? 3 : 4;

    public static byte[] Encode(int cp) => Length(cp) switch
    {
        1 => [(byte)cp],
        2 => [(byte)(0xC0 | cp >> 6), (byte)(0x80 | cp & 0x3F)],
        3 => [(byte)(0xE0 | cp >> 12), (byte)(0x80 | cp >> 6 & 0x3F), (byte)(0x80 | cp & 0x3F)],
        _ => [(byte)(0xF0 | cp >> 18), (byte)(0x80 | cp >> 12 & 0x3F), (byte)(0x80 | cp >> 6 & 0x3F), (byte)(0x80 | cp & 0x3F)],
    };
}
