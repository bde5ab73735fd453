using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using static Augur.Tensors.Quantized.QuantMath;

namespace Augur.Tensors.Quantized;

/// <summary>
/// Pieces the K-quant formats share: the packed 6-bit scales of Q4_K/Q5_K, the scale search of ggml's
/// reference quantizers (make_qkx2_quants, make_qx_quants, make_q3_quants, translated operation for
/// operation so the chosen codes match llama.cpp's), and AVX2 helpers for the dot kernels.
/// </summary>
[SkipLocalsInit]
internal static unsafe class KQuant
{
    /// <summary>Elements per super-block.</summary>
    public const int QK = 256;

    /// <summary>ggml's GROUP_MAX_EPS: a group whose largest magnitude is below this quantizes to zero.</summary>
    public const float GroupMaxEps = 1e-15f;

    /// <summary>get_scale_min_k4: scale and min of sub-block j from the 12 bytes of Q4_K/Q5_K. Bytes 0..3 hold
    /// scales 0..3 in their low six bits, bytes 4..7 mins 0..3; for j ≥ 4 the low four bits sit in the nibbles
    /// of bytes 8..11 and the top two bits in the spare top bits of bytes j-4 (scale) and j (min).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ScaleMin(int j, byte* q, out int scale, out int min)
    {
        if (j < 4)
        {
            scale = q[j] & 63;
            min = q[j + 4] & 63;
        }
        else
        {
            scale = (q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4);
            min = (q[j + 4] >> 4) | ((q[j] >> 6) << 4);
        }
    }

    /// <summary>The inverse of <see cref="ScaleMin"/> for six-bit scales and mins.</summary>
    static void PackScaleMins(byte* ls, byte* lm, byte* q)
    {
        for (int j = 0; j < 8; j++)
        {
            if (j < 4)
            {
                q[j] = ls[j];
                q[j + 4] = lm[j];
            }
            else
            {
                q[j + 4] = (byte)((ls[j] & 0xF) | ((lm[j] & 0xF) << 4));
                q[j - 4] |= (byte)((ls[j] >> 4) << 6);
                q[j] |= (byte)((lm[j] >> 4) << 6);
            }
        }
    }

    /// <summary>All eight scales then all eight mins of a Q4_K/Q5_K block as 16 bytes (ggml's utmp shuffle).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector128<byte> UnpackScaleMins(byte* q)
    {
        const uint kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
        uint u0 = Unsafe.ReadUnaligned<uint>(q), u1 = Unsafe.ReadUnaligned<uint>(q + 4), u2 = Unsafe.ReadUnaligned<uint>(q + 8);
        uint scalesHi = (u2 & kmask2) | (((u0 >> 6) & kmask3) << 4);
        uint minsHi = ((u2 >> 4) & kmask2) | (((u1 >> 6) & kmask3) << 4);
        return Vector128.Create(u0 & kmask1, scalesHi, u1 & kmask1, minsHi).AsByte();
    }

    /// <summary>Sixteen 16-bit lanes: the first eight hold scales[2k], the last eight scales[2k + 1]. The weights of
    /// two 16-value sub-blocks fill one 32-byte vector, and after maddubs each half of it pairs with one scale.
    /// Called with constant k so the shuffle mask folds to a constant.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<short> PairScales(Vector128<sbyte> scales, int k) =>
        Avx2.ConvertToVector256Int16(Ssse3.Shuffle(scales,
            Vector128.Create(0x0101010101010101UL * (ulong)(2 * k), 0x0101010101010101UL * (ulong)(2 * k + 1)).AsSByte()));

    /// <summary>All sixteen lanes = scales[k] (a 32-value sub-block's scale). Constant k, as above.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<short> BroadcastScale(Vector256<byte> scales16, int k) =>
        Avx2.Shuffle(scales16, Vector256.Create((ushort)(((2 * k + 1) << 8) | (2 * k))).AsByte()).AsInt16();

