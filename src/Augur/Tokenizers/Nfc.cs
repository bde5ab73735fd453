using System.Globalization;
using System.Text;

namespace Augur.Tokenizers;

/// <summary>
/// Unicode NFC (canonical decomposition, canonical ordering, canonical composition) over the tables in
/// <c>NfcData.cs</c>: Augur runs with invariant globalization, where .NET's own <c>Normalize</c> does nothing.
/// </summary>
static partial class Nfc
{
    const int SBase = 0xAC00, LBase = 0x1100, VBase = 0x1161, TBase = 0x11A7, LCount = 19, VCount = 21, TCount = 28;
    const int NCount = VCount * TCount, SCount = LCount * NCount;

    static readonly Lazy<(Dictionary<int, byte> Ccc, Dictionary<int, int[]> Decompose, Dictionary<long, int> Compose)> Tables = new(Load);

    static (Dictionary<int, byte>, Dictionary<int, int[]>, Dictionary<long, int>) Load()
    {
        static int Hex(string s) => int.Parse(s, NumberStyles.HexNumber, CultureInfo.InvariantCulture);
        static IEnumerable<(string Key, string Value)> Entries(string table) =>
            table.Split(';', StringSplitOptions.RemoveEmptyEntries).Select(e => e.Split(':')).Select(p => (p[0], p[1]));
        var ccc = Entries(CombiningClasses).ToDictionary(e => Hex(e.Key), e => (byte)Hex(e.Value));
        var decompose = Entries(Decompositions).ToDictionary(e => Hex(e.Key), e => e.Value.Split(',').Select(Hex).ToArray());
        var compose = Entries(Compositions).ToDictionary(e => { var p = e.Key.Split(','); return (long)Hex(p[0]) << 21 | (uint)Hex(p[1]); }, e => Hex(e.Value));
        return (ccc, decompose, compose);
    }

    /// <summary>Below U+0300 every character is already NFC and composes with nothing before it.</summary>
    public static bool IsTriviallyNormalized(ReadOnlySpan<char> s) => !s.ContainsAnyInRange('\u0300', '\uFFFF');

    public static string Normalize(string s)
    {
        if (IsTriviallyNormalized(s)) return s;
        var (ccc, decompose, compose) = Tables.Value;
        int Class(int c) => ccc.TryGetValue(c, out byte k) ? k : 0;

        // Decompose fully, then put each run of combining marks in canonical order (a stable sort by class).
        var cps = new List<int>(s.Length);
        void Decompose(int c)
        {
            if (c is >= SBase and < SBase + SCount)
            {
                int i = c - SBase;
                cps.Add(LBase + i / NCount);
                cps.Add(VBase + i % NCount / TCount);
                if (i % TCount != 0) cps.Add(TBase + i % TCount);
            }
            else if (decompose.TryGetValue(c, out var parts)) foreach (int p in parts) Decompose(p);
            else cps.Add(c);
        }
        foreach (var rune in s.EnumerateRunes()) Decompose(rune.Value);
        for (int i = 1; i < cps.Count; i++)
        {
            int k = Class(cps[i]);
            if (k == 0) continue;
            for (int j = i; j > 0 && Class(cps[j - 1]) > k; j--) (cps[j - 1], cps[j]) = (cps[j], cps[j - 1]);
        }

        // Compose each character with the last starter unless a mark of the same or a lower class sits between.
        var output = new List<int>(cps.Count);
        int starter = -1, lastClass = -1;
        foreach (int c in cps)
        {
            int k = Class(c);
            if (starter >= 0 && (lastClass < k || (lastClass == 0 && output.Count - 1 == starter)) && TryCompose(output[starter], c, compose, out int composite))
            {
                output[starter] = composite;
                continue;
            }
            if (k == 0) starter = output.Count;
            lastClass = k;
            output.Add(c);
        }
        var sb = new StringBuilder(output.Count);
        foreach (int c in output) sb.Append(char.ConvertFromUtf32(c));
        return sb.ToString();
    }

    static bool TryCompose(int a, int b, Dictionary<long, int> compose, out int composite)
    {
        if (a is >= LBase and < LBase + LCount && b is >= VBase and < VBase + VCount)
        {
            composite = SBase + ((a - LBase) * VCount + (b - VBase)) * TCount;
            return true;
        }
        if (a is >= SBase and < SBase + SCount && (a - SBase) % TCount == 0 && b is > TBase and < TBase + TCount)
        {
            composite = a + (b - TBase);
            return true;
        }
        return compose.TryGetValue((long)a << 21 | (uint)b, out composite);
    }
}
