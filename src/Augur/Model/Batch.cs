namespace Augur.Model;

/// <summary>
/// The tokens one forward pass computes: for each, its id, its position (for RoPE), its sequence (which
/// KV-cache row it joins), whether its logits are wanted, and its parent in the batch. Tokens of one
/// sequence are appended to that sequence's cache cells in batch order; a token attends to the cells
/// the sequence held before this batch plus itself and its ancestors in the batch. Added plainly,
/// each token's parent is the previous token of its sequence (causal); a draft tree sets parents so
/// that siblings do not see each other (tree attention).
/// </summary>
public sealed class Batch(int capacity)
{
    public int Capacity { get; } = capacity;
    public int Count { get; private set; }
    public int[] Tokens { get; } = new int[capacity];
    public int[] Positions { get; } = new int[capacity];
    public int[] Sequences { get; } = new int[capacity];
    /// <summary>Index in this batch of the token's parent; −1 when it follows the sequence's cached cells directly.</summary>
    public int[] Parents { get; } = new int[capacity];
    public bool[] WantLogits { get; } = new bool[capacity];

    /// <summary>How many tokens want logits; row k of the output is the k-th of them in batch order.</summary>
    public int OutputCount { get; private set; }

    public void Clear()
    {
        Count = 0;
        OutputCount = 0;
    }

    /// <summary>Adds a token whose parent is the previous token of the same sequence in this batch (causal).</summary>
    public void Add(int token, int position, int sequence, bool logits)
    {
        int parent = -1;
        for (int i = Count - 1; i >= 0; i--)
            if (Sequences[i] == sequence) { parent = i; break; }
        Add(token, position, sequence, logits, parent);
    }

    /// <summary>Adds a token with an explicit parent (an earlier index in this batch of the same sequence, or −1).</summary>
    public void Add(int token, int position, int sequence, bool logits, int parent)
    {
        if (Count == Capacity) throw new InvalidOperationException($"batch is full ({Capacity} tokens)");
        if (parent >= Count || (parent >= 0 && Sequences[parent] != sequence))
            throw new ArgumentOutOfRangeException(nameof(parent), parent, "parent must be an earlier token of the same sequence");
        Tokens[Count] = token;
        Positions[Count] = position;
        Sequences[Count] = sequence;
        Parents[Count] = parent;
        WantLogits[Count] = logits;
        if (logits) OutputCount++;
        Count++;
    }
}
