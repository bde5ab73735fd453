using System.Buffers;
using System.Globalization;
using System.Text;

namespace Augur.ChatTemplates;

/// <summary>
/// Python's string semantics. Python strings are sequences of code points, so length, indexing, slicing and
/// iteration count an astral character such as 🚀 once, where a .NET string holds two UTF-16 units.
/// </summary>
internal static class PyText
{
    /// <summary>Python's <c>str.isspace</c> for one UTF-16 unit; unlike .NET it includes U+001C..U+001F.</summary>
    public static bool IsSpace(char c) => char.IsWhiteSpace(c) || c is >= '\x1c' and <= '\x1f';

    public static string TrimEndSpace(string s)
    {
        int end = s.Length;
        while (end > 0 && IsSpace(s[end - 1])) end--;
        return s[..end];
    }

    static bool HasSurrogates(string s) => s.AsSpan().IndexOfAnyInRange('\uD800', '\uDFFF') >= 0;

    /// <summary>The code points of <paramref name="s"/>, each as a string: Python's <c>list(s)</c>.</summary>
    public static List<object?> Characters(string s)
    {
        var result = new List<object?>(s.Length);
        for (int i = 0; i < s.Length;)
        {
            int width = char.IsSurrogatePair(s, i) ? 2 : 1;
            result.Add(s.Substring(i, width));
            i += width;
        }
        return result;
    }

    public static int Length(string s) => HasSurrogates(s) ? Characters(s).Count : s.Length;

    /// <summary><c>s[start:stop:step]</c> with Python's index rules; null bounds are omitted ones.</summary>
    public static string Slice(string s, long? start, long? stop, long? step)
    {
        if (!HasSurrogates(s) && (step ?? 1) == 1)
        {
            var (from, to) = SliceBounds(s.Length, start, stop, 1);
            return from < to ? s[(int)from..(int)to] : "";
        }
        var sb = new StringBuilder();
        foreach (object? c in SliceList(Characters(s), start, stop, step)) sb.Append((string)c!);
        return sb.ToString();
    }

    public static List<object?> SliceList(List<object?> items, long? start, long? stop, long? step)
    {
        long by = step ?? 1;
        if (by == 0) throw new TemplateError("slice step cannot be zero");
        var (from, to) = SliceBounds(items.Count, start, stop, by);
        var result = new List<object?>();
        for (long i = from; by > 0 ? i < to : i > to; i += by) result.Add(items[(int)i]);
        return result;
    }

    // CPython's PySlice_AdjustIndices: negative bounds count from the end, then clamp to the sequence.
    static (long From, long To) SliceBounds(long length, long? start, long? stop, long step)
    {
        long Adjust(long? bound, long fallback)
        {
            if (bound is not long b) return fallback;
            if (b < 0) b = Math.Max(b + length, step < 0 ? -1 : 0);
            else if (b >= length) b = step < 0 ? length - 1 : length;
            return b;
        }
        return step > 0 ? (Adjust(start, 0), Adjust(stop, length)) : (Adjust(start, length - 1), Adjust(stop, -1));
    }

    /// <summary><c>str.strip(chars)</c> / <c>lstrip</c> / <c>rstrip</c>; null chars strips whitespace.</summary>
    public static string Strip(string s, string? chars, bool left, bool right)
    {
        bool Strippable(Rune r) => chars is null ? Rune.IsWhiteSpace(r) || r.Value is >= 0x1c and <= 0x1f : chars.EnumerateRunes().Contains(r);
        int from = 0, to = s.Length;
        while (left && from < to && Rune.DecodeFromUtf16(s.AsSpan(from, to - from), out Rune r, out int n) == OperationStatus.Done && Strippable(r))
            from += n;
        while (right && from < to && Rune.DecodeLastFromUtf16(s.AsSpan(from, to - from), out Rune r, out int n) == OperationStatus.Done && Strippable(r))
            to -= n;
        return s[from..to];
    }

    /// <summary><c>str.split(sep, maxsplit)</c>: with no separator, splits on runs of whitespace and drops empty parts.</summary>
    public static List<object?> Split(string s, string? separator, long maxSplit)
    {
        var parts = new List<object?>();
        if (separator is not null)
        {
            if (separator.Length == 0) throw new TemplateError("empty separator");
            int start = 0;
            for (int at; (maxSplit < 0 || parts.Count < maxSplit) && (at = s.IndexOf(separator, start, StringComparison.Ordinal)) >= 0;)
            {
                parts.Add(s[start..at]);
                start = at + separator.Length;
            }
            parts.Add(s[start..]);
            return parts;
        }
        int i = 0;
        while (true)
        {
            while (i < s.Length && IsSpace(s[i])) i++;
            if (i == s.Length) return parts;
            if (maxSplit >= 0 && parts.Count == maxSplit)
            {
                parts.Add(s[i..]);
                return parts;
            }
            int end = i;
            while (end < s.Length && !IsSpace(s[end])) end++;
            parts.Add(s[i..end]);
            i = end;
        }
    }

