using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Augur.Tensors.Quantized.QuantMath;

namespace Augur.Tensors.Quantized;

/// <summary>
/// Q5_K: Q4_K plus a fifth bit per value (176 bytes: fp16 d, fp16 dmin, 12 bytes of scales/mins, qh[32], qs[128]).
/// Bit 2j of qh[l] belongs to value l of sub-block 2j (low nibbles), bit 2j + 1 to value l of sub-block 2j + 1.
/// </summary>
[SkipLocalsInit]
public sealed unsafe class Q5_KFormat : WeightFormat
{
    public const int QK = KQuant.QK, Bytes = 176;
    public static readonly Q5_KFormat Instance = new();
    public override GgmlType Type => GgmlType.Q5_K;
    public override int BlockSize => QK;
    public override int BlockBytes => Bytes;
    public override WeightFormat ActivationFormat => Q8_KFormat.Instance;

    public override void DequantizeRow(byte* src, float* dst, int n)
    {
        for (int i = 0; i < n / QK; i++, src += Bytes)
        {
            float d = LoadHalf(src), min = LoadHalf(src + 2);
            byte* qh = src + 16, ql = src + 48;
            for (int j = 0; j < 8; j += 2, ql += 32)
            {
                KQuant.ScaleMin(j, src + 4, out int sc1, out int m1);
                KQuant.ScaleMin(j + 1, src + 4, out int sc2, out int m2);
                float d1 = d * sc1, dm1 = min * m1, d2 = d * sc2, dm2 = min * m2;
                int u1 = 1 << j, u2 = 2 << j;
                for (int l = 0; l < 32; l++) *dst++ = d1 * ((ql[l] & 0xF) + ((qh[l] & u1) != 0 ? 16 : 0)) - dm1;
                for (int l = 0; l < 32; l++) *dst++ = d2 * ((ql[l] >> 4) + ((qh[l] & u2) != 0 ? 16 : 0)) - dm2;
            }
        }
    }

    /// <summary>quantize_row_q5_K_ref: <see cref="KQuant.QuantizeAsymmetric"/> with 31 levels and a 16-step
    /// scale search, then the fifth bits split off into qh.</summary>
    public override void QuantizeRow(float* src, byte* dst, int n)
    {
        byte* L = stackalloc byte[QK];
        for (int i = 0; i < n / QK; i++, src += QK, dst += Bytes)
        {
            KQuant.QuantizeAsymmetric(src, dst, L, 31, -0.5f, 15);
            byte* qh = dst + 16, ql = dst + 48;
            new Span<byte>(qh, 32).Clear();
            byte m1 = 1, m2 = 2;
            for (int j = 0; j < QK; j += 64, ql += 32, m1 <<= 2, m2 <<= 2)
            {
                for (int l = 0; l < 32; l++)
                {
                    int l1 = L[j + l], l2 = L[j + l + 32];
                    if (l1 > 15) { l1 -= 16; qh[l] |= m1; }
                    if (l2 > 15) { l2 -= 16; qh[l] |= m2; }
                    ql[l] = (byte)(l1 | (l2 << 4));
                }
            }
        }
    }

    public override float Dot(byte* row, byte* activations, int n)
    {
        if (!HasAvx2) return DotScalar(row, activations, n);
        var acc = Vector256<float>.Zero;
        var accM = Vector128<float>.Zero;
        for (int i = 0; i < n / QK; i++, row += Bytes, activations += Q8_KFormat.Bytes)
        {
            KQuant.ScalesAndMins(row, out var scales, out var mins);
            accM = KQuant.MinTerm(activations, LoadHalf(row + 2), mins, accM);
            var hbits = Vector256.Load(row + 16);
            sbyte* q8 = (sbyte*)(activations + 4);
            var sumi = Vector256<int>.Zero;
            Split(row, 0, ref hbits, out var lo, out var hi);
            sumi += KQuant.Pair(lo, hi, q8, scales, 0);
            Split(row, 1, ref hbits, out lo, out hi);
            sumi += KQuant.Pair(lo, hi, q8 + 64, scales, 1);
            Split(row, 2, ref hbits, out lo, out hi);
            sumi += KQuant.Pair(lo, hi, q8 + 128, scales, 2);
            Split(row, 3, ref hbits, out lo, out hi);
            sumi += KQuant.Pair(lo, hi, q8 + 192, scales, 3);
            acc = Fma.MultiplyAdd(Vector256.Create(*(float*)activations * LoadHalf(row)), Avx.ConvertToVector256Single(sumi), acc);
        }
        return Vector256.Sum(acc) + Vector128.Sum(accM);
    }

