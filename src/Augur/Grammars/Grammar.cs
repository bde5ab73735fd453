using System.Runtime.CompilerServices;
using Augur.Tokenizers;

namespace Augur.Grammars;

/// <summary>
/// A context-free grammar over bytes, compiled flat the way llama.cpp's grammar is: every rule is a list of
/// alternatives, every alternative a run of elements in <see cref="Elements"/> closed by an <see cref="ElementKind.End"/>.
/// An element is a byte set (one input byte), a reference to a rule, or a counted repeat of a rule. Characters outside ASCII are already
/// spelled as their UTF-8 byte sequences, so the automaton never needs to decode text and a token that ends
/// inside a character is checked like any other. Built by <see cref="GbnfParser"/>; rule 0 is <c>root</c>.
/// </summary>
public sealed class Grammar
{
    internal Element[] Elements { get; }
    /// <summary>Start positions (into <see cref="Elements"/>) of each rule's alternatives.</summary>
    internal int[][] Alternatives { get; }
    internal ByteSet[] Sets { get; }
    /// <summary>The counted repetitions, indexed by a <see cref="ElementKind.Repeat"/> element's value.</summary>
    internal Repeat[] Repeats { get; }
    /// <summary>Per rule, the fewest bytes a sentence of it has (0: it can match nothing).</summary>
    internal int[] MinBytes { get; }
    public IReadOnlyList<string> RuleNames { get; }
    /// <summary>The GBNF text this grammar was parsed from (for errors, logs and cache keys).</summary>
    public string Source { get; }

    internal Grammar(Element[] elements, int[][] alternatives, ByteSet[] sets, Repeat[] repeats, string[] names, string source)
    {
        Elements = elements;
        Alternatives = alternatives;
        Sets = sets;
        RuleNames = names;
        Source = source;
        Repeats = repeats;
        MinBytes = ShortestSentences();
        // x{m,n} of an x that can be empty is x{0,n} (empty copies make up any shortfall): with a minimum of 0
        // the automaton never needs to count empty iterations.
        Repeats = [.. repeats.Select(r => MinBytes[r.Rule] == 0 ? r with { Min = 0 } : r)];
        RejectLeftRecursion();
    }

    readonly ConditionalWeakTable<ITokenizer, TokenTables> _tables = new();

    /// <summary>
    /// A fresh constraint for one request. The token tables behind it are shared by every request with this
    /// grammar and <paramref name="tokenizer"/>, and filled in as contexts are met.
    /// </summary>
    /// <param name="previous">The last prompt token.</param>
    public GrammarSampler CreateSampler(ITokenizer tokenizer, int previous) =>
        new(_tables.GetValue(tokenizer, t => new TokenTables(this, t)), previous);

    /// <summary>Token tables built so far for <paramref name="tokenizer"/> (for benchmarks and tests).</summary>
    public int TableCount(ITokenizer tokenizer) => _tables.TryGetValue(tokenizer, out var t) ? t.Count : 0;

    /// <summary>Whether the whole of <paramref name="text"/> (as UTF-8) is a sentence of this grammar.</summary>
    public bool Matches(string text)
    {
        var automaton = new Automaton(this);
        List<Frame?> state = [], next = [];
        automaton.Start(state);
        foreach (byte b in System.Text.Encoding.UTF8.GetBytes(text))
        {
            automaton.Advance(state, b, next);
            if (next.Count == 0) return false;
            (state, next) = (next, state);
        }
        return state.Contains(null);
    }

    /// <summary>Parses llama.cpp's GBNF text; throws <see cref="InvalidRequestException"/> naming the problem.</summary>
    public static Grammar Parse(string gbnf) => GbnfParser.Parse(gbnf);

