using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Augur.Tensors.Quantized.QuantMath;

namespace Augur.Tensors.Quantized;

/// <summary>
/// Q8_0: 32 int8 values and an fp16 scale d (34 bytes, d first); x = d·q.
/// Also the activation format of Q4_0, Q5_0 and Q8_0 weights.
/// </summary>
public sealed unsafe class Q8_0Format : WeightFormat
{
    public const int QK = 32, Bytes = 34;
    public static readonly Q8_0Format Instance = new();
    public override GgmlType Type => GgmlType.Q8_0;
    public override int BlockSize => QK;
    public override int BlockBytes => Bytes;
    public override WeightFormat ActivationFormat => this;

    public override void DequantizeRow(byte* src, float* dst, int n)
    {
        for (int i = 0; i < n / QK; i++, src += Bytes, dst += QK)
        {
            float d = LoadHalf(src);
            sbyte* q = (sbyte*)(src + 2);
            for (int j = 0; j < QK; j++) dst[j] = q[j] * d;
        }
    }

    /// <summary>quantize_row_q8_0_ref: d = amax/127, q = roundf(x/d) (half away from zero).</summary>
    public override void QuantizeRow(float* src, byte* dst, int n)
    {
        for (int i = 0; i < n / QK; i++, src += QK, dst += Bytes)
        {
            float amax = Q8Quant.AbsMax32(src);
            float d = amax / 127;
            float id = d != 0 ? 1.0f / d : 0.0f;
            StoreHalf(dst, d);
            Q8Quant.RoundAway32(src, id, (sbyte*)(dst + 2));
        }
    }

    public override float Dot(byte* row, byte* activations, int n) =>
        HasAvx2 ? DotAvx2(row, activations, n / QK) : DotScalar(row, activations, n);

    internal static float DotScalar(byte* x, byte* y, int n)
    {
        float sum = 0;
        for (int i = 0; i < n / QK; i++, x += Bytes, y += Bytes)
        {
            sbyte* qx = (sbyte*)(x + 2), qy = (sbyte*)(y + 2);
            int sumi = 0;
            for (int j = 0; j < QK; j++) sumi += qx[j] * qy[j];
            sum += sumi * (LoadHalf(x) * LoadHalf(y));
        }
        return sum;
    }

