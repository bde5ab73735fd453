namespace Augur.Speculative;

/// <summary>
/// Draft tokens proposed to continue the context, as a tree rooted at the last context token (which is not
/// a node). Node i has a token, a parent (−1 = the root) and a depth (1 = directly after the root).
/// Siblings carry distinct tokens. A chain is a tree whose nodes each have one child.
/// </summary>
public sealed class DraftTree(int capacity)
{
    public int Capacity { get; } = capacity;
    public int Count { get; private set; }
    public int[] Tokens { get; } = new int[capacity];
    public int[] Parents { get; } = new int[capacity];
    public int[] Depths { get; } = new int[capacity];

    public bool IsFull => Count == Capacity;

    public void Clear() => Count = 0;

    /// <summary>Adds a node under <paramref name="parent"/> (−1 = the root); returns its index, or the
    /// existing sibling's index if that token is already there, or −1 when the tree is full.</summary>
    public int Add(int parent, int token)
    {
        int existing = Child(parent, token);
        if (existing >= 0) return existing;
        if (Count == Capacity) return -1;
        Tokens[Count] = token;
        Parents[Count] = parent;
        Depths[Count] = parent < 0 ? 1 : Depths[parent] + 1;
        return Count++;
    }

    /// <summary>Appends a chain of tokens under <paramref name="parent"/>, as far as capacity allows.</summary>
    public void AddChain(int parent, ReadOnlySpan<int> tokens)
    {
        foreach (int t in tokens)
        {
            parent = Add(parent, t);
            if (parent < 0) return;
        }
    }

    /// <summary>The child of <paramref name="parent"/> carrying <paramref name="token"/>, or −1.</summary>
    public int Child(int parent, int token)
    {
        for (int i = 0; i < Count; i++)
            if (Parents[i] == parent && Tokens[i] == token) return i;
        return -1;
    }
}
