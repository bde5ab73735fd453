using Augur.Tests.Support;
using Augur.Tensors;
using Augur.Tensors.Quantized;
using Augur.Tensors.Reference;
using static Augur.Tests.Tensors.Quantized.QuantTestSupport;

namespace Augur.Tests.Tensors.Quantized;

public class QuantRoundTripTests
{
    [Theory, MemberData(nameof(All), MemberType = typeof(QuantTestSupport))]
    public void RoundTripErrorIsWithinTheFormatsBound(GgmlType type)
    {
        var format = Format(type);
        double bound = RoundTripBound[type];
        for (int blocks = 1; blocks <= 40; blocks++)
        {
            int n = blocks * format.BlockSize;
            for (int seed = 0; seed < 3; seed++)
            {
                var x = Weights(n, 1000 * blocks + seed);
                double error = RelativeRms(x, Dequantize(format, Quantize(format, x), n));
                Assert.True(error <= bound, $"{type}, {blocks} blocks, seed {seed}: relative RMS error {error:F4} > {bound}");
            }
        }
    }

    [Theory, MemberData(nameof(All), MemberType = typeof(QuantTestSupport))]
    public void DequantizeRowEqualsTheReferenceDecoderBitForBit(GgmlType type)
    {
        var format = Format(type);
        int n = 7 * format.BlockSize;
        var q = Quantize(format, Weights(n, 7));
        var fast = Dequantize(format, q, n);
        var reference = ScalarQuantKernels.Dequantize(type, q, n);
        for (int i = 0; i < n; i++) Assert.Equal(BitConverter.SingleToInt32Bits(reference[i]), BitConverter.SingleToInt32Bits(fast[i]));
    }

    [Theory, MemberData(nameof(All), MemberType = typeof(QuantTestSupport))]
    public void ZerosStayZero(GgmlType type)
    {
        var format = Format(type);
        int n = 2 * format.BlockSize;
        var q = Quantize(format, new float[n]);
        Assert.All(Dequantize(format, q, n), v => Assert.Equal(0f, v));
    }

    [Fact]
    public void HalfConversionsMatchIeee()
    {
        for (int h = 0; h < 65536; h++)
        {
            Half half = BitConverter.UInt16BitsToHalf((ushort)h);
            if (Half.IsNaN(half)) continue;
            Assert.Equal(BitConverter.SingleToInt32Bits((float)half), BitConverter.SingleToInt32Bits(QuantMath.HalfToFloat((ushort)h)));
        }
        // Float to half rounds to nearest even, as .NET's conversion does; sweep bit patterns across all exponents.
        var rng = TestSeed.Random(3);
        for (int i = 0; i < 200_000; i++)
        {
            float f = BitConverter.Int32BitsToSingle(rng.Next() | (rng.Next(2) << 31));
            if (float.IsNaN(f)) continue;
            Assert.Equal(BitConverter.HalfToUInt16Bits((Half)f), QuantMath.FloatToHalf(f));
        }
    }

    [Fact]
    public void NearestIntRoundsHalfToEven()
    {
        foreach (float f in new[] { 0.5f, 1.5f, 2.5f, -0.5f, -1.5f, 3.49999f, -7.5f, 1234.5f, 4194302.5f })
            Assert.Equal((int)MathF.Round(f, MidpointRounding.ToEven), QuantMath.NearestInt(f));
        var rng = TestSeed.Random(5);
        for (int i = 0; i < 100_000; i++)
        {
            float f = (float)((rng.NextDouble() * 2 - 1) * 4_000_000);
            Assert.Equal((int)MathF.Round(f, MidpointRounding.ToEven), QuantMath.NearestInt(f));
        }
    }
}
