using System.Runtime.Intrinsics;

namespace Augur.Speculative;

/// <summary>
/// Token Recycling (Luo et al., 2024): every verification step already computed the target's logits at each
/// draft node; their top-k tokens are "recycled" into an adjacency matrix M[token] = the k tokens most likely to
/// follow it (vocab × k ints: 1 MB for a 32,000 vocabulary at k = 8). Drafts expand a static breadth-first tree
/// template from the last token: a node of depth d and rank r gets max(0, Branching[d] − r) children, taken from
/// M of its token in rank order.
/// </summary>
public sealed class TokenRecyclingDrafter : IDrafter
{
    public const int K = 8;
    static readonly int[] Branching = [6, 3, 2, 1, 1, 1, 1, 1, 1, 1, 1, 1];
    readonly int _vocab;
    readonly int[] _next; // (vocab, K) candidate followers, −1 = none yet
    readonly Queue<(int Node, int Token, int Depth, int Rank)> _frontier = new();
    readonly int[] _top = new int[K];

    readonly int _maxNodes;

    /// <summary><paramref name="maxNodes"/>: the tree's size. The paper verifies ~80 nodes on a GPU, where that is
    /// nearly free; on a CPU verification cost grows with the node count, so a smaller tree pays better.</summary>
    public TokenRecyclingDrafter(int vocabSize, int maxNodes = 24)
    {
        _maxNodes = maxNodes;
        _vocab = vocabSize;
        _next = new int[vocabSize * K];
        Array.Fill(_next, -1);
    }

    public string Name => "recycling";

    /// <summary>Bytes of drafter state.</summary>
    public long StateBytes => _next.Length * sizeof(int);

    // The matrix is kept across requests: what the model tends to say next is not request-specific.
    public void Begin(ReadOnlySpan<int> prompt) { }

    public void Propose(ReadOnlySpan<int> context, DraftTree tree)
    {
        _frontier.Clear();
        _frontier.Enqueue((-1, context[^1], 0, 0));
        while (_frontier.TryDequeue(out var n) && !tree.IsFull && tree.Count < _maxNodes)
        {
            int children = Math.Max(0, Branching[Math.Min(n.Depth, Branching.Length - 1)] - n.Rank);
            for (int r = 0; r < children && !tree.IsFull && tree.Count < _maxNodes; r++)
            {
                int token = _next[n.Token * K + r];
                if (token < 0) break;
                int before = tree.Count;
                int node = tree.Add(n.Node, token);
                if (node >= before) _frontier.Enqueue((node, token, n.Depth + 1, r));
            }
        }
    }

    public bool LearnsFromLogits => true;

    public void Learn(VerifiedStep step)
    {
        Recycle(step.Root, step.Logits(0));
        for (int i = 0; i < step.Tree.Count; i++) Recycle(step.Tree.Tokens[i], step.Logits(i + 1));
    }

    void Recycle(int token, ReadOnlySpan<float> logits)
    {
        if ((uint)token >= (uint)_vocab) return;
        TopK(logits, _top);
        _top.CopyTo(_next.AsSpan(token * K, K));
    }

    /// <summary>Indices of the k largest values, best first (insertion into a k-sized sorted buffer). Blocks of eight
    /// with nothing above the current k-th best are skipped with one vector compare: it runs on every verified row.</summary>
    static void TopK(ReadOnlySpan<float> values, Span<int> top)
    {
        Span<float> best = stackalloc float[top.Length];
        best.Fill(float.NegativeInfinity);
        top.Fill(-1);
        int i = 0;
        for (; i + 8 <= values.Length; i += 8)
        {
            if (!Vector256.GreaterThanAny(Vector256.Create(values.Slice(i, 8)), Vector256.Create(best[^1]))) continue;
            for (int j = i; j < i + 8; j++) Insert(values[j], j, best, top);
        }
        for (; i < values.Length; i++) Insert(values[i], i, best, top);
    }

    static void Insert(float v, int index, Span<float> best, Span<int> top)
    {
        if (v <= best[^1]) return;
        int j = top.Length - 1;
        while (j > 0 && best[j - 1] < v) { best[j] = best[j - 1]; top[j] = top[j - 1]; j--; }
        best[j] = v;
        top[j] = index;
    }
}
