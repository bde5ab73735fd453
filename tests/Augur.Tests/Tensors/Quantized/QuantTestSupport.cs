using Augur.Tests.Support;
using Augur.Tensors;
using Augur.Tensors.Quantized;

namespace Augur.Tests.Tensors.Quantized;

/// <summary>The quantized formats under test, their round-trip error bounds, and data helpers.</summary>
public static unsafe class QuantTestSupport
{
    /// <summary>
    /// Upper bounds on ‖x - dequant(quant(x))‖ / ‖x‖ for <see cref="Weights"/> data at every tested length. A b-bit
    /// code over a block's range r rounds with RMS error about r / (2^b·√12), and r spans a few standard deviations,
    /// so each extra bit roughly halves the bound; short rows and outliers (which stretch a block's range) set the
    /// worst case. Q4_K/Q5_K beat Q4_1/Q5_1 through their scale search; Q8_K's 256-value blocks suffer more from
    /// outliers than Q8_0's 32. Each bound is about 25% above the worst case the seeded data produces.
    /// </summary>
    public static readonly IReadOnlyDictionary<GgmlType, double> RoundTripBound = new Dictionary<GgmlType, double>
    {
        [GgmlType.Q8_0] = 0.016,
        [GgmlType.Q8_1] = 0.016,
        [GgmlType.Q8_K] = 0.038,
        [GgmlType.Q6_K] = 0.041,
        [GgmlType.Q5_0] = 0.12,
        [GgmlType.Q5_1] = 0.073,
        [GgmlType.Q5_K] = 0.067,
        [GgmlType.Q4_0] = 0.22,
        [GgmlType.Q4_1] = 0.16,
        [GgmlType.Q4_K] = 0.13,
        [GgmlType.Q3_K] = 0.30,
        [GgmlType.Q2_K] = 0.60,
    };

    /// <summary>Every block format, the activation-only Q8_1 and Q8_K included.</summary>
    public static readonly GgmlType[] AllTypes =
    [
        GgmlType.Q4_0, GgmlType.Q4_1, GgmlType.Q5_0, GgmlType.Q5_1, GgmlType.Q8_0, GgmlType.Q8_1,
        GgmlType.Q2_K, GgmlType.Q3_K, GgmlType.Q4_K, GgmlType.Q5_K, GgmlType.Q6_K, GgmlType.Q8_K,
    ];

    public static TheoryData<GgmlType> All() => new(AllTypes);

    public static Augur.Tensors.WeightFormat Format(GgmlType type) =>
        Augur.Tensors.WeightFormats.TryGet(type) ?? throw new InvalidOperationException($"{type} not registered");

    /// <summary>Weight-like data: Gaussian values whose scale drifts from block to block (as between rows and
    /// channels of a real tensor), with one value in a hundred an outlier five times larger.</summary>
    public static float[] Weights(int n, int seed)
    {
        var rng = TestSeed.Random(seed);
        var x = new float[n];
        double scale = 1;
        for (int i = 0; i < n; i++)
        {
            if (i % 32 == 0) scale = Math.Exp(Gaussian(rng) * 0.5);
            double v = Gaussian(rng) * scale;
            if (rng.Next(100) == 0) v *= 5;
            x[i] = (float)v;
        }
        return x;
    }

    static double Gaussian(Random rng) =>
        Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble());

    public static byte[] Quantize(Augur.Tensors.WeightFormat format, float[] x)
    {
        var q = new byte[format.RowBytes(x.Length)];
        fixed (float* px = x) fixed (byte* pq = q) format.QuantizeRow(px, pq, x.Length);
        return q;
    }

    public static float[] Dequantize(Augur.Tensors.WeightFormat format, byte[] q, int n)
    {
        var y = new float[n];
        fixed (byte* pq = q) fixed (float* py = y) format.DequantizeRow(pq, py, n);
        return y;
    }

    public static float Dot(Augur.Tensors.WeightFormat format, byte[] row, byte[] activations, int n)
    {
        fixed (byte* pr = row) fixed (byte* pa = activations) return format.Dot(pr, pa, n);
    }

    public static double Norm(ReadOnlySpan<float> x)
    {
        double s = 0;
        foreach (var v in x) s += (double)v * v;
        return Math.Sqrt(s);
    }

    /// <summary>‖a - b‖ / ‖a‖.</summary>
    public static double RelativeRms(ReadOnlySpan<float> a, ReadOnlySpan<float> b)
    {
        double e = 0;
        for (int i = 0; i < a.Length; i++) e += ((double)a[i] - b[i]) * ((double)a[i] - b[i]);
        return Math.Sqrt(e) / Norm(a);
    }

    /// <summary>The kernel's scalar path (what runs without AVX2), reached directly so it is tested here too.</summary>
    public static float DotScalar(GgmlType type, byte[] row, byte[] activations, int n)
    {
        fixed (byte* x = row) fixed (byte* y = activations)
        {
            return type switch
            {
                GgmlType.Q4_0 => Q4_0Format.DotScalar(x, y, n),
                GgmlType.Q4_1 => Q4_1Format.DotScalar(x, y, n),
                GgmlType.Q5_0 => Q5_0Format.DotScalar(x, y, n),
                GgmlType.Q5_1 => Q5_1Format.DotScalar(x, y, n),
                GgmlType.Q8_0 => Q8_0Format.DotScalar(x, y, n),
                GgmlType.Q8_1 => Q8_1Format.DotScalar(x, y, n),
                GgmlType.Q8_K => Q8_KFormat.DotScalar(x, y, n),
                GgmlType.Q2_K => Q2_KFormat.DotScalar(x, y, n),
                GgmlType.Q3_K => Q3_KFormat.DotScalar(x, y, n),
                GgmlType.Q4_K => Q4_KFormat.DotScalar(x, y, n),
                GgmlType.Q5_K => Q5_KFormat.DotScalar(x, y, n),
                GgmlType.Q6_K => Q6_KFormat.DotScalar(x, y, n),
                _ => throw new ArgumentOutOfRangeException(nameof(type)),
            };
        }
    }
}
