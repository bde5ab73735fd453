using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Augur.Tensors;

/// <summary>
/// Float dot-product kernels in the shapes a matrix multiply needs: one row by one token, four rows by one
/// token (decode), one row by four tokens and a 3-row × 4-token register tile (prefill, batches).
/// Every kernel sums each (row, token) pair in the same order — one 8-wide accumulator over the 8-element
/// blocks in order, then a horizontal sum, then the scalar tail — so a token's result is bit-identical
/// whatever the batch around it (speculative verification must reproduce plain decoding exactly).
/// Latency is hidden by the independent accumulators of the several pairs a kernel carries, not by
/// splitting one pair's sum. Scalar twins are in <see cref="Reference.ScalarKernels"/>.
/// </summary>
public static unsafe class Simd
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Fma(Vector256<float> a, Vector256<float> b, Vector256<float> acc) =>
        Vector256.FusedMultiplyAdd(a, b, acc);

    static int Blocks(int n) => Vector256.IsHardwareAccelerated ? n & ~7 : 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static float Tail(float sum, float* a, float* b, int from, int n)
    {
        for (int i = from; i < n; i++) sum += a[i] * b[i];
        return sum;
    }

    public static float Dot(float* a, float* b, int n)
    {
        int m = Blocks(n);
        var s = Vector256<float>.Zero;
        for (int i = 0; i < m; i += 8) s = Fma(Vector256.Load(a + i), Vector256.Load(b + i), s);
        return Tail(Vector256.Sum(s), a, b, m, n);
    }

    /// <summary>Four rows <paramref name="rowStride"/> floats apart, each dotted with one token.</summary>
    public static void DotRows4(float* w, int rowStride, float* x, int n, out float d0, out float d1, out float d2, out float d3)
    {
        int m = Blocks(n);
        float* w1 = w + rowStride, w2 = w1 + rowStride, w3 = w2 + rowStride;
        Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
        for (int i = 0; i < m; i += 8)
        {
            var xv = Vector256.Load(x + i);
            a0 = Fma(Vector256.Load(w + i), xv, a0);
            a1 = Fma(Vector256.Load(w1 + i), xv, a1);
            a2 = Fma(Vector256.Load(w2 + i), xv, a2);
            a3 = Fma(Vector256.Load(w3 + i), xv, a3);
        }
        d0 = Tail(Vector256.Sum(a0), w, x, m, n);
        d1 = Tail(Vector256.Sum(a1), w1, x, m, n);
        d2 = Tail(Vector256.Sum(a2), w2, x, m, n);
        d3 = Tail(Vector256.Sum(a3), w3, x, m, n);
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
        d0 = Tail(Vector256.Sum(a0), w, x, m, n);
        d1 = Tail(Vector256.Sum(a1), w, x1, m, n);
        d2 = Tail(Vector256.Sum(a2), w, x2, m, n);
        d3 = Tail(Vector256.Sum(a3), w, x3, m, n);
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
        y[0] = Tail(Vector256.Sum(a00), w, x, m, n);
        y[1] = Tail(Vector256.Sum(a10), w1, x, m, n);
        y[2] = Tail(Vector256.Sum(a20), w2, x, m, n);
        y[yStride] = Tail(Vector256.Sum(a01), w, x1, m, n);
        y[yStride + 1] = Tail(Vector256.Sum(a11), w1, x1, m, n);
        y[yStride + 2] = Tail(Vector256.Sum(a21), w2, x1, m, n);
        y[2 * yStride] = Tail(Vector256.Sum(a02), w, x2, m, n);
        y[2 * yStride + 1] = Tail(Vector256.Sum(a12), w1, x2, m, n);
        y[2 * yStride + 2] = Tail(Vector256.Sum(a22), w2, x2, m, n);
        y[3 * yStride] = Tail(Vector256.Sum(a03), w, x3, m, n);
        y[3 * yStride + 1] = Tail(Vector256.Sum(a13), w1, x3, m, n);
        y[3 * yStride + 2] = Tail(Vector256.Sum(a23), w2, x3, m, n);
    }
}
