namespace Augur.Cache;

/// <summary>
/// The dense F32 cache: for each layer a (MaxSequences, Capacity, KvDim) block of keys and one of values.
/// Memory is allocated once, up front.
/// </summary>
public sealed class KvCache : IKvCache
{
    readonly float[][] _keys;   // [layer] → (seq, cell, kv_dim)
    readonly float[][] _values; // [layer] → (seq, cell, kv_dim)
    readonly int[] _length;     // (seq)

    public int Layers { get; }
    public int KvDim { get; }
    public int Capacity { get; }
    public int MaxSequences { get; }

    public KvCache(int layers, int kvDim, int capacity, int maxSequences = 1)
    {
        long perLayer = (long)maxSequences * capacity * kvDim;
        if (perLayer > Array.MaxLength)
            throw new InvalidRequestException($"KV cache of {maxSequences} sequences × {capacity} cells × {kvDim} is too large for one layer block");
        (Layers, KvDim, Capacity, MaxSequences) = (layers, kvDim, capacity, maxSequences);
        _keys = new float[layers][];
        _values = new float[layers][];
        for (int l = 0; l < layers; l++)
        {
            _keys[l] = GC.AllocateUninitializedArray<float>((int)perLayer, pinned: true);
            _values[l] = GC.AllocateUninitializedArray<float>((int)perLayer, pinned: true);
        }
        _length = new int[maxSequences];
    }

    public long ByteSize => 2L * Layers * MaxSequences * Capacity * KvDim * sizeof(float);

    public int Length(int sequence) => _length[sequence];

    public int Append(int sequence, int count)
    {
        int start = _length[sequence];
        if (count > Capacity - start)
            throw new InvalidRequestException($"context full: sequence {sequence} holds {start} of {Capacity} tokens and {count} more do not fit");
        _length[sequence] = start + count;
        return start;
    }

    public Span<float> Keys(int layer, int sequence) => _keys[layer].AsSpan(sequence * Capacity * KvDim, Capacity * KvDim);
    public Span<float> Values(int layer, int sequence) => _values[layer].AsSpan(sequence * Capacity * KvDim, Capacity * KvDim);

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
                Keys(l, sequence).Slice(from * KvDim, KvDim).CopyTo(Keys(l, sequence).Slice(to * KvDim, KvDim));
                Values(l, sequence).Slice(from * KvDim, KvDim).CopyTo(Values(l, sequence).Slice(to * KvDim, KvDim));
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
                Keys(l, source)[..(length * KvDim)].CopyTo(Keys(l, destination));
                Values(l, source)[..(length * KvDim)].CopyTo(Values(l, destination));
            }
        _length[destination] = length;
    }

    public void Clear(int sequence) => _length[sequence] = 0;
}
