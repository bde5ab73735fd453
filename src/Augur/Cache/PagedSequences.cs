namespace Augur.Cache;

/// <summary>
/// Block tables over a <see cref="BlockPool"/>: sequence s's cell i lives in block table[s][i / BlockSize], slot
/// i mod BlockSize, so a sequence holds memory for the tokens it has, not for a whole context. A prompt starts
/// from the longest run of its full blocks the pool already holds (automatic prefix caching); a fork shares every
/// block of its source. Shared blocks are read-only: a sequence about to write into a block someone else holds,
/// or one registered under a hash, first copies it (copy-on-write). Each full block is registered under
/// hash(parent block's hash, its tokens, model) as it fills.
/// </summary>
public sealed class PagedSequences
{
    readonly BlockPool _pool;
    readonly List<int>[] _table;    // (seq) → blocks
    readonly List<int>[] _tokens;   // (seq) → the token of each cell
    readonly List<ulong>[] _hashes; // (seq) → hash of each full block

    public PagedSequences(BlockPool pool, int maxSequences)
    {
        if (maxSequences < 1) throw new InvalidRequestException($"a paged cache needs at least one sequence, got {maxSequences}");
        _pool = pool;
        MaxSequences = maxSequences;
        _table = [.. Enumerable.Range(0, maxSequences).Select(_ => new List<int>())];
        _tokens = [.. Enumerable.Range(0, maxSequences).Select(_ => new List<int>())];
        _hashes = [.. Enumerable.Range(0, maxSequences).Select(_ => new List<ulong>())];
    }

    public BlockPool Pool => _pool;
    public int MaxSequences { get; }

    public int Length(int sequence) => _tokens[sequence].Count;

    public IReadOnlyList<int> Blocks(int sequence) => _table[sequence];

    /// <summary>Starts empty sequence <paramref name="sequence"/> on <paramref name="prompt"/>'s longest cached prefix of full
    /// blocks, leaving at least its last token to compute; returns how many tokens it took from the cache.</summary>
    public int Admit(int sequence, ReadOnlySpan<int> prompt)
    {
        if (Length(sequence) != 0) throw new InvalidOperationException($"sequence {sequence} is not empty");
        int size = _pool.BlockSize;
        ulong parent = PrefixBlockHash.Root;
        for (int b = 0; (b + 1) * size < prompt.Length; b++)
        {
            var tokens = prompt.Slice(b * size, size);
            ulong hash = PrefixBlockHash.Of(parent, tokens, _pool.ModelHash);
            if (!_pool.TryTake(hash, out int block)) break;
            _table[sequence].Add(block);
            _hashes[sequence].Add(parent = hash);
            foreach (int t in tokens) _tokens[sequence].Add(t);
        }
        return Length(sequence);
    }

    /// <summary>Blocks <see cref="Append"/> of <paramref name="count"/> cells to <paramref name="sequence"/> would allocate.</summary>
    public int BlocksNeeded(int sequence, int count)
    {
        int length = Length(sequence), size = _pool.BlockSize;
        int fresh = (length + count + size - 1) / size - (length + size - 1) / size;
        return fresh + (count > 0 && length % size != 0 && MustCopy(_table[sequence][^1]) ? 1 : 0);
    }

    /// <summary>Adds cells for <paramref name="tokens"/> at the end of the sequence and returns the first one's index; the
    /// caller then writes their keys and values (<see cref="KeyRow"/>). When the pool cannot supply the blocks, nothing changes.</summary>
    public int Append(int sequence, ReadOnlySpan<int> tokens)
    {
        int needed = BlocksNeeded(sequence, tokens.Length);
        if (needed > _pool.Available)
            throw new InvalidRequestException($"KV pool exhausted: sequence {sequence} needs {needed} more blocks, {_pool.Available} of {_pool.Blocks} are available");
        int start = Length(sequence), size = _pool.BlockSize;
        var table = _table[sequence];
        if (tokens.Length > 0 && start % size != 0 && MustCopy(table[^1]))
        {
            int copy = _pool.Allocate();
            _pool.CopyCells(table[^1], copy, start % size);
            _pool.Release(table[^1]);
            table[^1] = copy;
        }
        foreach (int token in tokens)
        {
            if (Length(sequence) % size == 0) table.Add(_pool.Allocate());
            _tokens[sequence].Add(token);
            if (Length(sequence) % size == 0) Seal(sequence);
        }
        return start;
    }

    /// <summary>Keys of cell <paramref name="cell"/> of a sequence in one layer (RowBytes bytes).</summary>
    public Span<byte> KeyRow(int layer, int sequence, int cell) =>
        _pool.Keys(layer, _table[sequence][cell / _pool.BlockSize]).Slice(cell % _pool.BlockSize * _pool.RowBytes, _pool.RowBytes);

    public Span<byte> ValueRow(int layer, int sequence, int cell) =>
        _pool.Values(layer, _table[sequence][cell / _pool.BlockSize]).Slice(cell % _pool.BlockSize * _pool.RowBytes, _pool.RowBytes);

    /// <summary>Makes empty <paramref name="destination"/> share every block of <paramref name="source"/> (n samples, a branch).</summary>
    public void Fork(int source, int destination)
    {
        if (Length(destination) != 0) throw new InvalidOperationException($"sequence {destination} is not empty");
        foreach (int block in _table[source]) _pool.Retain(block);
        _table[destination].AddRange(_table[source]);
        _tokens[destination].AddRange(_tokens[source]);
        _hashes[destination].AddRange(_hashes[source]);
    }

    /// <summary>Drops every cell from <paramref name="length"/> on, letting go of the blocks no longer needed.</summary>
    public void Trim(int sequence, int length)
    {
        if ((uint)length > (uint)Length(sequence)) throw new ArgumentOutOfRangeException(nameof(length), length, $"sequence {sequence} holds only {Length(sequence)} cells");
        int size = _pool.BlockSize, keep = (length + size - 1) / size;
        var table = _table[sequence];
        for (int b = keep; b < table.Count; b++) _pool.Release(table[b]);
        table.RemoveRange(keep, table.Count - keep);
        _tokens[sequence].RemoveRange(length, Length(sequence) - length);
        _hashes[sequence].RemoveRange(length / size, _hashes[sequence].Count - length / size);
    }

    /// <summary>Ends a sequence (finished or cancelled): its full blocks stay cached for later prompts.</summary>
    public void Clear(int sequence) => Trim(sequence, 0);

    // A block someone else also reads, or whose registered hash promises its contents, is never written in place.
    bool MustCopy(int block) => _pool.References(block) > 1 || _pool.IsRegistered(block);

    void Seal(int sequence)
    {
        var hashes = _hashes[sequence];
        int size = _pool.BlockSize, b = hashes.Count;
        ulong parent = b == 0 ? PrefixBlockHash.Root : hashes[^1];
        var tokens = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(_tokens[sequence]).Slice(b * size, size);
        ulong hash = PrefixBlockHash.Of(parent, tokens, _pool.ModelHash);
        hashes.Add(hash);
        _pool.Register(_table[sequence][b], hash);
    }
}
