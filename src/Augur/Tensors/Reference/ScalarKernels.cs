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

    public static void Softmax(Span<float> x)
    {
        float max = float.NegativeInfinity;
        foreach (var v in x) max = Math.Max(max, v);
        double sum = 0;
        for (int i = 0; i < x.Length; i++) sum += Math.Exp(x[i] - max);
        for (int i = 0; i < x.Length; i++) x[i] = (float)(Math.Exp(x[i] - max) / sum);
    }

    public static float Silu(float x) => (float)(x / (1 + Math.Exp(-x)));
}
