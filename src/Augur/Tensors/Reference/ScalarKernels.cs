namespace Augur.Tensors.Reference;

/// <summary>Plain scalar versions of the kernels, summed in double: the oracle the SIMD tests compare against.</summary>
public static class ScalarKernels
{
    public static double Dot(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double s = 0;
        for (int i = 0; i < a.Length; i++) s += (double)a[i] * b[i];
        return s;
    }

    /// <summary>y[r] = W[r] · x for a row-major W of shape (rows, n).</summary>
    public static void MatVec(ReadOnlySpan<float> w, ReadOnlySpan<float> x, Span<float> y, int n)
    {
        for (int r = 0; r < y.Length; r++) y[r] = (float)Dot(w.Slice(r * n, n), x);
    }

    public static void RmsNorm(ReadOnlySpan<float> x, ReadOnlySpan<float> weight, Span<float> y, float eps)
    {
        double ss = 0;
        foreach (var v in x) ss += (double)v * v;
        double scale = 1.0 / Math.Sqrt(ss / x.Length + eps);
        for (int i = 0; i < x.Length; i++) y[i] = (float)(x[i] * scale * weight[i]);
    }

    /// <summary>Attention of one query over key/value rows (count, headDim): softmax(q·kᵢ·scale) · V, in double.</summary>
    public static void Attend(ReadOnlySpan<float> q, ReadOnlySpan<float> keys, ReadOnlySpan<float> values, int count, float scale, Span<float> output)
    {
        int n = q.Length;
        var p = new double[count];
        double max = double.NegativeInfinity, sum = 0;
        for (int i = 0; i < count; i++) max = Math.Max(max, p[i] = Dot(q, keys.Slice(i * n, n)) * scale);
        for (int i = 0; i < count; i++) sum += p[i] = Math.Exp(p[i] - max);
        for (int d = 0; d < n; d++)
        {
            double acc = 0;
            for (int i = 0; i < count; i++) acc += p[i] * values[i * n + d];
            output[d] = (float)(acc / sum);
        }
    }

    public static float Silu(float x) => (float)(x / (1 + Math.Exp(-x)));

    /// <summary>SwiGLU: up[i] ← silu(gate[i]) · up[i], in double.</summary>
    public static void SiluMul(ReadOnlySpan<float> gate, Span<float> up)
    {
        for (int i = 0; i < up.Length; i++)
        {
            double g = gate[i];
            up[i] = (float)(g / (1 + Math.Exp(-g)) * up[i]);
        }
    }

    /// <summary>
    /// Rotary embedding of every head of <paramref name="x"/> at <paramref name="position"/>, in double: within each
    /// head the adjacent pairs (x[2i], x[2i+1]) for 2i &lt; <paramref name="ropeDim"/> rotate by
    /// position · base^(−2i/ropeDim) (Meta's Llama / llama2.c / llama.cpp "normal" layout); other dims are untouched.
    /// </summary>
    public static void Rope(Span<float> x, int headDim, int ropeDim, int position, double ropeBase)
    {
        for (int h = 0; h < x.Length; h += headDim)
            for (int i = 0; i < ropeDim / 2; i++)
            {
                double angle = position * Math.Pow(ropeBase, -2.0 * i / ropeDim);
                double a = x[h + 2 * i], b = x[h + 2 * i + 1];
                x[h + 2 * i] = (float)(a * Math.Cos(angle) - b * Math.Sin(angle));
                x[h + 2 * i + 1] = (float)(a * Math.Sin(angle) + b * Math.Cos(angle));
            }
    }

    /// <summary>IEEE 754 binary16 → float from the definition: (−1)^s · 2^(e−15) · 1.m, subnormals 2^−14 · 0.m.</summary>
    public static float HalfToFloat(ushort h)
    {
        int sign = h >> 15, exponent = (h >> 10) & 0x1f, mantissa = h & 0x3ff;
        double magnitude = exponent switch
        {
            0 => Math.ScaleB(mantissa, -24),
            0x1f => mantissa == 0 ? double.PositiveInfinity : double.NaN,
            _ => Math.ScaleB(1024 + mantissa, exponent - 25),
        };
        return (float)(sign == 1 ? -magnitude : magnitude);
    }

    /// <summary>float → binary16, rounding to nearest with ties to an even mantissa; beyond the largest half, ±∞.</summary>
    public static ushort FloatToHalf(float f)
    {
        ushort sign = (ushort)(float.IsNegative(f) ? 0x8000 : 0);
        if (float.IsNaN(f)) return (ushort)(sign | 0x7e00);
        double a = Math.Abs((double)f);
        // Spacing of halves around a: 2^-24 below 2^-14 (subnormals), else 2^(exponent − 10).
        int e = a < Math.ScaleB(1.0, -14) ? -14 : Math.ILogB(a);
        double m = Math.Round(Math.ScaleB(a, 10 - e), MidpointRounding.ToEven); // exact: a is a float, the scale a power of two
        double v = Math.ScaleB(m, e - 10);
        if (v > 65504) return (ushort)(sign | 0x7c00);
        if (v < Math.ScaleB(1.0, -14)) return (ushort)(sign | (int)Math.ScaleB(v, 24));
        int ev = Math.ILogB(v);
        return (ushort)(sign | (ev + 15) << 10 | (int)(Math.ScaleB(v, 10 - ev) - 1024));
    }

    /// <summary>bfloat16 → float: the upper 16 bits of the float.</summary>
    public static float BF16ToFloat(ushort b) => BitConverter.Int32BitsToSingle(b << 16);

    /// <summary>
    /// float → bfloat16 as ggml's ggml_compute_fp32_to_bf16 defines it, computed from values rather than bit tricks:
    /// round to the nearest value with an 8-bit significand, ties to even, overflow to ±∞; a NaN keeps its upper
    /// bits with the quiet bit (0x40) set.
    /// </summary>
    public static ushort FloatToBF16(float f)
    {
        uint bits = BitConverter.SingleToUInt32Bits(f);
        if (float.IsNaN(f)) return (ushort)((bits >> 16) | 0x40);
        double a = Math.Abs((double)f);
        int e = a < Math.ScaleB(1.0, -126) ? -126 : Math.ILogB(a);
        double v = Math.ScaleB(Math.Round(Math.ScaleB(a, 7 - e), MidpointRounding.ToEven), e - 7);
        uint rounded = v >= Math.ScaleB(1.0, 128) ? 0x7f800000u : BitConverter.SingleToUInt32Bits((float)v);
        return (ushort)((bits & 0x80000000u) >> 16 | rounded >> 16);
    }
}