    public override void MultiplyRows(byte* weights, long rowBytes, byte* activations, long activationBytes,
        int tokens, float* y, int yStride, int r0, int r1, int n)
    {
        if (HasAvx2) MultiplyRowsBy4(this, &Dot4, weights, rowBytes, activations, activationBytes, tokens, y, yStride, r0, r1, n);
        else base.MultiplyRows(weights, rowBytes, activations, activationBytes, tokens, y, yStride, r0, r1, n);
    }

    /// <summary>One weight row against four tokens: the five-bit values are assembled once per super-block.</summary>
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
            var hbits = Vector256.Load(x + 16);
            Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default;
            Step4(x, 0, ref hbits, y0, y1, y2, y3, scales, ref s0, ref s1, ref s2, ref s3);
            Step4(x, 1, ref hbits, y0, y1, y2, y3, scales, ref s0, ref s1, ref s2, ref s3);
            Step4(x, 2, ref hbits, y0, y1, y2, y3, scales, ref s0, ref s1, ref s2, ref s3);
            Step4(x, 3, ref hbits, y0, y1, y2, y3, scales, ref s0, ref s1, ref s2, ref s3);
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

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Step4(byte* x, int j, ref Vector256<byte> hbits, byte* y0, byte* y1, byte* y2, byte* y3, Vector256<byte> scales,
        ref Vector256<int> s0, ref Vector256<int> s1, ref Vector256<int> s2, ref Vector256<int> s3)
    {
        Split(x, j, ref hbits, out var lo, out var hi);
        int o = 4 + 64 * j;
        s0 += KQuant.Pair(lo, hi, (sbyte*)(y0 + o), scales, j);
        s1 += KQuant.Pair(lo, hi, (sbyte*)(y1 + o), scales, j);
        s2 += KQuant.Pair(lo, hi, (sbyte*)(y2 + o), scales, j);
        s3 += KQuant.Pair(lo, hi, (sbyte*)(y3 + o), scales, j);
    }

    /// <summary>The five-bit values of sub-blocks 2j (lo) and 2j + 1 (hi): nibbles of qs[32j..32j+31] plus bits 2j
    /// and 2j + 1 of qh. The fifth bits are consumed a plane at a time, shifting <paramref name="hbits"/> right by one
    /// after each; 16-bit shifts let the neighbouring byte's bits in at the top, but seven shifts never bring them to
    /// bit 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Split(byte* x, int j, ref Vector256<byte> hbits, out Vector256<byte> lo, out Vector256<byte> hi)
    {
        var m4 = Vector256.Create((byte)0x0F);
        var one = Vector256.Create((byte)1);
        var bits = Vector256.Load(x + 48 + 32 * j);
        lo = (bits & m4) | Vector256.ShiftLeft((hbits & one).AsUInt16(), 4).AsByte();
        hbits = Vector256.ShiftRightLogical(hbits.AsUInt16(), 1).AsByte();
        hi = (Vector256.ShiftRightLogical(bits.AsUInt16(), 4).AsByte() & m4) | Vector256.ShiftLeft((hbits & one).AsUInt16(), 4).AsByte();
        hbits = Vector256.ShiftRightLogical(hbits.AsUInt16(), 1).AsByte();
    }

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
                byte* ql = x + 48 + 32 * (j / 2);
                int shift = 4 * (j % 2), s = 0;
                for (int l = 0; l < 32; l++)
                    s += (((ql[l] >> shift) & 0xF) | (((x[16 + l] >> j) & 1) << 4)) * q8[32 * j + l];
                sumi += sc * s;
                summ += m * (bsums[2 * j] + bsums[2 * j + 1]);
            }
            float yd = *(float*)y;
            sum += yd * LoadHalf(x) * sumi - yd * LoadHalf(x + 2) * summ;
        }
        return sum;
    }
}

/// <summary>
/// Q6_K: 16 sub-blocks of 16 with signed 8-bit scales, x = d·sc·(q - 32) (210 bytes: ql[128], qh[64],
/// scales[16], fp16 d). Per 128 values: ql byte l holds values l (low nibble) and l + 64 (high), ql byte
/// l + 32 values l + 32 and l + 96; qh byte l holds the top two bits of l, l + 32, l + 64, l + 96.
/// </summary>
[SkipLocalsInit]
public sealed unsafe class Q6_KFormat : WeightFormat
{
    public const int QK = KQuant.QK, Bytes = 210;
    public static readonly Q6_KFormat Instance = new();
    public override GgmlType Type => GgmlType.Q6_K;
    public override int BlockSize => QK;
    public override int BlockBytes => Bytes;
    public override WeightFormat ActivationFormat => Q8_KFormat.Instance;

