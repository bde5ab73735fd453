using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Augur.Tensors;

namespace Augur.Cache;

/// <summary>
/// The dense cache: for each layer a (MaxSequences, Capacity, KvDim) block of keys and one of values, in the cache's
/// <see cref="KvType"/>. Memory is allocated once, up front.
/// </summary>
public sealed unsafe class KvCache : IKvCache, ICellLayout<ContiguousCells>
{
    readonly byte[][] _keys;   // [layer] → (seq, cell, kv_dim) elements of Type, pinned
    readonly byte[][] _values; // [layer] → (seq, cell, kv_dim) elements of Type, pinned
    readonly nint[] _keyAt, _valueAt; // [layer] → the pinned blocks' addresses
    readonly int[] _length;    // (seq)
    readonly int _rowBytes;    // one cell of one layer
    readonly BatchPlacement _placement = new();
    readonly CellKernels _kernels;

    public int Layers { get; }
    public KvType Type { get; }
    public int KvDim { get; }
    public int Capacity { get; }
    public int MaxSequences { get; }

    /// <param name="headDim">The model's head size (default: one head of <paramref name="kvDim"/>); a Q8_0 cache needs a multiple of 32.</param>
    public KvCache(int layers, int kvDim, int capacity, int maxSequences = 1, KvType type = KvType.F32, int? headDim = null)
    {
        if (capacity < 1 || maxSequences < 1 || layers < 1 || kvDim < 1)
            throw new InvalidRequestException($"KV cache of {maxSequences} sequences × {capacity} cells × {kvDim} × {layers} layers is impossible");
        var format = KvFormat.For(type);
        format.CheckHeadSize(type, headDim ?? kvDim);
        _rowBytes = format.RowBytes(kvDim);
        long perLayer = (long)maxSequences * capacity * _rowBytes;
        if (perLayer > Array.MaxLength)
            throw new InvalidRequestException($"KV cache of {maxSequences} sequences × {capacity} cells × {kvDim} is too large for one layer block");
        (Layers, KvDim, Capacity, MaxSequences, Type) = (layers, kvDim, capacity, maxSequences, type);
        _keys = new byte[layers][];
        _values = new byte[layers][];
        _keyAt = new nint[layers];
        _valueAt = new nint[layers];
        for (int l = 0; l < layers; l++)
        {
            _keys[l] = GC.AllocateUninitializedArray<byte>((int)perLayer, pinned: true);
            _values[l] = GC.AllocateUninitializedArray<byte>((int)perLayer, pinned: true);
            _keyAt[l] = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_keys[l]));
            _valueAt[l] = (nint)Unsafe.AsPointer(ref MemoryMarshal.GetArrayDataReference(_values[l]));
        }
        _length = new int[maxSequences];
        _kernels = format.Kernels<KvCache, ContiguousCells>(this, _placement);
    }

    public long ByteSize => 2L * Layers * MaxSequences * Capacity * _rowBytes;

    public int Length(int sequence) => _length[sequence];

    /// <summary>Reserves <paramref name="count"/> cells at the end of a sequence and returns the first one.</summary>
    public int Append(int sequence, int count)
    {
        int start = _length[sequence];
        if (count > Capacity - start)
            throw new InvalidRequestException($"context full: sequence {sequence} holds {start} of {Capacity} tokens and {count} more do not fit");
        _length[sequence] = start + count;
        return start;
    }

    public void Place(ReadOnlySpan<int> tokens, ReadOnlySpan<int> sequences, ReadOnlySpan<int> parents)
    {
        _placement.Begin(sequences, parents, MaxSequences);
        var added = _placement.Added.AsSpan(0, MaxSequences);
        // Every sequence is checked before any grows, so a batch that does not fit changes nothing.
        for (int seq = 0; seq < added.Length; seq++)
            if (added[seq] > Capacity - _length[seq])
                throw new InvalidRequestException($"context full: sequence {seq} holds {_length[seq]} of {Capacity} tokens and {added[seq]} more do not fit");
        for (int seq = 0; seq < added.Length; seq++)
            if (added[seq] > 0) _placement.Start[seq] = Append(seq, added[seq]);
        _placement.Assign(parents);
    }

    public void Write(int layer, float* keys, float* values) => _kernels.Write(layer, keys, values, KvDim);

    public void Attend(int layer, AttentionHeads heads, int window, float* queries, float* output, WorkerPool pool) =>
        _kernels.Attend(layer, heads, window, queries, output, pool);

    ContiguousCells ICellLayout<ContiguousCells>.Cells(int layer, int sequence, int headOffset)
    {
        long at = (long)sequence * Capacity * _rowBytes + headOffset;
        return new ContiguousCells((byte*)_keyAt[layer] + at, (byte*)_valueAt[layer] + at, _rowBytes);
    }

    /// <summary>Rows never share blocks: each sequence's are its own.</summary>
    int ICellLayout<ContiguousCells>.BlockId(int sequence, int block) => sequence * (Capacity / Attention.BlockCells + 1) + block;

    /// <summary>Keys of one layer and sequence as stored: (Capacity, KvDim) elements of <see cref="Type"/>, row i = cell i.</summary>
    public Span<byte> Keys(int layer, int sequence) => _keys[layer].AsSpan(sequence * Capacity * _rowBytes, Capacity * _rowBytes);

    /// <summary>Values of one layer and sequence as stored: (Capacity, KvDim) elements of <see cref="Type"/>.</summary>
    public Span<byte> Values(int layer, int sequence) => _values[layer].AsSpan(sequence * Capacity * _rowBytes, Capacity * _rowBytes);

    /// <summary>A dense row shares nothing with others: every prompt is computed whole.</summary>
    public int Admit(int sequence, ReadOnlySpan<int> prompt)
    {
        if (_length[sequence] != 0) throw new InvalidOperationException($"sequence {sequence} is not empty");
        return 0;
    }

    public void Publish(int sequence, int length)
    {
        if ((uint)length > (uint)_length[sequence]) throw new ArgumentOutOfRangeException(nameof(length), length, $"sequence {sequence} holds only {_length[sequence]} cells");
    }

    public void Trim(int sequence, int length)
    {
        if ((uint)length > (uint)_length[sequence]) throw new ArgumentOutOfRangeException(nameof(length), length, $"sequence {sequence} holds only {_length[sequence]} cells");
        _length[sequence] = length;
    }

    public void Keep(int sequence, int start, ReadOnlySpan<int> cells)
    {
        // Checked before anything moves, so a refused Keep leaves the cache as it was.
        if ((uint)start > (uint)_length[sequence]) throw new ArgumentOutOfRangeException(nameof(start), start, $"sequence {sequence} holds only {_length[sequence]} cells");
        for (int i = 0; i < cells.Length; i++)
            if (cells[i] < start || cells[i] >= _length[sequence] || (i > 0 && cells[i] <= cells[i - 1]))
                throw new ArgumentOutOfRangeException(nameof(cells), cells[i], "cells must be strictly ascending, at or after start, and inside the sequence");
        for (int i = 0; i < cells.Length; i++)
        {
            int from = cells[i], to = start + i;
            if (from == to) continue;
            for (int l = 0; l < Layers; l++)
            {
                Keys(l, sequence).Slice(from * _rowBytes, _rowBytes).CopyTo(Keys(l, sequence).Slice(to * _rowBytes, _rowBytes));
                Values(l, sequence).Slice(from * _rowBytes, _rowBytes).CopyTo(Values(l, sequence).Slice(to * _rowBytes, _rowBytes));
            }
        }
        _length[sequence] = start + cells.Length;
    }

    public void Copy(int source, int destination, int length)
    {
        if ((uint)length > (uint)_length[source]) throw new ArgumentOutOfRangeException(nameof(length));
        if (source != destination)
            for (int l = 0; l < Layers; l++)
            {
                Keys(l, source)[..(length * _rowBytes)].CopyTo(Keys(l, destination));
                Values(l, source)[..(length * _rowBytes)].CopyTo(Values(l, destination));
            }
        _length[destination] = length;
    }

    public void Clear(int sequence) => _length[sequence] = 0;
}
