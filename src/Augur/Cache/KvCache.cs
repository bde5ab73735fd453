namespace Augur.Cache;

/// <summary>
/// The dense cache: for each layer a (MaxSequences, Capacity, KvDim) block of keys and one of values, in F32
/// or F16. Memory is allocated once, up front.
/// </summary>
public sealed class KvCache : IKvCache
{
    readonly byte[][] _keys;   // [layer] → (seq, cell, kv_dim) elements of Type
    readonly byte[][] _values; // [layer] → (seq, cell, kv_dim) elements of Type
    readonly int[] _length;    // (seq)
    readonly int _rowBytes;    // one cell of one layer

    public int Layers { get; }
    public KvType Type { get; }
    public int KvDim { get; }
    public int Capacity { get; }
    public int MaxSequences { get; }

    public KvCache(int layers, int kvDim, int capacity, int maxSequences = 1, KvType type = KvType.F32)
    {
        if (capacity < 1 || maxSequences < 1 || layers < 1 || kvDim < 1)
            throw new InvalidRequestException($"KV cache of {maxSequences} sequences × {capacity} cells × {kvDim} × {layers} layers is impossible");
        int elementBytes = ElementBytes(type);
        long perLayer = (long)maxSequences * capacity * kvDim * elementBytes;
        if (perLayer > Array.MaxLength)
            throw new InvalidRequestException($"KV cache of {maxSequences} sequences × {capacity} cells × {kvDim} is too large for one layer block");
        (Layers, KvDim, Capacity, MaxSequences, Type) = (layers, kvDim, capacity, maxSequences, type);
        _rowBytes = kvDim * elementBytes;
        _keys = new byte[layers][];
        _values = new byte[layers][];
        for (int l = 0; l < layers; l++)
        {
            _keys[l] = GC.AllocateUninitializedArray<byte>((int)perLayer, pinned: true);
            _values[l] = GC.AllocateUninitializedArray<byte>((int)perLayer, pinned: true);
        }
        _length = new int[maxSequences];
    }

    public static int ElementBytes(KvType type) => type == KvType.F16 ? 2 : 4;

    public long ByteSize => 2L * Layers * MaxSequences * Capacity * _rowBytes;

    public int Length(int sequence) => _length[sequence];

    public int Append(int sequence, int count)
    {
        int start = _length[sequence];
        if (count > Capacity - start)
            throw new InvalidRequestException($"context full: sequence {sequence} holds {start} of {Capacity} tokens and {count} more do not fit");
        _length[sequence] = start + count;
        return start;
    }

    public Span<byte> Keys(int layer, int sequence) => _keys[layer].AsSpan(sequence * Capacity * _rowBytes, Capacity * _rowBytes);
    public Span<byte> Values(int layer, int sequence) => _values[layer].AsSpan(sequence * Capacity * _rowBytes, Capacity * _rowBytes);

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