    /// <summary>
    /// A left-recursive rule would make the pushdown automaton expand forever, so it is refused up front
    /// (llama.cpp refuses it too): a rule must not reach itself through a chain of first elements that
    /// can each match nothing.
    /// </summary>
    void RejectLeftRecursion()
    {
        int n = Alternatives.Length;
        var firsts = new List<int>[n];
        for (int r = 0; r < n; r++)
        {
            firsts[r] = [];
            foreach (int start in Alternatives[r])
                for (int p = start; Elements[p].Kind is ElementKind.Rule or ElementKind.Repeat; p++)
                {
                    int rule = RuleOf(Elements[p]);
                    firsts[r].Add(rule);
                    if (ElementMinBytes(Elements[p], MinBytes) > 0) break;
                }
        }
        var state = new byte[n]; // 0 unseen, 1 on the path, 2 done
        void Visit(int r)
        {
            state[r] = 1;
            foreach (int f in firsts[r])
            {
                if (state[f] == 1) throw new InvalidRequestException($"grammar rule '{RuleNames[f]}' is left-recursive (it can reach itself without consuming input); rewrite it with repetition");
                if (state[f] == 0) Visit(f);
            }
            state[r] = 2;
        }
        for (int r = 0; r < n; r++) if (state[r] == 0) Visit(r);
    }

    int RuleOf(Element e) => e.Kind == ElementKind.Repeat ? Repeats[e.Value].Rule : e.Value;

    /// <summary>The fewest bytes each rule can match: a fixed point from "unreachable", capped (only small values matter).</summary>
    int[] ShortestSentences()
    {
        var min = Enumerable.Repeat(Cap, Alternatives.Length).ToArray();
        for (bool changed = true; changed;)
        {
            changed = false;
            for (int r = 0; r < min.Length; r++)
                foreach (int start in Alternatives[r])
                {
                    long sum = 0;
                    for (int p = start; Elements[p].Kind != ElementKind.End; p++) sum += ElementMinBytes(Elements[p], min);
                    if (sum < min[r]) { min[r] = (int)sum; changed = true; }
                }
        }
        return min;
    }

    const int Cap = 1 << 20;

    long ElementMinBytes(Element e, int[] min) => e.Kind switch
    {
        ElementKind.Bytes => 1,
        ElementKind.Rule => min[e.Value],
        _ => Math.Min(Cap, (long)Repeats[e.Value].Min * min[Repeats[e.Value].Rule]),
    };
}

enum ElementKind : byte { Bytes, Rule, Repeat, End }

/// <summary><c>Rule{Min,Max}</c>; Max −1 is unbounded. The automaton keeps the count in the frame.</summary>
readonly record struct Repeat(int Rule, int Min, int Max);

/// <summary>One grammar element: a byte set (Value indexes <see cref="Grammar.Sets"/>), a rule reference, a counted repeat (Value indexes <see cref="Grammar.Repeats"/>), or the end of an alternative.</summary>
readonly record struct Element(ElementKind Kind, int Value);

/// <summary>A set of byte values, 256 bits.</summary>
struct ByteSet : IEquatable<ByteSet>
{
    ulong _a, _b, _c, _d;

    public static ByteSet Range(int lo, int hi)
    {
        var s = new ByteSet();
        for (int b = lo; b <= hi; b++) s.Add(b);
        return s;
    }

    public void Add(int b)
    {
        ulong bit = 1UL << (b & 63);
        switch (b >> 6) { case 0: _a |= bit; break; case 1: _b |= bit; break; case 2: _c |= bit; break; default: _d |= bit; break; }
    }

    public readonly bool Contains(byte b)
    {
        ulong word = (b >> 6) switch { 0 => _a, 1 => _b, 2 => _c, _ => _d };
        return (word >> (b & 63) & 1) != 0;
    }

    public readonly bool Equals(ByteSet o) => _a == o._a && _b == o._b && _c == o._c && _d == o._d;
    public override readonly bool Equals(object? obj) => obj is ByteSet o && Equals(o);
    public override readonly int GetHashCode() => HashCode.Combine(_a, _b, _c, _d);
}
