using Augur.Tensors;
using System.Buffers.Binary;
using Augur.Tensors.Reference;
using static Augur.Tests.Tensors.Quantized.QuantTestSupport;

namespace Augur.Tests.Tensors.Quantized;

/// <summary>
/// Known answers for the block layouts: blocks assembled byte by byte from ggml's struct definitions
/// (ggml-common.h) decode to the values worked out by hand here, through DequantizeRow, the reference decoder,
/// and Dot against an all-ones activation (which must give the sum of the values).
/// </summary>
public unsafe class QuantLayoutTests
{
    [Fact]
    public void Q4_0()
    {
        // d = 1; byte j holds value j (low nibble) and value j + 16 (high nibble); x = q - 8.
        // Second block: d = -0.5, every byte 0x0F: low nibbles 15 → -3.5, high nibbles 0 → 4.
        var b = new byte[36];
        Half(b, 0, 1f);
        for (int j = 0; j < 16; j++) b[2 + j] = (byte)(j | ((15 - j) << 4));
        Half(b, 18, -0.5f);
        for (int j = 0; j < 16; j++) b[20 + j] = 0x0F;
        var x = new float[64];
        for (int j = 0; j < 16; j++) { x[j] = j - 8; x[16 + j] = 7 - j; x[32 + j] = -3.5f; x[48 + j] = 4f; }
        Assert.Equal([-8f, 7f, 7f, -8f], new[] { x[0], x[15], x[16], x[31] });
        Check(GgmlType.Q4_0, b, x);
    }

    [Fact]
    public void Q4_1()
    {
        // d = 0.5, m = -2 (d then m, then nibbles); x = d·q + m.
        var b = new byte[20];
        Half(b, 0, 0.5f);
        Half(b, 2, -2f);
        for (int j = 0; j < 16; j++) b[4 + j] = (byte)(j | ((15 - j) << 4));
        var x = new float[32];
        for (int j = 0; j < 16; j++) { x[j] = 0.5f * j - 2; x[16 + j] = 0.5f * (15 - j) - 2; }
        Assert.Equal([-2f, 5.5f, 5.5f, -2f], new[] { x[0], x[15], x[16], x[31] });
        Check(GgmlType.Q4_1, b, x);
    }

    [Fact]
    public void Q5_0()
    {
        // d = 1, qh = bits 0, 15, 16, 31 (little-endian bytes 01 80 01 80); fifth bit of value e is bit e of qh; x = q - 16.
        var b = new byte[22];
        Half(b, 0, 1f);
        b[2] = 0x01; b[3] = 0x80; b[4] = 0x01; b[5] = 0x80;
        for (int j = 0; j < 16; j++) b[6 + j] = (byte)(j | ((15 - j) << 4));
        var x = new float[32];
        for (int e = 0; e < 32; e++) x[e] = Nibble(e) + (e is 0 or 15 or 16 or 31 ? 16 : 0) - 16;
        Assert.Equal([0f, -15f, 15f, 15f, -2f, 0f], new[] { x[0], x[1], x[15], x[16], x[17], x[31] });
        Check(GgmlType.Q5_0, b, x);
    }

    [Fact]
    public void Q5_1()
    {
        // d = 0.25, m = 1, qh as in Q5_0 (after d and m), then nibbles; x = d·q + m.
        var b = new byte[24];
        Half(b, 0, 0.25f);
        Half(b, 2, 1f);
        b[4] = 0x01; b[5] = 0x80; b[6] = 0x01; b[7] = 0x80;
        for (int j = 0; j < 16; j++) b[8 + j] = (byte)(j | ((15 - j) << 4));
        var x = new float[32];
        for (int e = 0; e < 32; e++) x[e] = 0.25f * (Nibble(e) + (e is 0 or 15 or 16 or 31 ? 16 : 0)) + 1;
        Assert.Equal([5f, 1.25f, 8.75f, 8.75f, 4.5f, 5f], new[] { x[0], x[1], x[15], x[16], x[17], x[31] });
        Check(GgmlType.Q5_1, b, x);
    }

    [Fact]
    public void Q8_0()
    {
        // d = 0.25, qs[j] = j - 16 except the extremes -128 and 127.
        var b = new byte[34];
        Half(b, 0, 0.25f);
        for (int j = 0; j < 32; j++) b[2 + j] = (byte)(sbyte)(j - 16);
        b[2] = unchecked((byte)-128);
        b[33] = 127;
        var x = new float[32];
        for (int j = 0; j < 32; j++) x[j] = 0.25f * (j - 16);
        x[0] = -32f;
        x[31] = 31.75f;
        Check(GgmlType.Q8_0, b, x);
    }

    [Fact]
    public void Q8_1()
    {
        // d = 0.5 and s before the quants; s plays no part in the values.
        var b = new byte[36];
        Half(b, 0, 0.5f);
        Half(b, 2, 123f);
        for (int j = 0; j < 32; j++) b[4 + j] = (byte)(sbyte)(3 * j - 50);
        var x = new float[32];
        for (int j = 0; j < 32; j++) x[j] = 0.5f * (3 * j - 50);
        Check(GgmlType.Q8_1, b, x);
    }

