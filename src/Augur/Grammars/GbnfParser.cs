using System.Globalization;

namespace Augur.Grammars;

/// <summary>
/// llama.cpp's GBNF: <c>name ::= alternatives</c> rules, <c>"literals"</c>, <c>[a-z]</c> / <c>[^…]</c> classes,
/// <c>.</c>, groups, <c>* + ?</c> and <c>{m}</c> <c>{m,}</c> <c>{m,n}</c>, <c>#</c> comments; a rule ends at a newline
/// unless inside parentheses or after <c>|</c>. <c>* + ?</c> become helper rules (right recursion, which the
/// automaton runs as a tail call so the stack stays flat); a counted <c>{m,n}</c> becomes one repeat element whose
/// count the automaton carries (<see cref="Repeat"/>), so a long bound is one grammar context, not n copies.
/// Start rule: <c>root</c>.
/// </summary>
sealed class GbnfParser
{
    readonly string _text;
    int _pos;
    readonly List<string> _names = [];
    readonly Dictionary<string, int> _ids = [];
    readonly List<List<List<Item>>?> _rules = [];
    readonly List<ByteSet> _sets = [];
    readonly Dictionary<ByteSet, int> _setIds = [];
    readonly HashSet<int> _referenced = [];
    readonly List<Repeat> _repeats = [];

    readonly record struct Item(ElementKind Kind, int Value);

    GbnfParser(string text) => _text = text;

    public static Grammar Parse(string text)
    {
        var p = new GbnfParser(text);
        p.Id("root");
        p.ParseRules();
        return p.Build();
    }

    Exception Error(string what)
    {
        int line = 1 + _text.AsSpan(0, Math.Min(_pos, _text.Length)).Count('\n');
        return new InvalidRequestException($"grammar: {what} (line {line})");
    }

    int Id(string name)
    {
        if (_ids.TryGetValue(name, out int id)) return id;
        _ids[name] = id = _names.Count;
        _names.Add(name);
        _rules.Add(null);
        return id;
    }

    int NewRule(string baseName, List<List<Item>> alts)
    {
        int id = Id($"{baseName}-{_names.Count}");
        _rules[id] = alts;
        return id;
    }

    Item Set(ByteSet set)
    {
        if (!_setIds.TryGetValue(set, out int id)) { _setIds[set] = id = _sets.Count; _sets.Add(set); }
        return new Item(ElementKind.Bytes, id);
    }

    bool End => _pos >= _text.Length;
    char Peek => _text[_pos];

    void SkipSpace(bool newlines)
    {
        while (!End)
        {
            char c = Peek;
            if (c == '#') { while (!End && Peek != '\n') _pos++; }
            else if (c == ' ' || c == '\t' || (newlines && (c == '\n' || c == '\r'))) _pos++;
            else break;
        }
    }

    static bool IsNameChar(char c) => char.IsAsciiLetterOrDigit(c) || c == '-' || c == '_';

    string ParseName()
    {
        int start = _pos;
        while (!End && IsNameChar(Peek)) _pos++;
        if (_pos == start) throw Error(End ? "expected a rule name, found the end of the text" : $"expected a rule name, found '{Peek}'");
        return _text[start.._pos];
    }

    void ParseRules()
    {
        SkipSpace(newlines: true);
        if (End) throw Error("the grammar is empty");
        while (!End)
        {
            string name = ParseName();
            SkipSpace(newlines: false);
            if (!_text.AsSpan(_pos).StartsWith("::=")) throw Error($"expected '::=' after rule name '{name}'");
            _pos += 3;
            SkipSpace(newlines: true);
            int id = Id(name);
            if (_rules[id] is not null) throw Error($"rule '{name}' is defined twice");
            _rules[id] = ParseAlternatives(name, nested: false);
            if (!End && Peek != '\n' && Peek != '\r') throw Error($"unexpected '{Peek}' in rule '{name}'");
            SkipSpace(newlines: true);
        }
    }

