using System.Globalization;
using System.Text;

namespace Augur.Tokenizers;

/// <summary>
/// Splits text into the words byte-level BPE merges within, as llama.cpp does for each <c>tokenizer.ggml.pre</c>.
/// The regexes of the Hugging Face files (see <c>shared/tokenizers/README.md</c>) are written out by hand as
/// matchers over code points: each pass runs its rules leftmost-first over every piece of the previous pass,
/// keeping the text between matches as pieces too (llama.cpp's multi-regex split). Every rule looks at most
/// at the run it consumes plus one code point, so a split is linear in the text.
/// </summary>
public sealed class PreTokenizer
{
    /// <summary>A rule: the length of its match at <c>pos</c> (0: none), looking no further than <c>end</c>.</summary>
    delegate int Rule(Text text, int pos, int end);

    readonly Rule[] _passes;

    public string Name { get; }
    /// <summary>A word that is itself a piece is emitted whole, without running merges (Llama 3's <c>ignore_merges</c>).</summary>
    public bool IgnoresMerges { get; }
    /// <summary>Text is NFC-normalised before splitting (Qwen's tokenizer.json has an NFC normalizer).</summary>
    public bool NormalizesNfc { get; }
    /// <summary>Whole-text decoding drops the space before <c>. , ! ?</c> and contractions (llama.cpp's <c>clean_spaces</c>).</summary>
    public bool CleansSpaces { get; }

    PreTokenizer(string name, Rule[] passes, bool ignoresMerges = false, bool nfc = false, bool cleansSpaces = true)
    {
        Name = name;
        _passes = passes;
        IgnoresMerges = ignoresMerges;
        NormalizesNfc = nfc;
        CleansSpaces = cleansSpaces;
    }

    static readonly Dictionary<string, Func<string, PreTokenizer>> Known = new()
    {
        // llama.cpp's LLAMA_VOCAB_PRE_TYPE_LLAMA3 and its aliases.
        ["llama-bpe"] = n => new(n, [Llama3(maxDigits: 3)], ignoresMerges: true),
        ["llama3"] = n => new(n, [Llama3(maxDigits: 3)], ignoresMerges: true),
        ["llama-v3"] = n => new(n, [Llama3(maxDigits: 3)], ignoresMerges: true),
        ["qwen2"] = n => new(n, [Llama3(maxDigits: 1)], nfc: true, cleansSpaces: false),
        ["deepseek-r1-qwen"] = n => new(n, [Llama3(maxDigits: 1)], nfc: true, cleansSpaces: false),
        ["smollm"] = n => new(n, [OneNumber, Gpt2], cleansSpaces: false),
        ["gpt-2"] = n => new(n, [Gpt2]),
        ["default"] = n => new(n, [PunctuationRun, Gpt2, NumberRun, ThreeAsciiDigits]),
    };

    public static IReadOnlyCollection<string> Names => Known.Keys;

    /// <summary>The pre-tokenizer llama.cpp runs for <paramref name="name"/>; unknown names are an error, never a fallback.</summary>
    public static PreTokenizer For(string name, string source) =>
        Known.TryGetValue(name, out var make) ? make(name)
            : throw new ModelFormatException($"{source}: tokenizer.ggml.pre = '{name}' is not supported (supported: {string.Join(", ", Known.Keys)})");

    /// <summary>llama.cpp adds BOS by default (no <c>add_bos_token</c> key) only for the Llama 3 family.</summary>
    public static bool AddsBosByDefault(string name) => name is "llama-bpe" or "llama3" or "llama-v3";