    public override void DequantizeRow(byte* src, float* dst, int n)
    {
        for (int i = 0; i < n / QK; i++, src += Bytes)
        {
            float d = LoadHalf(src + 208);
            byte* ql = src, qh = src + 128;
            sbyte* sc = (sbyte*)(src + 192);
            for (int c = 0; c < 2; c++, dst += 128, ql += 64, qh += 32, sc += 8)
            {
                for (int l = 0; l < 32; l++)
                {
                    int s = l / 16;
                    int q1 = ((ql[l] & 0xF) | ((qh[l] & 3) << 4)) - 32;
                    int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
                    int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
                    int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
                    dst[l] = d * sc[s] * q1;
                    dst[l + 32] = d * sc[s + 2] * q2;
                    dst[l + 64] = d * sc[s + 4] * q3;
                    dst[l + 96] = d * sc[s + 6] * q4;
                }
            }
        }
    }

    /// <summary>quantize_row_q6_K_ref: make_qx_quants per sub-block, 8-bit scales against the signed
    /// extreme scale (-128/max), then requantization with the stored scales.</summary>
    public override void QuantizeRow(float* src, byte* dst, int n)
    {
        sbyte* L = stackalloc sbyte[QK];
        float* scales = stackalloc float[16];
        for (int i = 0; i < n / QK; i++, src += QK, dst += Bytes)
        {
            float maxScale = 0, maxAbsScale = 0;
            for (int ib = 0; ib < 16; ib++)
            {
                float scale = KQuant.MakeQxQuants(16, 32, src + 16 * ib, L + 16 * ib);
                scales[ib] = scale;
                if (MathF.Abs(scale) > maxAbsScale)
                {
                    maxAbsScale = MathF.Abs(scale);
                    maxScale = scale;
                }
            }
            if (maxAbsScale < KQuant.GroupMaxEps)
            {
                new Span<byte>(dst, Bytes).Clear();
                continue;
            }
            float iscale = -128f / maxScale;
            StoreHalf(dst + 208, 1 / iscale);
            sbyte* sc = (sbyte*)(dst + 192);
            for (int ib = 0; ib < 16; ib++) sc[ib] = (sbyte)Math.Min(127, NearestInt(iscale * scales[ib]));
            float d0 = LoadHalf(dst + 208);
            for (int j = 0; j < 16; j++)
            {
                float d = d0 * sc[j];
                if (d == 0) continue;
                for (int ii = 0; ii < 16; ii++)
                    L[16 * j + ii] = (sbyte)(Math.Max(-32, Math.Min(31, NearestInt(src[16 * j + ii] / d))) + 32);
            }
            byte* ql = dst, qh = dst + 128;
            for (int j = 0; j < QK; j += 128, ql += 64, qh += 32)
            {
                for (int l = 0; l < 32; l++)
                {
                    int a = L[j + l], b = L[j + l + 32], c = L[j + l + 64], e = L[j + l + 96];
                    ql[l] = (byte)((a & 0xF) | ((c & 0xF) << 4));
                    ql[l + 32] = (byte)((b & 0xF) | ((e & 0xF) << 4));
                    qh[l] = (byte)((a >> 4) | ((b >> 4) << 2) | ((c >> 4) << 4) | ((e >> 4) << 6));
                }
            }
        }
    }

    public override float Dot(byte* row, byte* activations, int n)
    {
        if (!HasAvx2) return DotScalar(row, activations, n);
        var acc = Vector256<float>.Zero;
        for (int i = 0; i < n / QK; i++, row += Bytes, activations += Q8_KFormat.Bytes)
        {
            var scales = Vector128.Load((sbyte*)(row + 192));
            var sumi = Vector256<int>.Zero;
            for (int c = 0; c < 2; c++)
            {
                Unpack(row, c, out var q0, out var q1, out var q2, out var q3);
                sumi += Half128(q0, q1, q2, q3, (sbyte*)(activations + 4 + 128 * c), HalfScales(scales, c));
            }
            acc = Fma.MultiplyAdd(Vector256.Create(*(float*)activations * LoadHalf(row + 208)), Avx.ConvertToVector256Single(sumi), acc);
        }
        return Vector256.Sum(acc);
    }