    /// <summary><c>str.replace(old, new, count)</c>; an empty <paramref name="old"/> inserts between characters.</summary>
    public static string Replace(string s, string old, string replacement, long count)
    {
        if (replacement.Length > old.Length)
        {
            long occurrences = old.Length == 0 ? s.Length + 1 : 0;
            for (int at = 0; old.Length > 0 && (at = s.IndexOf(old, at, StringComparison.Ordinal)) >= 0; at += old.Length) occurrences++;
            if (count >= 0) occurrences = Math.Min(occurrences, count);
            PyOps.CheckLength(s.Length + occurrences * (replacement.Length - old.Length), "the replaced string");
        }
        if (count < 0) return old.Length == 0 ? Replace(s, old, replacement, long.MaxValue) : s.Replace(old, replacement, StringComparison.Ordinal);
        var sb = new StringBuilder();
        int start = 0;
        if (old.Length == 0)
        {
            var characters = Characters(s);
            for (int i = 0; i <= characters.Count; i++)
            {
                if (i < count) sb.Append(replacement);
                if (i < characters.Count) sb.Append((string)characters[i]!);
            }
            return sb.ToString();
        }
        for (long done = 0; done < count; done++)
        {
            int at = s.IndexOf(old, start, StringComparison.Ordinal);
            if (at < 0) break;
            sb.Append(s, start, at - start).Append(replacement);
            start = at + old.Length;
        }
        return sb.Append(s, start, s.Length - start).ToString();
    }

    /// <summary>Python's <c>str.capitalize</c>: first character upper case, the rest lower case.</summary>
    public static string Capitalize(string s) =>
        s.Length == 0 ? s : char.ToUpperInvariant(s[0]) + s[1..].ToLowerInvariant();

    /// <summary>jinja's <c>title</c> filter: capitalize each word, words being split at whitespace, '-' and opening brackets.</summary>
    public static string TitleFilter(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool wordStart = true;
        foreach (char c in s)
        {
            bool separator = IsSpace(c) || c is '-' or '(' or '{' or '[' or '<';
            sb.Append(separator ? c : wordStart ? char.ToUpperInvariant(c) : char.ToLowerInvariant(c));
            wordStart = separator;
        }
        return sb.ToString();
    }

    /// <summary>Python's <c>str.title</c>: a letter after a non-letter is upper case, other letters lower case.</summary>
    public static string TitleMethod(string s)
    {
        var sb = new StringBuilder(s.Length);
        bool previousCased = false;
        foreach (char c in s)
        {
            sb.Append(previousCased ? char.ToLowerInvariant(c) : char.ToUpperInvariant(c));
            previousCased = char.IsLetter(c);
        }
        return sb.ToString();
    }

    /// <summary>Python's <c>str.splitlines()</c>, which breaks at more than just \n.</summary>
    public static List<string> SplitLines(string s)
    {
        var lines = new List<string>();
        int start = 0;
        for (int i = 0; i < s.Length; i++)
        {
            if (s[i] is not ('\n' or '\r' or '\v' or '\f' or '\x1c' or '\x1d' or '\x1e' or '\x85' or '\u2028' or '\u2029')) continue;
            lines.Add(s[start..i]);
            if (s[i] == '\r' && i + 1 < s.Length && s[i + 1] == '\n') i++;
            start = i + 1;
        }
        if (start < s.Length) lines.Add(s[start..]);
        return lines;
    }

    /// <summary>Python's <c>repr()</c> of a string, as printed inside lists and dicts.</summary>
    public static string Repr(string s)
    {
        char quote = s.Contains('\'') && !s.Contains('"') ? '"' : '\'';
        var sb = new StringBuilder(s.Length + 2).Append(quote);
        foreach (Rune r in s.EnumerateRunes())
        {
            int v = r.Value;
            if (v == quote || v == '\\') sb.Append('\\').Append((char)v);
            else if (v == '\n') sb.Append("\\n");
            else if (v == '\r') sb.Append("\\r");
            else if (v == '\t') sb.Append("\\t");
            else if (v == ' ' || IsPrintable(r)) sb.Append(r.ToString());
            else if (v < 0x100) sb.Append($"\\x{v:x2}");
            else if (v < 0x10000) sb.Append($"\\u{v:x4}");
            else sb.Append($"\\U{v:x8}");
        }
        return sb.Append(quote).ToString();
    }

    static bool IsPrintable(Rune r) => Rune.GetUnicodeCategory(r) is not (UnicodeCategory.Control or UnicodeCategory.Format
        or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned
        or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator or UnicodeCategory.SpaceSeparator);

    /// <summary>Python's <c>repr()</c> of a float: the shortest text that reads back the same, with ".0" on
    /// whole numbers and exponent notation below 1e-4 or from 1e16 on.</summary>
    public static string FloatRepr(double d)
    {
        if (double.IsNaN(d)) return "nan";
        if (double.IsInfinity(d)) return d > 0 ? "inf" : "-inf";
        if (d == 0) return double.IsNegative(d) ? "-0.0" : "0.0";
        // .NET's "R" is also the shortest round-trip form; only the layout differs from Python's.
        string r = Math.Abs(d).ToString("R", CultureInfo.InvariantCulture);
        int e = r.IndexOf('E');
        int exponent = e < 0 ? 0 : int.Parse(r.AsSpan(e + 1), CultureInfo.InvariantCulture);
        string mantissa = e < 0 ? r : r[..e];
        int dot = mantissa.IndexOf('.');
        string digits = dot < 0 ? mantissa : mantissa.Remove(dot, 1);
        int point = (dot < 0 ? mantissa.Length : dot) + exponent; // digits are 0.DIGITS * 10^point
        int leadingZeros = digits.Length - digits.TrimStart('0').Length;
        digits = digits.Trim('0');
        point -= leadingZeros;
        string sign = d < 0 ? "-" : "";
        if (point <= -4 || point > 16)
        {
            string fraction = digits.Length > 1 ? "." + digits[1..] : "";
            int exp = point - 1;
            return $"{sign}{digits[0]}{fraction}e{(exp < 0 ? '-' : '+')}{Math.Abs(exp):00}";
        }
        if (point <= 0) return $"{sign}0.{new string('0', -point)}{digits}";
        if (point >= digits.Length) return $"{sign}{digits}{new string('0', point - digits.Length)}.0";
        return $"{sign}{digits[..point]}.{digits[point..]}";
    }
}
