using System.Runtime.InteropServices;

namespace Augur.Cache;

/// <summary>
/// Block tables over a <see cref="BlockPool"/>: sequence s's cell i lives in block table[s][i / BlockSize], slot
/// i mod BlockSize, so a sequence holds memory for the tokens it has, not for a whole context. A prompt starts
/// from the longest run of its full blocks the pool already holds (automatic prefix caching); a fork shares every
/// block of its source. Shared blocks are read-only: a sequence about to write into a block someone else holds,
/// or one registered under a hash, first copies it (copy-on-write). A full block is registered under
/// hash(parent block's hash, its tokens, model) only when <see cref="Publish"/> says its cells hold accepted tokens
/// — draft cells that a later Keep or Trim moves or drops never get a hash.
/// </summary>
public sealed unsafe class PagedSequences
{
    readonly BlockPool _pool;
    readonly BlockTable[] _table;   // (seq) → blocks
    readonly List<int>[] _tokens;   // (seq) → the token of each cell
    readonly List<ulong>[] _hashes; // (seq) → hash of each published full block, first block first

    /// <param name="cellsPerSequence">The most cells one sequence will hold, when known: its lists are sized once, so
    /// appending a token allocates nothing.</param>
    public PagedSequences(BlockPool pool, int maxSequences, int cellsPerSequence = 0)
    {
        if (maxSequences < 1) throw new InvalidRequestException($"a paged cache needs at least one sequence, got {maxSequences}");
        _pool = pool;
        MaxSequences = maxSequences;
        int blocks = (cellsPerSequence + pool.BlockSize - 1) / pool.BlockSize;
        _table = [.. Enumerable.Range(0, maxSequences).Select(_ => new BlockTable(Math.Max(16, blocks)))];
        _tokens = [.. Enumerable.Range(0, maxSequences).Select(_ => new List<int>(cellsPerSequence))];
        _hashes = [.. Enumerable.Range(0, maxSequences).Select(_ => new List<ulong>(blocks))];
    }

    public BlockPool Pool => _pool;
    public int MaxSequences { get; }

    public int Length(int sequence) => _tokens[sequence].Count;

    public ReadOnlySpan<int> Blocks(int sequence) => _table[sequence].Span;

