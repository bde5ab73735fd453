using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Augur.Tensors.Quantized.QuantMath;

namespace Augur.Tensors.Quantized;

// ggml's original 32-value block formats. In every one, byte j of qs holds element j in its low nibble
// and element j + 16 in its high nibble; Q5's fifth bits are the 32-bit little-endian word qh, bit j for element j.

/// <summary>Q4_0: fp16 d, 16 bytes of nibbles (18 bytes); x = d·(q - 8).</summary>
public sealed unsafe class Q4_0Format : WeightFormat
{
    public const int QK = 32, Bytes = 18;
    public static readonly Q4_0Format Instance = new();
    public override GgmlType Type => GgmlType.Q4_0;
    public override int BlockSize => QK;
    public override int BlockBytes => Bytes;
    public override WeightFormat ActivationFormat => Q8_0Format.Instance;

    public override void DequantizeRow(byte* src, float* dst, int n)
    {
        for (int i = 0; i < n / QK; i++, src += Bytes, dst += QK)
        {
            float d = LoadHalf(src);
            byte* qs = src + 2;
            for (int j = 0; j < QK / 2; j++)
            {
                dst[j] = ((qs[j] & 0x0F) - 8) * d;
                dst[j + QK / 2] = ((qs[j] >> 4) - 8) * d;
            }
        }
    }

    /// <summary>quantize_row_q4_0_ref: d = max/-8 with max the signed extreme, q = min(15, (int)(x/d + 8.5)).</summary>
    public override void QuantizeRow(float* src, byte* dst, int n)
    {
        for (int i = 0; i < n / QK; i++, src += QK, dst += Bytes)
        {
            float max = SignedExtreme(src);
            float d = max / -8;
            float id = d != 0 ? 1.0f / d : 0.0f;
            StoreHalf(dst, d);
            for (int j = 0; j < QK / 2; j++)
            {
                int x0 = Math.Min(15, (int)(src[j] * id + 8.5f));
                int x1 = Math.Min(15, (int)(src[j + QK / 2] * id + 8.5f));
                dst[2 + j] = (byte)(x0 | (x1 << 4));
            }
        }
    }

    /// <summary>The value of largest magnitude, first one on ties (the block's signed extreme).</summary>
    internal static float SignedExtreme(float* x)
    {
        float amax = 0, max = 0;
        for (int j = 0; j < 32; j++)
        {
            if (amax < MathF.Abs(x[j])) { amax = MathF.Abs(x[j]); max = x[j]; }
        }
        return max;
    }

