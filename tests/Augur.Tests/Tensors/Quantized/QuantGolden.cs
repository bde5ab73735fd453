using System.Security.Cryptography;
using Augur.Tensors;

namespace Augur.Tests.Tensors.Quantized;

/// <summary>
/// The golden data for bit-exactness with llama.cpp: one fixed input and, per block type, the digest (first 16 bytes
/// of SHA-256, hex) of what ggml's <c>quantize_row_*_ref</c> makes of it and of what <c>dequantize_row_*</c> makes of
/// that. Shared by Augur.Tests (Augur's formats must produce these) and Augur.PeerTests, which re-derives each weight
/// type's digests from llama.cpp itself (LLamaSharp's native build: <c>llama_model_quantize</c> on a GGUF whose tensor
/// holds this input, then a requantize to F32 for the dequantized digest). Q8_K and Q8_1 are activation types that
/// llama.cpp never writes to a file: their digests were produced by ggml's reference functions (ggml-quants.c built
/// for x86-64 with gcc -O2, no fused multiply-add, as llama.cpp builds ggml-base) and are re-derived in
/// QuantGoldenTests by a scalar transcription of those two functions.
/// </summary>
public static class QuantGolden
{
    public static readonly IReadOnlyDictionary<GgmlType, (string Quantized, string? Dequantized)> Digests = new Dictionary<GgmlType, (string, string?)>
    {
        [GgmlType.Q4_0] = ("DF4FC3630D824D1A756D9E0C43944668", "DB4F7B102F7D65F1BC1EB5270E407355"),
        [GgmlType.Q4_1] = ("52393D41029755D33F0E1C2F373885A8", "947EEAC832A362284FF33CEF159198CE"),
        [GgmlType.Q5_0] = ("A549C0A744A42B59914A407AD5E02C99", "47EBF728FFFE1A15BA190E3796DA8D94"),
        [GgmlType.Q5_1] = ("708776AB1F675B6105735225DE6373D0", "CCA963DA7D0148D136340C7306A8CC82"),
        [GgmlType.Q8_0] = ("83880781ED2C0A99626A05DD798D44FF", "39A825403041AF35A227CD114BB8B138"),
        [GgmlType.Q8_1] = ("9D2DD1A1A0FBD8C7C609A9FA9068F3C0", null), // ggml has no dequantize_row_q8_1
        [GgmlType.Q8_K] = ("43662847A51ACDDF7B96D42A4BE26817", "247C031D603817B1482C408FBD035F4C"),
        [GgmlType.Q2_K] = ("51B151E397D021F4C13F8317C01EE539", "B7C930D2F42FC5342781B0849BEA2528"),
        [GgmlType.Q3_K] = ("904598AE134380608BEF444AA82E1125", "5C02A511CDE4C642AF3E7CEABF429B82"),
        [GgmlType.Q4_K] = ("2FC5C9CC4CD0112FEF7C723BD0AFC1B0", "83BEF7222B53ECD32FC21513E9CC2DE2"),
        [GgmlType.Q5_K] = ("B24820E1875D6C85AE0B12E40AE8055D", "64BE4B626FDFC63D16601BBA6AAE4BB3"),
        [GgmlType.Q6_K] = ("C80C5D017F18AB36F3F046EAC6F4C763", "A4E0DC72CE8834A525B9BA2B4463A06C"),
    };

    /// <summary>Values in the golden input: 8 rows of 256, so every block type's blocks tile it exactly.</summary>
    public const int Length = 2048;

    /// <summary>Input for the golden tests, built from integers and exact float operations only, so it is the
    /// same on every machine. Each 32-value block has a character: plain, small with an offset, all positive,
    /// outliers, cubed, coarse steps with ties; block 10 is all zeros and block 11 constant.</summary>
    public static float[] Input()
    {
        var x = new float[Length];
        uint s = 0x12345678;
        for (int i = 0; i < x.Length; i++)
        {
            s ^= s << 13; s ^= s >> 17; s ^= s << 5;
            float u = ((int)(s >> 8) - (1 << 23)) * (1f / (1 << 23));
            x[i] = (i / 32 % 6) switch
            {
                0 => u,
                1 => u * 0.001f + 0.01f,
                2 => MathF.Abs(u) * 5f,
                3 => i % 7 == 0 ? u * 40f : u * 0.1f,
                4 => u * u * u,
                _ => (int)(u * 8f) / 4f,
            };
        }
        for (int i = 320; i < 352; i++) x[i] = 0;
        for (int i = 352; i < 384; i++) x[i] = 0.75f;
        return x;
    }

    public static string Digest(ReadOnlySpan<byte> bytes) => Convert.ToHexString(SHA256.HashData(bytes))[..32];
}