    static float DotAvx2(byte* x, byte* y, int nb)
    {
        float* h = HalfTable;
        // Two accumulators (even and odd blocks) so consecutive FMAs do not wait on each other.
        Vector256<float> acc0 = default, acc1 = default;
        var ones = Vector256.Create((short)1);
        int i = 0;
        for (; i + 2 <= nb; i += 2, x += 2 * Bytes, y += 2 * Bytes)
        {
            acc0 = Block(x, y, acc0, ones, h);
            acc1 = Block(x + Bytes, y + Bytes, acc1, ones, h);
        }
        if (i < nb) acc0 = Block(x, y, acc0, ones, h);
        return Vector256.Sum(acc0 + acc1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Block(byte* x, byte* y, Vector256<float> acc, Vector256<short> ones, float* h)
    {
        var qx = Vector256.Load((sbyte*)(x + 2));
        return Token(Avx2.Sign(qx, qx).AsByte(), qx, y, LoadHalf(h, x), acc, ones, h);
    }

    public override void MultiplyRows(byte* weights, long rowBytes, byte* activations, long activationBytes,
        int tokens, float* y, int yStride, int r0, int r1, int n)
    {
        if (HasAvx2) MultiplyRowsBy4(this, &Dot4, weights, rowBytes, activations, activationBytes, tokens, y, yStride, r0, r1, n);
        else base.MultiplyRows(weights, rowBytes, activations, activationBytes, tokens, y, yStride, r0, r1, n);
    }

    /// <summary>One weight row against four tokens: each weight block is loaded and made unsigned once. Even and odd
    /// blocks go to separate accumulators, as in <see cref="Dot"/>.</summary>
    static void Dot4(byte* x, byte* y0, long stride, int n, float* result)
    {
        float* h = HalfTable;
        byte* y1 = y0 + stride, y2 = y1 + stride, y3 = y2 + stride;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
        var ones = Vector256.Create((short)1);
        for (int i = 0; i < n / QK; i++)
        {
            long o = (long)i * Bytes;
            var qx = Vector256.Load((sbyte*)(x + o + 2));
            var ax = Avx2.Sign(qx, qx).AsByte();
            float dx = LoadHalf(h, x + o);
            if ((i & 1) == 0)
            {
                a0 = Token(ax, qx, y0 + o, dx, a0, ones, h);
                a1 = Token(ax, qx, y1 + o, dx, a1, ones, h);
                a2 = Token(ax, qx, y2 + o, dx, a2, ones, h);
                a3 = Token(ax, qx, y3 + o, dx, a3, ones, h);
            }
            else
            {
                b0 = Token(ax, qx, y0 + o, dx, b0, ones, h);
                b1 = Token(ax, qx, y1 + o, dx, b1, ones, h);
                b2 = Token(ax, qx, y2 + o, dx, b2, ones, h);
                b3 = Token(ax, qx, y3 + o, dx, b3, ones, h);
            }
        }
        result[0] = Vector256.Sum(a0 + b0);
        result[1] = Vector256.Sum(a1 + b1);
        result[2] = Vector256.Sum(a2 + b2);
        result[3] = Vector256.Sum(a3 + b3);
    }

    /// <summary>One weight block (|q| and q, for the sign trick; <paramref name="dx"/> its scale) against one Q8_0
    /// activation block, accumulated. Shared with Q4_0, whose weights reach the same form after unpacking.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    internal static Vector256<float> Token(Vector256<byte> ax, Vector256<sbyte> qx, byte* yb, float dx, Vector256<float> acc, Vector256<short> ones, float* h)
    {
        var sy = Avx2.Sign(Vector256.Load((sbyte*)(yb + 2)), qx);
        var q = Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, sy), ones);
        return Fma.MultiplyAdd(Vector256.Create(dx * LoadHalf(h, yb)), Avx.ConvertToVector256Single(q), acc);
    }
}

/// <summary>
/// Q8_1: 32 int8 values with fp16 d and fp16 s = d·Σq (36 bytes: d, s, qs). The activation format of
/// Q4_1 and Q5_1, whose minimum m then contributes m·s per block without touching the quants.
/// </summary>
public sealed unsafe class Q8_1Format : WeightFormat
{
    public const int QK = 32, Bytes = 36;
    public static readonly Q8_1Format Instance = new();
    public override GgmlType Type => GgmlType.Q8_1;
    public override int BlockSize => QK;
    public override int BlockBytes => Bytes;
    public override WeightFormat ActivationFormat => this;

    public override void DequantizeRow(byte* src, float* dst, int n)
    {
        for (int i = 0; i < n / QK; i++, src += Bytes, dst += QK)
        {
            float d = LoadHalf(src);
            sbyte* q = (sbyte*)(src + 4);
            for (int j = 0; j < QK; j++) dst[j] = q[j] * d;
        }
    }

    /// <summary>quantize_row_q8_1_ref: as Q8_0, plus s = fp16(d·Σq) with the unrounded d.</summary>
    public override void QuantizeRow(float* src, byte* dst, int n)
    {
        for (int i = 0; i < n / QK; i++, src += QK, dst += Bytes)
        {
            float amax = Q8Quant.AbsMax32(src);
            float d = amax / 127;
            float id = d != 0 ? 1.0f / d : 0.0f;
            StoreHalf(dst, d);
            int sum = Q8Quant.RoundAway32(src, id, (sbyte*)(dst + 4));
            StoreHalf(dst + 2, sum * d);
        }
    }

    public override float Dot(byte* row, byte* activations, int n)
    {
        if (!HasAvx2) return DotScalar(row, activations, n);
        float* h = HalfTable;
        var acc = Vector256<float>.Zero;
        for (int i = 0; i < n / QK; i++, row += Bytes, activations += Bytes)
        {
            var q = SumI8Pairs(Vector256.Load((sbyte*)(row + 4)), Vector256.Load((sbyte*)(activations + 4)));
            acc = Fma.MultiplyAdd(Vector256.Create(LoadHalf(h, row) * LoadHalf(h, activations)), Avx.ConvertToVector256Single(q), acc);
        }
        return Vector256.Sum(acc);
    }