    /// <summary>Q4_K/Q5_K's eight scales as 16-bit lanes repeated in both 128-bit halves (for in-lane broadcasts with
    /// <see cref="BroadcastScale"/>), and the eight mins as 16-bit lanes; <paramref name="x"/> is the block.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void ScalesAndMins(byte* x, out Vector256<byte> scales, out Vector128<short> mins)
    {
        var sm = UnpackScaleMins(x + 4);
        var sc = Sse41.ConvertToVector128Int16(sm);
        scales = Vector256.Create(sc, sc).AsByte();
        mins = Sse41.ConvertToVector128Int16(Sse2.ShiftRightLogical128BitLane(sm, 8));
    }

    /// <summary>Q4_K/Q5_K's minimum term for one token, added into accM: -d_y·dmin·Σ m_j·(sum of sub-block j's
    /// activations), the sums coming from the Q8_K block's 16-value sums paired into 32-value sub-blocks.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<float> MinTerm(byte* y, float dmin, Vector128<short> mins, Vector128<float> accM)
    {
        var bsums = Vector256.Load((short*)(y + 4 + QK));
        var prod = Sse2.MultiplyAddAdjacent(mins, Ssse3.HorizontalAdd(bsums.GetLower(), bsums.GetUpper()));
        return Fma.MultiplyAdd(Vector128.Create(-*(float*)y * dmin), Sse2.ConvertToVector128Single(prod), accM);
    }

    /// <summary>Sub-blocks 2j (values in <paramref name="lo"/>) and 2j + 1 (in <paramref name="hi"/>) of Q4_K/Q5_K
    /// against their 64 activations, each scaled by its sub-block scale: eight int32 partial sums. Constant j.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> Pair(Vector256<byte> lo, Vector256<byte> hi, sbyte* q8, Vector256<byte> scales, int j) =>
        Avx2.MultiplyAddAdjacent(BroadcastScale(scales, 2 * j), Avx2.MultiplyAddAdjacent(lo, Vector256.Load(q8)))
        + Avx2.MultiplyAddAdjacent(BroadcastScale(scales, 2 * j + 1), Avx2.MultiplyAddAdjacent(hi, Vector256.Load(q8 + 32)));

    /// <summary>
    /// quantize_row_q4_K_ref / quantize_row_q5_K_ref up to the packing of the codes: per 32-value sub-block
    /// make_qkx2_quants with weights av_x + |x| (av_x the sub-block's RMS), scales and mins quantized to six bits
    /// against their maxima into d, dmin and the 12 scale bytes of <paramref name="block"/>, then every value
    /// requantized with the stored (rounded) scales into <paramref name="L"/>; a sub-block whose scale rounded to
    /// zero keeps the codes of its search.
    /// </summary>
    public static void QuantizeAsymmetric(float* src, byte* block, byte* L, int nmax, float rmin, int nstep)
    {
        byte* laux = stackalloc byte[32];
        float* weights = stackalloc float[32];
        float* mins = stackalloc float[8];
        float* scales = stackalloc float[8];
        byte* ls = stackalloc byte[8];
        byte* lm = stackalloc byte[8];
        float maxScale = 0, maxMin = 0;
        for (int j = 0; j < 8; j++)
        {
            float* x = src + 32 * j;
            float sumX2 = 0;
            for (int l = 0; l < 32; l++) sumX2 += x[l] * x[l];
            float avX = MathF.Sqrt(sumX2 / 32);
            for (int l = 0; l < 32; l++) weights[l] = avX + MathF.Abs(x[l]);
            scales[j] = MakeQkx2Quants(32, nmax, x, weights, L + 32 * j, out mins[j], laux, rmin, 0.1f, nstep, false);
            if (scales[j] > maxScale) maxScale = scales[j];
            if (mins[j] > maxMin) maxMin = mins[j];
        }
        float invScale = maxScale > 0 ? 63f / maxScale : 0f;
        float invMin = maxMin > 0 ? 63f / maxMin : 0f;
        for (int j = 0; j < 8; j++)
        {
            ls[j] = Math.Min((byte)63, (byte)NearestInt(invScale * scales[j]));
            lm[j] = Math.Min((byte)63, (byte)NearestInt(invMin * mins[j]));
        }
        PackScaleMins(ls, lm, block + 4);
        StoreHalf(block, maxScale / 63f);
        StoreHalf(block + 2, maxMin / 63f);

        float d0 = LoadHalf(block), dmin = LoadHalf(block + 2);
        for (int j = 0; j < 8; j++)
        {
            ScaleMin(j, block + 4, out int sc, out int m);
            float d = d0 * sc;
            if (d == 0) continue;
            float dm = dmin * m;
            for (int ii = 0; ii < 32; ii++)
                L[32 * j + ii] = (byte)Math.Max(0, Math.Min(nmax, NearestInt((src[32 * j + ii] + dm) / d)));
        }
    }

