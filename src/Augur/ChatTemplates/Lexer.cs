using System.Globalization;
using System.Text;

namespace Augur.ChatTemplates;

internal enum TokenKind { Text, VariableBegin, VariableEnd, BlockBegin, BlockEnd, Name, String, Integer, Float, Operator, End }

/// <summary>One token. <see cref="Offset"/> indexes the normalized source and gives error positions.</summary>
internal readonly record struct Token(TokenKind Kind, string Value, int Offset);

/// <summary>A 1-based line and column in the template source.</summary>
internal readonly record struct SourcePos(int Line, int Column);

/// <summary>Turns offsets into the normalized source back into lines and columns.</summary>
internal sealed class SourceMap
{
    readonly List<int> lineStarts = [0];

    public SourceMap(string source)
    {
        for (int i = 0; i < source.Length; i++)
            if (source[i] == '\n') lineStarts.Add(i + 1);
    }

    public SourcePos Locate(int offset)
    {
        int line = lineStarts.BinarySearch(offset);
        if (line < 0) line = ~line - 1;
        return new SourcePos(line + 1, offset - lineStarts[line] + 1);
    }

    public ChatTemplateException Error(int offset, string reason)
    {
        var pos = Locate(offset);
        return new ChatTemplateException(reason, pos.Line, pos.Column);
    }
}

/// <summary>
/// Splits a template into text and tag tokens the way jinja2 3.1's lexer does with the settings Hugging Face
/// renders chat templates with: <c>trim_blocks</c> and <c>lstrip_blocks</c> on, <c>keep_trailing_newline</c> off.
/// Those settings are fixed here because every GGUF chat template is written against them.
/// </summary>
internal sealed class Lexer
{
    readonly string src;
    readonly SourceMap map;
    readonly List<Token> tokens = [];
    int pos;
    // jinja's line_starting: the previous match ended with a newline (or nothing was matched yet). lstrip_blocks
    // then strips indentation before a tag even when the text in front of it holds no newline of its own.
    bool lineStarting = true;

    Lexer(string source, SourceMap map)
    {
        src = source;
        this.map = map;
    }

    /// <summary>Jinja turns \r\n and \r into \n and, with keep_trailing_newline off, drops one final newline.</summary>
    public static string Normalize(string source)
    {
        string text = source.Replace("\r\n", "\n").Replace('\r', '\n');
        return text.EndsWith('\n') ? text[..^1] : text;
    }

    /// <summary>Tokenizes a source already passed through <see cref="Normalize"/>.</summary>
    public static List<Token> Tokenize(string source, SourceMap map)
    {
        var lexer = new Lexer(source, map);
        lexer.Run();
        return lexer.tokens;
    }

    void Run()
    {
        while (pos < src.Length)
        {
            int start = NextTagStart();
            if (start < 0)
            {
                AddText(src[pos..], pos);
                break;
            }
            char kind = src[start + 1];
            char sign = start + 2 < src.Length && src[start + 2] is '-' or '+' ? src[start + 2] : '\0';
            string text = src[pos..start];
            if (sign == '-') text = PyText.TrimEndSpace(text);
            else if (sign != '+' && kind != '{') text = StripIndentation(text);
            AddText(text, pos);
            pos = start + (sign == '\0' ? 2 : 3);
            if (kind == '#') SkipComment(start);
            else ReadTag(kind == '%', start);
            lineStarting = src[pos - 1] == '\n';
        }
        tokens.Add(new Token(TokenKind.End, "", src.Length));
    }

    int NextTagStart()
    {
        for (int i = src.IndexOf('{', pos); i >= 0 && i + 1 < src.Length; i = src.IndexOf('{', i + 1))
            if (src[i + 1] is '{' or '%' or '#') return i;
        return -1;
    }

    void AddText(string text, int offset)
    {
        if (text.Length > 0) tokens.Add(new Token(TokenKind.Text, text, offset));
    }

