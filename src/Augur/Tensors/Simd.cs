using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Augur.Tensors;

/// <summary>
/// Float dot-product kernels in the shapes a matrix multiply needs: one row by one token, eight or four rows
/// by one token (decode), four rows by two tokens (short batches: draft trees), one row by four tokens and a
/// 3-row × 4-token register tile (prefill, batches).
/// Every kernel sums each (row, token) pair in the same order — one 8-wide accumulator over the 8-element
/// blocks in order, then the horizontal sum ((a₀+a₁)+(a₂+a₃))+((a₄+a₅)+(a₆+a₇)), then the scalar tail — so a
/// token's result is bit-identical whatever the batch around it (speculative verification must reproduce
/// plain decoding exactly). Kernels with eight accumulators reduce them together (<see cref="Reduce8"/>), which
/// for short rows (a 64-wide model) saves most of the reduction work.
/// Latency is hidden by the independent accumulators of the several pairs a kernel carries, not by
/// splitting one pair's sum. Scalar twins are in <see cref="Reference.ScalarKernels"/>.
/// </summary>
public static unsafe class Simd
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Fma(Vector256<float> a, Vector256<float> b, Vector256<float> acc) =>
        Vector256.FusedMultiplyAdd(a, b, acc);

    static int Blocks(int n) => Avx.IsSupported ? n & ~7 : 0;

    /// <summary>((a₀+a₁)+(a₂+a₃))+((a₄+a₅)+(a₆+a₇)): the one horizontal sum every kernel uses.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Sum(Vector256<float> a)
    {
        if (!Avx.IsSupported) return 0; // Blocks is 0 then: the accumulator was never touched
        var h = Avx.HorizontalAdd(a, a);
        h = Avx.HorizontalAdd(h, h);
        return h.ToScalar() + h.GetUpper().ToScalar();
    }

    /// <summary>Lane j = <see cref="Sum"/>(a_j), for eight accumulators at once (one horizontal-add tree).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Reduce8(Vector256<float> a0, Vector256<float> a1, Vector256<float> a2, Vector256<float> a3,
        Vector256<float> a4, Vector256<float> a5, Vector256<float> a6, Vector256<float> a7)
    {
        var h0123 = Avx.HorizontalAdd(Avx.HorizontalAdd(a0, a1), Avx.HorizontalAdd(a2, a3));
        var h4567 = Avx.HorizontalAdd(Avx.HorizontalAdd(a4, a5), Avx.HorizontalAdd(a6, a7));
        return Avx.Permute2x128(h0123, h4567, 0x20) + Avx.Permute2x128(h0123, h4567, 0x31);
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Tail(float sum, float* a, float* b, int from, int n)
    {
        for (int i = from; i < n; i++) sum += a[i] * b[i];
        return sum;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Tail<T>(float sum, byte* w, float* x, int from, int n) where T : struct, IFloatElement
    {
        for (int i = from; i < n; i++) sum += T.Load(w + i * T.Bytes) * x[i];
        return sum;
    }

    public static float Dot(float* a, float* b, int n) => Dot<FloatElements.F32>((byte*)a, b, n);

    /// <summary>A row stored as <typeparamref name="T"/> dotted with one token (same order as every kernel).</summary>
    public static float Dot<T>(byte* w, float* x, int n) where T : struct, IFloatElement
    {
        int m = Blocks(n);
        var s = Vector256<float>.Zero;
        for (int i = 0; i < m; i += 8) s = Fma(T.Load8(w + i * T.Bytes), Vector256.Load(x + i), s);
        return Tail<T>(Sum(s), w, x, m, n);
    }

    /// <summary>Eight rows of <typeparamref name="T"/>, <paramref name="rowBytes"/> apart, each dotted with one token: y[0..8).
    /// Reading half-precision rows directly (widened in registers) is what makes F16 decoding fast.</summary>
    public static void DotRows8<T>(byte* w, long rowBytes, float* x, int n, float* y) where T : struct, IFloatElement
    {
        int m = Blocks(n);
        byte* w1 = w + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes, w4 = w3 + rowBytes, w5 = w4 + rowBytes, w6 = w5 + rowBytes, w7 = w6 + rowBytes;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default, a4 = default, a5 = default, a6 = default, a7 = default;
        for (int i = 0; i < m; i += 8)
        {
            var xv = Vector256.Load(x + i);
            int o = i * T.Bytes;
            if (T.Bytes == 2 && (o & 63) == 0)
            {
                // Widening makes each row's stream slow enough that the hardware prefetcher falls behind: ask ahead.
                Sse.Prefetch0(w + o + 1024); Sse.Prefetch0(w1 + o + 1024); Sse.Prefetch0(w2 + o + 1024); Sse.Prefetch0(w3 + o + 1024);
                Sse.Prefetch0(w4 + o + 1024); Sse.Prefetch0(w5 + o + 1024); Sse.Prefetch0(w6 + o + 1024); Sse.Prefetch0(w7 + o + 1024);
            }
            a0 = Fma(T.Load8(w + o), xv, a0);
            a1 = Fma(T.Load8(w1 + o), xv, a1);
            a2 = Fma(T.Load8(w2 + o), xv, a2);
            a3 = Fma(T.Load8(w3 + o), xv, a3);
            a4 = Fma(T.Load8(w4 + o), xv, a4);
            a5 = Fma(T.Load8(w5 + o), xv, a5);
            a6 = Fma(T.Load8(w6 + o), xv, a6);
            a7 = Fma(T.Load8(w7 + o), xv, a7);
        }
        if (m == 0) { for (int r = 0; r < 8; r++) y[r] = Tail<T>(0, w + r * rowBytes, x, 0, n); return; }
        var sums = Reduce8(a0, a1, a2, a3, a4, a5, a6, a7);
        sums.Store(y);
        if (m < n)
            for (int r = 0; r < 8; r++) y[r] = Tail<T>(y[r], w + r * rowBytes, x, m, n);
    }

    /// <summary>Four rows × two tokens <paramref name="xStride"/> floats apart: y[t * yStride + r] for t &lt; 2, r &lt; 4.</summary>
    public static void Tile4x2(float* w, int rowStride, float* x, int xStride, int n, float* y, int yStride)
    {
        int m = Blocks(n);
        float* w1 = w + rowStride, w2 = w1 + rowStride, w3 = w2 + rowStride, x1 = x + xStride;
        Vector256<float> a00 = default, a10 = default, a20 = default, a30 = default, a01 = default, a11 = default, a21 = default, a31 = default;
        for (int i = 0; i < m; i += 8)
        {
            var x0 = Vector256.Load(x + i);
            var xv1 = Vector256.Load(x1 + i);
            var v = Vector256.Load(w + i); a00 = Fma(v, x0, a00); a01 = Fma(v, xv1, a01);
            v = Vector256.Load(w1 + i); a10 = Fma(v, x0, a10); a11 = Fma(v, xv1, a11);
            v = Vector256.Load(w2 + i); a20 = Fma(v, x0, a20); a21 = Fma(v, xv1, a21);
            v = Vector256.Load(w3 + i); a30 = Fma(v, x0, a30); a31 = Fma(v, xv1, a31);
        }
        float* y1 = y + yStride;
        if (m > 0)
        {
            var sums = Reduce8(a00, a10, a20, a30, a01, a11, a21, a31);
            sums.GetLower().Store(y);
            sums.GetUpper().Store(y1);
        }
        else for (int r = 0; r < 4; r++) y[r] = y1[r] = 0;
        if (m < n)
            for (int r = 0; r < 4; r++)
            {
                y[r] = Tail(y[r], w + (long)r * rowStride, x, m, n);
                y1[r] = Tail(y1[r], w + (long)r * rowStride, x1, m, n);
            }
    }

    /// <summary>Four rows of <typeparamref name="T"/>, <paramref name="rowBytes"/> apart, each dotted with one token.</summary>
    public static void DotRows4<T>(byte* w, long rowBytes, float* x, int n, out float d0, out float d1, out float d2, out float d3)
        where T : struct, IFloatElement
    {
        int m = Blocks(n);
        byte* w1 = w + rowBytes, w2 = w1 + rowBytes, w3 = w2 + rowBytes;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int i = 0; i < m; i += 8)
        {
            var xv = Vector256.Load(x + i);
            int o = i * T.Bytes;
            a0 = Fma(T.Load8(w + o), xv, a0);
            a1 = Fma(T.Load8(w1 + o), xv, a1);
            a2 = Fma(T.Load8(w2 + o), xv, a2);
            a3 = Fma(T.Load8(w3 + o), xv, a3);
        }
        d0 = Tail<T>(Sum(a0), w, x, m, n);
        d1 = Tail<T>(Sum(a1), w1, x, m, n);
        d2 = Tail<T>(Sum(a2), w2, x, m, n);
        d3 = Tail<T>(Sum(a3), w3, x, m, n);
    }

    /// <summary>One weight row dotted with four activation rows <paramref name="stride"/> floats apart.</summary>
    public static void Dot4(float* w, float* x, int stride, int n, out float d0, out float d1, out float d2, out float d3)
    {
        int m = Blocks(n);
        float* x1 = x + stride, x2 = x1 + stride, x3 = x2 + stride;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int i = 0; i < m; i += 8)
        {
            var wv = Vector256.Load(w + i);
            a0 = Fma(wv, Vector256.Load(x + i), a0);
            a1 = Fma(wv, Vector256.Load(x1 + i), a1);
            a2 = Fma(wv, Vector256.Load(x2 + i), a2);
            a3 = Fma(wv, Vector256.Load(x3 + i), a3);
        }
        d0 = Tail(Sum(a0), w, x, m, n);
        d1 = Tail(Sum(a1), w, x1, m, n);
        d2 = Tail(Sum(a2), w, x2, m, n);
        d3 = Tail(Sum(a3), w, x3, m, n);
    }

    /// <summary>
    /// Three weight rows × four tokens: twelve accumulators, and per 8 elements 3 + 4 loads for 12 FMAs,
    /// so the tile is bound by arithmetic rather than loads. Writes y[t * yStride + r].
    /// </summary>
    public static void Tile3x4(float* w, int rowStride, float* x, int xStride, int n, float* y, int yStride)
    {
        int m = Blocks(n);
        float* w1 = w + rowStride, w2 = w1 + rowStride;
        float* x1 = x + xStride, x2 = x1 + xStride, x3 = x2 + xStride;
        Vector256<float> a00 = default, a01 = default, a02 = default, a03 = default;
        Vector256<float> a10 = default, a11 = default, a12 = default, a13 = default;
        Vector256<float> a20 = default, a21 = default, a22 = default, a23 = default;
        for (int i = 0; i < m; i += 8)
        {
            var v0 = Vector256.Load(w + i);
            var v1 = Vector256.Load(w1 + i);
            var v2 = Vector256.Load(w2 + i);
            var xv = Vector256.Load(x + i);
            a00 = Fma(v0, xv, a00); a10 = Fma(v1, xv, a10); a20 = Fma(v2, xv, a20);
            xv = Vector256.Load(x1 + i);
            a01 = Fma(v0, xv, a01); a11 = Fma(v1, xv, a11); a21 = Fma(v2, xv, a21);
            xv = Vector256.Load(x2 + i);
            a02 = Fma(v0, xv, a02); a12 = Fma(v1, xv, a12); a22 = Fma(v2, xv, a22);
            xv = Vector256.Load(x3 + i);
            a03 = Fma(v0, xv, a03); a13 = Fma(v1, xv, a13); a23 = Fma(v2, xv, a23);
        }
        y[0] = Tail(Sum(a00), w, x, m, n);
        y[1] = Tail(Sum(a10), w1, x, m, n);
        y[2] = Tail(Sum(a20), w2, x, m, n);
        y[yStride] = Tail(Sum(a01), w, x1, m, n);
        y[yStride + 1] = Tail(Sum(a11), w1, x1, m, n);
        y[yStride + 2] = Tail(Sum(a21), w2, x1, m, n);
        y[2 * yStride] = Tail(Sum(a02), w, x2, m, n);
        y[2 * yStride + 1] = Tail(Sum(a12), w1, x2, m, n);
        y[2 * yStride + 2] = Tail(Sum(a22), w2, x2, m, n);
        y[3 * yStride] = Tail(Sum(a03), w, x3, m, n);
        y[3 * yStride + 1] = Tail(Sum(a13), w1, x3, m, n);
        y[3 * yStride + 2] = Tail(Sum(a23), w2, x3, m, n);
    }
}