    /// <summary>make_qkx2_quants: codes L in [0, nmax] and a (scale, min) pair minimising the weighted error,
    /// searching nstep + 1 scales around nmax/(max - min). Returns the scale; <paramref name="theMin"/> is -min.</summary>
    public static float MakeQkx2Quants(int n, int nmax, float* x, float* weights, byte* L, out float theMin, byte* Laux,
        float rmin, float rdelta, int nstep, bool useMad)
    {
        float min = x[0], max = x[0];
        float sumW = weights[0];
        float sumX = sumW * x[0];
        for (int i = 1; i < n; i++)
        {
            if (x[i] < min) min = x[i];
            if (x[i] > max) max = x[i];
            float w = weights[i];
            sumW += w;
            sumX += w * x[i];
        }
        if (min > 0) min = 0;
        if (max == min)
        {
            for (int i = 0; i < n; i++) L[i] = 0;
            theMin = -min;
            return 0;
        }
        float iscale = nmax / (max - min);
        float scale = 1 / iscale;
        float bestError = 0;
        for (int i = 0; i < n; i++)
        {
            int l = NearestInt(iscale * (x[i] - min));
            L[i] = (byte)Math.Max(0, Math.Min(nmax, l));
            float diff = scale * L[i] + min - x[i];
            diff = useMad ? MathF.Abs(diff) : diff * diff;
            bestError += weights[i] * diff;
        }
        if (nstep < 1)
        {
            theMin = -min;
            return scale;
        }
        for (int step = 0; step <= nstep; step++)
        {
            iscale = (rmin + rdelta * step + nmax) / (max - min);
            float sumL = 0, sumL2 = 0, sumXl = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Math.Max(0, Math.Min(nmax, NearestInt(iscale * (x[i] - min))));
                Laux[i] = (byte)l;
                float w = weights[i];
                sumL += w * l;
                sumL2 += w * l * l;
                sumXl += w * l * x[i];
            }
            float D = sumW * sumL2 - sumL * sumL;
            if (D > 0)
            {
                float thisScale = (sumW * sumXl - sumX * sumL) / D;
                float thisMin = (sumL2 * sumX - sumL * sumXl) / D;
                if (thisMin > 0)
                {
                    thisMin = 0;
                    thisScale = sumXl / sumL2;
                }
                float curError = 0;
                for (int i = 0; i < n; i++)
                {
                    float diff = thisScale * Laux[i] + thisMin - x[i];
                    diff = useMad ? MathF.Abs(diff) : diff * diff;
                    curError += weights[i] * diff;
                }
                if (curError < bestError)
                {
                    for (int i = 0; i < n; i++) L[i] = Laux[i];
                    bestError = curError;
                    scale = thisScale;
                    min = thisMin;
                }
            }
        }
        theMin = -min;
        return scale;
    }

    /// <summary>The value of largest magnitude (first one on ties), sign kept: the symmetric quantizers scale by it.</summary>
    static float SignedAbsMax(int n, float* x)
    {
        float max = 0, amax = 0;
        for (int i = 0; i < n; i++)
        {
            float ax = MathF.Abs(x[i]);
            if (ax > amax) { amax = ax; max = x[i]; }
        }
        return max;
    }

    /// <summary>The symmetric code of a scaled value: nearest integer clamped to [−nmax, nmax).</summary>
    static int Code(float v, int nmax) => Math.Max(-nmax, Math.Min(nmax - 1, NearestInt(v)));

    /// <summary>
    /// The opening both symmetric quantizers share: the signed extreme sets the scale −nmax/max, each value gets its code
    /// (stored plus <paramref name="bias"/>), and the x²-weighted sums Σw·x·l and Σw·l² are returned. False (codes
    /// zeroed) when the group is all but zero.
    /// </summary>
    static bool FirstFit(int n, int nmax, float* x, sbyte* L, int bias, out float max, out float sumlx, out float suml2)
    {
        max = SignedAbsMax(n, x);
        sumlx = suml2 = 0;
        if (MathF.Abs(max) < GroupMaxEps)
        {
            for (int i = 0; i < n; i++) L[i] = 0;
            return false;
        }
        float iscale = -nmax / max;
        for (int i = 0; i < n; i++)
        {
            int l = Code(iscale * x[i], nmax);
            L[i] = (sbyte)(l + bias);
            float w = x[i] * x[i];
            sumlx += w * x[i] * l;
            suml2 += w * l * l;
        }
        return true;
    }

    /// <summary>make_qx_quants with rmse_type 1 and no importance weights (the form quantize_row_q6_K_ref uses):
    /// symmetric codes L in [0, 2·nmax) (stored biased by nmax), weights x², 19 candidate scales.</summary>
    public static float MakeQxQuants(int n, int nmax, float* x, sbyte* L)
    {
        if (!FirstFit(n, nmax, x, L, bias: nmax, out float max, out float sumlx, out float suml2)) return 0;
        float scale = suml2 != 0 ? sumlx / suml2 : 0.0f;
        float best = scale * sumlx;
        for (int step = -9; step <= 9; step++)
        {
            if (step == 0) continue;
            float iscale = -(nmax + 0.1f * step) / max;
            sumlx = suml2 = 0;
            for (int i = 0; i < n; i++)
            {
                int l = Code(iscale * x[i], nmax);
                float w = x[i] * x[i];
                sumlx += w * x[i] * l;
                suml2 += w * l * l;
            }
            if (suml2 > 0 && sumlx * sumlx > best * suml2)
            {
                for (int i = 0; i < n; i++)
                    L[i] = (sbyte)(nmax + Code(iscale * x[i], nmax));
                scale = sumlx / suml2;
                best = scale * sumlx;
            }
        }
        return scale;
    }

    /// <summary>make_q3_quants with do_rmse: symmetric codes in [-nmax, nmax) refined by coordinate descent on the
    /// x²-weighted error, stored biased by nmax.</summary>
    public static float MakeQ3Quants(int n, int nmax, float* x, sbyte* L)
    {
        if (!FirstFit(n, nmax, x, L, bias: 0, out _, out float sumlx, out float suml2)) return 0;
        for (int itry = 0; itry < 5; itry++)
        {
            int nChanged = 0;
            for (int i = 0; i < n; i++)
            {
                float w = x[i] * x[i];
                float slx = sumlx - w * x[i] * L[i];
                if (slx > 0)
                {
                    float sl2 = suml2 - w * L[i] * L[i];
                    int newL = Code(x[i] * sl2 / slx, nmax);
                    if (newL != L[i])
                    {
                        slx += w * x[i] * newL;
                        sl2 += w * newL * newL;
                        if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2)
                        {
                            L[i] = (sbyte)newL;
                            sumlx = slx;
                            suml2 = sl2;
                            nChanged++;
                        }
                    }
                }
            }
            if (nChanged == 0) break;
        }
        for (int i = 0; i < n; i++) L[i] += (sbyte)nmax;
        return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
    }

    /// <summary>Packs 2-bit codes the way Q2_K and Q3_K store them: byte l of each 32-byte group holds
    /// elements l, l + 32, l + 64, l + 96 of its 128 values in bits 0-1, 2-3, 4-5, 6-7.</summary>
    public static void Pack2Bit(byte* L, byte* qs)
    {
        for (int j = 0; j < QK; j += 128)
            for (int l = 0; l < 32; l++)
                qs[j / 4 + l] = (byte)(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
    }
}
