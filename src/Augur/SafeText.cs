using System.Globalization;
using System.Text;

namespace Augur;

/// <summary>
/// Makes text from a file or a request fit to quote in an error message: control and other non-printable
/// characters become visible escapes (ESC is the four characters <c>\x1b</c>), so a model file or a request
/// cannot drive the user's terminal or split a log line; long values are cut with an ellipsis and their
/// full length, so one field cannot flood the message.
/// </summary>
public static class SafeText
{
    /// <summary>Characters of a quoted value kept before it is cut.</summary>
    public const int DefaultMax = 96;

    /// <summary>The value escaped and, when longer than <paramref name="max"/> characters, cut.</summary>
    public static string Quote(string? value, int max = DefaultMax) => Escape(value, max, escapeBackslash: true);

    /// <summary>Escapes a whole message so it prints as one line, cut at <paramref name="max"/> characters: the last
    /// guard before a terminal or a log (backslashes stay as they are, so quoted values are not escaped twice).</summary>
    public static string Line(string message, int max = 1000) => Escape(message, max, escapeBackslash: false);

    static string Escape(string? value, int max, bool escapeBackslash)
    {
        if (value is null) return "";
        var text = new StringBuilder(Math.Min(value.Length, max) + 16);
        int i = 0;
        for (; i < value.Length && text.Length < max; i++)
        {
            char c = value[i];
            if (char.IsHighSurrogate(c) && i + 1 < value.Length && char.IsLowSurrogate(value[i + 1]))
            {
                var category = CharUnicodeInfo.GetUnicodeCategory(value, i);
                if (category is UnicodeCategory.OtherNotAssigned or UnicodeCategory.PrivateUse or UnicodeCategory.Format)
                    text.Append($"\\U{char.ConvertToUtf32(c, value[i + 1]):x8}");
                else
                    text.Append(c).Append(value[i + 1]);
                i++;
                continue;
            }
            switch (c)
            {
                case '\\' when escapeBackslash: text.Append("\\\\"); break;
                case '\n': text.Append("\\n"); break;
                case '\r': text.Append("\\r"); break;
                case '\t': text.Append("\\t"); break;
                default:
                    if (c < 0x100 && !IsPrintable(c)) text.Append($"\\x{(int)c:x2}");
                    else if (!IsPrintable(c)) text.Append($"\\u{(int)c:x4}");
                    else text.Append(c);
                    break;
            }
        }
        if (i < value.Length) text.Append($"… ({value.Length:N0} chars)");
        return text.ToString();
    }

    // Printable: letters, marks, numbers, punctuation, symbols and the plain space; not controls, format
    // characters (bidi overrides), separators other than space, lone surrogates or unassigned code points.
    static bool IsPrintable(char c) => CharUnicodeInfo.GetUnicodeCategory(c) switch
    {
        UnicodeCategory.Control or UnicodeCategory.Format or UnicodeCategory.LineSeparator or UnicodeCategory.ParagraphSeparator
            or UnicodeCategory.Surrogate or UnicodeCategory.PrivateUse or UnicodeCategory.OtherNotAssigned => false,
        UnicodeCategory.SpaceSeparator => c == ' ',
        _ => true,
    };
}
