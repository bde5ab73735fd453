using Augur.Tensors;

namespace Augur.Cache;

/// <summary>What cache a model's sequences get: the element type, dense or paged, and the paged pool's size.</summary>
public sealed record KvCacheOptions
{
    public KvType Type { get; init; } = KvType.F32;

    /// <summary>One block pool shared by every sequence (<see cref="PagedKvCache"/>) instead of a row per sequence.</summary>
    public bool Paged { get; init; }

    /// <summary>Bytes of the paged pool (every layer's keys and values); default: as many cells as the dense cache
    /// would hold (sequences × capacity), which the OS maps only as blocks are first written.</summary>
    public long? PoolBytes { get; init; }

    /// <summary>The model part of prefix-block hashes (<see cref="PrefixBlockHash.Model(string, long)"/>).</summary>
    public ulong ModelHash { get; init; }

    public static implicit operator KvCacheOptions(KvType type) => new() { Type = type };

    /// <summary>A cache of <paramref name="sequences"/> sequences of up to <paramref name="capacity"/> cells each.</summary>
    public IKvCache Create(int layers, int kvDim, int headDim, int capacity, int sequences)
    {
        if (!Paged) return new KvCache(layers, kvDim, capacity, sequences, Type, headDim);
        int blocks = PoolBytes is { } bytes
            ? PagedKvCache.BlocksFor(bytes, layers, kvDim, Type)
            : (int)Math.Min(int.MaxValue, (long)sequences * ((capacity + Attention.BlockCells - 1) / Attention.BlockCells));
        return new PagedKvCache(layers, kvDim, capacity, sequences, blocks, Type, headDim, ModelHash);
    }
}
