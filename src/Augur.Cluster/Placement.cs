namespace Augur.Cluster;

/// <summary>A node as placement sees it: its load (requests running and waiting) and the blocks it holds.</summary>
public sealed record NodeCandidate(string Id, int Load, int Parallel, IReadOnlySet<ulong> Blocks);

/// <summary>Chooses the node a request goes to. <paramref name="promptBlocks"/>: the prompt's block hashes
/// (<see cref="PrefixBlocks.Hashes"/>); <paramref name="nodes"/> is never empty.</summary>
public interface IPlacementPolicy
{
    NodeCandidate Choose(IReadOnlyList<NodeCandidate> nodes, ReadOnlySpan<ulong> promptBlocks);
}

/// <summary>Each request to the next node in turn (by id).</summary>
public sealed class RoundRobinPlacement : IPlacementPolicy
{
    int _next = -1;

    public NodeCandidate Choose(IReadOnlyList<NodeCandidate> nodes, ReadOnlySpan<ulong> promptBlocks)
    {
        var ordered = nodes.OrderBy(n => n.Id, StringComparer.Ordinal).ToList();
        return ordered[(int)((uint)Interlocked.Increment(ref _next) % (uint)ordered.Count)];
    }
}

/// <summary>The node with the fewest requests per slot (ties: fewest cached blocks, then id).</summary>
public sealed class LeastLoadedPlacement : IPlacementPolicy
{
    public NodeCandidate Choose(IReadOnlyList<NodeCandidate> nodes, ReadOnlySpan<ulong> promptBlocks) => Least(nodes);

    internal static NodeCandidate Least(IEnumerable<NodeCandidate> nodes) => nodes
        .OrderBy(n => (double)n.Load / n.Parallel).ThenBy(n => n.Blocks.Count).ThenBy(n => n.Id, StringComparer.Ordinal).First();
}

/// <summary>
/// SGLang's cache-aware router: while the cluster is balanced, the node holding the longest cached prefix of the
/// prompt takes it if that prefix covers at least <see cref="CacheThreshold"/> of the prompt's blocks; otherwise the
/// least-loaded node does (it then holds that prefix for the next requests that share it). When the busiest and
/// idlest nodes differ by more than <see cref="BalanceAbsThreshold"/> requests and by a factor above
/// <see cref="BalanceRelThreshold"/>, load wins over cache.
/// </summary>
public sealed class CacheAwarePlacement : IPlacementPolicy
{
    public double CacheThreshold { get; init; } = 0.5;
    public int BalanceAbsThreshold { get; init; } = 4;
    public double BalanceRelThreshold { get; init; } = 1.5;

    public NodeCandidate Choose(IReadOnlyList<NodeCandidate> nodes, ReadOnlySpan<ulong> promptBlocks)
    {
        int most = nodes.Max(n => n.Load), least = nodes.Min(n => n.Load);
        bool imbalanced = most - least > BalanceAbsThreshold && most > least * BalanceRelThreshold;
        if (imbalanced || promptBlocks.Length == 0) return LeastLoadedPlacement.Least(nodes);
        NodeCandidate? best = null;
        int bestMatch = 0;
        foreach (var node in nodes.OrderBy(n => n.Load).ThenBy(n => n.Id, StringComparer.Ordinal))
        {
            int matched = PrefixBlocks.Matched(promptBlocks, node.Blocks);
            if (matched > bestMatch) (best, bestMatch) = (node, matched);
        }
        return best is not null && bestMatch >= CacheThreshold * promptBlocks.Length ? best : LeastLoadedPlacement.Least(nodes);
    }
}

/// <summary>The policies by the names <c>--placement</c> takes.</summary>
public static class PlacementPolicies
{
    static readonly Dictionary<string, Func<IPlacementPolicy>> Named = new(StringComparer.OrdinalIgnoreCase)
    {
        ["cache-aware"] = () => new CacheAwarePlacement(),
        ["round-robin"] = () => new RoundRobinPlacement(),
        ["least-loaded"] = () => new LeastLoadedPlacement(),
    };

    public static IReadOnlyCollection<string> Names => Named.Keys;

    public static IPlacementPolicy Create(string name) => Named.TryGetValue(name, out var make) ? make()
        : throw new InvalidRequestException($"unknown placement policy '{SafeText.Quote(name)}' (expected one of: {string.Join(", ", Named.Keys)})");
}
