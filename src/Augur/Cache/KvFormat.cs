using Augur.Tensors;

namespace Augur.Cache;

/// <summary>Element type of a KV cache: F32; F16 for half the memory (keys and values rounded to half precision);
/// Q8_0 for llama.cpp's block_q8_0 cells (34 bytes per 32 values, head size a multiple of 32).</summary>
public enum KvType { F32, F16, Q8_0 }

/// <summary>
/// One KV element type as a cache uses it: the bytes of a row and the cell kernels (write, attend) compiled for it.
/// <see cref="For"/> is the one place a <see cref="KvType"/> turns into code; everything after it is generic.
/// </summary>
abstract class KvFormat
{
    public static KvFormat For(KvType type) => type switch
    {
        KvType.F32 => KvFormat<KvElements.F32>.Instance,
        KvType.F16 => KvFormat<KvElements.F16>.Instance,
        KvType.Q8_0 => KvFormat<KvElements.Q8_0>.Instance,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unknown KV cache type"),
    };

    public abstract int RowBytes(int elements);

    /// <summary>Refuses a head size the format cannot hold as whole blocks, naming both.</summary>
    public abstract void CheckHeadSize(KvType type, int headDim);

    /// <summary>The write and attention kernels for this element type over one cache's cell layout.</summary>
    public abstract CellKernels Kernels<TLayout, TCells>(TLayout layout, BatchPlacement placement)
        where TLayout : class, ICellLayout<TCells> where TCells : struct, ICells;
}

sealed class KvFormat<T> : KvFormat where T : struct, IKvElement
{
    public static readonly KvFormat<T> Instance = new();

    public override int RowBytes(int elements) => T.RowBytes(elements);

    public override void CheckHeadSize(KvType type, int headDim)
    {
        if (headDim < 1 || headDim % T.Block != 0)
            throw new InvalidRequestException($"a {type.ToString().ToLowerInvariant()} KV cache needs a head size that is a multiple of {T.Block}; this model's heads are {headDim} wide");
    }

    public override CellKernels Kernels<TLayout, TCells>(TLayout layout, BatchPlacement placement) =>
        new CellKernels<T, TLayout, TCells>(layout, placement);
}
