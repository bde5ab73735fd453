using Augur.Tensors;
using System.Runtime.InteropServices;
using Augur.Tensors.Reference;
using static Augur.Tests.Tensors.Quantized.QuantTestSupport;

namespace Augur.Tests.Tensors.Quantized;

/// <summary>
/// Bit-exactness against llama.cpp: Augur's quantizers and dequantizers on <see cref="QuantGolden.Input"/> produce the
/// digests of <see cref="QuantGolden.Digests"/>, so <c>augur quantize</c> writes the same bytes llama-quantize would
/// and reads back the same floats. Where the digests come from: <see cref="QuantGolden"/>; the weight types' digests
/// are re-derived from llama.cpp by Augur.PeerTests, the activation types' (Q8_K, Q8_1) here, below.
/// </summary>
public class QuantGoldenTests
{
    public static TheoryData<GgmlType> Types => new(QuantGolden.Digests.Keys);

    [Theory]
    [MemberData(nameof(Types))]
    public void QuantizeAndDequantizeMatchGgml(GgmlType type)
    {
        var (quantized, dequantized) = QuantGolden.Digests[type];
        var format = Format(type);
        var x = QuantGolden.Input();
        var q = Quantize(format, x);
        Assert.Equal(quantized, QuantGolden.Digest(q));
        if (dequantized is null) return;
        Assert.Equal(dequantized, QuantGolden.Digest(MemoryMarshal.AsBytes(Dequantize(format, q, x.Length).AsSpan())));
        Assert.Equal(dequantized, QuantGolden.Digest(MemoryMarshal.AsBytes(ScalarQuantKernels.Dequantize(type, q, x.Length).AsSpan())));
    }

    /// <summary>
    /// llama.cpp cannot write Q8_K or Q8_1 to a file (they are what activations become before a dot product), so
    /// their recorded digests are checked against a line-by-line transcription of ggml's quantize_row_q8_K_ref and
    /// dequantize_row_q8_K (ggml-quants.c), written here without Augur's kernels: the digest is the function's.
    /// </summary>
    [Fact]
    public void Q8_K_digests_are_ggml_s_reference_quantizer_s()
    {
        var x = QuantGolden.Input();
        const int QK = 256, Bytes = 4 + QK + QK / 16 * 2; // block_q8_K: float d; int8 qs[256]; int16 bsums[16]
        var q = new byte[x.Length / QK * Bytes];
        var y = new float[x.Length];
        for (int i = 0; i < x.Length / QK; i++)
        {
            var block = q.AsSpan(i * Bytes, Bytes);
            var qs = MemoryMarshal.Cast<byte, sbyte>(block.Slice(4, QK));
            float max = 0, amax = 0;
            for (int j = 0; j < QK; j++)
            {
                float ax = MathF.Abs(x[i * QK + j]);
                if (ax > amax) { amax = ax; max = x[i * QK + j]; }
            }
            Assert.NotEqual(0, amax); // ggml leaves bsums unwritten for an all-zero block; the input has none
            float iscale = -127f / max;
            for (int j = 0; j < QK; j++) qs[j] = (sbyte)Math.Min(127, NearestInt(iscale * x[i * QK + j]));
            for (int j = 0; j < QK / 16; j++)
            {
                int sum = 0;
                for (int ii = 0; ii < 16; ii++) sum += qs[j * 16 + ii];
                BitConverter.TryWriteBytes(block.Slice(4 + QK + 2 * j, 2), (short)sum);
            }
            float d = 1 / iscale;
            BitConverter.TryWriteBytes(block[..4], d);
            for (int j = 0; j < QK; j++) y[i * QK + j] = d * qs[j]; // dequantize_row_q8_K
        }
        var (quantized, dequantized) = QuantGolden.Digests[GgmlType.Q8_K];
        Assert.Equal(quantized, QuantGolden.Digest(q));
        Assert.Equal(dequantized, QuantGolden.Digest(MemoryMarshal.AsBytes(y.AsSpan())));
        Assert.Equal(q, Quantize(Format(GgmlType.Q8_K), x));
    }

    /// <summary>As above for quantize_row_q8_1_ref: block_q8_1 is fp16 d, fp16 s = fp16(Σq · d), int8 qs[32].</summary>
    [Fact]
    public void Q8_1_digest_is_ggml_s_reference_quantizer_s()
    {
        var x = QuantGolden.Input();
        const int QK = 32, Bytes = 4 + QK;
        var q = new byte[x.Length / QK * Bytes];
        for (int i = 0; i < x.Length / QK; i++)
        {
            var block = q.AsSpan(i * Bytes, Bytes);
            var qs = MemoryMarshal.Cast<byte, sbyte>(block.Slice(4, QK));
            float amax = 0;
            for (int j = 0; j < QK; j++) amax = Math.Max(amax, MathF.Abs(x[i * QK + j]));
            float d = amax / ((1 << 7) - 1);
            float id = d != 0 ? 1.0f / d : 0.0f;
            int sum = 0;
            for (int j = 0; j < QK / 2; j++)
            {
                qs[j] = (sbyte)MathF.Round(x[i * QK + j] * id, MidpointRounding.AwayFromZero); // C's roundf
                qs[QK / 2 + j] = (sbyte)MathF.Round(x[i * QK + QK / 2 + j] * id, MidpointRounding.AwayFromZero);
                sum += qs[j] + qs[QK / 2 + j];
            }
            BitConverter.TryWriteBytes(block[..2], BitConverter.HalfToUInt16Bits((Half)d)); // GGML_FP32_TO_FP16: nearest even
            BitConverter.TryWriteBytes(block.Slice(2, 2), BitConverter.HalfToUInt16Bits((Half)(sum * d)));
        }
        Assert.Equal(QuantGolden.Digests[GgmlType.Q8_1].Quantized, QuantGolden.Digest(q));
        Assert.Equal(q, Quantize(Format(GgmlType.Q8_1), x));
    }

    /// <summary>ggml's nearest_int: adding 1.5·2²³ leaves the rounded integer (half to even) in the low mantissa bits.</summary>
    static int NearestInt(float value)
    {
        Assert.True(MathF.Abs(value) <= 4194303f);
        return (BitConverter.SingleToInt32Bits(value + 12582912f) & 0x007fffff) - 0x00400000;
    }
}