    public override void MultiplyRows(byte* weights, long rowBytes, byte* activations, long activationBytes,
        int tokens, float* y, int yStride, int r0, int r1, int n)
    {
        if (HasAvx2) MultiplyRowsBy4(this, &Dot4, weights, rowBytes, activations, activationBytes, tokens, y, yStride, r0, r1, n);
        else base.MultiplyRows(weights, rowBytes, activations, activationBytes, tokens, y, yStride, r0, r1, n);
    }

    /// <summary>One weight row against four tokens: each half super-block's six-bit values are assembled once.</summary>
    static void Dot4(byte* x, byte* y0, long stride, int n, float* result)
    {
        Vector256<float> acc0 = default, acc1 = default, acc2 = default, acc3 = default;
        for (int i = 0; i < n / QK; i++, x += Bytes, y0 += Q8_KFormat.Bytes)
        {
            byte* y1 = y0 + stride, y2 = y1 + stride, y3 = y2 + stride;
            var scales = Vector128.Load((sbyte*)(x + 192));
            Vector256<int> s0 = default, s1 = default, s2 = default, s3 = default;
            for (int c = 0; c < 2; c++)
            {
                Unpack(x, c, out var q0, out var q1, out var q2, out var q3);
                var sc = HalfScales(scales, c);
                int o = 4 + 128 * c;
                s0 += Half128(q0, q1, q2, q3, (sbyte*)(y0 + o), sc);
                s1 += Half128(q0, q1, q2, q3, (sbyte*)(y1 + o), sc);
                s2 += Half128(q0, q1, q2, q3, (sbyte*)(y2 + o), sc);
                s3 += Half128(q0, q1, q2, q3, (sbyte*)(y3 + o), sc);
            }
            float dx = LoadHalf(x + 208);
            acc0 = Fma.MultiplyAdd(Vector256.Create(*(float*)y0 * dx), Avx.ConvertToVector256Single(s0), acc0);
            acc1 = Fma.MultiplyAdd(Vector256.Create(*(float*)y1 * dx), Avx.ConvertToVector256Single(s1), acc1);
            acc2 = Fma.MultiplyAdd(Vector256.Create(*(float*)y2 * dx), Avx.ConvertToVector256Single(s2), acc2);
            acc3 = Fma.MultiplyAdd(Vector256.Create(*(float*)y3 * dx), Avx.ConvertToVector256Single(s3), acc3);
        }
        result[0] = Vector256.Sum(acc0);
        result[1] = Vector256.Sum(acc1);
        result[2] = Vector256.Sum(acc2);
        result[3] = Vector256.Sum(acc3);
    }

    /// <summary>The 128 six-bit values of half c as four vectors of 32 (values 0-31, 32-63, 64-95, 96-127).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static void Unpack(byte* x, int c, out Vector256<byte> q0, out Vector256<byte> q1, out Vector256<byte> q2, out Vector256<byte> q3)
    {
        var m4 = Vector256.Create((byte)0x0F);
        var m2 = Vector256.Create((byte)3);
        var bits1 = Vector256.Load(x + 64 * c);
        var bits2 = Vector256.Load(x + 64 * c + 32);
        var bitsH = Vector256.Load(x + 128 + 32 * c).AsUInt16();
        // 16-bit shifts are safe: each field is masked to its own byte after shifting.
        q0 = (bits1 & m4) | Vector256.ShiftLeft((bitsH.AsByte() & m2).AsUInt16(), 4).AsByte();
        q1 = (bits2 & m4) | Vector256.ShiftLeft((Vector256.ShiftRightLogical(bitsH, 2).AsByte() & m2).AsUInt16(), 4).AsByte();
        q2 = (Vector256.ShiftRightLogical(bits1.AsUInt16(), 4).AsByte() & m4)
           | Vector256.ShiftLeft((Vector256.ShiftRightLogical(bitsH, 4).AsByte() & m2).AsUInt16(), 4).AsByte();
        q3 = (Vector256.ShiftRightLogical(bits2.AsUInt16(), 4).AsByte() & m4)
           | Vector256.ShiftLeft((Vector256.ShiftRightLogical(bitsH, 6).AsByte() & m2).AsUInt16(), 4).AsByte();
    }

    /// <summary>The scales of half c in bytes 0..7 (the second half's are shifted down so shuffle masks stay constant).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<sbyte> HalfScales(Vector128<sbyte> scales, int c) =>
        c == 0 ? scales : Sse2.ShiftRightLogical128BitLane(scales.AsByte(), 8).AsSByte();

    /// <summary>Half a super-block against its 128 activations, as eight int32 partial sums.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Half128(Vector256<byte> q0, Vector256<byte> q1, Vector256<byte> q2, Vector256<byte> q3, sbyte* q8, Vector128<sbyte> sc) =>
        Group(q0, q8, sc, 0) + Group(q1, q8 + 32, sc, 1) + Group(q2, q8 + 64, sc, 2) + Group(q3, q8 + 96, sc, 3);

