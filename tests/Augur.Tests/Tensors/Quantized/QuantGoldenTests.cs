using Augur.Tensors;
using System.Runtime.InteropServices;
using System.Security.Cryptography;
using Augur.Tensors.Reference;
using static Augur.Tests.Tensors.Quantized.QuantTestSupport;

namespace Augur.Tests.Tensors.Quantized;

/// <summary>
/// Bit-exactness against llama.cpp. The expected digests (first 16 bytes of SHA-256) are of the output of
/// ggml's quantize_row_*_ref and dequantize_row_* (ggml/src/ggml-quants.c, built for x86-64 with gcc -O2, no
/// fused multiply-add, as llama.cpp builds ggml-base) on <see cref="QuantTestSupport.GoldenInput"/>, so
/// <c>augur quantize</c> writes the same bytes llama-quantize would and reads back the same floats.
/// </summary>
public class QuantGoldenTests
{
    [Theory]
    [InlineData(GgmlType.Q4_0, "DF4FC3630D824D1A756D9E0C43944668", "DB4F7B102F7D65F1BC1EB5270E407355")]
    [InlineData(GgmlType.Q4_1, "52393D41029755D33F0E1C2F373885A8", "947EEAC832A362284FF33CEF159198CE")]
    [InlineData(GgmlType.Q5_0, "A549C0A744A42B59914A407AD5E02C99", "47EBF728FFFE1A15BA190E3796DA8D94")]
    [InlineData(GgmlType.Q5_1, "708776AB1F675B6105735225DE6373D0", "CCA963DA7D0148D136340C7306A8CC82")]
    [InlineData(GgmlType.Q8_0, "83880781ED2C0A99626A05DD798D44FF", "39A825403041AF35A227CD114BB8B138")]
    [InlineData(GgmlType.Q8_1, "9D2DD1A1A0FBD8C7C609A9FA9068F3C0", null)] // ggml has no dequantize_row_q8_1
    [InlineData(GgmlType.Q8_K, "43662847A51ACDDF7B96D42A4BE26817", "247C031D603817B1482C408FBD035F4C")]
    [InlineData(GgmlType.Q2_K, "51B151E397D021F4C13F8317C01EE539", "B7C930D2F42FC5342781B0849BEA2528")]
    [InlineData(GgmlType.Q3_K, "904598AE134380608BEF444AA82E1125", "5C02A511CDE4C642AF3E7CEABF429B82")]
    [InlineData(GgmlType.Q4_K, "2FC5C9CC4CD0112FEF7C723BD0AFC1B0", "83BEF7222B53ECD32FC21513E9CC2DE2")]
    [InlineData(GgmlType.Q5_K, "B24820E1875D6C85AE0B12E40AE8055D", "64BE4B626FDFC63D16601BBA6AAE4BB3")]
    [InlineData(GgmlType.Q6_K, "C80C5D017F18AB36F3F046EAC6F4C763", "A4E0DC72CE8834A525B9BA2B4463A06C")]
    public void QuantizeAndDequantizeMatchGgml(GgmlType type, string quantized, string? dequantized)
    {
        var format = Format(type);
        var x = GoldenInput();
        var q = Quantize(format, x);
        Assert.Equal(quantized, Digest(q));
        if (dequantized is null) return;
        Assert.Equal(dequantized, Digest(MemoryMarshal.AsBytes(Dequantize(format, q, x.Length).AsSpan())));
        Assert.Equal(dequantized, Digest(MemoryMarshal.AsBytes(ScalarQuantKernels.Dequantize(type, q, x.Length).AsSpan())));
    }

    static string Digest(ReadOnlySpan<byte> bytes) => Convert.ToHexString(SHA256.HashData(bytes))[..32];
}
