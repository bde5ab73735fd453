using Augur.Cache;
using Augur.Cluster;

namespace Augur.ClusterTests;

public sealed class PlacementTests
{
    static int[] Tokens(int start, int count) => Enumerable.Range(start, count).ToArray();

    static NodeCandidate Node(string id, int load, int cachedPrefix = 0, int cachedBlocks = 0) => new(id, load, 4, cachedPrefix, cachedBlocks);

    [Fact]
    public void Block_hashes_name_whole_prefixes()
    {
        int[] a = [.. Tokens(0, 48), 7], b = [.. Tokens(0, 32), .. Tokens(100, 16)], c = [99, .. Tokens(1, 47)];
        ulong[] ha = PrefixBlockHash.Chain(a, 16, 0), hb = PrefixBlockHash.Chain(b, 16, 0), hc = PrefixBlockHash.Chain(c, 16, 0);
        Assert.Equal(3, ha.Length); // the partial last block has no hash
        Assert.Equal(ha[..2], hb[..2]);
        Assert.NotEqual(ha[2], hb[2]);
        // The same tokens after a different first block are a different prefix: every later hash differs too.
        Assert.All(Enumerable.Range(1, 2), i => Assert.NotEqual(ha[i], hc[i]));
        Assert.Equal(ha, PrefixBlockHash.Chain(a, 16, 0)); // stable (nodes and the gateway compare them across processes)
        // Another model's blocks or another block size never match.
        Assert.Empty(PrefixBlockHash.Chain(a, 16, 1).Intersect(ha));
        Assert.Empty(PrefixBlockHash.Chain(a, 8, 0).Intersect(ha));
    }

    [Fact]
    public void Cache_aware_placement_takes_the_longest_cached_prefix_while_load_is_balanced()
    {
        const int prompt = 70;
        var nodes = new[] { Node("a", 2, 16), Node("b", 3, 48), Node("c", 0) };
        var policy = new CacheAwarePlacement();
        Assert.Equal("b", policy.Choose(nodes, prompt).Id);
        // A prefix below the threshold is not worth the queue: the least-loaded node takes it.
        Assert.Equal("c", new CacheAwarePlacement { CacheThreshold = 0.9 }.Choose(nodes, prompt).Id);
        // Nothing cached anywhere: the least-loaded node, and of equally loaded ones the one holding least.
        Assert.Equal("y", policy.Choose([Node("x", 1, 0, 9), Node("y", 1, 0, 2), Node("z", 3)], prompt).Id);
        // Overloaded: b is 6 requests and more than 1.5× busier than c, so load wins.
        var busy = new[] { Node("b", 6, 64), Node("c", 0) };
        Assert.Equal("c", policy.Choose(busy, prompt).Id);
        Assert.Equal("b", new CacheAwarePlacement { BalanceAbsThreshold = 8 }.Choose(busy, prompt).Id);
    }

    [Fact]
    public void Round_robin_cycles_and_least_loaded_takes_the_idlest()
    {
        var nodes = new[] { Node("b", 1), Node("a", 5), Node("c", 3) };
        var rr = new RoundRobinPlacement();
        Assert.Equal(["a", "b", "c", "a"], Enumerable.Range(0, 4).Select(_ => rr.Choose(nodes, 10).Id));
        Assert.Equal("b", new LeastLoadedPlacement().Choose(nodes, 10).Id);
        Assert.IsType<RoundRobinPlacement>(PlacementPolicies.Create("round-robin"));
        Assert.Throws<InvalidRequestException>(() => PlacementPolicies.Create("random"));
    }
}