    /// <summary>32 six-bit values (two sub-blocks) against their activations: q·y - 32·y in 16 bits, then scaled.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Group(Vector256<byte> q, sbyte* q8, Vector128<sbyte> scales, int k)
    {
        var y = Vector256.Load(q8);
        var p = Avx2.MultiplyAddAdjacent(q, y) - Avx2.MultiplyAddAdjacent(Vector256.Create((byte)32), y);
        return Avx2.MultiplyAddAdjacent(KQuant.PairScales(scales, k), p);
    }

    internal static float DotScalar(byte* x, byte* y, int n)
    {
        float sum = 0;
        for (int i = 0; i < n / QK; i++, x += Bytes, y += Q8_KFormat.Bytes)
        {
            sbyte* q8 = (sbyte*)(y + 4);
            sbyte* sc = (sbyte*)(x + 192);
            int sumi = 0;
            for (int c = 0; c < 2; c++)
            {
                byte* ql = x + 64 * c, qh = x + 128 + 32 * c;
                for (int k = 0; k < 4; k++)
                {
                    // Group k of this half: nibble plane k % 2 of ql bytes 32·(k & 1).., top bits at shift 2k.
                    int s0 = 0, s1 = 0;
                    for (int l = 0; l < 32; l++)
                    {
                        int q = ((ql[l + 32 * (k & 1)] >> (4 * (k >> 1))) & 0xF) | (((qh[l] >> (2 * k)) & 3) << 4);
                        int p = (q - 32) * q8[128 * c + 32 * k + l];
                        if (l < 16) s0 += p; else s1 += p;
                    }
                    sumi += sc[8 * c + 2 * k] * s0 + sc[8 * c + 2 * k + 1] * s1;
                }
            }
            sum += *(float*)y * LoadHalf(x + 208) * sumi;
        }
        return sum;
    }
}

/// <summary>
/// Q2_K: 16 sub-blocks of 16, x = d·sc·q - dmin·m with 4-bit sc (low nibble) and m (high nibble) per sub-block
/// (84 bytes: scales[16], qs[64], fp16 d, fp16 dmin); 2-bit codes packed as in <see cref="KQuant.Pack2Bit"/>.
/// </summary>
[SkipLocalsInit]
public sealed unsafe class Q2_KFormat : WeightFormat
{
    public const int QK = KQuant.QK, Bytes = 84;
    public static readonly Q2_KFormat Instance = new();
    public override GgmlType Type => GgmlType.Q2_K;
    public override int BlockSize => QK;
    public override int BlockBytes => Bytes;
    public override WeightFormat ActivationFormat => Q8_KFormat.Instance;

    public override void DequantizeRow(byte* src, float* dst, int n)
    {
        for (int i = 0; i < n / QK; i++, src += Bytes)
        {
            float d = LoadHalf(src + 80), min = LoadHalf(src + 82);
            byte* q = src + 16;
            int s = 0;
            for (int c = 0; c < 2; c++, q += 32)
            {
                for (int shift = 0; shift < 8; shift += 2)
                {
                    for (int half = 0; half < 32; half += 16)
                    {
                        byte sc = src[s++];
                        float dl = d * (sc & 0xF), ml = min * (sc >> 4);
                        for (int l = 0; l < 16; l++) *dst++ = dl * ((q[l + half] >> shift) & 3) - ml;
                    }
                }
            }
        }
    }

