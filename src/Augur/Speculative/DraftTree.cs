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

    /// <summary>
    /// Cuts the tree to what a step can take: no node deeper than <paramref name="maxDepth"/> (tokens the request may
    /// still emit, less the target's own) and at most <paramref name="maxNodes"/> nodes (free cache cells, batch
    /// slots). Nodes come after their parents, so keeping a filtered prefix keeps a tree.
    /// </summary>
    public void Fit(int maxDepth, int maxNodes)
    {
        if (maxNodes <= 0 || maxDepth <= 0) { Count = 0; return; }
        Span<int> map = Count <= 256 ? stackalloc int[Count] : new int[Count];
        int kept = 0;
        for (int i = 0; i < Count && kept < maxNodes; i++)
        {
            map[i] = -1;
            if (Depths[i] > maxDepth || (Parents[i] >= 0 && map[Parents[i]] < 0)) continue;
            int parent = Parents[i] < 0 ? -1 : map[Parents[i]];
            (Tokens[kept], Parents[kept], Depths[kept]) = (Tokens[i], parent, Depths[i]);
            map[i] = kept++;
        }
        Count = kept;
    }
}
