using System.Numerics.Tensors;
using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;
using Augur.Tensors.Quantized;

namespace Augur.Tensors;

/// <summary>
/// How a KV-cache row of floats is stored, as the attention kernel reads it: a row of n elements takes
/// <see cref="RowBytes"/> bytes, and elements d..d+7 (d a multiple of 8) widen to floats exactly. Unlike
/// <see cref="IFloatElement"/> an element need not have its own address (q8_0 keeps a scale per 32), so loads take
/// the row and an index. Kernels take it as a type parameter: each storage type gets its own compiled loop.
/// </summary>
public unsafe interface IKvElement
{
    /// <summary>Elements per block: rows and head slices are multiples of it.</summary>
    static abstract int Block { get; }
    /// <summary>Bytes of <paramref name="elements"/> elements (a multiple of <see cref="Block"/>).</summary>
    static abstract int RowBytes(int elements);
    static abstract Vector256<float> Load8(byte* row, int index);
    static abstract float Load(byte* row, int index);
    /// <summary>Writes <paramref name="n"/> floats as one stored row.</summary>
    static abstract void Store(float* source, byte* row, int n);
}

/// <summary>The KV-cache element types: F32, IEEE half (<see cref="FloatElements.F16"/>'s exact widening) and
/// llama.cpp's block_q8_0 (an f16 scale and 32 int8, quantized as quantize_row_q8_0 does).</summary>
public static unsafe class KvElements
{
    public readonly struct F32 : IKvElement
    {
        public static int Block => 1;
        public static int RowBytes(int elements) => elements * 4;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load8(byte* row, int index) => Vector256.Load((float*)row + index);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Load(byte* row, int index) => ((float*)row)[index];
        public static void Store(float* source, byte* row, int n) => new ReadOnlySpan<float>(source, n).CopyTo(new Span<float>(row, n));
    }

    public readonly struct F16 : IKvElement
    {
        public static int Block => 1;
        public static int RowBytes(int elements) => elements * 2;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load8(byte* row, int index) => FloatElements.F16.Load8(row + index * 2);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Load(byte* row, int index) => (float)((Half*)row)[index];
        public static void Store(float* source, byte* row, int n) =>
            TensorPrimitives.ConvertToHalf(new ReadOnlySpan<float>(source, n), new Span<Half>(row, n));
    }

    /// <summary>block_q8_0: x = d·q, d an f16 first, then 32 int8. d·q is exact in float (an 11-bit mantissa times an
    /// 8-bit integer), so a q8_0 cell attends exactly as an F32 cell holding its dequantized values.</summary>
    public readonly struct Q8_0 : IKvElement
    {
        public static int Block => Q8_0Format.QK;
        public static int RowBytes(int elements) => elements / Q8_0Format.QK * Q8_0Format.Bytes;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load8(byte* row, int index)
        {
            byte* block = row + (index >> 5) * Q8_0Format.Bytes;
            var q = Avx2.ConvertToVector256Int32((sbyte*)block + 2 + (index & 31));
            return Avx.ConvertToVector256Single(q) * Vector256.Create(QuantMath.LoadHalf(block));
        }
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Load(byte* row, int index)
        {
            byte* block = row + (index >> 5) * Q8_0Format.Bytes;
            return ((sbyte*)block)[2 + (index & 31)] * QuantMath.LoadHalf(block);
        }
        public static void Store(float* source, byte* row, int n) => Q8_0Format.Instance.QuantizeRow(source, row, n);
    }
}
