using System.Buffers.Binary;

namespace Augur.Tensors.Reference;

/// <summary>
/// The block formats decoded one value at a time, straight from ggml's definitions and sharing no code
/// with <c>Augur.Tensors.Quantized</c>: the oracle the SIMD kernels are tested against. Each value is
/// computed with the float operations of ggml's dequantize_row_* in the same order, so it is bit-identical.
/// </summary>
public static class ScalarQuantKernels
{
    public static int BlockSize(GgmlType type) => type switch
    {
        GgmlType.Q4_0 or GgmlType.Q4_1 or GgmlType.Q5_0 or GgmlType.Q5_1 or GgmlType.Q8_0 or GgmlType.Q8_1 => 32,
        GgmlType.Q2_K or GgmlType.Q3_K or GgmlType.Q4_K or GgmlType.Q5_K or GgmlType.Q6_K or GgmlType.Q8_K => 256,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    public static int BlockBytes(GgmlType type) => type switch
    {
        GgmlType.Q4_0 => 18,
        GgmlType.Q4_1 => 20,
        GgmlType.Q5_0 => 22,
        GgmlType.Q5_1 => 24,
        GgmlType.Q8_0 => 34,
        GgmlType.Q8_1 => 36,
        GgmlType.Q2_K => 84,
        GgmlType.Q3_K => 110,
        GgmlType.Q4_K => 144,
        GgmlType.Q5_K => 176,
        GgmlType.Q6_K => 210,
        GgmlType.Q8_K => 292,
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
    };

    /// <summary>Value <paramref name="k"/> of a row.</summary>
    public static float Element(GgmlType type, ReadOnlySpan<byte> row, int k)
    {
        int size = BlockSize(type);
        ReadOnlySpan<byte> b = row.Slice(k / size * BlockBytes(type), BlockBytes(type));
        int e = k % size;
        return type switch
        {
            GgmlType.Q4_0 => (Nibble(b[2..], e) - 8) * Half(b, 0),
            GgmlType.Q4_1 => Nibble(b[4..], e) * Half(b, 0) + Half(b, 2),
            GgmlType.Q5_0 => ((Nibble(b[6..], e) | (HighBit(b[2..], e) << 4)) - 16) * Half(b, 0),
            GgmlType.Q5_1 => (Nibble(b[8..], e) | (HighBit(b[4..], e) << 4)) * Half(b, 0) + Half(b, 2),
            GgmlType.Q8_0 => (sbyte)b[2 + e] * Half(b, 0),
            GgmlType.Q8_1 => (sbyte)b[4 + e] * Half(b, 0),
            GgmlType.Q8_K => BinaryPrimitives.ReadSingleLittleEndian(b) * (sbyte)b[4 + e],
            GgmlType.Q2_K => Q2K(b, e),
            GgmlType.Q3_K => Q3K(b, e),
            GgmlType.Q4_K => Q45K(b, e, fiveBits: false),
            GgmlType.Q5_K => Q45K(b, e, fiveBits: true),
            GgmlType.Q6_K => Q6K(b, e),
            _ => throw new ArgumentOutOfRangeException(nameof(type), type, null),
        };
    }

    public static float[] Dequantize(GgmlType type, ReadOnlySpan<byte> row, int n)
    {
        var y = new float[n];
        for (int k = 0; k < n; k++) y[k] = Element(type, row, k);
        return y;
    }

    /// <summary>The oracle dot: both rows dequantized, products summed in double. One exception follows ggml's
    /// definition of the dot rather than the values: Q4_1/Q5_1 against Q8_1 pair each weight block's minimum m with
    /// the activation block's stored s = fp16(d·Σq) instead of d·Σq, so the oracle does too.</summary>
    public static double Dot(GgmlType weightType, ReadOnlySpan<byte> weights, GgmlType activationType, ReadOnlySpan<byte> activations, int n)
    {
        double s = 0;
        if (weightType is GgmlType.Q4_1 or GgmlType.Q5_1 && activationType == GgmlType.Q8_1)
        {
            int wb = BlockBytes(weightType), qs = weightType == GgmlType.Q4_1 ? 4 : 8;
            for (int b = 0; b < n / 32; b++)
            {
                ReadOnlySpan<byte> w = weights.Slice(b * wb, wb), a = activations.Slice(b * 36, 36);
                for (int e = 0; e < 32; e++)
                {
                    int q = Nibble(w[qs..], e) | (weightType == GgmlType.Q5_1 ? HighBit(w[4..], e) << 4 : 0);
                    s += (double)(q * Half(w, 0)) * ((sbyte)a[4 + e] * Half(a, 0));
                }
                s += (double)Half(w, 2) * Half(a, 2);
            }
            return s;
        }
        for (int k = 0; k < n; k++) s += (double)Element(weightType, weights, k) * Element(activationType, activations, k);
        return s;
    }

    static float Half(ReadOnlySpan<byte> b, int offset) => (float)BitConverter.UInt16BitsToHalf(BinaryPrimitives.ReadUInt16LittleEndian(b[offset..]));

    /// <summary>32-value blocks: value e &lt; 16 is the low nibble of byte e, value e ≥ 16 the high nibble of byte e - 16.</summary>
    static int Nibble(ReadOnlySpan<byte> qs, int e) => e < 16 ? qs[e] & 0xF : qs[e - 16] >> 4;

    /// <summary>Q5's fifth bit: bit e of the little-endian 32-bit qh.</summary>
    static int HighBit(ReadOnlySpan<byte> qh, int e) => (int)(BinaryPrimitives.ReadUInt32LittleEndian(qh) >> e) & 1;

    // K-quants below: value e of a 256-value super-block.

    /// <summary>84 bytes: scales[16] (low nibble scale, high nibble min), qs[64], d, dmin. Per 128 values c,
    /// value 32g + l (l &lt; 32) is bits 2g..2g+1 of qs[32c + l], in sub-block 8c + 2g + l/16.</summary>
    static float Q2K(ReadOnlySpan<byte> b, int e)
    {
        int c = e / 128, g = e % 128 / 32, l = e % 32;
        int q = (b[16 + 32 * c + l] >> (2 * g)) & 3;
        byte sc = b[8 * c + 2 * g + l / 16];
        float dl = Half(b, 80) * (sc & 0xF), ml = Half(b, 82) * (sc >> 4);
        return dl * q - ml;
    }

    /// <summary>110 bytes: hmask[32], qs[64], scales[12], d. Low bits as Q2_K; the high bit is bit 4c + g of
    /// hmask[l] and, when clear, subtracts 4. 6-bit scale j (biased by 32): low nibble from byte j (j &lt; 8) or the
    /// high nibble of byte j - 8, top two bits from bits 2·(j/4) of byte 8 + j%4.</summary>
    static float Q3K(ReadOnlySpan<byte> b, int e)
    {
        int c = e / 128, g = e % 128 / 32, l = e % 32;
        int low = (b[32 + 32 * c + l] >> (2 * g)) & 3;
        bool high = ((b[l] >> (4 * c + g)) & 1) != 0;
        int j = 8 * c + 2 * g + l / 16;
        ReadOnlySpan<byte> s = b.Slice(96, 12);
        int lo4 = j < 8 ? s[j] & 0xF : s[j - 8] >> 4;
        int hi2 = (s[8 + j % 4] >> (2 * (j / 4))) & 3;
        float dl = Half(b, 108) * ((lo4 | (hi2 << 4)) - 32);
        return dl * (low - (high ? 0 : 4));
    }

    /// <summary>Q4_K (144 bytes: d, dmin, scales[12], qs[128]) and Q5_K (176: d, dmin, scales[12], qh[32], qs[128]).
    /// Per 64 values c: value l &lt; 32 is the low nibble of qs[32c + l] in sub-block 2c, value 32 + l the high
    /// nibble in sub-block 2c + 1; Q5_K adds 16 if bit (sub-block) of qh[l] is set.</summary>
    static float Q45K(ReadOnlySpan<byte> b, int e, bool fiveBits)
    {
        int c = e / 64, half = e % 64 / 32, l = e % 32, j = 2 * c + half;
        int qsOffset = fiveBits ? 48 : 16;
        byte packed = b[qsOffset + 32 * c + l];
        int q = half == 0 ? packed & 0xF : packed >> 4;
        if (fiveBits && ((b[16 + l] >> j) & 1) != 0) q += 16;
        ReadOnlySpan<byte> s = b.Slice(4, 12);
        // Six-bit scale and min of sub-block j: j < 4 in bytes j and j + 4; otherwise low four bits in the
        // nibbles of byte j + 4, top two bits in the top bits of bytes j - 4 (scale) and j (min).
        int sc = j < 4 ? s[j] & 63 : (s[j + 4] & 0xF) | ((s[j - 4] >> 6) << 4);
        int m = j < 4 ? s[j + 4] & 63 : (s[j + 4] >> 4) | ((s[j] >> 6) << 4);
        float d = Half(b, 0) * sc, dm = Half(b, 2) * m;
        return d * q - dm;
    }

    /// <summary>210 bytes: ql[128], qh[64], scales[16] (int8), d. Per 128 values c, value 32g + l takes its low
    /// nibble from ql[64c + l + 32·(g&amp;1)] (low nibble for g &lt; 2, high otherwise) and bits 2g..2g+1 of qh[32c + l];
    /// q - 32 is scaled by scales[8c + 2g + l/16].</summary>
    static float Q6K(ReadOnlySpan<byte> b, int e)
    {
        int c = e / 128, g = e % 128 / 32, l = e % 32;
        byte packed = b[64 * c + l + 32 * (g & 1)];
        int low = g < 2 ? packed & 0xF : packed >> 4;
        int high = (b[128 + 32 * c + l] >> (2 * g)) & 3;
        int q = (low | (high << 4)) - 32;
        sbyte sc = (sbyte)b[192 + 8 * c + 2 * g + l / 16];
        return Half(b, 208) * sc * q;
    }
}
