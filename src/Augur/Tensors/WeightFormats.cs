
namespace Augur.Tensors;

/// <summary>The weight formats Augur can compute with, by GGUF type.</summary>
public static class WeightFormats
{
    public static WeightFormat? TryGet(GgmlType type) => type switch
    {
        GgmlType.F32 => F32Format.Instance,
        GgmlType.F16 => F16Format.Instance,
        GgmlType.BF16 => BF16Format.Instance,
        GgmlType.Q4_0 => Quantized.Q4_0Format.Instance,
        GgmlType.Q4_1 => Quantized.Q4_1Format.Instance,
        GgmlType.Q5_0 => Quantized.Q5_0Format.Instance,
        GgmlType.Q5_1 => Quantized.Q5_1Format.Instance,
        GgmlType.Q8_0 => Quantized.Q8_0Format.Instance,
        GgmlType.Q8_1 => Quantized.Q8_1Format.Instance,
        GgmlType.Q2_K => Quantized.Q2_KFormat.Instance,
        GgmlType.Q3_K => Quantized.Q3_KFormat.Instance,
        GgmlType.Q4_K => Quantized.Q4_KFormat.Instance,
        GgmlType.Q5_K => Quantized.Q5_KFormat.Instance,
        GgmlType.Q6_K => Quantized.Q6_KFormat.Instance,
        GgmlType.Q8_K => Quantized.Q8_KFormat.Instance,
        _ => null,
    };

    public static bool IsSupported(GgmlType type) => TryGet(type) is not null;
}
