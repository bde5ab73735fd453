namespace Augur.Cache;

/// <summary>The paged cache's block pool cannot hold what was asked (a batch, a kept branch); nothing changed. A
/// scheduler catches it to let the request wait until running ones free blocks.</summary>
public sealed class KvPoolExhaustedException(int needed, int available, int blocks)
    : InvalidRequestException($"KV pool exhausted: {needed} more blocks needed, {available} of {blocks} are available")
{
    public int Needed { get; } = needed;
}
