using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Augur.Tensors;

/// <summary>
/// Scaled dot-product attention of one query head over the cells it may see: softmax(q·kᵢ·scale) · vᵢ.
/// Cells are numbered logically 0..count−1: cell(i) = i below <c>contiguous</c>, extra[i − contiguous] above
/// (a draft token sees the cached context, then its ancestors in the batch). Every reduction runs in an order
/// fixed by the logical index alone — a key's score is its own dot, the exponentials are summed in eight lanes
/// by i mod 8, the weighted values in four accumulators by i mod 4 — so a token's output is the same bits
/// whether its cells are one contiguous range (plain decoding) or a range plus listed cells (tree verification),
/// and whatever else is in the batch. Three passes over the cells (scores with their max, exponentials with
/// their sum, weighted values scaled once by 1/sum) instead of a separate softmax; several accumulators so no
/// pass waits on one add chain. Keys and values are read in the cache's element type (<see cref="FloatElements"/>). Scalar twin: <see cref="Reference.ScalarKernels.Attend"/>.
/// </summary>
public static unsafe class Attention
{
    /// <summary>Floats of scratch <see cref="Attend"/> needs for <paramref name="cells"/> cells.</summary>
    public static int ScratchLength(int cells) => (cells + 7) & ~7;

    /// <summary>
    /// output[0..headDim) = Σᵢ softmax(s)ᵢ · value(cell(i)), sᵢ = q · key(cell(i)) · scale; key(c) starts
    /// c·stride elements of <typeparamref name="T"/> after <paramref name="keys"/>, likewise values.
    /// <paramref name="scratch"/> holds <see cref="ScratchLength"/>(count) floats.
    /// </summary>
    public static void Attend<T>(float* q, byte* keys, byte* values, int stride, int contiguous, ReadOnlySpan<int> extra,
        int count, int headDim, float scale, float* scratch, float* output) where T : struct, IFloatElement
    {
        if (count == 0) { new Span<float>(output, headDim).Clear(); return; }
        long rowBytes = (long)stride * T.Bytes;
        if (!Avx2.IsSupported || headDim % 8 != 0)
        {
            Plain<T>(q, keys, values, rowBytes, contiguous, extra, count, headDim, scale, scratch, output);
            return;
        }
        float max = Scores<T>(q, keys, rowBytes, contiguous, extra, count, headDim, scale, scratch);
        float sum = Exponentials(scratch, count, max);
        WeightedValues<T>(scratch, values, rowBytes, contiguous, extra, count, headDim, 1f / sum, output);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static int Cell(int i, int contiguous, ReadOnlySpan<int> extra) => i < contiguous ? i : extra[i - contiguous];

    /// <summary>
    /// scores[i] = q · key(cell(i)) · scale, eight keys per horizontal-add tree; returns the largest. A group that
    /// runs past count repeats its first key in the missing lanes (harmless for the max; never read after).
    /// </summary>
    static float Scores<T>(float* q, byte* keys, long rowBytes, int contiguous, ReadOnlySpan<int> extra, int count, int n, float scale, float* scores)
        where T : struct, IFloatElement
    {
        var vmax = Vector256.Create(float.NegativeInfinity);
        var vscale = Vector256.Create(scale);
        byte** k = stackalloc byte*[8]; // the keys of a group that reaches past the contiguous cells
        for (int i0 = 0; i0 < count; i0 += 8)
        {
            Vector256<float> sums;
            if (i0 + 8 <= contiguous)
            {
                byte* k0 = keys + i0 * rowBytes;
                sums = Group<T>(q, k0, k0 + rowBytes, k0 + 2 * rowBytes, k0 + 3 * rowBytes, k0 + 4 * rowBytes, k0 + 5 * rowBytes, k0 + 6 * rowBytes, k0 + 7 * rowBytes, n);
            }
            else
            {
                int m = Math.Min(8, count - i0);
                for (int j = 0; j < 8; j++) k[j] = keys + Cell(i0 + (j < m ? j : 0), contiguous, extra) * rowBytes;
                sums = Group<T>(q, k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], n);
            }
            sums *= vscale;
            sums.Store(scores + i0);
            vmax = Vector256.Max(vmax, sums);
        }
        return HorizontalMax(vmax);
    }

    /// <summary>The dots of q with eight keys, lane j = key j, each reduced by the same tree.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Group<T>(float* q, byte* k0, byte* k1, byte* k2, byte* k3, byte* k4, byte* k5, byte* k6, byte* k7, int n)
        where T : struct, IFloatElement
    {
        var qv = Vector256.Load(q);
        Vector256<float> a0 = qv * T.Load8(k0), a1 = qv * T.Load8(k1), a2 = qv * T.Load8(k2), a3 = qv * T.Load8(k3);
        Vector256<float> a4 = qv * T.Load8(k4), a5 = qv * T.Load8(k5), a6 = qv * T.Load8(k6), a7 = qv * T.Load8(k7);
        for (int b = 8; b < n; b += 8)
        {
            qv = Vector256.Load(q + b);
            int o = b * T.Bytes;
            a0 = Vector256.FusedMultiplyAdd(qv, T.Load8(k0 + o), a0);
            a1 = Vector256.FusedMultiplyAdd(qv, T.Load8(k1 + o), a1);
            a2 = Vector256.FusedMultiplyAdd(qv, T.Load8(k2 + o), a2);
            a3 = Vector256.FusedMultiplyAdd(qv, T.Load8(k3 + o), a3);
            a4 = Vector256.FusedMultiplyAdd(qv, T.Load8(k4 + o), a4);
            a5 = Vector256.FusedMultiplyAdd(qv, T.Load8(k5 + o), a5);
            a6 = Vector256.FusedMultiplyAdd(qv, T.Load8(k6 + o), a6);
            a7 = Vector256.FusedMultiplyAdd(qv, T.Load8(k7 + o), a7);
        }
        // Lane j = ((a_j[0]+a_j[1]) + (a_j[2]+a_j[3])) + ((a_j[4]+a_j[5]) + (a_j[6]+a_j[7])).
        var h0123 = Avx.HorizontalAdd(Avx.HorizontalAdd(a0, a1), Avx.HorizontalAdd(a2, a3));
        var h4567 = Avx.HorizontalAdd(Avx.HorizontalAdd(a4, a5), Avx.HorizontalAdd(a6, a7));
        return Avx.Permute2x128(h0123, h4567, 0x20) + Avx.Permute2x128(h0123, h4567, 0x31);
    }