    /// <summary>lstrip_blocks: drop the spaces between the start of a line and a block or comment tag.</summary>
    string StripIndentation(string text)
    {
        int lineStart = text.LastIndexOf('\n') + 1;
        if (lineStart == 0 && !lineStarting) return text;
        if (lineStart == text.Length) return text;
        for (int i = lineStart; i < text.Length; i++)
            if (!PyText.IsSpace(text[i])) return text;
        return text[..lineStart];
    }

    void SkipComment(int tagStart)
    {
        int close = src.IndexOf("#}", pos, StringComparison.Ordinal);
        if (close < 0) throw map.Error(tagStart, "comment is not closed: missing '#}'");
        char marker = close > pos ? src[close - 1] : '\0';
        pos = close + 2;
        if (marker == '-') SkipSpace();
        else if (marker != '+') SkipOneNewline();
    }

    void ReadTag(bool block, int tagStart)
    {
        tokens.Add(new Token(block ? TokenKind.BlockBegin : TokenKind.VariableBegin, "", tagStart));
        // Like jinja, '}}' or '%}' only closes the tag when brackets are balanced, so '{{ {"a": {}} }}' works.
        var open = new Stack<char>();
        while (true)
        {
            if (pos >= src.Length)
                throw map.Error(tagStart, $"tag is not closed: missing '{(block ? "%}" : "}}")}'");
            if (open.Count == 0 && TryReadTagEnd(block)) return;
            char c = src[pos];
            if (PyText.IsSpace(c)) pos++;
            else if (char.IsAsciiDigit(c)) ReadNumber();
            else if (c == '_' || char.IsLetter(c)) ReadName();
            else if (c is '\'' or '"') ReadString();
            else ReadOperator(open);
        }
    }

    bool TryReadTagEnd(bool block)
    {
        string close = block ? "%}" : "}}";
        int at = pos;
        if (src[pos] == '-' && At(pos + 1, close))
        {
            pos += 3;
            SkipSpace();
        }
        else if (block && src[pos] == '+' && At(pos + 1, close))
            pos += 3;
        else if (At(pos, close))
        {
            pos += 2;
            if (block) SkipOneNewline();
        }
        else return false;
        tokens.Add(new Token(block ? TokenKind.BlockEnd : TokenKind.VariableEnd, "", at));
        return true;
    }

    bool At(int offset, string text) => string.CompareOrdinal(src, offset, text, 0, text.Length) == 0;

    void SkipSpace()
    {
        while (pos < src.Length && PyText.IsSpace(src[pos])) pos++;
    }

    // trim_blocks: a block or comment tag swallows the one newline right after it.
    void SkipOneNewline()
    {
        if (pos < src.Length && src[pos] == '\n') pos++;
    }

    void ReadNumber()
    {
        int start = pos;
        SkipDigits();
        bool isFloat = false;
        // As in jinja, '1.' is not a float and 'x.0.1' reads as x . 0 . 1, never x . 0.1.
        bool afterDot = start > 0 && src[start - 1] == '.';
        if (!afterDot && pos + 1 < src.Length && src[pos] == '.' && char.IsAsciiDigit(src[pos + 1]))
        {
            pos++;
            SkipDigits();
            isFloat = true;
        }
        if (!afterDot && pos < src.Length && src[pos] is 'e' or 'E')
        {
            int exponent = pos + 1;
            if (exponent < src.Length && src[exponent] is '+' or '-') exponent++;
            if (exponent < src.Length && char.IsAsciiDigit(src[exponent]))
            {
                pos = exponent;
                SkipDigits();
                isFloat = true;
            }
        }
        tokens.Add(new Token(isFloat ? TokenKind.Float : TokenKind.Integer, src[start..pos].Replace("_", ""), start));
    }

    // Digits with single underscores between them, as in Python literals (1_000).
    void SkipDigits()
    {
        while (pos < src.Length && (char.IsAsciiDigit(src[pos])
               || (src[pos] == '_' && pos + 1 < src.Length && char.IsAsciiDigit(src[pos + 1]))))
            pos++;
    }

    void ReadName()
    {
        int start = pos;
        while (pos < src.Length && (src[pos] == '_' || char.IsLetterOrDigit(src[pos]))) pos++;
        tokens.Add(new Token(TokenKind.Name, src[start..pos], start));
    }

    void ReadString()
    {
        int start = pos;
        char quote = src[pos];
        int i = pos + 1;
        while (true)
        {
            if (i >= src.Length) throw map.Error(start, "string literal is not closed");
            if (src[i] == quote) break;
            i += src[i] == '\\' ? 2 : 1;
        }
        tokens.Add(new Token(TokenKind.String, Unescape(src[(start + 1)..i], start), start));
        pos = i + 1;
    }

    /// <summary>Python's unicode-escape decoding, which jinja applies to string literals.</summary>
    string Unescape(string raw, int offset)
    {
        if (!raw.Contains('\\')) return raw;
        var sb = new StringBuilder(raw.Length);
        for (int i = 0; i < raw.Length; i++)
        {
            if (raw[i] != '\\' || i + 1 >= raw.Length)
            {
                sb.Append(raw[i]);
                continue;
            }
            char c = raw[++i];
            switch (c)
            {
                case '\n': break; // a backslash before a line break continues the line
                case '\\' or '\'' or '"': sb.Append(c); break;
                case 'a': sb.Append('\a'); break;
                case 'b': sb.Append('\b'); break;
                case 'f': sb.Append('\f'); break;
                case 'n': sb.Append('\n'); break;
                case 'r': sb.Append('\r'); break;
                case 't': sb.Append('\t'); break;
                case 'v': sb.Append('\v'); break;
                case >= '0' and <= '7':
                    int end = i;
                    while (end < raw.Length && end < i + 3 && raw[end] is >= '0' and <= '7') end++;
                    sb.Append((char)System.Convert.ToInt32(raw[i..end], 8));
                    i = end - 1;
                    break;
                case 'x' or 'u' or 'U':
                    int digits = c == 'x' ? 2 : c == 'u' ? 4 : 8;
                    if (i + digits >= raw.Length
                        || !uint.TryParse(raw.AsSpan(i + 1, digits), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out uint code)
                        || code > 0x10FFFF)
                        throw map.Error(offset, $"bad \\{c} escape in string literal");
                    // A lone surrogate escape is kept as one UTF-16 unit, so a \ud83d\ude80 pair still forms one character.
                    sb.Append(code is >= 0xD800 and <= 0xDFFF ? ((char)code).ToString() : char.ConvertFromUtf32((int)code));
                    i += digits;
                    break;
                default: // Python keeps unknown escapes such as \d as they are
                    sb.Append('\\').Append(c);
                    break;
            }
        }
        return sb.ToString();
    }

    static readonly string[] TwoCharOperators = ["//", "**", "==", "!=", ">=", "<="];
    const string OneCharOperators = "+-/*%~[](){}><=.:|,;";

    void ReadOperator(Stack<char> open)
    {
        int start = pos;
        string? op = null;
        foreach (string two in TwoCharOperators)
            if (At(pos, two)) op = two;
        if (op is null && OneCharOperators.Contains(src[pos])) op = src[pos].ToString();
        if (op is null) throw map.Error(pos, $"unexpected character '{src[pos]}'");
        switch (op)
        {
            case "(": open.Push(')'); break;
            case "[": open.Push(']'); break;
            case "{": open.Push('}'); break;
            case ")" or "]" or "}":
                if (open.Count == 0) throw map.Error(pos, $"unexpected '{op}'");
                char expected = open.Pop();
                if (expected != op[0]) throw map.Error(pos, $"unexpected '{op}', expected '{expected}'");
                break;
        }
        pos += op.Length;
        tokens.Add(new Token(TokenKind.Operator, op, start));
    }
}
