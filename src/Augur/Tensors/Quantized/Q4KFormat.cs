using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Augur.Tensors.Quantized.QuantMath;

namespace Augur.Tensors.Quantized;

/// <summary>
/// Q4_K: super-blocks of 256 = 8 sub-blocks of 32, x = d·sc·q - dmin·m with 6-bit sc, m per sub-block
/// (144 bytes: fp16 d, fp16 dmin, 12 bytes of packed scales/mins, 128 bytes of nibbles). Each 32-byte
/// group of qs holds two sub-blocks: the first in its low nibbles, the second in its high nibbles.
/// </summary>
[SkipLocalsInit]
public sealed unsafe class Q4_KFormat : WeightFormat
{
    public const int QK = KQuant.QK, Bytes = 144;
    public static readonly Q4_KFormat Instance = new();
    public override GgmlType Type => GgmlType.Q4_K;
    public override int BlockSize => QK;
    public override int BlockBytes => Bytes;
    public override WeightFormat ActivationFormat => Q8_KFormat.Instance;

    public override void DequantizeRow(byte* src, float* dst, int n)
    {
        for (int i = 0; i < n / QK; i++, src += Bytes)
        {
            float d = LoadHalf(src), min = LoadHalf(src + 2);
            byte* q = src + 16;
            for (int j = 0; j < 8; j += 2, q += 32)
            {
                KQuant.ScaleMin(j, src + 4, out int sc1, out int m1);
                KQuant.ScaleMin(j + 1, src + 4, out int sc2, out int m2);
                float d1 = d * sc1, dm1 = min * m1, d2 = d * sc2, dm2 = min * m2;
                for (int l = 0; l < 32; l++) *dst++ = d1 * (q[l] & 0xF) - dm1;
                for (int l = 0; l < 32; l++) *dst++ = d2 * (q[l] >> 4) - dm2;
            }
        }
    }

    /// <summary>quantize_row_q4_K_ref: <see cref="KQuant.QuantizeAsymmetric"/> with 15 levels and a 21-step
    /// scale search, then the codes packed two to a byte.</summary>
    public override void QuantizeRow(float* src, byte* dst, int n)
    {
        byte* L = stackalloc byte[QK];
        for (int i = 0; i < n / QK; i++, src += QK, dst += Bytes)
        {
            KQuant.QuantizeAsymmetric(src, dst, L, 15, -1f, 20);
            byte* q = dst + 16;
            for (int j = 0; j < QK; j += 64, q += 32)
                for (int l = 0; l < 32; l++) q[l] = (byte)(L[j + l] | (L[j + l + 32] << 4));
        }
    }

    public override float Dot(byte* row, byte* activations, int n) =>
        HasAvx2 ? DotAvx2(row, activations, n / QK) : DotScalar(row, activations, n);

    internal static float DotScalar(byte* x, byte* y, int n)
    {
        float sum = 0;
        for (int i = 0; i < n / QK; i++, x += Bytes, y += Q8_KFormat.Bytes)
        {
            sbyte* q8 = (sbyte*)(y + 4);
            short* bsums = (short*)(y + 4 + QK);
            int sumi = 0, summ = 0;
            for (int j = 0; j < 8; j++)
            {
                KQuant.ScaleMin(j, x + 4, out int sc, out int m);
                byte* q = x + 16 + 32 * (j / 2);
                int shift = 4 * (j % 2), s = 0;
                for (int l = 0; l < 32; l++) s += ((q[l] >> shift) & 0xF) * q8[32 * j + l];
                sumi += sc * s;
                summ += m * (bsums[2 * j] + bsums[2 * j + 1]);
            }
            float yd = *(float*)y;
            sum += yd * LoadHalf(x) * sumi - yd * LoadHalf(x + 2) * summ;
        }
        return sum;
    }

    static float DotAvx2(byte* x, byte* y, int nb)
    {
        var acc = Vector256<float>.Zero;
        var accM = Vector128<float>.Zero;
        for (int i = 0; i < nb; i++, x += Bytes, y += Q8_KFormat.Bytes)
        {
            KQuant.ScalesAndMins(x, out var scales, out var mins);
            accM = KQuant.MinTerm(y, LoadHalf(x + 2), mins, accM);
            sbyte* q8 = (sbyte*)(y + 4);
            var sumi = Vector256<int>.Zero;
            Step(x, 0, q8, scales, ref sumi);
            Step(x, 1, q8, scales, ref sumi);
            Step(x, 2, q8, scales, ref sumi);
            Step(x, 3, q8, scales, ref sumi);
            acc = Fma.MultiplyAdd(Vector256.Create(*(float*)y * LoadHalf(x)), Avx.ConvertToVector256Single(sumi), acc);
        }
        return Vector256.Sum(acc) + Vector128.Sum(accM);
    }