    /// <summary>The words of <paramref name="text"/> as code-point ranges [start, end).</summary>
    internal void Split(Text text, List<(int Start, int End)> words)
    {
        words.Clear();
        if (text.Length == 0) return;
        words.Add((0, text.Length));
        var next = new List<(int, int)>();
        foreach (var rule in _passes)
        {
            next.Clear();
            foreach (var (start, end) in words)
            {
                int gap = start;
                for (int pos = start; pos < end;)
                {
                    int n = rule(text, pos, end);
                    if (n == 0) { pos++; continue; }
                    if (gap < pos) next.Add((gap, pos));
                    next.Add((pos, pos + n));
                    pos += n;
                    gap = pos;
                }
                if (gap < end) next.Add((gap, end));
            }
            words.Clear();
            words.AddRange(next);
        }
    }

    /// <summary>Code points of a text with the classes the regexes ask about.</summary>
    internal sealed class Text
    {
        public const byte Letter = 1, Number = 2, Space = 4, Punctuation = 8;
        public int[] Codepoints = [];
        public byte[] Flags = [];
        public int Length;

        public void Set(ReadOnlySpan<char> s)
        {
            if (Codepoints.Length < s.Length) { Codepoints = new int[s.Length]; Flags = new byte[s.Length]; }
            int n = 0;
            for (int i = 0; i < s.Length; i++)
            {
                int c = s[i];
                if (char.IsHighSurrogate(s[i]) && i + 1 < s.Length && char.IsLowSurrogate(s[i + 1])) c = char.ConvertToUtf32(s[i], s[++i]);
                else if (char.IsSurrogate(s[i])) c = 0xFFFD; // a lone surrogate is not text; its UTF-8 would be U+FFFD's
                Codepoints[n] = c;
                Flags[n++] = Classify(c);
            }
            Length = n;
        }

        static readonly byte[] Ascii = Enumerable.Range(0, 128).Select(c => ClassifySlow(c)).ToArray();

        static byte Classify(int c) => c < 128 ? Ascii[c] : ClassifySlow(c);

        static byte ClassifySlow(int c)
        {
            var rune = new Rune(c);
            if (Rune.IsWhiteSpace(rune)) return Space; // Unicode White_Space, which is what \s means in the HF regexes
            return Rune.GetUnicodeCategory(rune) switch
            {
                UnicodeCategory.UppercaseLetter or UnicodeCategory.LowercaseLetter or UnicodeCategory.TitlecaseLetter
                    or UnicodeCategory.ModifierLetter or UnicodeCategory.OtherLetter => Letter,
                UnicodeCategory.DecimalDigitNumber or UnicodeCategory.LetterNumber or UnicodeCategory.OtherNumber => Number,
                UnicodeCategory.ConnectorPunctuation or UnicodeCategory.DashPunctuation or UnicodeCategory.OpenPunctuation
                    or UnicodeCategory.ClosePunctuation or UnicodeCategory.InitialQuotePunctuation
                    or UnicodeCategory.FinalQuotePunctuation or UnicodeCategory.OtherPunctuation => Punctuation,
                _ => 0,
            };
        }

        public bool Is(int pos, int end, byte flag) => pos < end && (Flags[pos] & flag) != 0;
        public bool IsOther(int pos, int end) => pos < end && (Flags[pos] & (Letter | Number | Space)) == 0;
        public int At(int pos, int end) => pos < end ? Codepoints[pos] : -1;
    }

    /// <summary>Lower case for the contraction letters; U+017F (long s) folds to s, as case-insensitive regexes have it.</summary>
    static int Fold(int c) => c is >= 'A' and <= 'Z' ? c + 32 : c == 0x17F ? 's' : c;

