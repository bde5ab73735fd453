using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Augur.Tensors.Quantized;

/// <summary>
/// Arithmetic shared by the block formats: ggml's rounding and half-float conversions (bit for bit,
/// so quantized files match llama.cpp's), and the AVX2 building blocks of ggml's x86 dot kernels.
/// </summary>
internal static unsafe class QuantMath
{
    /// <summary>The kernels below need AVX2 integer ops and FMA; otherwise formats take their scalar path.</summary>
    public static bool HasAvx2 => Avx2.IsSupported && Fma.IsSupported;

    /// <summary>
    /// ggml's nearest_int: adding 1.5·2^23 leaves round-half-to-even of <paramref name="f"/> in the low
    /// mantissa bits. Valid for |f| &lt; 2^22, which every caller guarantees.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int NearestInt(float f) => (BitConverter.SingleToInt32Bits(f + 12582912f) & 0x007fffff) - 0x00400000;

    /// <summary>IEEE half to float without branches (ggml's portable fp16_to_fp32; exact for every half).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float HalfToFloat(ushort h)
    {
        uint w = (uint)h << 16;
        uint sign = w & 0x80000000u;
        uint twoW = w + w;
        // Normal numbers: move exponent and mantissa into place, then rebias by multiplying with 2^-112.
        float normalized = BitConverter.UInt32BitsToSingle((twoW >> 4) + (0xE0u << 23)) * 1.9259299443872359e-34f;
        // Subnormals: put the mantissa under a 0.5 exponent and subtract 0.5.
        float denormalized = BitConverter.UInt32BitsToSingle((twoW >> 17) | (126u << 23)) - 0.5f;
        uint bits = twoW < (1u << 27) ? BitConverter.SingleToUInt32Bits(denormalized) : BitConverter.SingleToUInt32Bits(normalized);
        return BitConverter.UInt32BitsToSingle(sign | bits);
    }

    /// <summary>Float to IEEE half, round to nearest even, NaN to 0x7E00 (ggml's portable fp32_to_fp16).</summary>
    public static ushort FloatToHalf(float f)
    {
        // Scaling up then down lets the float unit do the rounding at the half's precision.
        float b = (MathF.Abs(f) * 5.192296858534828e+33f) * 7.703719777548943e-34f;
        uint w = BitConverter.SingleToUInt32Bits(f);
        uint shl1W = w + w;
        uint sign = w & 0x80000000u;
        uint bias = shl1W & 0xFF000000u;
        if (bias < 0x71000000u) bias = 0x71000000u;
        b = BitConverter.UInt32BitsToSingle((bias >> 1) + 0x07800000u) + b;
        uint bits = BitConverter.SingleToUInt32Bits(b);
        uint expBits = (bits >> 13) & 0x00007C00u;
        uint mantissaBits = bits & 0x00000FFFu;
        uint nonsign = expBits + mantissaBits;
        return (ushort)((sign >> 16) | (shl1W > 0xFF000000u ? 0x7E00u : nonsign));
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float LoadHalf(byte* p) => HalfToFloat(Unsafe.ReadUnaligned<ushort>(p));

    /// <summary>Every half as a float (ggml's ggml_table_f32_f16: 256 KiB for the life of the process, of which
    /// only the entries real scales use get cached), so the 32-value kernels convert a block scale with one load.
    /// Kernels copy this field to a local first, before creating any vector: when a method is compiled before the
    /// class is initialised, the static read carries an initialisation check, a possible call, and vectors live
    /// across it (or across a read inside the loop) are kept on the stack.</summary>
    public static readonly float* HalfTable = BuildHalfTable();

    static float* BuildHalfTable()
    {
        var t = (float*)System.Runtime.InteropServices.NativeMemory.Alloc(65536, sizeof(float));
        for (int i = 0; i < 65536; i++) t[i] = HalfToFloat((ushort)i);
        return t;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static float LoadHalf(float* table, byte* p) => table[Unsafe.ReadUnaligned<ushort>(p)];

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void StoreHalf(byte* p, float f) => Unsafe.WriteUnaligned(p, FloatToHalf(f));

    /// <summary>x·y summed over each group of four int8 lanes. maddubs wants an unsigned left operand,
    /// so the sign of x moves onto y (|x|·sign(x)·y), as ggml's mul_sum_i8_pairs does.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> SumI8Pairs(Vector256<sbyte> x, Vector256<sbyte> y)
    {
        var ax = Avx2.Sign(x, x).AsByte();
        var sy = Avx2.Sign(y, x);
        return Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(ax, sy), Vector256.Create((short)1));
    }

    /// <summary>x·y summed over each group of four lanes, x unsigned. maddubs saturates its 16-bit pair sums, so
    /// callers keep x small (at most 31 here: 2·31·127 fits easily).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<int> SumU8I8Pairs(Vector256<byte> x, Vector256<sbyte> y) =>
        Avx2.MultiplyAddAdjacent(Avx2.MultiplyAddAdjacent(x, y), Vector256.Create((short)1));

    /// <summary>32 nibbles of a 16-byte block: low nibbles in lanes 0..15, high nibbles in lanes 16..31,
    /// which is ggml's element order (first half of the block in the low nibbles).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> Nibbles32(byte* qs)
    {
        var t = Vector128.Load(qs);
        var hi = Vector128.ShiftRightLogical(t.AsUInt16(), 4).AsByte();
        return Vector256.Create(t, hi) & Vector256.Create((byte)0x0F);
    }

    /// <summary>Lane i = 0xFF if bit i of the 32-bit little-endian word at p is set, else 0.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector256<byte> BytesFromBits32(byte* p)
    {
        uint bits = Unsafe.ReadUnaligned<uint>(p);
        // Lane i gets byte i/8 of the word, then every bit except bit i%8 is forced on.
        var spread = Avx2.Shuffle(Vector256.Create(bits).AsByte(),
            Vector256.Create(0x0000000000000000UL, 0x0101010101010101UL, 0x0202020202020202UL, 0x0303030303030303UL).AsByte());
        spread |= Vector256.Create(0x7fbfdfeff7fbfdfeUL).AsByte();
        return Avx2.CompareEqual(spread, Vector256<byte>.AllBitsSet);
    }

    /// <summary>
    /// The tiled prefill driver: for each group of four tokens, <paramref name="dot4"/> multiplies one weight row
    /// with all four (so each weight block is loaded and unpacked once for four tokens) and writes the four dots to
    /// its last argument; leftover tokens go through <see cref="WeightFormat.Dot"/>. Kernels perform, per token,
    /// the float operations of Dot, so a result does not depend on how many tokens were batched.
    /// </summary>
    public static void MultiplyRowsBy4(WeightFormat format, delegate*<byte*, byte*, long, int, float*, void> dot4,
        byte* weights, long rowBytes, byte* activations, long activationBytes, int tokens, float* y, int yStride, int r0, int r1, int n)
    {
        float* d = stackalloc float[4];
        int t = 0;
        for (; t + 4 <= tokens; t += 4)
        {
            byte* a = activations + t * activationBytes;
            for (int r = r0; r < r1; r++)
            {
                dot4(weights + r * rowBytes, a, activationBytes, n, d);
                for (int k = 0; k < 4; k++) y[(long)(t + k) * yStride + r] = d[k];
            }
        }
        for (; t < tokens; t++)
        {
            byte* a = activations + t * activationBytes;
            for (int r = r0; r < r1; r++) y[(long)t * yStride + r] = format.Dot(weights + r * rowBytes, a, n);
        }
    }
}
