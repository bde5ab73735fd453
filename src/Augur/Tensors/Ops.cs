using System.Numerics.Tensors;
using System.Runtime.Intrinsics;

namespace Augur.Tensors;

/// <summary>How RoPE pairs the dimensions of a head: (2i, 2i+1) as Meta's Llama, or (i, i + d/2) as GPT-NeoX (Qwen, Gemma, Phi).</summary>
public enum RopeKind { Adjacent, NeoX }

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

    /// <summary>GeGLU: up ← gelu(gate) ⊙ up, GELU's tanh form read from <see cref="GeluTable"/> as ggml's CPU backend does. Clobbers nothing else.</summary>
    public static void GeluMul(ReadOnlySpan<float> gate, Span<float> up)
    {
        var table = GeluTable.Value;
        for (int i = 0; i < up.Length; i++)
        {
            float x = gate[i];
            float g = x <= -10f ? 0f : x >= 10f ? x : table[BitConverter.HalfToUInt16Bits((Half)x)];
            up[i] *= g;
        }
    }

    /// <summary>
    /// gelu(x) for every half-precision x, rounded to half: llama.cpp's CPU GELU (GGML_GELU_FP16) rounds the input
    /// and the result to half through such a table, so Gemma's feed-forward agrees with it only by doing the same.
    /// </summary>
    static readonly Lazy<float[]> GeluTable = new(() =>
    {
        var t = new float[65536];
        for (int i = 0; i < t.Length; i++)
        {
            float x = (float)BitConverter.UInt16BitsToHalf((ushort)i);
            t[i] = (float)(Half)(0.5f * x * (1f + MathF.Tanh(0.7978845608028654f * x * (1f + 0.044715f * x * x))));
        }
        return t;
    });

    /// <summary>
    /// Rotary embedding on every head of <paramref name="x"/> (heads × headDim): the pairs of the first
    /// 2·cos.Length dims of each head rotate by angle pos·θ_i — adjacent pairs (x[2i], x[2i+1]) as in Meta's
    /// Llama, llama2.c and llama.cpp's "normal" rope, or halves (x[i], x[i+d/2]) as in GPT-NeoX.
    /// </summary>
    public static void Rope(Span<float> x, int headDim, ReadOnlySpan<float> cos, ReadOnlySpan<float> sin, RopeKind kind = RopeKind.Adjacent)
    {
        int half = cos.Length;
        for (int h = 0; h < x.Length; h += headDim)
        {
            var head = x.Slice(h, headDim);
            if (kind == RopeKind.Adjacent)
            {
                for (int i = 0; i < half; i++)
                {
                    float a = head[2 * i], b = head[2 * i + 1];
                    head[2 * i] = a * cos[i] - b * sin[i];
                    head[2 * i + 1] = a * sin[i] + b * cos[i];
                }
            }
            else
            {
                for (int i = 0; i < half; i++)
                {
                    float a = head[i], b = head[i + half];
                    head[i] = a * cos[i] - b * sin[i];
                    head[i + half] = a * sin[i] + b * cos[i];
                }
            }
        }
    }

    /// <summary>
    /// cos/sin of scale·pos·θ_i / factor_i with θ_i = base^(−2i/ropeDim), computed in double, times
    /// <paramref name="magnitude"/> (ggml's rope_yarn without the YaRN ramp: <paramref name="scale"/> is linear
    /// scaling, <paramref name="factors"/> Llama 3's or LongRoPE's per-frequency divisors, the magnitude its mscale).
    /// </summary>
    public static void RopeAngles(int position, float ropeBase, int ropeDim, Span<float> cos, Span<float> sin,
        float scale = 1f, ReadOnlySpan<float> factors = default, float magnitude = 1f)
    {
        for (int i = 0; i < ropeDim / 2; i++)
        {
            double angle = position * (double)scale * Math.Pow(ropeBase, -2.0 * i / ropeDim);
            if (!factors.IsEmpty) angle /= factors[i];
            cos[i] = (float)Math.Cos(angle) * magnitude;
            sin[i] = (float)Math.Sin(angle) * magnitude;
        }
    }
}