    /// <summary>The sequence's block table, pinned; valid until the sequence next changes.</summary>
    public int* Table(int sequence) => _table[sequence].Address;

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
        if (needed > _pool.Available) throw new KvPoolExhaustedException(needed, _pool.Available, _pool.Blocks);
        int start = Length(sequence), size = _pool.BlockSize;
        var table = _table[sequence];
        if (tokens.Length > 0 && start % size != 0) MakeWritable(sequence, table.Count - 1);
        foreach (int token in tokens)
        {
            if (Length(sequence) % size == 0) table.Add(_pool.Allocate());
            _tokens[sequence].Add(token);
        }
        return start;
    }

    /// <summary>Registers every full block of the first <paramref name="length"/> cells under its prefix hash: their keys
    /// and values are final (accepted tokens, every layer written), so later prompts may take them.</summary>
    public void Publish(int sequence, int length)
    {
        if ((uint)length > (uint)Length(sequence)) throw new ArgumentOutOfRangeException(nameof(length), length, $"sequence {sequence} holds only {Length(sequence)} cells");
        var hashes = _hashes[sequence];
        int size = _pool.BlockSize;
        var tokens = CollectionsMarshal.AsSpan(_tokens[sequence]);
        for (int b = hashes.Count; (b + 1) * size <= length; b++)
        {
            ulong hash = PrefixBlockHash.Of(b == 0 ? PrefixBlockHash.Root : hashes[^1], tokens.Slice(b * size, size), _pool.ModelHash);
            hashes.Add(hash);
            _pool.Register(_table[sequence][b], hash);
        }
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
        foreach (int block in _table[source].Span) _pool.Retain(block);
        _table[destination].AddRange(_table[source].Span);
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
        table.Truncate(keep);
        _tokens[sequence].RemoveRange(length, Length(sequence) - length);
        var hashes = _hashes[sequence];
        if (hashes.Count > length / size) hashes.RemoveRange(length / size, hashes.Count - length / size);
    }

    /// <summary>Moves cells <paramref name="cells"/> (ascending, all ≥ <paramref name="start"/>) to start, start+1, … and
    /// trims after them (an accepted draft branch). Blocks written are first made this sequence's own; when the pool
    /// cannot supply those copies, nothing changes.</summary>
    public void Keep(int sequence, int start, ReadOnlySpan<int> cells)
    {
        int length = Length(sequence), size = _pool.BlockSize;
        if ((uint)start > (uint)length) throw new ArgumentOutOfRangeException(nameof(start), start, $"sequence {sequence} holds only {length} cells");
        for (int i = 0; i < cells.Length; i++)
            if (cells[i] < start || cells[i] >= length || (i > 0 && cells[i] <= cells[i - 1]))
                throw new ArgumentOutOfRangeException(nameof(cells), cells[i], "cells must be strictly ascending, at or after start, and inside the sequence");
        int copies = 0, lastBlock = -1;
        for (int i = 0; i < cells.Length; i++)
            if (cells[i] != start + i && (start + i) / size != lastBlock)
            {
                lastBlock = (start + i) / size;
                if (MustCopy(_table[sequence][lastBlock])) copies++;
            }
        if (copies > _pool.Available) throw new KvPoolExhaustedException(copies, _pool.Available, _pool.Blocks);
        var tokens = _tokens[sequence];
        for (int i = 0; i < cells.Length; i++)
        {
            int from = cells[i], to = start + i;
            if (from == to) continue;
            MakeWritable(sequence, to / size);
            for (int l = 0; l < _pool.Layers; l++)
            {
                KeyRow(l, sequence, from).CopyTo(KeyRow(l, sequence, to));
                ValueRow(l, sequence, from).CopyTo(ValueRow(l, sequence, to));
            }
            tokens[to] = tokens[from];
        }
        Trim(sequence, start + cells.Length);
    }

    /// <summary>Ends a sequence (finished or cancelled): its published blocks stay cached for later prompts.</summary>
    public void Clear(int sequence) => Trim(sequence, 0);

    // A block someone else also reads, or whose registered hash promises its contents, is never written in place.
    bool MustCopy(int block) => _pool.References(block) > 1 || _pool.IsRegistered(block);

    /// <summary>Copies block <paramref name="b"/> of the sequence first when it may not be written in place; its hash (and
    /// every later one) stops being the sequence's, since its contents are about to change.</summary>
    void MakeWritable(int sequence, int b)
    {
        var table = _table[sequence];
        var hashes = _hashes[sequence];
        if (hashes.Count > b) hashes.RemoveRange(b, hashes.Count - b);
        if (!MustCopy(table[b])) return;
        int copy = _pool.Allocate();
        _pool.CopyCells(table[b], copy, Math.Min(_pool.BlockSize, Length(sequence) - b * _pool.BlockSize));
        _pool.Release(table[b]);
        table[b] = copy;
    }

    /// <summary>A sequence's block ids in a pinned array, so the attention kernel can read them through a pointer.</summary>
    sealed class BlockTable(int capacity)
    {
        int[] _blocks = GC.AllocateArray<int>(capacity, pinned: true);

        public int Count { get; private set; }
        public Span<int> Span => _blocks.AsSpan(0, Count);
        public int* Address => (int*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_blocks));

        public int this[int i]
        {
            get => Span[i];
            set => Span[i] = value;
        }

        public void Add(int block)
        {
            if (Count == _blocks.Length)
            {
                var grown = GC.AllocateArray<int>(2 * Count, pinned: true);
                _blocks.CopyTo(grown, 0);
                _blocks = grown;
            }
            _blocks[Count++] = block;
        }

        public void AddRange(ReadOnlySpan<int> blocks)
        {
            foreach (int b in blocks) Add(b);
        }

        public void Truncate(int count) => Count = count;
    }
}