    /// <summary><c>'s|'t|'re|'ve|'m|'ll|'d</c>, case-insensitive when <paramref name="fold"/>.</summary>
    static int Contraction(Text t, int pos, int end, bool fold)
    {
        if (t.At(pos, end) != '\'') return 0;
        int a = t.At(pos + 1, end), b = t.At(pos + 2, end);
        if (fold) { a = Fold(a); b = Fold(b); }
        if (a is 's' or 't' or 'm' or 'd') return 2;
        if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) return 3;
        return 0;
    }

    /// <summary>
    /// Llama 3 (<paramref name="maxDigits"/> 3) and Qwen 2 (1):
    /// <c>(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+</c>.
    /// </summary>
    static Rule Llama3(int maxDigits) => (t, pos, end) =>
    {
        int n = Contraction(t, pos, end, fold: true);
        if (n > 0) return n;
        int c = t.Codepoints[pos];
        // [^\r\n\p{L}\p{N}]?\p{L}+
        int p = pos;
        if (!t.Is(p, end, Text.Letter) && c is not ('\r' or '\n') && !t.Is(p, end, Text.Number) && t.Is(p + 1, end, Text.Letter)) p++;
        if (t.Is(p, end, Text.Letter))
        {
            while (t.Is(p, end, Text.Letter)) p++;
            return p - pos;
        }
        // \p{N}{1,3}
        if (t.Is(pos, end, Text.Number))
        {
            p = pos;
            while (p - pos < maxDigits && t.Is(p, end, Text.Number)) p++;
            return p - pos;
        }
        // " ?[^\s\p{L}\p{N}]+[\r\n]*"
        p = c == ' ' ? pos + 1 : pos;
        if (t.IsOther(p, end))
        {
            while (t.IsOther(p, end)) p++;
            while (t.At(p, end) is '\r' or '\n') p++;
            return p - pos;
        }
        return Whitespace(t, pos, end, newlines: true);
    };

    /// <summary><c>\s*[\r\n]+</c> (when <paramref name="newlines"/>), then <c>\s+(?!\S)|\s+</c>.</summary>
    static int Whitespace(Text t, int pos, int end, bool newlines)
    {
        int p = pos, lastNewline = -1;
        while (t.Is(p, end, Text.Space))
        {
            if (t.Codepoints[p] is '\r' or '\n') lastNewline = p;
            p++;
        }
        if (newlines && lastNewline >= 0) return lastNewline + 1 - pos;
        int run = p - pos;
        if (run > 1 && p < end) return run - 1; // leave the last space to the word after it
        return run;
    }

    /// <summary>GPT-2: <c>'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+</c>.</summary>
    static int Gpt2(Text t, int pos, int end)
    {
        int n = Contraction(t, pos, end, fold: false);
        if (n > 0) return n;
        int p = t.Codepoints[pos] == ' ' ? pos + 1 : pos;
        if (t.Is(p, end, Text.Letter) || t.Is(p, end, Text.Number))
        {
            byte kind = t.Is(p, end, Text.Letter) ? Text.Letter : Text.Number;
            while (t.Is(p, end, kind)) p++;
            return p - pos;
        }
        if (t.IsOther(p, end))
        {
            while (t.IsOther(p, end)) p++;
            return p - pos;
        }
        return Whitespace(t, pos, end, newlines: false);
    }

    /// <summary><c>\p{N}</c>: SmolLM's first pass, every digit alone.</summary>
    static int OneNumber(Text t, int pos, int end) => t.Is(pos, end, Text.Number) ? 1 : 0;

    /// <summary><c>\p{N}+</c></summary>
    static int NumberRun(Text t, int pos, int end)
    {
        int p = pos;
        while (t.Is(p, end, Text.Number)) p++;
        return p - pos;
    }

    /// <summary><c>[\p{P}\$\+&lt;=&gt;\^~\|]+</c></summary>
    static int PunctuationRun(Text t, int pos, int end)
    {
        int p = pos;
        while (p < end && ((t.Flags[p] & Text.Punctuation) != 0 || t.Codepoints[p] is '$' or '+' or '<' or '=' or '>' or '^' or '~' or '|')) p++;
        return p - pos;
    }

    /// <summary><c>[0-9][0-9][0-9]</c></summary>
    static int ThreeAsciiDigits(Text t, int pos, int end) =>
        pos + 3 <= end && t.Codepoints[pos] is >= '0' and <= '9' && t.Codepoints[pos + 1] is >= '0' and <= '9' && t.Codepoints[pos + 2] is >= '0' and <= '9' ? 3 : 0;
}
