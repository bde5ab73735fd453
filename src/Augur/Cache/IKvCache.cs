using Augur.Tensors;

namespace Augur.Cache;

/// <summary>
/// Keys and values of every layer for one or more sequences, as sequence operations (llama.cpp's
/// llama-memory, mlx-lm's cache). A sequence is a row of cells 0..Length-1; cell i holds the key (already
/// rotated for its position) and value of the i-th token the sequence kept. The cache owns layout, element type
/// and visibility: the model places a batch, writes each layer's keys and values for it and asks for each layer's
/// attention; everything else — rollback after speculation, keeping an accepted tree branch, sharing a prefix — is
/// one of the sequence operations, so policies live outside the model.
/// </summary>
public unsafe interface IKvCache
{
    int Layers { get; }
    /// <summary>How keys and values are stored.</summary>
    KvType Type { get; }
    int KvDim { get; }
    /// <summary>Cells per sequence.</summary>
    int Capacity { get; }
    int MaxSequences { get; }
    /// <summary>Bytes of keys and values the cache holds.</summary>
    long ByteSize { get; }

    int Length(int sequence);

    /// <summary>
    /// Appends a batch's tokens to their sequences, in batch order, and works out what each may attend to: the cells
    /// its sequence held before, then itself and its ancestors (<paramref name="parents"/>: index of the parent in the
    /// batch, −1 for none). A batch that does not fit changes nothing (<see cref="InvalidRequestException"/>).
    /// </summary>
    void Place(ReadOnlySpan<int> tokens, ReadOnlySpan<int> sequences, ReadOnlySpan<int> parents);

    /// <summary>Stores the placed batch's keys and values of one layer: (batch, KvDim) rows each.</summary>
    void Write(int layer, float* keys, float* values);

    /// <summary>Attention of the placed batch's queries in one layer over the cells each token sees:
    /// queries (batch, heads × headDim) → output, the same shape. <paramref name="window"/>: a token sees only its
    /// last that many cells (itself included); 0 for all.</summary>
    void Attend(int layer, AttentionHeads heads, int window, float* queries, float* output, WorkerPool pool);

    /// <summary>Starts empty <paramref name="sequence"/> on the longest prefix of <paramref name="prompt"/> the cache already
    /// holds (whole published blocks, leaving at least the last token to compute) and returns how many of its tokens
    /// need no computing; the caller computes the rest from there. A cache that shares nothing returns 0.</summary>
    int Admit(int sequence, ReadOnlySpan<int> prompt);

    /// <summary>Cells below <paramref name="length"/> hold accepted tokens, computed in every layer: a cache that shares
    /// prefixes may now hand their full blocks to later prompts. Never publish draft cells that a Keep or Trim may still
    /// move or drop, nor cells of layers a forward pass skipped.</summary>
    void Publish(int sequence, int length);

    /// <summary>Drops every cell from <paramref name="length"/> on (rolls back rejected speculation).</summary>
    void Trim(int sequence, int length);

    /// <summary>Moves cells <paramref name="cells"/> (ascending, all ≥ <paramref name="start"/>) to
    /// start, start+1, … and trims after them: keeps one accepted branch of a draft tree.</summary>
    void Keep(int sequence, int start, ReadOnlySpan<int> cells);

    /// <summary>Makes <paramref name="destination"/> a copy of the first <paramref name="length"/> cells of <paramref name="source"/> (prefix reuse).</summary>
    void Copy(int source, int destination, int length);

    void Clear(int sequence);
}
