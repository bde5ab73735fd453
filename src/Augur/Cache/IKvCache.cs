namespace Augur.Cache;

/// <summary>
/// Keys and values of every layer for one or more sequences, as sequence operations (llama.cpp's
/// llama-memory, mlx-lm's cache). A sequence is a row of cells 0..Length-1; cell i holds the key (already
/// rotated for its position) and value of the i-th token the sequence kept. The forward pass appends;
/// everything else — rollback after speculation, keeping an accepted tree branch, sharing a prefix — is
/// one of these operations, so policies live outside the model.
/// </summary>
public interface IKvCache
{
    int Layers { get; }
    /// <summary>How keys and values are stored.</summary>
    KvType Type { get; }
    int KvDim { get; }
    /// <summary>Cells per sequence.</summary>
    int Capacity { get; }
    int MaxSequences { get; }

    int Length(int sequence);

    /// <summary>Reserves <paramref name="count"/> cells at the end of a sequence and returns the first one.</summary>
    int Append(int sequence, int count);

    /// <summary>Keys of one layer and sequence as stored: (Capacity, KvDim) elements of <see cref="Type"/>, row i = cell i.</summary>
    Span<byte> Keys(int layer, int sequence);

    /// <summary>Values of one layer and sequence as stored: (Capacity, KvDim) elements of <see cref="Type"/>.</summary>
    Span<byte> Values(int layer, int sequence);

    /// <summary>Drops every cell from <paramref name="length"/> on (rolls back rejected speculation).</summary>
    void Trim(int sequence, int length);

    /// <summary>Moves cells <paramref name="cells"/> (ascending, all ≥ <paramref name="start"/>) to
    /// start, start+1, … and trims after them: keeps one accepted branch of a draft tree.</summary>
    void Keep(int sequence, int start, ReadOnlySpan<int> cells);

    /// <summary>Makes <paramref name="destination"/> a copy of the first <paramref name="length"/> cells of <paramref name="source"/> (prefix reuse).</summary>
    void Copy(int source, int destination, int length);

    void Clear(int sequence);
}

/// <summary>Element type of a KV cache: F32, or F16 for half the memory (keys and values rounded to half precision).</summary>
public enum KvType { F32, F16 }
