using System.Numerics.Tensors;
using System.Runtime.Intrinsics;
using Augur.Gguf;

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
        for (; t < tokens; t++)
        {
            float* xt = x + (long)t * xStride;
            float* yt = y + (long)t * yStride;
            int r = r0;
            for (; r + 4 <= r1; r += 4)
            {
                Simd.DotRows4(w + (long)r * rowStride, rowStride, xt, n, out yt[r], out yt[r + 1], out yt[r + 2], out yt[r + 3]);
            }
            for (; r < r1; r++) yt[r] = Simd.Dot(w + (long)r * rowStride, xt, n);
        }
    }
}

/// <summary>
/// 16-bit float weights. Decode (one to three tokens) widens 8 weights at a time in registers inside the dot
/// product, so each weight byte is read once from memory and never written back; batches of four or more
/// widen a block of rows once into a scratch buffer and run the F32 register tiles on it for every token.
/// Widening is exact, and every path sums a (row, token) pair in the F32 kernels' order, so results are
/// bit-identical whatever the batch.
/// </summary>
public abstract unsafe class WidenedFloatFormat : WeightFormat
{
    const int RowsPerBlock = 12;
    [ThreadStatic] static float[]? t_rows; // (RowsPerBlock, n) widened rows; grows once per thread

    public override int BlockSize => 1;
    public override int BlockBytes => 2;
    public override WeightFormat ActivationFormat => F32Format.Instance;

    /// <summary>Eight 16-bit weights as floats.</summary>
    protected abstract Vector256<float> Widen8(ushort* src);

    /// <summary>One 16-bit weight as a float.</summary>
    protected abstract float Widen1(ushort bits);

    static float* Scratch(int floats)
    {
        // Pinned, so the pointer stays valid while the array is referenced from t_rows.
        if (t_rows is null || t_rows.Length < floats) t_rows = GC.AllocateUninitializedArray<float>(floats, pinned: true);
        return (float*)System.Runtime.CompilerServices.Unsafe.AsPointer(ref System.Runtime.InteropServices.MemoryMarshal.GetArrayDataReference(t_rows));
    }

    public override float Dot(byte* row, byte* activations, int n)
    {
        ushort* w = (ushort*)row;
        float* x = (float*)activations;
        int m = Vector256.IsHardwareAccelerated ? n & ~7 : 0;
        var acc = Vector256<float>.Zero;
        for (int i = 0; i < m; i += 8) acc = Vector256.FusedMultiplyAdd(Widen8(w + i), Vector256.Load(x + i), acc);
        float sum = Vector256.Sum(acc);
        for (int i = m; i < n; i++) sum += Widen1(w[i]) * x[i];
        return sum;
    }

    /// <summary>Four rows dotted with one token, widening in registers (the decode kernel).</summary>
    void DotRows4(ushort* w, long rowStride, float* x, int n, float* y)
    {
        int m = Vector256.IsHardwareAccelerated ? n & ~7 : 0;
        ushort* w1 = w + rowStride, w2 = w1 + rowStride, w3 = w2 + rowStride;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int i = 0; i < m; i += 8)
        {
            var xv = Vector256.Load(x + i);
            a0 = Vector256.FusedMultiplyAdd(Widen8(w + i), xv, a0);
            a1 = Vector256.FusedMultiplyAdd(Widen8(w1 + i), xv, a1);
            a2 = Vector256.FusedMultiplyAdd(Widen8(w2 + i), xv, a2);
            a3 = Vector256.FusedMultiplyAdd(Widen8(w3 + i), xv, a3);
        }
        float s0 = Vector256.Sum(a0), s1 = Vector256.Sum(a1), s2 = Vector256.Sum(a2), s3 = Vector256.Sum(a3);
        for (int i = m; i < n; i++)
        {
            s0 += Widen1(w[i]) * x[i]; s1 += Widen1(w1[i]) * x[i]; s2 += Widen1(w2[i]) * x[i]; s3 += Widen1(w3[i]) * x[i];
        }
        y[0] = s0; y[1] = s1; y[2] = s2; y[3] = s3;
    }

    public override void MultiplyRows(byte* weights, long rowBytes, byte* activations, long activationBytes,
        int tokens, float* y, int yStride, int r0, int r1, int n)
    {
        if (tokens < 4)
        {
            for (int t = 0; t < tokens; t++)
            {
                float* x = (float*)(activations + t * activationBytes);
                float* yt = y + (long)t * yStride;
                int r = r0;
                for (; r + 4 <= r1; r += 4) DotRows4((ushort*)(weights + r * rowBytes), rowBytes / 2, x, n, yt + r);
                for (; r < r1; r++) yt[r] = Dot(weights + r * rowBytes, (byte*)x, n);
            }
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
public sealed unsafe class F16Format : WidenedFloatFormat
{
    public static readonly F16Format Instance = new();
    public override GgmlType Type => GgmlType.F16;

    public override void DequantizeRow(byte* src, float* dst, int n) =>
        TensorPrimitives.ConvertToSingle(new ReadOnlySpan<Half>(src, n), new Span<float>(dst, n));

    public override void QuantizeRow(float* src, byte* dst, int n) =>
        TensorPrimitives.ConvertToHalf(new ReadOnlySpan<float>(src, n), new Span<Half>(dst, n));

    /// <summary>
    /// Exact half → float in integer SIMD (.NET exposes no F16C conversion): exponent and mantissa shifted into
    /// float position and multiplied by 2^112 re-bias normals and subnormals alike; infinities and NaNs (exponent
    /// all ones) get the float's all-ones exponent instead; the sign is copied.
    /// </summary>
    protected override Vector256<float> Widen8(ushort* src)
    {
        var h = Vector256.WidenLower(Vector128.Load(src).ToVector256Unsafe());
        var magnitude = (h & Vector256.Create(0x7fffu)) << 13;
        var scaled = magnitude.AsSingle() * Vector256.Create(BitConverter.UInt32BitsToSingle(0x77800000u)); // × 2^112
        var special = Vector256.Equals(h & Vector256.Create(0x7c00u), Vector256.Create(0x7c00u));
        var bits = Vector256.ConditionalSelect(special, magnitude | Vector256.Create(0x7f800000u), scaled.AsUInt32());
        return (bits | ((h & Vector256.Create(0x8000u)) << 16)).AsSingle();
    }

    protected override float Widen1(ushort bits) => (float)BitConverter.UInt16BitsToHalf(bits);
}

/// <summary>bfloat16 weights: the upper half of an F32, so widening is a 16-bit shift.</summary>
public sealed unsafe class BF16Format : WidenedFloatFormat
{
    public static readonly BF16Format Instance = new();
    public override GgmlType Type => GgmlType.BF16;

    public override void DequantizeRow(byte* src, float* dst, int n)
    {
        ushort* s = (ushort*)src;
        int i = 0;
        if (Vector256.IsHardwareAccelerated)
            for (; i + 8 <= n; i += 8) Widen8(s + i).Store(dst + i);
        for (; i < n; i++) dst[i] = Widen1(s[i]);
    }

    protected override Vector256<float> Widen8(ushort* src) =>
        (Vector256.WidenLower(Vector128.Load(src).ToVector256Unsafe()) << 16).AsSingle();

    protected override float Widen1(ushort bits) => BitConverter.Int32BitsToSingle(bits << 16);

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