    public override float Dot(byte* row, byte* activations, int n)
    {
        if (!HasAvx2) return DotScalar(row, activations, n);
        float* h = HalfTable;
        // Two accumulators (even and odd blocks) so consecutive FMAs do not wait on each other.
        Vector256<float> acc0 = default, acc1 = default;
        int nb = n / QK, i = 0;
        for (; i + 2 <= nb; i += 2)
        {
            acc0 = Block(row + i * Bytes, activations + i * Q8_0Format.Bytes, acc0, h);
            acc1 = Block(row + (i + 1) * Bytes, activations + (i + 1) * Q8_0Format.Bytes, acc1, h);
        }
        if (i < nb) acc0 = Block(row + i * Bytes, activations + i * Q8_0Format.Bytes, acc0, h);
        return Vector256.Sum(acc0 + acc1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Block(byte* x, byte* y, Vector256<float> acc, float* h)
    {
        var qx = Unpack(x);
        return Q8_0Format.Token(Avx2.Sign(qx, qx).AsByte(), qx, y, LoadHalf(h, x), acc, Vector256.Create((short)1), h);
    }

    /// <summary>The block's 32 values q - 8 as int8.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<sbyte> Unpack(byte* x) => Nibbles32(x + 2).AsSByte() - Vector256.Create((sbyte)8);

    public override void MultiplyRows(byte* weights, long rowBytes, byte* activations, long activationBytes,
        int tokens, float* y, int yStride, int r0, int r1, int n)
    {
        if (HasAvx2) MultiplyRowsBy4(this, &Dot4, weights, rowBytes, activations, activationBytes, tokens, y, yStride, r0, r1, n);
        else base.MultiplyRows(weights, rowBytes, activations, activationBytes, tokens, y, yStride, r0, r1, n);
    }

    /// <summary>One weight row against four tokens: each block is unpacked once. Even and odd blocks go to separate
    /// accumulators, as in <see cref="Dot"/>.</summary>
    static void Dot4(byte* x, byte* y0, long stride, int n, float* result)
    {
        float* h = HalfTable;
        byte* y1 = y0 + stride, y2 = y1 + stride, y3 = y2 + stride;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
        var ones = Vector256.Create((short)1);
        int nb = n / QK;
        for (int i = 0; i < nb; i++)
        {
            byte* xb = x + i * Bytes;
            long o = (long)i * Q8_0Format.Bytes;
            var qx = Unpack(xb);
            var ax = Avx2.Sign(qx, qx).AsByte();
            float dx = LoadHalf(h, xb);
            if ((i & 1) == 0)
            {
                a0 = Q8_0Format.Token(ax, qx, y0 + o, dx, a0, ones, h);
                a1 = Q8_0Format.Token(ax, qx, y1 + o, dx, a1, ones, h);
                a2 = Q8_0Format.Token(ax, qx, y2 + o, dx, a2, ones, h);
                a3 = Q8_0Format.Token(ax, qx, y3 + o, dx, a3, ones, h);
            }
            else
            {
                b0 = Q8_0Format.Token(ax, qx, y0 + o, dx, b0, ones, h);
                b1 = Q8_0Format.Token(ax, qx, y1 + o, dx, b1, ones, h);
                b2 = Q8_0Format.Token(ax, qx, y2 + o, dx, b2, ones, h);
                b3 = Q8_0Format.Token(ax, qx, y3 + o, dx, b3, ones, h);
            }
        }
        result[0] = Vector256.Sum(a0 + b0);
        result[1] = Vector256.Sum(a1 + b1);
        result[2] = Vector256.Sum(a2 + b2);
        result[3] = Vector256.Sum(a3 + b3);
    }

    internal static float DotScalar(byte* x, byte* y, int n)
    {
        float sum = 0;
        for (int i = 0; i < n / QK; i++, x += Bytes, y += Q8_0Format.Bytes)
        {
            sbyte* qy = (sbyte*)(y + 2);
            int sumi = 0;
            for (int j = 0; j < QK / 2; j++)
                sumi += ((x[2 + j] & 0x0F) - 8) * qy[j] + ((x[2 + j] >> 4) - 8) * qy[j + QK / 2];
            sum += sumi * (LoadHalf(x) * LoadHalf(y));
        }
        return sum;
    }
}

/// <summary>Q4_1: fp16 d, fp16 m, 16 bytes of nibbles (20 bytes); x = d·q + m.</summary>
public sealed unsafe class Q4_1Format : WeightFormat
{
    public const int QK = 32, Bytes = 20;
    public static readonly Q4_1Format Instance = new();
    public override GgmlType Type => GgmlType.Q4_1;
    public override int BlockSize => QK;
    public override int BlockBytes => Bytes;
    public override WeightFormat ActivationFormat => Q8_1Format.Instance;

    public override void DequantizeRow(byte* src, float* dst, int n)
    {
        for (int i = 0; i < n / QK; i++, src += Bytes, dst += QK)
        {
            float d = LoadHalf(src), m = LoadHalf(src + 2);
            byte* qs = src + 4;
            for (int j = 0; j < QK / 2; j++)
            {
                dst[j] = (qs[j] & 0x0F) * d + m;
                dst[j + QK / 2] = (qs[j] >> 4) * d + m;
            }
        }
    }

    /// <summary>quantize_row_q4_1_ref: d = (max - min)/15, m = min, q = min(15, (int)((x - min)/d + 0.5)).</summary>
    public override void QuantizeRow(float* src, byte* dst, int n)
    {
        for (int i = 0; i < n / QK; i++, src += QK, dst += Bytes)
        {
            MinMax(src, out float min, out float max);
            float d = (max - min) / 15;
            float id = d != 0 ? 1.0f / d : 0.0f;
            StoreHalf(dst, d);
            StoreHalf(dst + 2, min);
            for (int j = 0; j < QK / 2; j++)
            {
                int x0 = Math.Min(15, (int)((src[j] - min) * id + 0.5f));
                int x1 = Math.Min(15, (int)((src[j + QK / 2] - min) * id + 0.5f));
                dst[4 + j] = (byte)(x0 | (x1 << 4));
            }
        }
    }

    internal static void MinMax(float* x, out float min, out float max)
    {
        min = float.MaxValue;
        max = -float.MaxValue;
        for (int j = 0; j < 32; j++)
        {
            if (x[j] < min) min = x[j];
            if (x[j] > max) max = x[j];
        }
    }

    public override float Dot(byte* row, byte* activations, int n)
    {
        if (!HasAvx2) return DotScalar(row, activations, n);
        float* h = HalfTable;
        // The minimum meets the activations only through their sum: m·s per block, kept in ms0/ms1.
        Vector256<float> acc0 = default, acc1 = default;
        float ms0 = 0, ms1 = 0;
        int nb = n / QK, i = 0;
        for (; i + 2 <= nb; i += 2)
        {
            acc0 = Block(row + i * Bytes, activations + i * Q8_1Format.Bytes, acc0, ref ms0, h);
            acc1 = Block(row + (i + 1) * Bytes, activations + (i + 1) * Q8_1Format.Bytes, acc1, ref ms1, h);
        }
        if (i < nb) acc0 = Block(row + i * Bytes, activations + i * Q8_1Format.Bytes, acc0, ref ms0, h);
        return Vector256.Sum(acc0 + acc1) + (ms0 + ms1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Block(byte* x, byte* y, Vector256<float> acc, ref float ms, float* h)
    {
        ms += LoadHalf(h, x + 2) * LoadHalf(h, y + 2);
        var q = SumU8I8Pairs(Nibbles32(x + 4), Vector256.Load((sbyte*)(y + 4)));
        return Fma.MultiplyAdd(Vector256.Create(LoadHalf(h, x) * LoadHalf(h, y)), Avx.ConvertToVector256Single(q), acc);
    }

    internal static float DotScalar(byte* x, byte* y, int n)
    {
        float sum = 0;
        for (int i = 0; i < n / QK; i++, x += Bytes, y += Q8_1Format.Bytes)
        {
            sbyte* qy = (sbyte*)(y + 4);
            int sumi = 0;
            for (int j = 0; j < QK / 2; j++)
                sumi += (x[4 + j] & 0x0F) * qy[j] + (x[4 + j] >> 4) * qy[j + QK / 2];
            sum += (LoadHalf(x) * LoadHalf(y)) * sumi + LoadHalf(x + 2) * LoadHalf(y + 2);
        }
        return sum;
    }
}

/// <summary>Q5_0: fp16 d, 32-bit qh, 16 bytes of nibbles (22 bytes); x = d·(q - 16) with q = nibble | bit·16.</summary>
public sealed unsafe class Q5_0Format : WeightFormat
{
    public const int QK = 32, Bytes = 22;
    public static readonly Q5_0Format Instance = new();
    public override GgmlType Type => GgmlType.Q5_0;
    public override int BlockSize => QK;
    public override int BlockBytes => Bytes;
    public override WeightFormat ActivationFormat => Q8_0Format.Instance;

    public override void DequantizeRow(byte* src, float* dst, int n)
    {
        for (int i = 0; i < n / QK; i++, src += Bytes, dst += QK)
        {
            float d = LoadHalf(src);
            uint qh = Unsafe.ReadUnaligned<uint>(src + 2);
            byte* qs = src + 6;
            for (int j = 0; j < QK / 2; j++)
            {
                int xh0 = (int)((qh >> j) << 4) & 0x10;
                int xh1 = (int)(qh >> (j + 12)) & 0x10;
                dst[j] = (((qs[j] & 0x0F) | xh0) - 16) * d;
                dst[j + QK / 2] = (((qs[j] >> 4) | xh1) - 16) * d;
            }
        }
    }

    /// <summary>quantize_row_q5_0_ref: d = max/-16, q = min(31, (int)(x/d + 16.5)).</summary>
    public override void QuantizeRow(float* src, byte* dst, int n)
    {
        for (int i = 0; i < n / QK; i++, src += QK, dst += Bytes)
        {
            float max = Q4_0Format.SignedExtreme(src);
            float d = max / -16;
            float id = d != 0 ? 1.0f / d : 0.0f;
            StoreHalf(dst, d);
            uint qh = 0;
            for (int j = 0; j < QK / 2; j++)
            {
                int x0 = Math.Min(31, (int)(src[j] * id + 16.5f));
                int x1 = Math.Min(31, (int)(src[j + QK / 2] * id + 16.5f));
                dst[6 + j] = (byte)((x0 & 0x0F) | ((x1 & 0x0F) << 4));
                qh |= (uint)((x0 & 0x10) >> 4) << j;
                qh |= (uint)((x1 & 0x10) >> 4) << (j + QK / 2);
            }
            Unsafe.WriteUnaligned(dst + 2, qh);
        }
    }

    public override float Dot(byte* row, byte* activations, int n)
    {
        if (!HasAvx2) return DotScalar(row, activations, n);
        float* h = HalfTable;
        Vector256<float> acc0 = default, acc1 = default;
        int nb = n / QK, i = 0;
        for (; i + 2 <= nb; i += 2)
        {
            acc0 = Block(row + i * Bytes, activations + i * Q8_0Format.Bytes, acc0, h);
            acc1 = Block(row + (i + 1) * Bytes, activations + (i + 1) * Q8_0Format.Bytes, acc1, h);
        }
        if (i < nb) acc0 = Block(row + i * Bytes, activations + i * Q8_0Format.Bytes, acc0, h);
        return Vector256.Sum(acc0 + acc1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Block(byte* x, byte* y, Vector256<float> acc, float* h)
    {
        // Lanes without the fifth bit get 0xF0 ORed in: as int8 that is nibble - 16, with it nibble + 16 - 16.
        var qx = Nibbles32(x + 6) | Avx2.AndNot(BytesFromBits32(x + 2), Vector256.Create((byte)0xF0));
        var q = SumI8Pairs(qx.AsSByte(), Vector256.Load((sbyte*)(y + 2)));
        return Fma.MultiplyAdd(Vector256.Create(LoadHalf(h, x) * LoadHalf(h, y)), Avx.ConvertToVector256Single(q), acc);
    }

    internal static float DotScalar(byte* x, byte* y, int n)
    {
        float sum = 0;
        for (int i = 0; i < n / QK; i++, x += Bytes, y += Q8_0Format.Bytes)
        {
            uint qh = Unsafe.ReadUnaligned<uint>(x + 2);
            sbyte* qy = (sbyte*)(y + 2);
            int sumi = 0;
            for (int j = 0; j < QK / 2; j++)
            {
                int x0 = ((x[6 + j] & 0x0F) | (int)(((qh >> j) << 4) & 0x10)) - 16;
                int x1 = ((x[6 + j] >> 4) | (int)((qh >> (j + 12)) & 0x10)) - 16;
                sumi += x0 * qy[j] + x1 * qy[j + QK / 2];
            }
            sum += sumi * (LoadHalf(x) * LoadHalf(y));
        }
        return sum;
    }
}

/// <summary>Q5_1: fp16 d, fp16 m, 32-bit qh, 16 bytes of nibbles (24 bytes); x = d·q + m with q = nibble | bit·16.</summary>
public sealed unsafe class Q5_1Format : WeightFormat
{
    public const int QK = 32, Bytes = 24;
    public static readonly Q5_1Format Instance = new();
    public override GgmlType Type => GgmlType.Q5_1;
    public override int BlockSize => QK;
    public override int BlockBytes => Bytes;
    public override WeightFormat ActivationFormat => Q8_1Format.Instance;

    public override void DequantizeRow(byte* src, float* dst, int n)
    {
        for (int i = 0; i < n / QK; i++, src += Bytes, dst += QK)
        {
            float d = LoadHalf(src), m = LoadHalf(src + 2);
            uint qh = Unsafe.ReadUnaligned<uint>(src + 4);
            byte* qs = src + 8;
            for (int j = 0; j < QK / 2; j++)
            {
                int xh0 = (int)((qh >> j) << 4) & 0x10;
                int xh1 = (int)(qh >> (j + 12)) & 0x10;
                dst[j] = ((qs[j] & 0x0F) | xh0) * d + m;
                dst[j + QK / 2] = ((qs[j] >> 4) | xh1) * d + m;
            }
        }
    }

    /// <summary>quantize_row_q5_1_ref: d = (max - min)/31, m = min, q = (int)((x - min)/d + 0.5).</summary>
    public override void QuantizeRow(float* src, byte* dst, int n)
    {
        for (int i = 0; i < n / QK; i++, src += QK, dst += Bytes)
        {
            Q4_1Format.MinMax(src, out float min, out float max);
            float d = (max - min) / 31;
            float id = d != 0 ? 1.0f / d : 0.0f;
            StoreHalf(dst, d);
            StoreHalf(dst + 2, min);
            uint qh = 0;
            for (int j = 0; j < QK / 2; j++)
            {
                int x0 = (byte)((src[j] - min) * id + 0.5f);
                int x1 = (byte)((src[j + QK / 2] - min) * id + 0.5f);
                dst[8 + j] = (byte)((x0 & 0x0F) | ((x1 & 0x0F) << 4));
                qh |= (uint)((x0 & 0x10) >> 4) << j;
                qh |= (uint)((x1 & 0x10) >> 4) << (j + QK / 2);
            }
            Unsafe.WriteUnaligned(dst + 4, qh);
        }
    }

    public override float Dot(byte* row, byte* activations, int n)
    {
        if (!HasAvx2) return DotScalar(row, activations, n);
        float* h = HalfTable;
        Vector256<float> acc0 = default, acc1 = default;
        float ms0 = 0, ms1 = 0;
        int nb = n / QK, i = 0;
        for (; i + 2 <= nb; i += 2)
        {
            acc0 = Block(row + i * Bytes, activations + i * Q8_1Format.Bytes, acc0, ref ms0, h);
            acc1 = Block(row + (i + 1) * Bytes, activations + (i + 1) * Q8_1Format.Bytes, acc1, ref ms1, h);
        }
        if (i < nb) acc0 = Block(row + i * Bytes, activations + i * Q8_1Format.Bytes, acc0, ref ms0, h);
        return Vector256.Sum(acc0 + acc1) + (ms0 + ms1);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Block(byte* x, byte* y, Vector256<float> acc, ref float ms, float* h)
    {
        ms += LoadHalf(h, x + 2) * LoadHalf(h, y + 2);
        var qx = Nibbles32(x + 8) | (BytesFromBits32(x + 4) & Vector256.Create((byte)0x10));
        var q = SumU8I8Pairs(qx, Vector256.Load((sbyte*)(y + 4)));
        return Fma.MultiplyAdd(Vector256.Create(LoadHalf(h, x) * LoadHalf(h, y)), Avx.ConvertToVector256Single(q), acc);
    }

    internal static float DotScalar(byte* x, byte* y, int n)
    {
        float sum = 0;
        for (int i = 0; i < n / QK; i++, x += Bytes, y += Q8_1Format.Bytes)
        {
            uint qh = Unsafe.ReadUnaligned<uint>(x + 4);
            sbyte* qy = (sbyte*)(y + 4);
            int sumi = 0;
            for (int j = 0; j < QK / 2; j++)
            {
                int x0 = (x[8 + j] & 0x0F) | (int)(((qh >> j) << 4) & 0x10);
                int x1 = (x[8 + j] >> 4) | (int)((qh >> (j + 12)) & 0x10);
                sumi += x0 * qy[j] + x1 * qy[j + QK / 2];
            }
            sum += (LoadHalf(x) * LoadHalf(y)) * sumi + LoadHalf(x + 2) * LoadHalf(y + 2);
        }
        return sum;
    }
}
