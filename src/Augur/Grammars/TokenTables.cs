using System.Runtime.CompilerServices;
using Augur.Tokenizers;

namespace Augur.Grammars;

/// <summary>
/// Every token's bytes, with the token ids sorted by bytes so that tokens sharing a prefix are adjacent: a
/// trie without nodes (a prefix is a range of the order, its children the runs of equal next byte). Tokens that
/// spell nothing (control tokens) are left out. Built once per tokenizer.
/// </summary>
sealed class TokenTrie
{
    public readonly byte[][] Bytes;
    public readonly int[] Order;
    public readonly int MaxLength;
    /// <summary>Token ids, longest first (for the run-time checks of tokens longer than a table's margin).</summary>
    public readonly int[] LongestFirst;
    /// <summary>
    /// At most <see cref="LongTokens"/> tokens are longer than this: a repeat whose bound is further away than
    /// this many bytes shares one table for all such counts, and only those few tokens are checked at run time.
    /// </summary>
    public readonly int NearLength;
    const int LongTokens = 1024;

    static readonly ConditionalWeakTable<ITokenizer, TokenTrie> Tries = new();

    public static TokenTrie For(ITokenizer tokenizer) => Tries.GetValue(tokenizer, t => new TokenTrie(t));

    TokenTrie(ITokenizer tokenizer)
    {
        int n = tokenizer.Vocabulary.Count;
        Bytes = new byte[n][];
        // previous = −1: the piece as it reads mid-text (only the first piece after BOS reads differently).
        for (int t = 0; t < n; t++) Bytes[t] = tokenizer.PieceBytes(t, -1).ToArray();
        Order = Enumerable.Range(0, n).Where(t => Bytes[t].Length > 0).ToArray();
        var bytes = Bytes;
        Array.Sort(Order, (a, b) => bytes[a].AsSpan().SequenceCompareTo(bytes[b]));
        MaxLength = Order.Length == 0 ? 0 : Order.Max(t => Bytes[t].Length);
        LongestFirst = [.. Order.OrderByDescending(t => bytes[t].Length)];
        NearLength = LongestFirst.Length > LongTokens ? Bytes[LongestFirst[LongTokens]].Length : 0;
    }
}

/// <summary>
/// xgrammar's split of the token mask, per grammar context: for the top <see cref="Depth"/> frames of a stack,
/// the tokens that are accepted or rejected whatever lies below (context-independent: decided once, kept as a
/// bitset), and the few whose fate depends on the frames below because they run past the end of the known
/// frames (context-dependent: checked against the real stack at run time). Tables are computed on first use
/// by walking the token trie once with the known frames over a <see cref="Automaton.Bottom"/>, and cached for
/// the life of the grammar, so every later request with the same grammar and tokenizer reuses them.
/// A frame at a counted repeat is keyed by its count only near a bound (closer than
/// <see cref="TokenTrie.NearLength"/> bytes, given the fewest bytes an iteration takes); further away it is keyed
/// as <see cref="Automaton.FarOpen"/> or <see cref="Automaton.FarClosed"/>, whose table is right for every token no
/// longer than the distance (its margin): a token of ℓ bytes completes at most 1 + (ℓ − 1) / minimum iterations.
/// So <c>char{0,200}</c> has a handful of tables instead of 200, and the few longer tokens are checked at run time.
/// </summary>
sealed class TokenTables
{
    /// <summary>Frames of context a table is keyed by. Deeper: fewer run-time checks, more tables.</summary>
    public const int Depth = 3;

    public sealed record Table(ulong[] Accepted, int[] Uncertain);

    public Grammar Grammar { get; }
    readonly Automaton _automaton; // its own interner: tables are built under the lock, requests run concurrently
    readonly Dictionary<Key, Table> _tables = [];

    readonly record struct Key(int Pos0, int Pos1, int Count1, int Pos2, int Count2, bool Truncated);
    readonly List<Frame?>[] _lists;
    public TokenTrie Trie { get; }
    public ITokenizer Tokenizer { get; }
    public int Words { get; }
    /// <summary>The end-of-generation tokens as a bitset: allowed exactly when the grammar is complete.</summary>
    public ulong[] EndTokens { get; }

    public TokenTables(Grammar grammar, ITokenizer tokenizer)
    {
        Grammar = grammar;
        _automaton = new Automaton(grammar);
        Tokenizer = tokenizer;
        Trie = TokenTrie.For(tokenizer);
        Words = (tokenizer.Vocabulary.Count + 63) / 64;
        EndTokens = new ulong[Words];
        for (int t = 0; t < tokenizer.Vocabulary.Count; t++)
            if (tokenizer.IsEndOfGeneration(t)) EndTokens[t >> 6] |= 1UL << (t & 63);
        _lists = Enumerable.Range(0, Trie.MaxLength + 2).Select(_ => new List<Frame?>()).ToArray();
    }

