using Augur.Tensors;
using Augur.Tensors.Reference;
using static Augur.Tests.Tensors.Quantized.QuantTestSupport;

namespace Augur.Tests.Tensors.Quantized;

public unsafe class QuantDotTests
{
    /// <summary>
    /// The kernels' integer sums are exact, so the only rounding is in multiplying each block's sum by its
    /// scales and adding up at most a few hundred partial sums in float: a relative error of a few hundred
    /// float epsilons (6e-8) of Σ|w·a|, the largest the sum could be. The oracle rounds each value once as
    /// ggml does. 1e-4 leaves a wide margin over that, yet is far below any quantization error (≥ 5e-3), so a
    /// mis-decoded value, scale or block is caught.
    /// </summary>
    const double KernelTolerance = 1e-4;

    [Theory, MemberData(nameof(All), MemberType = typeof(QuantTestSupport))]
    public void DotMatchesTheScalarReference(GgmlType type)
    {
        var format = Format(type);
        var act = format.ActivationFormat;
        for (int blocks = 1; blocks <= 40; blocks++)
        {
            int n = blocks * format.BlockSize;
            var x = Weights(n, blocks);
            var a = Weights(n, 5000 + blocks);
            byte[] row = Quantize(format, x), activations = Quantize(act, a);

            double expected = ScalarQuantKernels.Dot(type, row, act.Type, activations, n);
            float[] w = ScalarQuantKernels.Dequantize(type, row, n), v = ScalarQuantKernels.Dequantize(act.Type, activations, n);
            double magnitude = 0, plain = 0, exact = 0;
            for (int i = 0; i < n; i++)
            {
                magnitude += Math.Abs((double)w[i] * v[i]);
                plain += (double)w[i] * v[i];
                exact += (double)x[i] * a[i];
            }
            double tolerance = KernelTolerance * magnitude;
            float dot = Dot(format, row, activations, n);
            Assert.True(Math.Abs(dot - expected) <= tolerance, $"{type}, {blocks} blocks: Dot {dot} vs reference {expected}");
            float scalar = DotScalar(type, row, activations, n);
            Assert.True(Math.Abs(scalar - expected) <= tolerance, $"{type}, {blocks} blocks: scalar Dot {scalar} vs reference {expected}");

            // Against the float inputs: with w = x + δx and v = a + δa, Cauchy-Schwarz bounds |w·v - x·a| by
            // ‖δx‖‖a‖ + ‖x‖‖δa‖ + ‖δx‖‖δa‖, and the round-trip bounds cap ‖δx‖ ≤ rx‖x‖ and ‖δa‖ ≤ ra‖a‖. Add the
            // kernel tolerance and the oracle's own departure from w·v (Q8_1's fp16 s; zero for other formats).
            double rx = RoundTripBound[type], ra = RoundTripBound[act.Type];
            double overall = (rx + ra + rx * ra) * Norm(x) * Norm(a) + Math.Abs(expected - plain) + tolerance;
            Assert.True(Math.Abs(dot - exact) <= overall, $"{type}, {blocks} blocks: Dot {dot} vs float dot {exact}, bound {overall}");
        }
    }

    [Theory, MemberData(nameof(All), MemberType = typeof(QuantTestSupport))]
    public void MultiplyRowsEqualsDotForEveryRowAndToken(GgmlType type)
    {
        var format = Format(type);
        var act = format.ActivationFormat;
        const int Rows = 6, MaxTokens = 9, YStride = 8;
        foreach (int blocks in new[] { 1, 2, 3 })
        {
            int n = blocks * format.BlockSize;
            long rowBytes = format.RowBytes(n), actBytes = act.RowBytes(n);
            var weights = new byte[Rows * rowBytes];
            for (int r = 0; r < Rows; r++) Quantize(format, Weights(n, 10 * r + blocks)).CopyTo(weights, r * rowBytes);
            var activations = new byte[MaxTokens * actBytes];
            for (int t = 0; t < MaxTokens; t++) Quantize(act, Weights(n, 100 + 10 * t + blocks)).CopyTo(activations, t * actBytes);

            for (int tokens = 1; tokens <= MaxTokens; tokens++)
            {
                // Rows [1, 5) only: outputs outside that range, and the stride padding, must stay untouched.
                var y = new float[tokens * YStride];
                Array.Fill(y, float.NaN);
                fixed (byte* pw = weights) fixed (byte* pa = activations) fixed (float* py = y)
                {
                    format.MultiplyRows(pw, rowBytes, pa, actBytes, tokens, py, YStride, 1, 5, n);
                    for (int t = 0; t < tokens; t++)
                        for (int r = 0; r < YStride; r++)
                        {
                            float got = y[t * YStride + r];
                            if (r is < 1 or >= 5) Assert.True(float.IsNaN(got), $"{type}: wrote outside rows [1, 5) at ({r}, {t})");
                            else Assert.Equal(format.Dot(pw + r * rowBytes, pa + t * actBytes, n), got);
                        }
                }
            }
        }
    }

    [Theory, MemberData(nameof(All), MemberType = typeof(QuantTestSupport))]
    public void DotAndMultiplyRowsAllocateNothing(GgmlType type)
    {
        var format = Format(type);
        var act = format.ActivationFormat;
        int n = 4 * format.BlockSize;
        byte[] rows = [.. Quantize(format, Weights(n, 1)), .. Quantize(format, Weights(n, 2))];
        var activations = new byte[5 * act.RowBytes(n)];
        for (int t = 0; t < 5; t++) Quantize(act, Weights(n, 3 + t)).CopyTo(activations, t * act.RowBytes(n));
        var y = new float[10];
        fixed (byte* pw = rows) fixed (byte* pa = activations) fixed (float* py = y)
        {
            float sink = format.Dot(pw, pa, n);
            format.MultiplyRows(pw, format.RowBytes(n), pa, act.RowBytes(n), 5, py, 2, 0, 2, n);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 100; i++)
            {
                sink += format.Dot(pw, pa, n);
                format.MultiplyRows(pw, format.RowBytes(n), pa, act.RowBytes(n), 5, py, 2, 0, 2, n);
            }
            Assert.Equal(before, GC.GetAllocatedBytesForCurrentThread());
            Assert.False(float.IsNaN(sink));
        }
    }
}