    /// <summary>quantize_row_q2_K_ref: make_qkx2_quants per sub-block (weights |x|, absolute error), 4-bit
    /// scales and mins against their maxima, then requantization.</summary>
    public override void QuantizeRow(float* src, byte* dst, int n)
    {
        byte* L = stackalloc byte[QK];
        byte* laux = stackalloc byte[16];
        float* weights = stackalloc float[16];
        float* mins = stackalloc float[16];
        float* scales = stackalloc float[16];
        for (int i = 0; i < n / QK; i++, src += QK, dst += Bytes)
        {
            float maxScale = 0, maxMin = 0;
            for (int j = 0; j < 16; j++)
            {
                for (int l = 0; l < 16; l++) weights[l] = MathF.Abs(src[16 * j + l]);
                scales[j] = KQuant.MakeQkx2Quants(16, 3, src + 16 * j, weights, L + 16 * j, out mins[j], laux, -0.5f, 0.1f, 15, true);
                if (scales[j] > maxScale) maxScale = scales[j];
                if (mins[j] > maxMin) maxMin = mins[j];
            }
            if (maxScale > 0)
            {
                float iscale = 15f / maxScale;
                for (int j = 0; j < 16; j++) dst[j] = (byte)NearestInt(iscale * scales[j]);
                StoreHalf(dst + 80, maxScale / 15f);
            }
            else
            {
                for (int j = 0; j < 16; j++) dst[j] = 0;
                StoreHalf(dst + 80, 0f);
            }
            if (maxMin > 0)
            {
                float iscale = 15f / maxMin;
                for (int j = 0; j < 16; j++) dst[j] |= (byte)(NearestInt(iscale * mins[j]) << 4);
                StoreHalf(dst + 82, maxMin / 15f);
            }
            else
            {
                StoreHalf(dst + 82, 0f);
            }
            float dAll = LoadHalf(dst + 80), mAll = LoadHalf(dst + 82);
            for (int j = 0; j < 16; j++)
            {
                float d = dAll * (dst[j] & 0xF);
                if (d == 0) continue;
                float dm = mAll * (dst[j] >> 4);
                for (int ii = 0; ii < 16; ii++)
                    L[16 * j + ii] = (byte)Math.Max(0, Math.Min(3, NearestInt((src[16 * j + ii] + dm) / d)));
            }
            KQuant.Pack2Bit(L, dst + 16);
        }
    }

