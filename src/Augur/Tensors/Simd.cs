using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;

namespace Augur.Tensors;

/// <summary>
/// The float kernels TensorPrimitives does not offer in the shape we need: a dot product with
/// four independent accumulators (hides FMA latency), and a one-row-by-four-token dot for prefill.
/// Each has a scalar twin in <see cref="Reference.ScalarKernels"/> that the tests compare against.
/// </summary>
public static unsafe class Simd
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Fma(Vector256<float> a, Vector256<float> b, Vector256<float> acc) =>
        Vector256.FusedMultiplyAdd(a, b, acc);

    /// <summary>
    /// a · b with two 8-wide accumulators over 16-element steps. <see cref="Dot4"/> sums each token in exactly
    /// this order, so a token's result does not depend on how many tokens share the batch (speculative
    /// verification must reproduce plain decoding bit for bit).
    /// </summary>
    public static float Dot(float* a, float* b, int n)
    {
        int i = 0;
        float sum = 0;
        if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            Vector256<float> s0 = default, s1 = default;
            for (; i + 16 <= n; i += 16)
            {
                s0 = Fma(Vector256.Load(a + i), Vector256.Load(b + i), s0);
                s1 = Fma(Vector256.Load(a + i + 8), Vector256.Load(b + i + 8), s1);
            }
            for (; i + 8 <= n; i += 8)
                s0 = Fma(Vector256.Load(a + i), Vector256.Load(b + i), s0);
            sum = Vector256.Sum(s0 + s1);
        }
        for (; i < n; i++) sum += a[i] * b[i];
        return sum;
    }

    /// <summary>Dots one weight row with four activation rows <paramref name="stride"/> floats apart.</summary>
    public static void Dot4(float* w, float* x, int stride, int n, out float d0, out float d1, out float d2, out float d3)
    {
        int i = 0;
        d0 = d1 = d2 = d3 = 0;
        float* x1 = x + stride, x2 = x1 + stride, x3 = x2 + stride;
        if (Vector256.IsHardwareAccelerated && n >= 8)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            Vector256<float> b0 = default, b1 = default, b2 = default, b3 = default;
            for (; i + 16 <= n; i += 16)
            {
                var wv = Vector256.Load(w + i);
                var wv2 = Vector256.Load(w + i + 8);
                a0 = Fma(wv, Vector256.Load(x + i), a0);
                a1 = Fma(wv, Vector256.Load(x1 + i), a1);
                a2 = Fma(wv, Vector256.Load(x2 + i), a2);
                a3 = Fma(wv, Vector256.Load(x3 + i), a3);
                b0 = Fma(wv2, Vector256.Load(x + i + 8), b0);
                b1 = Fma(wv2, Vector256.Load(x1 + i + 8), b1);
                b2 = Fma(wv2, Vector256.Load(x2 + i + 8), b2);
                b3 = Fma(wv2, Vector256.Load(x3 + i + 8), b3);
            }
            for (; i + 8 <= n; i += 8)
            {
                var wv = Vector256.Load(w + i);
                a0 = Fma(wv, Vector256.Load(x + i), a0);
                a1 = Fma(wv, Vector256.Load(x1 + i), a1);
                a2 = Fma(wv, Vector256.Load(x2 + i), a2);
                a3 = Fma(wv, Vector256.Load(x3 + i), a3);
            }
            d0 = Vector256.Sum(a0 + b0); d1 = Vector256.Sum(a1 + b1);
            d2 = Vector256.Sum(a2 + b2); d3 = Vector256.Sum(a3 + b3);
        }
        for (; i < n; i++)
        {
            d0 += w[i] * x[i]; d1 += w[i] * x1[i]; d2 += w[i] * x2[i]; d3 += w[i] * x3[i];
        }
    }
}
