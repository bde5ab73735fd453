namespace Augur.Cluster;

/// <summary>A node as placement sees it for one request: its load (requests running and waiting), how many leading
/// tokens of the request's prompt it holds in cache, and how many blocks it holds in all.</summary>
public sealed record NodeCandidate(string Id, int Load, int Parallel, int CachedPrefix, int CachedBlocks);

/// <summary>Chooses the node a request of <paramref name="promptTokens"/> tokens goes to; <paramref name="nodes"/> is never empty.</summary>
public interface IPlacementPolicy
{
    NodeCandidate Choose(IReadOnlyList<NodeCandidate> nodes, int promptTokens);
}

/// <summary>Each request to the next node in turn (by id).</summary>
public sealed class RoundRobinPlacement : IPlacementPolicy
{
    int _next = -1;

    public NodeCandidate Choose(IReadOnlyList<NodeCandidate> nodes, int promptTokens)
    {
        var ordered = nodes.OrderBy(n => n.Id, StringComparer.Ordinal).ToList();
        return ordered[(int)((uint)Interlocked.Increment(ref _next) % (uint)ordered.Count)];
    }
}

/// <summary>The node with the fewest requests per slot (ties: fewest cached blocks, then id).</summary>
public sealed class LeastLoadedPlacement : IPlacementPolicy
{
    public NodeCandidate Choose(IReadOnlyList<NodeCandidate> nodes, int promptTokens) => Least(nodes);

    internal static NodeCandidate Least(IEnumerable<NodeCandidate> nodes) => nodes
        .OrderBy(n => (double)n.Load / n.Parallel).ThenBy(n => n.CachedBlocks).ThenBy(n => n.Id, StringComparer.Ordinal).First();
}

/// <summary>
/// SGLang's cache-aware router: while the cluster is balanced, the node holding the longest cached prefix of the
/// prompt takes it if that prefix covers at least <see cref="CacheThreshold"/> of the prompt; otherwise the
/// least-loaded node does (it then holds that prefix for the next requests that share it). When the busiest and
/// idlest nodes differ by more than <see cref="BalanceAbsThreshold"/> requests and by a factor above
/// <see cref="BalanceRelThreshold"/>, load wins over cache.
/// </summary>
public sealed class CacheAwarePlacement : IPlacementPolicy
{
    public double CacheThreshold { get; init; } = 0.5;
    public int BalanceAbsThreshold { get; init; } = 4;
    public double BalanceRelThreshold { get; init; } = 1.5;

    public NodeCandidate Choose(IReadOnlyList<NodeCandidate> nodes, int promptTokens)
    {
        int most = nodes.Max(n => n.Load), least = nodes.Min(n => n.Load);
        bool imbalanced = most - least > BalanceAbsThreshold && most > least * BalanceRelThreshold;
        if (imbalanced) return LeastLoadedPlacement.Least(nodes);
        var best = nodes.OrderByDescending(n => n.CachedPrefix).ThenBy(n => n.Load).ThenBy(n => n.Id, StringComparer.Ordinal).First();
        return best.CachedPrefix > 0 && best.CachedPrefix >= CacheThreshold * promptTokens ? best : LeastLoadedPlacement.Least(nodes);
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