    internal static float DotScalar(byte* x, byte* y, int n)
    {
        float sum = 0;
        for (int i = 0; i < n / QK; i++, x += Bytes, y += Bytes)
        {
            sbyte* qx = (sbyte*)(x + 4), qy = (sbyte*)(y + 4);
            int sumi = 0;
            for (int j = 0; j < QK; j++) sumi += qx[j] * qy[j];
            sum += sumi * (LoadHalf(x) * LoadHalf(y));
        }
        return sum;
    }
}

/// <summary>
/// Q8_K: the K-quants' activation format. 256 int8 values with a float d and the sums of each 16 values
/// (292 bytes: d, qs[256], bsums[16]); the sums let a weight's per-block minimum be applied in one multiply.
/// </summary>
public sealed unsafe class Q8_KFormat : WeightFormat
{
    public const int QK = 256, Bytes = 292;
    public static readonly Q8_KFormat Instance = new();
    public override GgmlType Type => GgmlType.Q8_K;
    public override int BlockSize => QK;
    public override int BlockBytes => Bytes;
    public override WeightFormat ActivationFormat => this;

    public override void DequantizeRow(byte* src, float* dst, int n)
    {
        for (int i = 0; i < n / QK; i++, src += Bytes, dst += QK)
        {
            float d = *(float*)src;
            sbyte* q = (sbyte*)(src + 4);
            for (int j = 0; j < QK; j++) dst[j] = d * q[j];
        }
    }

    /// <summary>quantize_row_q8_K_ref: scale from the signed extreme (-127/max), round half to even.</summary>
    public override void QuantizeRow(float* src, byte* dst, int n)
    {
        for (int i = 0; i < n / QK; i++, src += QK, dst += Bytes)
        {
            float max = SignedExtreme(src);
            if (max == 0)
            {
                // ggml leaves bsums unwritten here; zero keeps the block deterministic.
                new Span<byte>(dst, Bytes).Clear();
                continue;
            }
            float iscale = -127f / max;
            sbyte* q = (sbyte*)(dst + 4);
            short* bsums = (short*)(dst + 4 + QK);
            if (Avx2.IsSupported)
            {
                // vroundps rounds half to even, exactly what nearest_int computes in this range.
                var vs = Vector256.Create(iscale);
                var max127 = Vector256.Create(127);
                for (int j = 0; j < QK; j += 16)
                {
                    var a = Vector256.Min(Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(vs * Vector256.Load(src + j))), max127);
                    var b = Vector256.Min(Avx.ConvertToVector256Int32(Avx.RoundToNearestInteger(vs * Vector256.Load(src + j + 8))), max127);
                    var s16 = Vector256.Narrow(a, b);
                    Vector128.Narrow(s16.GetLower(), s16.GetUpper()).Store(q + j);
                    bsums[j / 16] = (short)Vector256.Sum(a + b);
                }
            }
            else
            {
                for (int j = 0; j < QK; j++) q[j] = (sbyte)Math.Min(127, NearestInt(iscale * src[j]));
                for (int j = 0; j < QK / 16; j++)
                {
                    int sum = 0;
                    for (int k = 0; k < 16; k++) sum += q[16 * j + k];
                    bsums[j] = (short)sum;
                }
            }
            *(float*)dst = 1 / iscale;
        }
    }

    /// <summary>The first value of largest magnitude in 256 (0 if all are zero).</summary>
    static float SignedExtreme(float* x)
    {
        if (Avx.IsSupported)
        {
            var abs = Vector256.Create(0x7fffffff).AsSingle();
            var m = Vector256<float>.Zero;
            for (int j = 0; j < QK; j += 8) m = Avx.Max(m, Vector256.Load(x + j) & abs);
            var m4 = Sse.Max(m.GetLower(), m.GetUpper());
            m4 = Sse.Max(m4, Sse.MoveHighToLow(m4, m4));
            float amax = MathF.Max(m4.ToScalar(), m4.GetElement(1));
            if (amax == 0) return 0;
            var target = Vector256.Create(amax);
            for (int j = 0; j < QK; j += 8)
            {
                uint hit = Vector256.Equals(Vector256.Load(x + j) & abs, target).ExtractMostSignificantBits();
                if (hit != 0) return x[j + System.Numerics.BitOperations.TrailingZeroCount(hit)];
            }
            // Not found only if a NaN poisoned the maximum: the scalar scan below skips NaNs as ggml's does.
        }
        float max = 0, amaxScalar = 0;
        for (int j = 0; j < QK; j++)
        {
            float ax = MathF.Abs(x[j]);
            if (ax > amaxScalar) { amaxScalar = ax; max = x[j]; }
        }
        return max;
    }

    public override float Dot(byte* row, byte* activations, int n)
    {
        if (!HasAvx2) return DotScalar(row, activations, n);
        var acc = Vector256<float>.Zero;
        for (int i = 0; i < n / QK; i++, row += Bytes, activations += Bytes)
        {
            var sumi = Vector256<int>.Zero;
            for (int j = 4; j < 4 + QK; j += 32)
                sumi += SumI8Pairs(Vector256.Load((sbyte*)(row + j)), Vector256.Load((sbyte*)(activations + j)));
            acc = Fma.MultiplyAdd(Vector256.Create(*(float*)row * *(float*)activations), Avx.ConvertToVector256Single(sumi), acc);
        }
        return Vector256.Sum(acc);
    }

    internal static float DotScalar(byte* x, byte* y, int n)
    {
        float sum = 0;
        for (int i = 0; i < n / QK; i++, x += Bytes, y += Bytes)
        {
            sbyte* qx = (sbyte*)(x + 4), qy = (sbyte*)(y + 4);
            int sumi = 0;
            for (int j = 0; j < QK; j++) sumi += qx[j] * qy[j];
            sum += sumi * (*(float*)x * *(float*)y);
        }
        return sum;
    }
}

