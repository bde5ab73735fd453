using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Augur.Tensors;

/// <summary>The element-wise and per-vector operations of a transformer block, on spans, vectorised
/// through TensorPrimitives. Scalar twins live in <see cref="Reference.ScalarKernels"/>.</summary>
public static class Ops
{
    /// <summary>y = x / sqrt(mean(x²) + eps) ⊙ weight.</summary>
    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, float eps)
    {
        float ss = TensorPrimitives.SumOfSquares(x);
        float scale = 1f / MathF.Sqrt(ss / x.Length + eps);
        TensorPrimitives.Multiply(x, scale, y);
        TensorPrimitives.Multiply(y, weight, y);
    }

    /// <summary>log Σ exp(x), max-subtracted; vectorised since it runs over the whole vocabulary for every token.</summary>
    public static float LogSumExp(ReadOnlySpan<float> x)
    {
        float max = TensorPrimitives.Max(x);
        var m = Vector256.Create(max);
        var acc = Vector256<float>.Zero;
        int i = 0;
        for (; i + 8 <= x.Length; i += 8) acc += Vector256.Exp(Vector256.Create(x.Slice(i, 8)) - m);
        float sum = Vector256.Sum(acc);
        for (; i < x.Length; i++) sum += MathF.Exp(x[i] - max);
        return max + MathF.Log(sum);
    }

    /// <summary>SwiGLU: up ← silu(gate) ⊙ up. Clobbers gate.</summary>
    public static void SiluMul(Span<float> gate, Span<float> up)
    {
        if (up.IsEmpty) return; // TensorPrimitives.Sigmoid rejects an empty span
        TensorPrimitives.Multiply(gate, up, up);
        TensorPrimitives.Sigmoid(gate, gate);
        TensorPrimitives.Multiply(gate, up, up);
    }

    /// <summary>
    /// Rotary embedding on every head of <paramref name="x"/> (heads × headDim): the adjacent pairs
    /// (x[2i], x[2i+1]) of the first 2·cos.Length dims of each head rotate by angle pos·θ_i
    /// (the layout of Meta's Llama, llama2.c and llama.cpp's "normal" rope).
    /// </summary>
    public static void Rope(Span<float> x, int headDim, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin)
    {
        for (int h = 0; h < x.Length; h += headDim)
        {
            var head = x.Slice(h, headDim);
            for (int i = 0; i < cos.Length; i++)
            {
                float a = head[2 * i], b = head[2 * i + 1];
                head[2 * i] = a * cos[i] - b * sin[i];
                head[2 * i + 1] = a * sin[i] + b * cos[i];
            }
        }
    }

    /// <summary>cos/sin of pos·θ_i with θ_i = base^(−2i/ropeDim), computed in double.</summary>
    public static void RopeAngles(int position, float ropeBase, int ropeDim, Span<float> cos, Span<float> sin)
    {
        for (int i = 0; i < ropeDim / 2; i++)
        {
            double angle = position * Math.Pow(ropeBase, -2.0 * i / ropeDim);
            cos[i] = (float)Math.Cos(angle);
            sin[i] = (float)Math.Sin(angle);
        }
    }
}
