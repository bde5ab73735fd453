using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

namespace Augur.Cache;

/// <summary>
/// One pool of fixed-size KV blocks shared by every sequence (vLLM's block manager): a block holds
/// <see cref="BlockSize"/> cells of every layer's keys and values. Blocks are reference-counted by the block tables
/// (<see cref="PagedSequences"/>) that hold them; a full block is registered under its <see cref="PrefixBlockHash"/>
/// so a later sequence with the same prefix takes it instead of computing it. When its last holder lets go, a
/// registered block stays cached (least recently released first out) until an allocation needs its memory; an
/// unregistered one goes straight back to the free list. Memory is allocated once, up front.
/// </summary>
public sealed unsafe class BlockPool : IPrefixCacheView
{
    readonly byte[][] _keys, _values;               // [layer] → (block, cell, kvDim bytes)
    readonly int[] _refs;                           // (block) → holders
    readonly ulong?[] _hash;                        // (block) → registered hash
    readonly Stack<int> _free = new();
    readonly LinkedList<int> _evictable = new();    // unreferenced registered blocks, least recently released first
    readonly LinkedListNode<int>?[] _evictableNode; // (block) → its place in _evictable
    readonly Dictionary<ulong, int> _byHash = [];
    readonly Lock _gate = new();                    // readers of the prefix view may be on other threads

    public int Layers { get; }
    public int BlockSize { get; }
    public int Blocks { get; }
    /// <summary>Bytes of one cell of one layer's keys (and of its values).</summary>
    public int RowBytes { get; }
    public ulong ModelHash { get; }

    public BlockPool(int layers, int rowBytes, int blockSize, int blocks, ulong modelHash)
    {
        if (layers < 1 || rowBytes < 1 || blockSize < 1 || blocks < 1 || (long)blocks * blockSize * rowBytes > Array.MaxLength)
            throw new InvalidRequestException($"KV block pool of {blocks} blocks × {blockSize} cells × {rowBytes} bytes × {layers} layers is impossible");
        (Layers, RowBytes, BlockSize, Blocks, ModelHash) = (layers, rowBytes, blockSize, blocks, modelHash);
        _keys = new byte[layers][];
        _values = new byte[layers][];
        for (int l = 0; l < layers; l++)
        {
            _keys[l] = GC.AllocateUninitializedArray<byte>(blocks * blockSize * rowBytes, pinned: true);
            _values[l] = GC.AllocateUninitializedArray<byte>(blocks * blockSize * rowBytes, pinned: true);
        }
        _refs = new int[blocks];
        _hash = new ulong?[blocks];
        _evictableNode = new LinkedListNode<int>?[blocks];
        for (int b = blocks - 1; b >= 0; b--) _free.Push(b);
    }

    /// <summary>Bytes of keys and values the pool holds.</summary>
    public long ByteSize => Blocks * BlockBytes;

    /// <summary>Blocks a new allocation could take: free ones and cached ones nobody holds.</summary>
    public int Available { get { lock (_gate) return _free.Count + _evictable.Count; } }

    /// <summary>Blocks held by at least one sequence.</summary>
    public int InUse { get { lock (_gate) return Blocks - _free.Count - _evictable.Count; } }

    public int References(int block) { lock (_gate) return _refs[block]; }

    public bool IsRegistered(int block) { lock (_gate) return _hash[block] is not null; }

    /// <summary>A block nobody else holds, with one reference; evicts the least recently released cached block when none is free.</summary>
    public int Allocate()
    {
        lock (_gate)
        {
            int block;
            if (_free.Count > 0) block = _free.Pop();
            else if (_evictable.First is { } oldest)
            {
                block = oldest.Value;
                Unlink(block);
                _byHash.Remove(_hash[block]!.Value);
                _hash[block] = null;
            }
            else throw new KvPoolExhaustedException(1, 0, Blocks);
            _refs[block] = 1;
            return block;
        }
    }

    /// <summary>One more holder of <paramref name="block"/> (a fork, or a prefix taken from the cache).</summary>
    public void Retain(int block)
    {
        lock (_gate)
        {
            if (_refs[block] == 0 && _hash[block] is null) throw new InvalidOperationException($"block {block} is free");
            if (_refs[block]++ == 0) Unlink(block);
        }
    }

    public void Release(int block)
    {
        lock (_gate)
        {
            if (_refs[block] == 0) throw new InvalidOperationException($"block {block} is not held");
            if (--_refs[block] > 0) return;
            if (_hash[block] is null) _free.Push(block);
            else _evictableNode[block] = _evictable.AddLast(block);
        }
    }

    /// <summary>Records that full block <paramref name="block"/> holds the cells hashing to <paramref name="hash"/>. When another
    /// block already holds them, that one stays the one handed out (the two have equal contents).</summary>
    public void Register(int block, ulong hash)
    {
        lock (_gate)
        {
            if (_hash[block] is not null || !_byHash.TryAdd(hash, block)) return;
            _hash[block] = hash;
        }
    }

    /// <summary>Takes a reference to the block registered under <paramref name="hash"/>, if the pool still holds one.</summary>
    public bool TryTake(ulong hash, out int block)
    {
        lock (_gate)
        {
            if (!_byHash.TryGetValue(hash, out block)) return false;
            if (_refs[block]++ == 0) Unlink(block);
            return true;
        }
    }

    /// <summary>Frees every cached block nobody holds (forgetting their hashes); returns how many.</summary>
    public int EvictUnreferenced()
    {
        lock (_gate)
        {
            int count = _evictable.Count;
            while (_evictable.First is { } oldest)
            {
                int block = oldest.Value;
                Unlink(block);
                _byHash.Remove(_hash[block]!.Value);
                _hash[block] = null;
                _free.Push(block);
            }
            return count;
        }
    }

    /// <summary>Block 0's first key row of one layer (the pool is pinned): block b starts b·BlockSize·RowBytes bytes after.</summary>
    public byte* KeyBase(int layer) => (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_keys[layer]));

    public byte* ValueBase(int layer) => (byte*)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_values[layer]));

    /// <summary>Bytes of one block: its cells' keys and values in every layer.</summary>
    public long BlockBytes => 2L * Layers * BlockSize * RowBytes;

    /// <summary>Keys of one layer in one block: (BlockSize, RowBytes).</summary>
    public Span<byte> Keys(int layer, int block) => _keys[layer].AsSpan(block * BlockSize * RowBytes, BlockSize * RowBytes);

    public Span<byte> Values(int layer, int block) => _values[layer].AsSpan(block * BlockSize * RowBytes, BlockSize * RowBytes);

    /// <summary>Copies the first <paramref name="cells"/> cells of every layer from one block to another (copy-on-write).</summary>
    public void CopyCells(int from, int to, int cells)
    {
        for (int l = 0; l < Layers; l++)
        {
            Keys(l, from)[..(cells * RowBytes)].CopyTo(Keys(l, to));
            Values(l, from)[..(cells * RowBytes)].CopyTo(Values(l, to));
        }
    }

    public int CachedBlocks { get { lock (_gate) return _byHash.Count; } }

    public bool Contains(ulong blockHash) { lock (_gate) return _byHash.ContainsKey(blockHash); }

    public IReadOnlyCollection<ulong> BlockHashes() { lock (_gate) return [.. _byHash.Keys]; }

    void Unlink(int block)
    {
        if (_evictableNode[block] is { } node) _evictable.Remove(node);
        _evictableNode[block] = null;
    }
}