    List<List<Item>> ParseAlternatives(string rule, bool nested)
    {
        var alts = new List<List<Item>> { ParseSequence(rule, nested) };
        while (!End && Peek == '|')
        {
            _pos++;
            SkipSpace(newlines: true);
            alts.Add(ParseSequence(rule, nested));
        }
        return alts;
    }

    List<Item> ParseSequence(string rule, bool nested)
    {
        var items = new List<Item>();
        int last = -1; // where the last symbol starts, for a repetition that follows it
        while (!End)
        {
            char c = Peek;
            if (c == '"')
            {
                _pos++;
                last = items.Count;
                while (true)
                {
                    if (End) throw Error($"unterminated string literal in rule '{rule}'");
                    if (Peek == '"') { _pos++; break; }
                    foreach (byte b in Utf8Ranges.Encode(ParseChar())) items.Add(Set(ByteSet.Range(b, b)));
                }
            }
            else if (c == '[')
            {
                _pos++;
                last = items.Count;
                items.Add(ParseClass(rule));
            }
            else if (c == '.')
            {
                _pos++;
                last = items.Count;
                items.Add(CodePoints([(0, 0x10FFFF)], rule));
            }
            else if (IsNameChar(c))
            {
                string name = ParseName();
                last = items.Count;
                int id = Id(name);
                _referenced.Add(id);
                items.Add(new Item(ElementKind.Rule, id));
            }
            else if (c == '(')
            {
                _pos++;
                SkipSpace(newlines: true);
                var alts = ParseAlternatives(rule, nested: true);
                if (End || Peek != ')') throw Error($"expected ')' in rule '{rule}'");
                _pos++;
                last = items.Count;
                items.Add(new Item(ElementKind.Rule, NewRule(rule, alts)));
            }
            else if (c is '*' or '+' or '?' or '{')
            {
                if (last < 0) throw Error($"'{c}' has nothing to repeat in rule '{rule}'");
                _pos++;
                var symbol = items.GetRange(last, items.Count - last);
                items.RemoveRange(last, items.Count - last);
                if (c == '{') Counted(rule, symbol, ParseBounds(rule), items);
                else Star(rule, symbol, c, items);
                last = -1;
            }
            else break;
            SkipSpace(newlines: nested);
        }
        return items;
    }

    (int Min, int Max) ParseBounds(string rule)
    {
        int Number()
        {
            int start = _pos;
            while (!End && char.IsAsciiDigit(Peek)) _pos++;
            if (_pos == start) throw Error($"expected a number in a repetition of rule '{rule}'");
            return int.Parse(_text.AsSpan(start, _pos - start), CultureInfo.InvariantCulture);
        }
        SkipSpace(false);
        int min = Number(), max = min;
        SkipSpace(false);
        if (!End && Peek == ',')
        {
            _pos++;
            SkipSpace(false);
            max = !End && char.IsAsciiDigit(Peek) ? Number() : -1;
            SkipSpace(false);
        }
        if (End || Peek != '}') throw Error($"expected '}}' in a repetition of rule '{rule}'");
        _pos++;
        if (max >= 0 && max < min) throw Error($"repetition {{{min},{max}}} in rule '{rule}' has max < min");
        return (min, max);
    }

    /// <summary>symbol* / symbol+ / symbol?: a right-recursive helper rule (one copy before it for +).</summary>
    void Star(string rule, List<Item> symbol, char op, List<Item> into)
    {
        if (op == '+') into.AddRange(symbol);
        int helper = Id($"{rule}-{_names.Count}");
        _rules[helper] = op == '?' ? [[.. symbol], []] : [[.. symbol, new Item(ElementKind.Rule, helper)], []];
        into.Add(new Item(ElementKind.Rule, helper));
    }

    /// <summary>symbol{min,max} (max −1: unbounded): one repeat element over the symbol as a rule.</summary>
    void Counted(string rule, List<Item> symbol, (int Min, int Max) bounds, List<Item> into)
    {
        if (bounds.Max == 0) return;
        int body = symbol is [{ Kind: ElementKind.Rule } only] ? only.Value : NewRule(rule, [symbol]);
        _repeats.Add(new Repeat(body, bounds.Min, bounds.Max));
        into.Add(new Item(ElementKind.Repeat, _repeats.Count - 1));
    }

