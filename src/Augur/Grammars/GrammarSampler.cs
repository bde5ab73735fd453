using Augur.Sampling;
using Augur.Tokenizers;

namespace Augur.Grammars;

/// <summary>
/// The grammar as a sampler filter: <see cref="Apply"/> removes every candidate the grammar does not allow next
/// (an end-of-generation token only once the grammar is complete), <see cref="Accept"/> advances the automaton by
/// the emitted token's bytes. The mask of a state is the union over its stacks of the context-independent
/// bitset from <see cref="TokenTables"/> plus the context-dependent tokens checked against the real stack; masks
/// are also cached per state (xgrammar's adaptive cache), since inside a string or a number the state after one
/// token is usually the state before it. Sits first in the chain, so penalties, top-k and the draw see only
/// tokens that keep the output valid; the speculative verifier runs the chain per position, so drafts are
/// judged against the grammar too.
/// </summary>
public sealed class GrammarSampler : ISampler
{
    readonly TokenTables _tables;
    readonly ITokenizer _tokenizer;
    readonly Automaton _automaton;
    readonly int _initialPrevious;
    int _previous;
    List<Frame?> _state = [], _scratch = [];
    readonly List<Frame?> _a = [], _b = [];
    readonly Dictionary<int[], ulong[]> _masks = new(new IdsComparer());
    readonly List<int> _key = [];
    const int MaxCachedMasks = 256;
    const int MaxStacks = 4096;

    /// <param name="previous">The last prompt token (the first piece after BOS reads without its leading space).</param>
    internal GrammarSampler(TokenTables tables, int previous)
    {
        _tables = tables;
        _tokenizer = tables.Tokenizer;
        _automaton = new Automaton(tables.Grammar);
        _initialPrevious = previous;
        Reset();
    }

    /// <summary>True once the grammar is complete (end of sequence is allowed).</summary>
    public bool CanEnd => _state.Contains(null);

    public void Reset()
    {
        _previous = _initialPrevious;
        _state.Clear();
        _automaton.Start(_state);
    }

    public void Apply(Candidates candidates)
    {
        var mask = Mask();
        bool canEnd = CanEnd;
        var ends = _tables.EndTokens;
        bool firstAfterBos = _previous == _tokenizer.BosId;
        int kept = 0;
        for (int i = 0; i < candidates.Count; i++)
        {
            int id = candidates.Ids[i];
            bool ok = (ends[id >> 6] >> (id & 63) & 1) != 0 ? canEnd
                : firstAfterBos ? AcceptsBytes(_tokenizer.PieceBytes(id, _previous))
                : (mask[id >> 6] >> (id & 63) & 1) != 0;
            if (!ok) continue;
            candidates.Ids[kept] = id;
            candidates.Logits[kept] = candidates.Logits[i];
            kept++;
        }
        if (kept == 0) throw new InvalidRequestException("the grammar allows no token of this vocabulary here (it needs text the tokenizer cannot spell)");
        candidates.Count = kept;
        candidates.HasProbabilities = false;
    }

    public void Accept(int token)
    {
        if (_tokenizer.IsEndOfGeneration(token) && CanEnd) { _state.Clear(); return; }
        var bytes = _tokenizer.PieceBytes(token, _previous);
        _previous = token;
        if (bytes.IsEmpty) throw new InvalidRequestException($"token {token} spells nothing and is not allowed by the grammar");
        foreach (byte b in bytes)
        {
            _automaton.Advance(_state, b, _scratch);
            (_state, _scratch) = (_scratch, _state);
            if (_state.Count == 0) throw new InvalidRequestException($"token {token} is not allowed by the grammar here");
        }
        if (_state.Count > MaxStacks) throw new InvalidRequestException($"the grammar is too ambiguous: {_state.Count} parses are alive at once");
    }

    bool AcceptsBytes(ReadOnlySpan<byte> bytes)
    {
        if (bytes.IsEmpty) return false;
        foreach (var s in _state)
            if (s is not null && _automaton.Accepts(s, bytes, _a, _b)) return true;
        return false;
    }

    /// <summary>The allowed-token bitset of the current state, from the per-state cache or built from the tables.</summary>
    ulong[] Mask()
    {
        _key.Clear();
        foreach (var s in _state) _key.Add(s?.Id ?? -1);
        _key.Sort();
        var key = _key.ToArray();
        if (_masks.TryGetValue(key, out var cached)) return cached;
        if (_masks.Count >= MaxCachedMasks) _masks.Clear();
        var mask = new ulong[_tables.Words];
        var bytes = _tables.Trie.Bytes;
        foreach (var s in _state)
        {
            if (s is null) continue;
            var (table, margin) = _tables.For(s);
            var acc = table.Accepted;
            if (margin < _tables.Trie.MaxLength) acc = WithLongTokensChecked(s, acc, margin);
            for (int w = 0; w < mask.Length; w++) mask[w] |= acc[w];
            foreach (int t in table.Uncertain)
            {
                if ((mask[t >> 6] >> (t & 63) & 1) != 0) continue;
                if (_automaton.Accepts(s, bytes[t], _a, _b)) mask[t >> 6] |= 1UL << (t & 63);
            }
        }
        _masks[key] = mask;
        return mask;
    }

    ulong[]? _own;

    /// <summary>
    /// <paramref name="accepted"/> with every token longer than <paramref name="margin"/> bytes decided on the real
    /// stack instead: the table stood for a repeat count far from its bounds, which only those tokens can reach.
    /// </summary>
    ulong[] WithLongTokensChecked(Frame stack, ulong[] accepted, int margin)
    {
        var own = _own ??= new ulong[_tables.Words];
        accepted.CopyTo(own, 0);
        var bytes = _tables.Trie.Bytes;
        foreach (int t in _tables.Trie.LongestFirst)
        {
            if (bytes[t].Length <= margin) break;
            ulong bit = 1UL << (t & 63);
            own[t >> 6] = _automaton.Accepts(stack, bytes[t], _a, _b) ? own[t >> 6] | bit : own[t >> 6] & ~bit;
        }
        return own;
    }

    sealed class IdsComparer : IEqualityComparer<int[]>
    {
        public bool Equals(int[]? x, int[]? y) => x.AsSpan().SequenceEqual(y);
        public int GetHashCode(int[] ids)
        {
            var h = new HashCode();
            foreach (int i in ids) h.Add(i);
            return h.ToHashCode();
        }
    }
}