    [Fact]
    public void Q8_K()
    {
        // Float d = 0.125, then 256 int8 values, then 16 int16 sums (unused by dequantization).
        var b = new byte[292];
        BinaryPrimitives.WriteSingleLittleEndian(b, 0.125f);
        for (int j = 0; j < 256; j++) b[4 + j] = (byte)(sbyte)(j - 128);
        var x = new float[256];
        for (int j = 0; j < 256; j++) x[j] = 0.125f * (j - 128);
        Check(GgmlType.Q8_K, b, x);
    }

    // Q4_K/Q5_K scales: sc = {1, 2, 3, 4, 17, 33, 49, 63}, m = {0, 5, 10, 15, 16, 32, 48, 62}, packed by hand:
    // bytes 0..3 = sc[0..3] | (sc[4..7] >> 4) << 6, bytes 4..7 = m[0..3] | (m[4..7] >> 4) << 6,
    // bytes 8..11 = (sc[4..7] & 15) | (m[4..7] & 15) << 4.
    static readonly int[] Sc = [1, 2, 3, 4, 17, 33, 49, 63], Mn = [0, 5, 10, 15, 16, 32, 48, 62];
    static readonly byte[] PackedScales = [65, 130, 195, 196, 64, 133, 202, 207, 1, 1, 1, 239];

    [Fact]
    public void Q4_K()
    {
        // d = 1, dmin = 0.5; qs byte 32c + l: low nibble l % 16 (value 64c + l, sub-block 2c),
        // high nibble 15 - l % 16 (value 64c + 32 + l, sub-block 2c + 1); x = d·sc·q - dmin·m.
        var b = new byte[144];
        Half(b, 0, 1f);
        Half(b, 2, 0.5f);
        PackedScales.CopyTo(b, 4);
        for (int i = 0; i < 128; i++) b[16 + i] = (byte)(i % 16 | ((15 - i % 16) << 4));
        var x = new float[256];
        for (int e = 0; e < 256; e++)
        {
            int c = e / 64, h = e % 64 / 32, l = e % 32, j = 2 * c + h;
            int q = h == 0 ? l % 16 : 15 - l % 16;
            x[e] = Sc[j] * q - 0.5f * Mn[j];
        }
        Assert.Equal([0f, 1f, 27.5f, 368f, -31f], new[] { x[0], x[1], x[32], x[200], x[255] });
        Check(GgmlType.Q4_K, b, x);
    }

    [Fact]
    public void Q5_K()
    {
        // As Q4_K, plus qh (32 bytes before qs): 0xAA for even l, 0x55 for odd l; bit j of qh[l] adds 16 to value l
        // of sub-block j.
        var b = new byte[176];
        Half(b, 0, 1f);
        Half(b, 2, 0.5f);
        PackedScales.CopyTo(b, 4);
        for (int l = 0; l < 32; l++) b[16 + l] = (byte)(l % 2 == 0 ? 0xAA : 0x55);
        for (int i = 0; i < 128; i++) b[48 + i] = (byte)(i % 16 | ((15 - i % 16) << 4));
        var x = new float[256];
        for (int e = 0; e < 256; e++)
        {
            int c = e / 64, h = e % 64 / 32, l = e % 32, j = 2 * c + h;
            int q = (h == 0 ? l % 16 : 15 - l % 16) + ((l % 2 == 0) == (j % 2 == 1) ? 16 : 0);
            x[e] = Sc[j] * q - 0.5f * Mn[j];
        }
        Assert.Equal([0f, 17f, 59.5f], new[] { x[0], x[1], x[32] });
        Check(GgmlType.Q5_K, b, x);
    }

    [Fact]
    public void Q6_K()
    {
        // ql[128], qh[64], scales[16] (int8), d = 0.5. Per half c: value 32g + l takes the low nibble (g < 2) or high
        // nibble (g ≥ 2) of ql[64c + l + 32·(g % 2)] and bits 2g..2g+1 of qh[32c + l]; x = d·sc[8c + 2g + l/16]·(q - 32).
        var b = new byte[210];
        for (int i = 0; i < 128; i++) b[i] = (byte)(i % 16 | ((15 - i % 16) << 4));
        for (int i = 0; i < 64; i++) b[128 + i] = (byte)(i % 4 * 0x55);
        var sc = new int[16];
        for (int k = 0; k < 16; k++) { sc[k] = (k / 2 + 1) * (k % 2 == 0 ? 1 : -1); b[192 + k] = (byte)(sbyte)sc[k]; }
        Half(b, 208, 0.5f);
        var x = new float[256];
        for (int e = 0; e < 256; e++)
        {
            int c = e / 128, g = e % 128 / 32, l = e % 32;
            int i = 64 * c + l + 32 * (g % 2);
            int low = g < 2 ? i % 16 : 15 - i % 16;
            int high = (32 * c + l) % 4; // qh byte value (i % 4)·0x55 repeats that 2-bit value in every field
            x[e] = 0.5f * sc[8 * c + 2 * g + l / 16] * ((low | (high << 4)) - 32);
        }
        Assert.Equal([-16f, -7.5f], new[] { x[0], x[1] });
        Check(GgmlType.Q6_K, b, x);
    }