    int ParseChar()
    {
        char c = Peek;
        if (c != '\\')
        {
            int cp = char.ConvertToUtf32(_text, _pos);
            _pos += char.IsSurrogatePair(_text, _pos) ? 2 : 1;
            return cp;
        }
        _pos++;
        if (End) throw Error("escape at the end of the text");
        char e = _text[_pos++];
        int Hex(int digits)
        {
            if (_pos + digits > _text.Length || !int.TryParse(_text.AsSpan(_pos, digits), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out int v))
                throw Error($"bad \\{e} escape");
            _pos += digits;
            return v;
        }
        return e switch
        {
            'n' => '\n', 'r' => '\r', 't' => '\t', '\\' => '\\', '"' => '"', '[' => '[', ']' => ']', '-' => '-', '^' => '^',
            'x' => Hex(2), 'u' => Hex(4), 'U' => Hex(8),
            _ => throw Error($"unknown escape '\\{e}'"),
        };
    }

    Item ParseClass(string rule)
    {
        bool negated = !End && Peek == '^';
        if (negated) _pos++;
        var ranges = new List<(int Lo, int Hi)>();
        while (true)
        {
            if (End) throw Error($"unterminated character class in rule '{rule}'");
            if (Peek == ']') { _pos++; break; }
            int lo = ParseChar(), hi = lo;
            if (!End && Peek == '-' && _pos + 1 < _text.Length && _text[_pos + 1] != ']')
            {
                _pos++;
                hi = ParseChar();
                if (hi < lo) throw Error($"character range is backwards in rule '{rule}'");
            }
            ranges.Add((lo, hi));
        }
        if (negated) ranges = Complement(ranges);
        return CodePoints(ranges, rule);
    }

    static List<(int Lo, int Hi)> Complement(List<(int Lo, int Hi)> ranges)
    {
        var result = new List<(int, int)>();
        int next = 0;
        foreach (var (lo, hi) in ranges.OrderBy(r => r.Lo))
        {
            if (lo > next) result.Add((next, lo - 1));
            next = Math.Max(next, hi + 1);
        }
        if (next <= 0x10FFFF) result.Add((next, 0x10FFFF));
        return result;
    }

    /// <summary>A set of code points as one byte set when it is all ASCII, else a helper rule of UTF-8 sequences.</summary>
    Item CodePoints(List<(int Lo, int Hi)> ranges, string rule)
    {
        var seqs = new List<(byte Lo, byte Hi)[]>();
        foreach (var (lo, hi) in ranges) Utf8Ranges.Split(lo, hi, seqs);
        var single = new ByteSet();
        var alts = new List<List<Item>>();
        foreach (var seq in seqs)
        {
            if (seq.Length == 1) for (int b = seq[0].Lo; b <= seq[0].Hi; b++) single.Add(b);
            else alts.Add(seq.Select(r => Set(ByteSet.Range(r.Lo, r.Hi))).ToList());
        }
        if (alts.Count == 0) return Set(single);
        if (!single.Equals(default)) alts.Insert(0, [Set(single)]);
        return new Item(ElementKind.Rule, NewRule(rule, alts));
    }

    Grammar Build()
    {
        foreach (int id in _referenced)
            if (_rules[id] is null) throw new InvalidRequestException($"grammar: rule '{_names[id]}' is used but not defined");
        if (_rules[0] is null) throw new InvalidRequestException("grammar: there is no 'root' rule");
        var elements = new List<Element>();
        var alternatives = new int[_rules.Count][];
        for (int r = 0; r < _rules.Count; r++)
        {
            var alts = _rules[r]!;
            alternatives[r] = new int[alts.Count];
            for (int a = 0; a < alts.Count; a++)
            {
                alternatives[r][a] = elements.Count;
                foreach (var item in alts[a]) elements.Add(new Element(item.Kind, item.Value));
                elements.Add(new Element(ElementKind.End, 0));
            }
        }
        return new Grammar([.. elements], alternatives, [.. _sets], [.. _repeats], [.. _names], _text);
    }
}
