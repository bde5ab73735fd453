using System.Text;

namespace Augur.Grammars;

/// <summary>
/// The GBNF for exactly the integers in [lo, hi] (either side open), written the way one writes a numeric-range
/// regular expression: split by digit count, then by leading digit, with whole digit classes where a range
/// covers every suffix. Canonical JSON integers only (no leading zeros, no "-0"). Bounds up to 15 digits.
/// </summary>
static class IntegerRange
{
    const long Limit = 999_999_999_999_999;

    public static string Gbnf(long? lo, long? hi)
    {
        if (lo < -Limit || hi > Limit) throw new InvalidRequestException($"integer bounds beyond ±{Limit} are not supported");
        if (lo >= 0) return NonNegative(lo.Value, hi);
        if (hi < 0) return $"\"-\" ({NonNegative(-hi.Value, lo is null ? null : -lo.Value)})";
        // lo < 0 (or open) and hi ≥ 0 (or open): the negative and the non-negative parts.
        return $"\"-\" ({NonNegative(1, lo is null ? null : -lo.Value)}) | {NonNegative(0, hi)}";
    }

    static string NonNegative(long lo, long? hi)
    {
        if (hi is null)
        {
            int d = Digits(lo);
            long top = Pow10(d) - 1;
            string longer = d < 16 ? $"[1-9] [0-9]{{{d},15}}" : "";
            return string.Join(" | ", new[] { Range(lo, top), longer }.Where(x => x.Length > 0));
        }
        return Range(lo, hi.Value);
    }

    static string Range(long lo, long hi)
    {
        var parts = new List<string>();
        for (int n = Digits(lo); n <= Digits(hi); n++)
        {
            long a = Math.Max(lo, n == 1 ? 0 : Pow10(n - 1)), b = Math.Min(hi, Pow10(n) - 1);
            if (a <= b) parts.Add(Fixed(a, b, n));
        }
        return string.Join(" | ", parts.Select(p => $"({p})"));
    }

    /// <summary>The width-<paramref name="w"/> digit strings (leading zeros allowed) from lo to hi.</summary>
    static string Fixed(long lo, long hi, int w)
    {
        if (w == 1) return lo == hi ? $"\"{lo}\"" : $"[{lo}-{hi}]";
        long p = Pow10(w - 1);
        long a = lo / p, b = hi / p, restLo = lo % p, restHi = hi % p;
        if (a == b) return $"\"{a}\" ({Fixed(restLo, restHi, w - 1)})";
        if (restLo == 0 && restHi == p - 1) return $"[{a}-{b}] [0-9]{{{w - 1}}}";
        var sb = new StringBuilder();
        sb.Append($"\"{a}\" ({Fixed(restLo, p - 1, w - 1)})");
        if (b - a > 1) sb.Append($" | [{a + 1}-{b - 1}] [0-9]{{{w - 1}}}");
        sb.Append($" | \"{b}\" ({Fixed(0, restHi, w - 1)})");
        return sb.ToString();
    }

    static int Digits(long x) => x < 10 ? 1 : 1 + Digits(x / 10);
    static long Pow10(int n) { long r = 1; for (int i = 0; i < n; i++) r *= 10; return r; }
}