    [Fact]
    public void Q2_K()
    {
        // scales[16] (low nibble scale, high nibble min), qs[64], d = 0.5, dmin = 0.25. Every qs byte is 0xE4, so the
        // 2-bit field at shift 2g holds g; value 32g + l of half c is in sub-block 8c + 2g + l/16.
        var b = new byte[84];
        for (int j = 0; j < 16; j++) b[j] = (byte)(j | ((15 - j) << 4));
        for (int i = 0; i < 64; i++) b[16 + i] = 0xE4;
        Half(b, 80, 0.5f);
        Half(b, 82, 0.25f);
        var x = new float[256];
        for (int e = 0; e < 256; e++)
        {
            int c = e / 128, g = e % 128 / 32, l = e % 32, j = 8 * c + 2 * g + l / 16;
            x[e] = 0.5f * j * g - 0.25f * (15 - j);
        }
        Assert.Equal([-3.75f, -2.25f, 22.5f], new[] { x[0], x[40], x[255] });
        Check(GgmlType.Q2_K, b, x);
    }

    [Fact]
    public void Q3_K()
    {
        // hmask[32], qs[64], scales[12], d = 0.25. Six-bit scales s (biased by 32): low nibble of byte j (j < 8) or
        // high nibble of byte j - 8, top two bits at bit 2·(j/4) of byte 8 + j % 4. hmask[l] = 0xF0 (l < 16) or 0x0F:
        // bit 4c + g set means no -4. Every qs byte is 0xE4 (field g holds g). x = d·(s - 32)·(g - 4·!bit).
        int[] s = [0, 1, 31, 32, 33, 63, 16, 48, 5, 10, 20, 40, 50, 60, 62, 47];
        var b = new byte[110];
        for (int l = 0; l < 32; l++) b[l] = (byte)(l < 16 ? 0xF0 : 0x0F);
        for (int i = 0; i < 64; i++) b[32 + i] = 0xE4;
        for (int j = 0; j < 16; j++)
        {
            if (j < 8) b[96 + j] |= (byte)(s[j] & 0xF);
            else b[96 + j - 8] |= (byte)((s[j] & 0xF) << 4);
            b[96 + 8 + j % 4] |= (byte)((s[j] >> 4) << (2 * (j / 4)));
        }
        Half(b, 108, 0.25f);
        var x = new float[256];
        for (int e = 0; e < 256; e++)
        {
            int c = e / 128, g = e % 128 / 32, l = e % 32, j = 8 * c + 2 * g + l / 16;
            bool high = l < 16 ? c == 1 : c == 0;
            x[e] = 0.25f * (s[j] - 32) * (g - (high ? 0 : 4));
        }
        Assert.Equal([32f, 0f, 0f, -3f], new[] { x[0], x[16], x[130], x[160] });
        Check(GgmlType.Q3_K, b, x);
    }

    static int Nibble(int e) => e < 16 ? e : 15 - (e - 16);

    static void Half(byte[] b, int offset, float v) =>
        BinaryPrimitives.WriteUInt16LittleEndian(b.AsSpan(offset), BitConverter.HalfToUInt16Bits((Half)v));

    static void Check(GgmlType type, byte[] block, float[] expected)
    {
        var format = Format(type);
        int n = expected.Length;
        Assert.Equal(expected, Dequantize(format, block, n));
        Assert.Equal(expected, ScalarQuantKernels.Dequantize(type, block, n));

        var ones = Ones(format.ActivationFormat.Type, n);
        double sum = 0, magnitude = 0;
        foreach (var v in expected) { sum += v; magnitude += Math.Abs(v); }
        Assert.True(Math.Abs(Dot(format, block, ones, n) - sum) <= 1e-6 * magnitude);
        Assert.True(Math.Abs(DotScalar(type, block, ones, n) - sum) <= 1e-6 * magnitude);
    }

    /// <summary>An activation row of n ones in the given 8-bit format (d = 1, every q = 1, sums to match).</summary>
    static byte[] Ones(GgmlType type, int n)
    {
        int bs = ScalarQuantKernels.BlockSize(type), bb = ScalarQuantKernels.BlockBytes(type);
        var a = new byte[n / bs * bb];
        for (int i = 0; i < n / bs; i++)
        {
            var blk = a.AsSpan(i * bb, bb);
            switch (type)
            {
                case GgmlType.Q8_0: Half(a, i * bb, 1f); blk[2..].Fill(1); break;
                case GgmlType.Q8_1: Half(a, i * bb, 1f); Half(a, i * bb + 2, 32f); blk[4..].Fill(1); break;
                case GgmlType.Q8_K:
                    BinaryPrimitives.WriteSingleLittleEndian(blk, 1f);
                    blk.Slice(4, 256).Fill(1);
                    for (int j = 0; j < 16; j++) BinaryPrimitives.WriteInt16LittleEndian(blk[(260 + 2 * j)..], 16);
                    break;
            }
        }
        return a;
    }
}
