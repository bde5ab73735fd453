using Augur.Speculative;

namespace Augur.Tests.Speculative;

public class DraftTreeTests
{
    /// <summary>A tree: root → a(1) → b(2) → c(3); root → d(4) → e(5); a → f(6).</summary>
    static DraftTree Sample()
    {
        var t = new DraftTree(16);
        int a = t.Add(-1, 1), b = t.Add(a, 2);
        t.Add(b, 3);
        int d = t.Add(-1, 4);
        t.Add(d, 5);
        t.Add(a, 6);
        return t;
    }

    static List<(int Token, int ParentToken, int Depth)> Shape(DraftTree t) =>
        Enumerable.Range(0, t.Count).Select(i => (t.Tokens[i], t.Parents[i] < 0 ? -1 : t.Tokens[t.Parents[i]], t.Depths[i])).ToList();

    [Fact]
    public void Fit_drops_nodes_below_the_depth_limit_and_keeps_parents_before_children()
    {
        var t = Sample();
        t.Fit(maxDepth: 2, maxNodes: 100);
        Assert.Equal([(1, -1, 1), (2, 1, 2), (4, -1, 1), (5, 4, 2), (6, 1, 2)], Shape(t));
        for (int i = 0; i < t.Count; i++) Assert.True(t.Parents[i] < i);
    }

    [Fact]
    public void Fit_keeps_at_most_the_node_limit_and_never_an_orphan()
    {
        var t = Sample();
        t.Fit(maxDepth: 10, maxNodes: 4);
        Assert.Equal([(1, -1, 1), (2, 1, 2), (3, 2, 3), (4, -1, 1)], Shape(t));
        t = Sample();
        t.Fit(maxDepth: 1, maxNodes: 1);
        Assert.Equal([(1, -1, 1)], Shape(t));
        t = Sample();
        t.Fit(maxDepth: 0, maxNodes: 5);
        Assert.Equal(0, t.Count);
        t = Sample();
        t.Fit(maxDepth: 3, maxNodes: 0);
        Assert.Equal(0, t.Count);
    }
}