    public override void MultiplyRows(byte* weights, long rowBytes, byte* activations, long activationBytes,
        int tokens, float* y, int yStride, int r0, int r1, int n)
    {
        if (HasAvx2) MultiplyRowsBy4(this, &Dot4, weights, rowBytes, activations, activationBytes, tokens, y, yStride, r0, r1, n);
        else base.MultiplyRows(weights, rowBytes, activations, activationBytes, tokens, y, yStride, r0, r1, n);
    }

    /// <summary>One weight row against four tokens: scales are unpacked and nibbles split once per super-block.</summary>
    static void Dot4(byte* x, byte* y0, long stride, int n, float* result)
    {
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        Vector128<float> accM0 = default, accM1 = default, accM2 = default, accM3 = default;
        for (int i = 0; i < n / QK; i++, x += Bytes, y0 += Q8_KFormat.Bytes)
        {
            byte* y1 = y0 + stride, y2 = y1 + stride, y3 = y2 + stride;
            KQuant.ScalesAndMins(x, out var scales, out var mins);
            float dx = LoadHalf(x), dminx = LoadHalf(x + 2);
            accM0 = KQuant.MinTerm(y0, dminx, mins, accM0);
            accM1 = KQuant.MinTerm(y1, dminx, mins, accM1);
            accM2 = KQuant.MinTerm(y2, dminx, mins, accM2);
            accM3 = KQuant.MinTerm(y3, dminx, mins, accM3);
            Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default;
            Step4(x, 0, y0, y1, y2, y3, scales, ref s0, ref s1, ref s2, ref s3);
            Step4(x, 1, y0, y1, y2, y3, scales, ref s0, ref s1, ref s2, ref s3);
            Step4(x, 2, y0, y1, y2, y3, scales, ref s0, ref s1, ref s2, ref s3);
            Step4(x, 3, y0, y1, y2, y3, scales, ref s0, ref s1, ref s2, ref s3);
            acc0 = Fma.MultiplyAdd(Vector256.Create(*(float*)y0 * dx), Avx.ConvertToVector256Single(s0), acc0);
            acc1 = Fma.MultiplyAdd(Vector256.Create(*(float*)y1 * dx), Avx.ConvertToVector256Single(s1), acc1);
            acc2 = Fma.MultiplyAdd(Vector256.Create(*(float*)y2 * dx), Avx.ConvertToVector256Single(s2), acc2);
            acc3 = Fma.MultiplyAdd(Vector256.Create(*(float*)y3 * dx), Avx.ConvertToVector256Single(s3), acc3);
        }
        result[0] = Vector256.Sum(acc0) + Vector128.Sum(accM0);
        result[1] = Vector256.Sum(acc1) + Vector128.Sum(accM1);
        result[2] = Vector256.Sum(acc2) + Vector128.Sum(accM2);
        result[3] = Vector256.Sum(acc3) + Vector128.Sum(accM3);
    }

    /// <summary>Values 64j..64j+63 (sub-blocks 2j and 2j + 1: the low and high nibbles of qs[32j..32j+31]) against
    /// one token, scaled, added into eight int32 sums. Called with constant j so the scale shuffles fold.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Step(byte* x, int j, sbyte* q8, Vector256<byte> scales, ref Vector256<int> sumi)
    {
        Split(x + 16 + 32 * j, out var lo, out var hi);
        sumi += KQuant.Pair(lo, hi, q8 + 64 * j, scales, j);
    }

    /// <summary><see cref="Step"/> for four tokens, splitting the nibbles once.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Step4(byte* x, int j, byte* y0, byte* y1, byte* y2, byte* y3, Vector256<byte> scales,
        ref Vector256<int> s0, ref Vector256<int> s1, ref Vector256<int> s2, ref Vector256<int> s3)
    {
        Split(x + 16 + 32 * j, out var lo, out var hi);
        int o = 4 + 64 * j;
        s0 += KQuant.Pair(lo, hi, (sbyte*)(y0 + o), scales, j);
        s1 += KQuant.Pair(lo, hi, (sbyte*)(y1 + o), scales, j);
        s2 += KQuant.Pair(lo, hi, (sbyte*)(y2 + o), scales, j);
        s3 += KQuant.Pair(lo, hi, (sbyte*)(y3 + o), scales, j);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Split(byte* q4, out Vector256<byte> lo, out Vector256<byte> hi)
    {
        var bits = Vector256.Load(q4);
        lo = bits & Vector256.Create((byte)0x0F);
        hi = Vector256.ShiftRightLogical(bits.AsUInt16(), 4).AsByte() & Vector256.Create((byte)0x0F);
    }
}
