using Augur.Tensors;

namespace Augur.Cache;

/// <summary>
/// The paged cache: one <see cref="BlockPool"/> of <see cref="Attention.BlockCells"/>-cell blocks shared by every
/// sequence, a block table per sequence (<see cref="PagedSequences"/>), so memory follows the tokens held, not
/// sequences × context. Forks share blocks copy-on-write; full blocks of accepted tokens are published under their
/// prefix hash (<see cref="Publish"/>) and a new prompt starts from the longest published prefix (<see cref="Admit"/>).
/// The attention kernel reads cells through the block table, cut at the same block boundaries as the dense cache's,
/// so a token's bits are the same in both.
/// </summary>
public sealed unsafe class PagedKvCache : IKvCache, ICellLayout<BlockTableCells>
{
    /// <summary>Cells per block: the attention kernel's block, so a block is one contiguous run of rows.</summary>
    public const int BlockSize = Attention.BlockCells;

    readonly BlockPool _pool;
    readonly PagedSequences _sequences;
    readonly BatchPlacement _placement = new();
    readonly CellKernels _kernels;
    int[] _gathered = new int[1]; // (batch) the batch's tokens grouped by sequence, in batch order within each
    int[] _offset = new int[1];   // (seq) where its tokens start in _gathered

    public int Layers { get; }
    public KvType Type { get; }
    public int KvDim { get; }
    public int Capacity { get; }
    public int MaxSequences => _sequences.MaxSequences;

    /// <param name="capacity">Cells one sequence may hold at most (its context).</param>
    /// <param name="blocks">Blocks in the pool, shared by all sequences.</param>
    /// <param name="modelHash">The model part of the prefix hashes (<see cref="PrefixBlockHash.Model(string, long)"/>).</param>
    public PagedKvCache(int layers, int kvDim, int capacity, int maxSequences, int blocks, KvType type = KvType.F32, int? headDim = null, ulong modelHash = 0)
    {
        if (capacity < 1 || kvDim < 1) throw new InvalidRequestException($"paged KV cache of {capacity} cells per sequence × {kvDim} is impossible");
        var format = KvFormat.For(type);
        format.CheckHeadSize(type, headDim ?? kvDim);
        _pool = new BlockPool(layers, format.RowBytes(kvDim), BlockSize, blocks, modelHash);
        _sequences = new PagedSequences(_pool, maxSequences, capacity);
        (Layers, KvDim, Capacity, Type) = (layers, kvDim, capacity, type);
        _kernels = format.Kernels<PagedKvCache, BlockTableCells>(this, _placement);
    }

    /// <summary>Blocks a pool of <paramref name="bytes"/> holds for this shape; refuses a pool too small for one block.</summary>
    public static int BlocksFor(long bytes, int layers, int kvDim, KvType type)
    {
        long block = 2L * layers * Attention.BlockCells * KvFormat.For(type).RowBytes(kvDim);
        long blocks = bytes / block;
        if (blocks < 1) throw new InvalidRequestException($"a KV pool of {bytes} bytes cannot hold one block of {Attention.BlockCells} cells ({block} bytes for this model)");
        return (int)Math.Min(blocks, int.MaxValue);
    }

    /// <summary>Bytes of keys and values in the blocks sequences hold now (a shared block counts once).</summary>
    public long ByteSize => _pool.InUse * _pool.BlockBytes;

    /// <summary>Bytes of the whole pool, allocated up front.</summary>
    public long PoolBytes => _pool.ByteSize;

    public BlockPool Pool => _pool;

    /// <summary>What this cache holds for routing (a node's cached prefixes).</summary>
    public IPrefixCacheView PrefixView => _pool;

    public int Length(int sequence) => _sequences.Length(sequence);

    public void Place(ReadOnlySpan<int> tokens, ReadOnlySpan<int> sequences, ReadOnlySpan<int> parents)
    {
        _placement.Begin(sequences, parents, MaxSequences);
        var added = _placement.Added.AsSpan(0, MaxSequences);
        // Every sequence and the pool are checked before any sequence grows, so a batch that does not fit changes nothing.
        int needed = 0;
        for (int seq = 0; seq < added.Length; seq++)
        {
            int length = Length(seq);
            if (added[seq] > Capacity - length)
                throw new InvalidRequestException($"context full: sequence {seq} holds {length} of {Capacity} tokens and {added[seq]} more do not fit");
            needed += _sequences.BlocksNeeded(seq, added[seq]);
        }
        if (needed > _pool.Available) throw new KvPoolExhaustedException(needed, _pool.Available, _pool.Blocks);

        if (_gathered.Length < tokens.Length) _gathered = new int[tokens.Length];
        if (_offset.Length < MaxSequences + 1) _offset = new int[MaxSequences + 1];
        for (int seq = 0; seq < added.Length; seq++) _offset[seq + 1] = _offset[seq] + added[seq];
        for (int t = 0; t < tokens.Length; t++) _gathered[_offset[sequences[t]]++] = tokens[t];
        for (int seq = 0, from = 0; seq < added.Length; from += added[seq], seq++)
            if (added[seq] > 0) _placement.Start[seq] = _sequences.Append(seq, _gathered.AsSpan(from, added[seq]));
        _offset[0] = 0;
        _placement.Assign(parents);
    }

    public void Write(int layer, float* keys, float* values) => _kernels.Write(layer, keys, values, KvDim);

    public void Attend(int layer, AttentionHeads heads, int window, float* queries, float* output, WorkerPool pool) =>
        _kernels.Attend(layer, heads, window, queries, output, pool);

    BlockTableCells ICellLayout<BlockTableCells>.Cells(int layer, int sequence, int headOffset) =>
        new(_pool.KeyBase(layer) + headOffset, _pool.ValueBase(layer) + headOffset, _sequences.Table(sequence), _pool.RowBytes);

    int ICellLayout<BlockTableCells>.BlockId(int sequence, int block) => _sequences.Blocks(sequence)[block];

    /// <summary>Hydragen on (default) or off: the same bits either way (<see cref="CellKernels.SharedPrefixAttention"/>).</summary>
    public bool SharedPrefixAttention { get => _kernels.SharedPrefixAttention; set => _kernels.SharedPrefixAttention = value; }

    /// <summary>Starts empty <paramref name="sequence"/> on the longest published prefix of <paramref name="prompt"/> (whole
    /// blocks, leaving at least the last token to compute); returns how many of its tokens are already cached.</summary>
    public int Admit(int sequence, ReadOnlySpan<int> prompt) => _sequences.Admit(sequence, prompt);

    /// <summary>Cells below <paramref name="length"/> hold accepted tokens, computed in every layer: their full blocks may
    /// now serve later prompts. Never publish draft cells that a Keep or Trim may still move or drop.</summary>
    public void Publish(int sequence, int length) => _sequences.Publish(sequence, length);

    public void Trim(int sequence, int length) => _sequences.Trim(sequence, length);

    public void Keep(int sequence, int start, ReadOnlySpan<int> cells) => _sequences.Keep(sequence, start, cells);

    public void Copy(int source, int destination, int length)
    {
        if ((uint)length > (uint)Length(source)) throw new ArgumentOutOfRangeException(nameof(length), length, $"sequence {source} holds only {Length(source)} cells");
        if (source != destination)
        {
            _sequences.Clear(destination);
            _sequences.Fork(source, destination);
        }
        _sequences.Trim(destination, length);
    }

    public void Clear(int sequence) => _sequences.Clear(sequence);
}