    public int Count { get { lock (_tables) return _tables.Count; } }

    /// <summary>
    /// The table for the context at the top of <paramref name="stack"/> (a frame whose top is a byte set), and its
    /// margin: tokens longer than that many bytes must be checked against the real stack (int.MaxValue: none).
    /// </summary>
    public (Table Table, int Margin) For(Frame stack)
    {
        Span<int> pos = [-1, -1, -1], count = [0, 0, 0];
        int margin = int.MaxValue;
        var f = stack;
        int n = 0;
        for (; n < Depth && f is not null; n++, f = f.Parent)
        {
            pos[n] = f.Pos;
            count[n] = CountKey(f, ref margin);
        }
        bool truncated = f is not null; // the stack goes on below the known frames
        var id = new Key(pos[0], pos[1], count[1], pos[2], count[2], truncated);
        lock (_tables)
        {
            if (!_tables.TryGetValue(id, out var table)) _tables[id] = table = Build(pos[..n], count[..n], truncated);
            return (table, margin);
        }
    }

    /// <summary>A frame's count as the table key has it: exact near a bound, abstract (and a margin) further away.</summary>
    int CountKey(Frame f, ref int margin)
    {
        var e = Grammar.Elements[f.Pos];
        if (e.Kind != ElementKind.Repeat) return 0;
        var repeat = Grammar.Repeats[e.Value];
        long step = Math.Max(1, Grammar.MinBytes[repeat.Rule]);
        int toMin = Math.Max(0, repeat.Min - f.Count);
        long bytesToMax = repeat.Max < 0 ? long.MaxValue : (repeat.Max - f.Count) * step;
        long bytesToMin = toMin > 0 ? (toMin - 1) * step : long.MaxValue;
        long distance = Math.Min(bytesToMax, bytesToMin);
        if (distance == long.MaxValue) return f.Count; // unbounded and past the minimum: the count no longer changes
        if (distance < Trie.NearLength) return f.Count;
        margin = (int)Math.Min(margin, Math.Min(distance, int.MaxValue));
        return toMin == 0 ? Automaton.FarOpen : Automaton.FarClosed;
    }

    Table Build(ReadOnlySpan<int> positions, ReadOnlySpan<int> counts, bool truncated)
    {
        Frame? stack = truncated ? _automaton.Bottom : null;
        for (int i = positions.Length - 1; i >= 0; i--) stack = _automaton.Intern(positions[i], stack, counts[i]);
        var accepted = new ulong[Words];
        var uncertain = new List<int>();
        var state = _lists[0];
        state.Clear();
        state.Add(stack);
        Walk(0, Trie.Order.Length, 0, state, false, accepted, uncertain);
        return new Table(accepted, [.. uncertain]);
    }

    /// <summary>
    /// Tokens in <c>Order[lo..hi)</c> share their first <paramref name="depth"/> bytes, which took the automaton
    /// to <paramref name="state"/>; <paramref name="passedBottom"/>: some path already completed the known frames
    /// with bytes left over, so a token no path accepts inside them may still be accepted by the caller.
    /// </summary>
    void Walk(int lo, int hi, int depth, List<Frame?> state, bool passedBottom, ulong[] accepted, List<int> uncertain)
    {
        var order = Trie.Order;
        var bytes = Trie.Bytes;
        int i = lo;
        while (i < hi && bytes[order[i]].Length == depth) i++;
        var next = _lists[depth + 1];
        while (i < hi)
        {
            byte b = bytes[order[i]][depth];
            int j = i + 1;
            while (j < hi && bytes[order[j]][depth] == b) j++;
            _automaton.Advance(state, b, next);
            bool completed = next.Remove(_automaton.Bottom);
            bool live = next.Count > 0;
            int k = i;
            for (; k < j && bytes[order[k]].Length == depth + 1; k++)
            {
                int t = order[k];
                if (live || completed) accepted[t >> 6] |= 1UL << (t & 63);
                else if (passedBottom) uncertain.Add(t);
            }
            bool after = passedBottom || completed;
            if (live) Walk(k, j, depth + 1, next, after, accepted, uncertain);
            else if (after) for (int m = k; m < j; m++) uncertain.Add(order[m]);
            i = j;
        }
    }
}