    public override float Dot(byte* row, byte* activations, int n)
    {
        if (!HasAvx2) return DotScalar(row, activations, n);
        var acc = Vector256<float>.Zero;
        var m3 = Vector256.Create((byte)3);
        var m4 = Vector128.Create((byte)0x0F);
        for (int i = 0; i < n / QK; i++, row += Bytes, activations += Q8_KFormat.Bytes)
        {
            float yd = *(float*)activations;
            var packed = Vector128.Load(row);
            var scales = (packed & m4).AsSByte();
            var mins = Avx2.ConvertToVector256Int16(Vector128.ShiftRightLogical(packed.AsUInt16(), 4).AsByte() & m4);
            var prod = Avx2.MultiplyAddAdjacent(mins, Vector256.Load((short*)(activations + 4 + QK)));
            acc = Fma.MultiplyAdd(Vector256.Create(-yd * LoadHalf(row + 82)), Avx.ConvertToVector256Single(prod), acc);

            sbyte* q8 = (sbyte*)(activations + 4);
            var sumi = Vector256<int>.Zero;
            for (int c = 0; c < 2; c++, q8 += 128)
            {
                var bits = Vector256.Load(row + 16 + 32 * c).AsUInt16();
                var sc = c == 0 ? scales : Sse2.ShiftRightLogical128BitLane(scales.AsByte(), 8).AsSByte();
                sumi += Group(bits.AsByte() & m3, q8, sc, 0)
                      + Group(Vector256.ShiftRightLogical(bits, 2).AsByte() & m3, q8 + 32, sc, 1)
                      + Group(Vector256.ShiftRightLogical(bits, 4).AsByte() & m3, q8 + 64, sc, 2)
                      + Group(Vector256.ShiftRightLogical(bits, 6).AsByte() & m3, q8 + 96, sc, 3);
            }
            acc = Fma.MultiplyAdd(Vector256.Create(yd * LoadHalf(row + 80)), Avx.ConvertToVector256Single(sumi), acc);
        }
        return Vector256.Sum(acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Group(Vector256<byte> q, sbyte* q8, Vector128<sbyte> scales, int k) =>
        Avx2.MultiplyAddAdjacent(KQuant.PairScales(scales, k), Avx2.MultiplyAddAdjacent(q, Vector256.Load(q8)));

    internal static float DotScalar(byte* x, byte* y, int n)
    {
        float sum = 0;
        for (int i = 0; i < n / QK; i++, x += Bytes, y += Q8_KFormat.Bytes)
        {
            sbyte* q8 = (sbyte*)(y + 4);
            short* bsums = (short*)(y + 4 + QK);
            int sumi = 0, summ = 0;
            for (int j = 0; j < 16; j++)
            {
                // Sub-block j: 128-value half j / 8, bit plane (j % 8) / 2, byte offset 16·(j % 2).
                byte* q = x + 16 + 32 * (j / 8) + 16 * (j % 2);
                int shift = 2 * ((j % 8) / 2), s = 0;
                for (int l = 0; l < 16; l++) s += ((q[l] >> shift) & 3) * q8[16 * j + l];
                sumi += (x[j] & 0xF) * s;
                summ += (x[j] >> 4) * bsums[j];
            }
            float yd = *(float*)y;
            sum += yd * LoadHalf(x + 80) * sumi - yd * LoadHalf(x + 82) * summ;
        }
        return sum;
    }
}

/// <summary>
/// Q3_K: 16 sub-blocks of 16 with 6-bit scales stored biased by 32, x = d·(sc - 32)·(q - 4·!h) (110 bytes:
/// hmask[32], qs[64], scales[12], fp16 d). Low two bits pack as in Q2_K; bit k of hmask[l] is the high bit
/// of value 32k + l. Scale j: low nibble in byte j (j &lt; 8) or the high nibble of byte j - 8, top two bits
/// at bit 2·(j / 4) of byte 8 + j % 4.
/// </summary>
[SkipLocalsInit]
public sealed unsafe class Q3_KFormat : WeightFormat
{
    public const int QK = KQuant.QK, Bytes = 110;
    public static readonly Q3_KFormat Instance = new();
    public override GgmlType Type => GgmlType.Q3_K;
    public override int BlockSize => QK;
    public override int BlockBytes => Bytes;
    public override WeightFormat ActivationFormat => Q8_KFormat.Instance;

    /// <summary>The 16 scales, still biased by 32, as bytes (ggml's kmask1/kmask2 shuffle).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<uint> UnpackScales(byte* p)
    {
        const uint kmask1 = 0x03030303, kmask2 = 0x0f0f0f0f;
        uint a0 = Unsafe.ReadUnaligned<uint>(p), a1 = Unsafe.ReadUnaligned<uint>(p + 4), tmp = Unsafe.ReadUnaligned<uint>(p + 8);
        return Vector128.Create(
            (a0 & kmask2) | (((tmp >> 0) & kmask1) << 4),
            (a1 & kmask2) | (((tmp >> 2) & kmask1) << 4),
            ((a0 >> 4) & kmask2) | (((tmp >> 4) & kmask1) << 4),
            ((a1 >> 4) & kmask2) | (((tmp >> 6) & kmask1) << 4));
    }

    public override void DequantizeRow(byte* src, float* dst, int n)
    {
        sbyte* scales = stackalloc sbyte[16];
        for (int i = 0; i < n / QK; i++, src += Bytes)
        {
            float dAll = LoadHalf(src + 108);
            UnpackScales(src + 96).AsSByte().Store(scales);
            byte* q = src + 32, hm = src;
            int s = 0;
            byte m = 1;
            for (int c = 0; c < 2; c++, q += 32)
            {
                for (int shift = 0; shift < 8; shift += 2, m <<= 1)
                {
                    for (int half = 0; half < 32; half += 16)
                    {
                        float dl = dAll * (scales[s++] - 32);
                        for (int l = 0; l < 16; l++)
                            *dst++ = dl * (((q[l + half] >> shift) & 3) - ((hm[l + half] & m) != 0 ? 0 : 4));
                    }
                }
            }
        }
    }

    /// <summary>quantize_row_q3_K_ref: make_q3_quants per sub-block, 6-bit scales against the signed extreme
    /// (-32/max), then requantization; high bits split off into hmask.</summary>
    public override void QuantizeRow(float* src, byte* dst, int n)
    {
        sbyte* L = stackalloc sbyte[QK];
        float* scales = stackalloc float[16];
        for (int i = 0; i < n / QK; i++, src += QK, dst += Bytes)
        {
            float maxScale = 0, amax = 0;
            for (int j = 0; j < 16; j++)
            {
                scales[j] = KQuant.MakeQ3Quants(16, 4, src + 16 * j, L + 16 * j);
                float scale = MathF.Abs(scales[j]);
                if (scale > amax) { amax = scale; maxScale = scales[j]; }
            }
            byte* sc = dst + 96;
            new Span<byte>(sc, 12).Clear();
            if (maxScale != 0)
            {
                float iscale = -32f / maxScale;
                for (int j = 0; j < 16; j++)
                {
                    int l = Math.Max(-32, Math.Min(31, (int)(sbyte)NearestInt(iscale * scales[j]))) + 32;
                    if (j < 8) sc[j] = (byte)(l & 0xF);
                    else sc[j - 8] |= (byte)((l & 0xF) << 4);
                    l >>= 4;
                    sc[j % 4 + 8] |= (byte)(l << (2 * (j / 4)));
                }
                StoreHalf(dst + 108, 1 / iscale);
            }
            else
            {
                StoreHalf(dst + 108, 0f);
            }
            float dAll = LoadHalf(dst + 108);
            for (int j = 0; j < 16; j++)
            {
                int s = j < 8 ? sc[j] & 0xF : sc[j - 8] >> 4;
                s = (s | (((sc[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
                float d = dAll * s;
                if (d == 0) continue;
                for (int ii = 0; ii < 16; ii++)
                    L[16 * j + ii] = (sbyte)(Math.Max(-4, Math.Min(3, NearestInt(src[16 * j + ii] / d))) + 4);
            }
            byte* hmask = dst;
            new Span<byte>(hmask, 32).Clear();
            for (int j = 0; j < QK; j++)
            {
                if (L[j] > 3)
                {
                    hmask[j % 32] |= (byte)(1 << (j / 32));
                    L[j] -= 4;
                }
            }
            KQuant.Pack2Bit((byte*)L, dst + 32);
        }
    }

    public override float Dot(byte* row, byte* activations, int n)
    {
        if (!HasAvx2) return DotScalar(row, activations, n);
        var acc = Vector256<float>.Zero;
        var m3 = Vector256.Create((byte)3);
        var one = Vector256.Create((byte)1);
        for (int i = 0; i < n / QK; i++, row += Bytes, activations += Q8_KFormat.Bytes)
        {
            var scales = UnpackScales(row + 96).AsSByte() - Vector128.Create((sbyte)32);
            // 4 where a value's high bit is clear: q3 = low2 - 4·!h, so y·q3 = y·low2 - y·(4·!h).
            // The clear-bit planes are peeled one per group with 16-bit shifts (at most seven, so no bleed).
            var notH = ~Vector256.Load(row);
            sbyte* q8 = (sbyte*)(activations + 4);
            var sumi = Vector256<int>.Zero;
            for (int c = 0; c < 2; c++, q8 += 128)
            {
                var bits = Vector256.Load(row + 32 + 32 * c).AsUInt16();
                var sc = c == 0 ? scales : Sse2.ShiftRightLogical128BitLane(scales.AsByte(), 8).AsSByte();
                sumi += Group(bits.AsByte() & m3, ref notH, one, q8, sc, 0)
                      + Group(Vector256.ShiftRightLogical(bits, 2).AsByte() & m3, ref notH, one, q8 + 32, sc, 1)
                      + Group(Vector256.ShiftRightLogical(bits, 4).AsByte() & m3, ref notH, one, q8 + 64, sc, 2)
                      + Group(Vector256.ShiftRightLogical(bits, 6).AsByte() & m3, ref notH, one, q8 + 96, sc, 3);
            }
            acc = Fma.MultiplyAdd(Vector256.Create(*(float*)activations * LoadHalf(row + 108)), Avx.ConvertToVector256Single(sumi), acc);
        }
        return Vector256.Sum(acc);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<int> Group(Vector256<byte> low2, ref Vector256<byte> notH, Vector256<byte> one, sbyte* q8, Vector128<sbyte> scales, int k)
    {
        var four = Vector256.ShiftLeft((notH & one).AsUInt16(), 2).AsByte();
        notH = Vector256.ShiftRightLogical(notH.AsUInt16(), 1).AsByte();
        var y = Vector256.Load(q8);
        var p = Avx2.MultiplyAddAdjacent(low2, y) - Avx2.MultiplyAddAdjacent(four, y);
        return Avx2.MultiplyAddAdjacent(KQuant.PairScales(scales, k), p);
    }

    internal static float DotScalar(byte* x, byte* y, int n)
    {
        sbyte* scales = stackalloc sbyte[16];
        float sum = 0;
        for (int i = 0; i < n / QK; i++, x += Bytes, y += Q8_KFormat.Bytes)
        {
            UnpackScales(x + 96).AsSByte().Store(scales);
            sbyte* q8 = (sbyte*)(y + 4);
            int sumi = 0;
            for (int j = 0; j < 16; j++)
            {
                // Sub-block j: half j / 8, bit plane (j % 8) / 2 (also the hmask bit within the half), offset 16·(j % 2).
                int plane = (j % 8) / 2, off = 16 * (j % 2);
                byte* q = x + 32 + 32 * (j / 8);
                int hbit = 4 * (j / 8) + plane, s = 0;
                for (int l = 0; l < 16; l++)
                {
                    int v = ((q[off + l] >> (2 * plane)) & 3) - (((x[off + l] >> hbit) & 1) != 0 ? 0 : 4);
                    s += v * q8[16 * j + l];
                }
                sumi += (scales[j] - 32) * s;
            }
            sum += *(float*)y * LoadHalf(x + 108) * sumi;
        }
        return sum;
    }
}
