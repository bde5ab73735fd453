using Augur.Tests.Support;
using Augur.Tensors;
using Augur.Tensors.Reference;

namespace Augur.Tests.Tensors;

/// <summary>
/// F16 and BF16 weight formats against conversions written from the format definitions
/// (<see cref="ScalarKernels.HalfToFloat"/>, <see cref="ScalarKernels.FloatToHalf"/>, and ggml's BF16 rounding:
/// nearest, ties to even, NaN made quiet).
/// </summary>
public unsafe class FloatFormatTests
{
    const double U = 1.0 / (1 << 24);

    public static IEnumerable<object[]> Formats => [[F16Format.Instance], [BF16Format.Instance]];

    static float Decode(WeightFormat f, ushort bits) =>
        f is F16Format ? ScalarKernels.HalfToFloat(bits) : ScalarKernels.BF16ToFloat(bits);

    static ushort Encode(WeightFormat f, float x) =>
        f is F16Format ? ScalarKernels.FloatToHalf(x) : ScalarKernels.FloatToBF16(x);

    static void AssertSameFloat(float want, float got, string where)
    {
        if (float.IsNaN(want)) Assert.True(float.IsNaN(got), $"{where}: want NaN, got {got}");
        else Assert.True(BitConverter.SingleToInt32Bits(want) == BitConverter.SingleToInt32Bits(got), $"{where}: want {want}, got {got}");
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void DequantizeRow_decodes_all_65536_bit_patterns(WeightFormat format)
    {
        var src = new ushort[65536];
        for (int i = 0; i < src.Length; i++) src[i] = (ushort)i;
        var dst = new float[src.Length];
        fixed (ushort* s = src) fixed (float* d = dst) format.DequantizeRow((byte*)s, d, src.Length);
        for (int i = 0; i < src.Length; i++) AssertSameFloat(Decode(format, (ushort)i), dst[i], $"{format} 0x{i:X4}");
    }

    [Theory]
    [MemberData(nameof(Formats))]
    // The vector body and the scalar tail meet at a different place for every length.
    public void DequantizeRow_handles_every_length_up_to_256(WeightFormat format)
    {
        for (int n = 0; n <= 256; n++)
        {
            var rng = TestSeed.Random(n);
            var src = new ushort[n + 1];
            for (int i = 0; i < src.Length; i++) src[i] = (ushort)rng.Next(65536);
            var dst = new float[n + 1];
            dst[n] = 12345f; // sentinel: nothing past n may be written
            fixed (ushort* s = src) fixed (float* d = dst) format.DequantizeRow((byte*)s, d, n);
            for (int i = 0; i < n; i++) AssertSameFloat(Decode(format, src[i]), dst[i], $"{format} n = {n}, i = {i}");
            Assert.Equal(12345f, dst[n]);
        }
    }

    /// <summary>Hard inputs for a rounding: exact ties (even and odd), values one ulp off a tie, subnormals, overflow, specials.</summary>
    static float[] RoundingInputs(WeightFormat format)
    {
        var list = new List<float> { 0f, -0f, 1f, -1f, float.Epsilon, -float.Epsilon, float.MaxValue, float.MinValue,
            float.PositiveInfinity, float.NegativeInfinity, float.NaN, BitConverter.Int32BitsToSingle(0x7fa00001), // a signalling NaN
            65504f, 65519.99f, 65520f, 65536f, 6.1035156e-5f, 5.9604645e-8f, 2.9802322e-8f, 2.9802326e-8f, 1e-10f };
        var rng = TestSeed.Random(7);
        for (int i = 0; i < 4000; i++)
        {
            // A random representable value of the format, then the midpoint to its neighbour and ±1 float ulp around it.
            ushort h = (ushort)rng.Next(65536);
            float lo = Decode(format, h), hi = Decode(format, (ushort)(h + 1));
            if (!float.IsFinite(lo) || !float.IsFinite(hi)) continue;
            float mid = (float)(((double)lo + hi) / 2);
            list.Add(mid);
            list.Add(MathF.BitIncrement(mid));
            list.Add(MathF.BitDecrement(mid));
            list.Add(BitConverter.Int32BitsToSingle(rng.Next()) * (rng.Next(2) == 0 ? 1 : -1));
        }
        return [.. list];
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void QuantizeRow_rounds_to_nearest_even_as_the_definition_says(WeightFormat format)
    {
        var x = RoundingInputs(format);
        var got = new ushort[x.Length];
        fixed (float* s = x) fixed (ushort* d = got) format.QuantizeRow(s, (byte*)d, x.Length);
        for (int i = 0; i < x.Length; i++)
        {
            ushort want = Encode(format, x[i]);
            if (format is F16Format && float.IsNaN(x[i])) // IEEE leaves a NaN's payload to the implementation
                Assert.True(float.IsNaN(ScalarKernels.HalfToFloat(got[i])), $"{format}: NaN became 0x{got[i]:X4}");
            else
                Assert.True(want == got[i], $"{format}: {x[i]:R} (0x{BitConverter.SingleToInt32Bits(x[i]):X8}) → want 0x{want:X4}, got 0x{got[i]:X4}");
        }
    }

    [Fact]
    public void BF16_rounding_follows_ggml_on_named_cases()
    {
        // (float bits, bf16 bits): ties go to the even neighbour, anything past a tie rounds away, NaN gets the quiet bit.
        (uint F, ushort B)[] cases =
        [
            (0x3f808000, 0x3f80), // tie, even below: stays
            (0x3f818000, 0x3f82), // tie, odd below: rounds up to even
            (0x3f808001, 0x3f81), // just past the tie
            (0x3f807fff, 0x3f80), // just before the tie
            (0x7f7fffff, 0x7f80), // the largest float overflows to +∞
            (0xff800000, 0xff80), // −∞ stays
            (0x7f800001, 0x7fc0), // signalling NaN made quiet
            (0x00008000, 0x0000), // subnormal tie rounds to even zero
            (0x80018000, 0x8002), // negative subnormal, odd tie, rounds up in magnitude
        ];
        var x = cases.Select(c => BitConverter.UInt32BitsToSingle(c.F)).ToArray();
        var got = new ushort[x.Length];
        fixed (float* s = x) fixed (ushort* d = got) BF16Format.Instance.QuantizeRow(s, (byte*)d, x.Length);
        for (int i = 0; i < cases.Length; i++)
        {
            Assert.True(cases[i].B == got[i], $"0x{cases[i].F:X8} → want 0x{cases[i].B:X4}, got 0x{got[i]:X4}");
            Assert.Equal(cases[i].B, ScalarKernels.FloatToBF16(x[i])); // the oracle itself agrees with ggml's table
        }
    }

    [Theory]
    [MemberData(nameof(Formats))]
    // Activations are F32; the row is decoded with the scalar definition and summed in double.
    public void Dot_matches_the_exact_dot_product_for_every_length_up_to_600(WeightFormat format)
    {
        Assert.Same(F32Format.Instance, format.ActivationFormat);
        for (int n = 0; n <= 600; n += n < 256 ? 1 : 43) // past 256 the format works in chunks
        {
            var rng = TestSeed.Random(n);
            var row = new ushort[n];
            var w = new float[n];
            var x = new float[n];
            for (int i = 0; i < n; i++)
            {
                row[i] = Encode(format, (float)(rng.NextDouble() * 4 - 2));
                w[i] = Decode(format, row[i]);
                x[i] = (float)(rng.NextDouble() * 2 - 1);
            }
            float got;
            fixed (ushort* r = row) fixed (float* a = x) got = format.Dot((byte*)r, (byte*)a, n);
            double exact = ScalarKernels.Dot(w, x);
            double magnitude = 0;
            for (int i = 0; i < n; i++) magnitude += Math.Abs((double)w[i] * x[i]);
            Assert.True(Math.Abs(got - exact) <= (n + 2) * U * magnitude, $"{format} n = {n}: {got} vs {exact}");
        }
    }
}