    static float HorizontalMax(Vector256<float> v)
    {
        var m = Vector128.Max(v.GetLower(), v.GetUpper());
        m = Vector128.Max(m, Vector128.Shuffle(m, Vector128.Create(2, 3, 0, 1)));
        m = Vector128.Max(m, Vector128.Shuffle(m, Vector128.Create(1, 0, 3, 2)));
        return m.ToScalar();
    }

    /// <summary>scores[i] ← exp(scores[i] − max) for i below count; returns their sum, lane i mod 8 then a fixed tree.</summary>
    static float Exponentials(float* scores, int count, float max)
    {
        var vmax = Vector256.Create(max);
        var sum = Vector256<float>.Zero;
        int i = 0;
        for (; i + 8 <= count; i += 8)
        {
            var e = Vector256.Exp(Vector256.Load(scores + i) - vmax);
            e.Store(scores + i);
            sum += e;
        }
        if (i < count)
        {
            var live = Vector256.LessThan(Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7), Vector256.Create(count - i));
            var e = Vector256.Exp(Vector256.Load(scores + i) - vmax) & live.AsSingle();
            e.Store(scores + i);
            sum += e;
        }
        var s = sum.GetLower() + sum.GetUpper();
        return (s[0] + s[1]) + (s[2] + s[3]);
    }

    /// <summary>output = (Σᵢ eᵢ · value(cell(i))) · invSum, eᵢ summed into accumulator i mod 4.</summary>
    static void WeightedValues<T>(float* e, byte* values, long rowBytes, int contiguous, ReadOnlySpan<int> extra, int count, int n, float invSum, float* output)
        where T : struct, IFloatElement
    {
        int fast = Math.Min(contiguous, count) & ~3;
        for (int d = 0; d < n; d += 8)
        {
            byte* v = values + d * T.Bytes;
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            int i = 0;
            for (; i < fast; i += 4)
            {
                byte* row = v + i * rowBytes;
                a0 = Vector256.FusedMultiplyAdd(Vector256.Create(e[i]), T.Load8(row), a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.Create(e[i + 1]), T.Load8(row + rowBytes), a1);
                a2 = Vector256.FusedMultiplyAdd(Vector256.Create(e[i + 2]), T.Load8(row + 2 * rowBytes), a2);
                a3 = Vector256.FusedMultiplyAdd(Vector256.Create(e[i + 3]), T.Load8(row + 3 * rowBytes), a3);
            }
            for (; i < count; i++)
            {
                var term = Vector256.Create(e[i]);
                var row = T.Load8(v + Cell(i, contiguous, extra) * rowBytes);
                switch (i & 3)
                {
                    case 0: a0 = Vector256.FusedMultiplyAdd(term, row, a0); break;
                    case 1: a1 = Vector256.FusedMultiplyAdd(term, row, a1); break;
                    case 2: a2 = Vector256.FusedMultiplyAdd(term, row, a2); break;
                    default: a3 = Vector256.FusedMultiplyAdd(term, row, a3); break;
                }
            }
            (((a0 + a1) + (a2 + a3)) * Vector256.Create(invSum)).Store(output + d);
        }
    }

    /// <summary>Head sizes that are not a multiple of 8 (or no AVX2): the same three passes, one element at a time.</summary>
    static void Plain<T>(float* q, byte* keys, byte* values, long rowBytes, int contiguous, ReadOnlySpan<int> extra, int count, int n, float scale, float* scores, float* output)
        where T : struct, IFloatElement
    {
        float max = float.NegativeInfinity;
        for (int i = 0; i < count; i++)
        {
            byte* k = keys + Cell(i, contiguous, extra) * rowBytes;
            float dot = 0;
            for (int d = 0; d < n; d++) dot += q[d] * T.Load(k + d * T.Bytes);
            scores[i] = dot * scale;
            max = MathF.Max(max, scores[i]);
        }
        float sum = 0;
        for (int i = 0; i < count; i++) sum += scores[i] = MathF.Exp(scores[i] - max);
        float inv = 1f / sum;
        for (int d = 0; d < n; d++)
        {
            float acc = 0;
            for (int i = 0; i < count; i++) acc += scores[i] * T.Load(values + Cell(i, contiguous, extra) * rowBytes + d * T.Bytes);
            output[d] = acc * inv;
        }
    }
}
