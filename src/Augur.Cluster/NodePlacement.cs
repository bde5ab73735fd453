using Orleans.Placement;
using Orleans.Runtime.Placement;

namespace Augur.Cluster;

/// <summary>Places a grain on the active silo whose name is the grain's key: a node grain lives where its model is.</summary>
[Serializable, GenerateSerializer, Immutable, SuppressReferenceTracking]
public sealed class NodePlacement : PlacementStrategy
{
    public static NodePlacement Instance { get; } = new();
}

[AttributeUsage(AttributeTargets.Class, AllowMultiple = false)]
public sealed class NodePlacementAttribute() : PlacementAttribute(NodePlacement.Instance);

sealed class NodePlacementDirector(IClusterMembershipService membership) : IPlacementDirector
{
    public Task<SiloAddress> OnAddActivation(PlacementStrategy strategy, PlacementTarget target, IPlacementContext context)
    {
        string name = target.GrainIdentity.Key.ToString()!;
        foreach (var member in membership.CurrentSnapshot.Members.Values)
            if (member.Status == SiloStatus.Active && member.Name == name) return Task.FromResult(member.SiloAddress);
        throw new OrleansException($"no active node named '{name}' in the cluster");
    }
}