/// <summary>The 32-value steps Q8_0 and Q8_1 quantization share.</summary>
internal static unsafe class Q8Quant
{
    public static float AbsMax32(float* x)
    {
        if (Avx.IsSupported)
        {
            var abs = Vector256.Create(0x7fffffff).AsSingle();
            var m = Avx.Max(Avx.Max(Vector256.Load(x) & abs, Vector256.Load(x + 8) & abs),
                            Avx.Max(Vector256.Load(x + 16) & abs, Vector256.Load(x + 24) & abs));
            var m4 = Sse.Max(m.GetLower(), m.GetUpper());
            m4 = Sse.Max(m4, Sse.MoveHighToLow(m4, m4));
            return MathF.Max(m4.ToScalar(), m4.GetElement(1));
        }
        float amax = 0;
        for (int j = 0; j < 32; j++)
        {
            float a = MathF.Abs(x[j]);
            if (a > amax) amax = a;
        }
        return amax;
    }

    /// <summary>q[j] = roundf(x[j]·id), round half away from zero as C's roundf; returns Σq (Q8_1 needs it).</summary>
    public static int RoundAway32(float* x, float id, sbyte* q)
    {
        if (Avx.IsSupported)
        {
            // trunc(v + copysign(0.49999997, v)) is roundf exactly: the largest float below 0.5 never
            // pushes a value under .5 over the next integer, and a value at .5 always reaches it.
            var vid = Vector256.Create(id);
            var sign = Vector256.Create(unchecked((int)0x80000000)).AsSingle();
            var half = Vector256.Create(0.49999997f);
            var a = Round(Vector256.Load(x) * vid, sign, half);
            var b = Round(Vector256.Load(x + 8) * vid, sign, half);
            var c = Round(Vector256.Load(x + 16) * vid, sign, half);
            var d = Round(Vector256.Load(x + 24) * vid, sign, half);
            Vector256.Narrow(Vector256.Narrow(a, b), Vector256.Narrow(c, d)).Store(q);
            return Vector256.Sum((a + b) + (c + d));
        }
        int sum = 0;
        for (int j = 0; j < 32; j++)
        {
            q[j] = (sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero);
            sum += q[j];
        }
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Round(Vector256<float> v, Vector256<float> sign, Vector256<float> half) =>
        Avx.ConvertToVector256Int32WithTruncation(v + ((v & sign) | half));
}
