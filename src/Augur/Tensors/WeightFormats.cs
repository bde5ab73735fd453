using Augur.Gguf;

namespace Augur.Tensors;

/// <summary>The weight formats Augur can compute with, by GGUF type.</summary>
public static class WeightFormats
{
    public static WeightFormat? TryGet(GgmlType type) => type switch
    {
        GgmlType.F32 => F32Format.Instance,
        GgmlType.F16 => F16Format.Instance,
        GgmlType.BF16 => BF16Format.Instance,
        _ => null,
    };

    public static bool IsSupported(GgmlType type) => TryGet(type) is not null;
}
