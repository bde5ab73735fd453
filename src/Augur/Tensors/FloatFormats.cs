using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Augur.Tensors;

/// <summary>32-bit float weights: activations stay F32 and the dot product is a plain SIMD dot.</summary>
public sealed unsafe class F32Format : WeightFormat
{
    public static readonly F32Format Instance = new();
    public override GgmlType Type => GgmlType.F32;
    public override int BlockSize => 1;
    public override int BlockBytes => 4;
    public override WeightFormat ActivationFormat => this;

    public override void DequantizeRow(byte* src, float* dst, int n) =>
        new ReadOnlySpan<float>(src, n).CopyTo(new Span<float>(dst, n));

    public override void QuantizeRow(float* src, byte* dst, int n) =>
        new ReadOnlySpan<float>(src, n).CopyTo(new Span<float>(dst, n));

    public override float Dot(byte* row, byte* activations, int n) => Simd.Dot((float*)row, (float*)activations, n);

    public override void MultiplyRows(byte* weights, long rowBytes, byte* activations, long activationBytes,
        int tokens, float* y, int yStride, int r0, int r1, int n)
    {
        int rowStride = (int)(rowBytes / 4), xStride = (int)(activationBytes / 4);
        float* w = (float*)weights, x = (float*)activations;
        int t = 0;
        for (; t + 4 <= tokens; t += 4)
        {
            float* xt = x + (long)t * xStride;
            float* yt = y + (long)t * yStride;
            int r = r0;
            for (; r + 3 <= r1; r += 3) Simd.Tile3x4(w + (long)r * rowStride, rowStride, xt, xStride, n, yt + r, yStride);
            for (; r < r1; r++)
            {
                Simd.Dot4(w + (long)r * rowStride, xt, xStride, n, out float d0, out float d1, out float d2, out float d3);
                yt[r] = d0; yt[yStride + r] = d1; yt[2 * yStride + r] = d2; yt[3 * yStride + r] = d3;
            }
        }
        for (; t + 2 <= tokens; t += 2)
        {
            float* xt = x + (long)t * xStride;
            float* yt = y + (long)t * yStride;
            int r = r0;
            for (; r + 4 <= r1; r += 4) Simd.Tile4x2(w + (long)r * rowStride, rowStride, xt, xStride, n, yt + r, yStride);
            for (; r < r1; r++)
            {
                yt[r] = Simd.Dot(w + (long)r * rowStride, xt, n);
                yt[yStride + r] = Simd.Dot(w + (long)r * rowStride, xt + xStride, n);
            }
        }
        for (; t < tokens; t++) MultiplyRowsOneToken<FloatElements.F32>(weights, rowBytes, x + (long)t * xStride, y + (long)t * yStride, r0, r1, n);
    }

    /// <summary>Rows [r0, r1) of weights stored as <typeparamref name="T"/> times one token, y[r] — read directly, no widened copy.</summary>
    internal static void MultiplyRowsOneToken<T>(byte* weights, long rowBytes, float* x, float* y, int r0, int r1, int n) where T : struct, IFloatElement
    {
        int r = r0;
        // Eight rows share one reduction tree; with a scalar tail per row (n not a multiple of 8) that saves
        // nothing and four rows at a time measured faster.
        if (n % 8 == 0)
            for (; r + 8 <= r1; r += 8) Simd.DotRows8<T>(weights + r * rowBytes, rowBytes, x, n, y + r);
        for (; r + 4 <= r1; r += 4)
            Simd.DotRows4<T>(weights + r * rowBytes, rowBytes, x, n, out y[r], out y[r + 1], out y[r + 2], out y[r + 3]);
        for (; r < r1; r++) y[r] = Simd.Dot<T>(weights + r * rowBytes, x, n);
    }
}

/// <summary>
/// 16-bit float weights. Decoding (one token) reads them directly, eight elements widened in registers as the dot
/// product consumes them; a batch widens a block of rows once per multiply into F32 and reuses it for every token
/// (widening per token made batches compute-bound on conversion). Either way a row's dot with a token is the F32
/// kernel's on the exactly widened row, so results are bit-identical whatever the batch.
/// </summary>
public abstract unsafe class WidenedFloatFormat<T> : WeightFormat where T : struct, IFloatElement
{
    const int RowsPerBlock = 12;
    [ThreadStatic] static float[]? t_rows; // (RowsPerBlock, n) widened rows; grows once per thread

    public override int BlockSize => 1;
    public override int BlockBytes => 2;
    public override WeightFormat ActivationFormat => F32Format.Instance;

    static float* Scratch(int floats)
    {
        // Pinned, so the pointer stays valid while the array is referenced from t_rows.
        if (t_rows is null || t_rows.Length < floats) t_rows = GC.AllocateUninitializedArray<float>(floats, pinned: true);
        return (float*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(t_rows));
    }

    public override float Dot(byte* row, byte* activations, int n) => Simd.Dot<T>(row, (float*)activations, n);

    /// <summary>Widens a row with the same exact conversion the kernels use on the fly.</summary>
    public sealed override void DequantizeRow(byte* src, float* dst, int n)
    {
        int i = 0;
        if (Avx2.IsSupported)
            for (; i + 8 <= n; i += 8) T.Load8(src + i * T.Bytes).Store(dst + i);
        for (; i < n; i++) dst[i] = T.Load(src + i * T.Bytes);
    }

    public override void MultiplyRows(byte* weights, long rowBytes, byte* activations, long activationBytes,
        int tokens, float* y, int yStride, int r0, int r1, int n)
    {
        // One token (decoding): each weight is used once, so it is widened in registers as it is read.
        if (tokens == 1)
        {
            F32Format.MultiplyRowsOneToken<T>(weights, rowBytes, (float*)activations, y, r0, r1, n);
            return;
        }
        float* wide = Scratch(RowsPerBlock * n);
        for (int r = r0; r < r1; r += RowsPerBlock)
        {
            int rows = Math.Min(RowsPerBlock, r1 - r);
            for (int i = 0; i < rows; i++) DequantizeRow(weights + (r + i) * rowBytes, wide + (long)i * n, n);
            F32Format.Instance.MultiplyRows((byte*)wide, 4L * n, activations, activationBytes, tokens, y + r, yStride, 0, rows, n);
        }
    }
}

/// <summary>IEEE half weights.</summary>
public sealed unsafe class F16Format : WidenedFloatFormat<FloatElements.F16>
{
    public static readonly F16Format Instance = new();
    public override GgmlType Type => GgmlType.F16;

    public override void QuantizeRow(float* src, byte* dst, int n) =>
        TensorPrimitives.ConvertToHalf(new ReadOnlySpan<float>(src, n), new Span<Half>(dst, n));
}

/// <summary>bfloat16 weights: the upper half of an F32, so widening is a 16-bit shift.</summary>
public sealed unsafe class BF16Format : WidenedFloatFormat<FloatElements.BF16>
{
    public static readonly BF16Format Instance = new();
    public override GgmlType Type => GgmlType.BF16;

    public override void QuantizeRow(float* src, byte* dst, int n)
    {
        ushort* d = (ushort*)dst;
        for (int i = 0; i < n; i++) d[i] = FloatToBF16(src[i]);
    }

    /// <summary>Round to nearest even, NaN kept quiet: ggml's ggml_compute_fp32_to_bf16.</summary>
    public static ushort FloatToBF16(float f)
    {
        uint u = BitConverter.SingleToUInt32Bits(f);
        if ((u & 0x7fffffff) > 0x7f800000) return (ushort)((u >> 16) | 64);
        return (ushort)((u + (0x7fff + ((u >> 16) & 1))) >> 16);
    }
}
