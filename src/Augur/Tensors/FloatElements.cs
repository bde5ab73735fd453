using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Augur.Tensors;

/// <summary>A float storage type kernels read directly: eight elements widen to a vector of floats, exactly.
/// Kernels take it as a type parameter, so each storage type gets its own compiled loop.</summary>
public unsafe interface IFloatElement
{
    static abstract int Bytes { get; }
    static abstract Vector256<float> Load8(byte* p);
    static abstract float Load(byte* p);
}

/// <summary>The float storage types: F32, IEEE half and bfloat16.</summary>
public static unsafe class FloatElements
{
    public readonly struct F32 : IFloatElement
    {
        public static int Bytes => 4;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load8(byte* p) => Vector256.Load((float*)p);
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Load(byte* p) => *(float*)p;
    }

    /// <summary>IEEE half. .NET 10 has no F16C intrinsic, so eight halves widen with integer operations (exact for
    /// every value: the magnitude moves into float position and a multiply by 2¹¹² rebiases the exponent, subnormals
    /// included; infinities and NaNs get the float exponent) — in registers, next to the arithmetic that uses them.</summary>
    public readonly struct F16 : IFloatElement
    {
        public static int Bytes => 2;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load8(byte* p)
        {
            var h = Avx2.ConvertToVector256Int32(Vector128.Load((ushort*)p)).AsUInt32();
            var magnitude = (h & Vector256.Create(0x7fffu)) << 13;
            var finite = magnitude.AsSingle() * Vector256.Create(0x77800000u).AsSingle(); // × 2¹¹²
            var special = (magnitude | Vector256.Create(0x7f800000u)).AsSingle();
            // Signed compare (AVX2 has no unsigned one; the magnitude fits in 31 bits) and one blend.
            var isSpecial = Avx2.CompareGreaterThan(magnitude.AsInt32(), Vector256.Create((0x7c00 << 13) - 1)).AsSingle();
            var value = Avx.BlendVariable(finite, special, isSpecial);
            return (value.AsUInt32() | ((h & Vector256.Create(0x8000u)) << 16)).AsSingle();
        }
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Load(byte* p) => (float)*(Half*)p;
    }

    /// <summary>bfloat16: the upper half of an F32, so widening is a 16-bit shift.</summary>
    public readonly struct BF16 : IFloatElement
    {
        public static int Bytes => 2;
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static Vector256<float> Load8(byte* p) =>
            (Avx2.ConvertToVector256Int32(Vector128.Load((ushort*)p)).AsUInt32() << 16).AsSingle();
        [MethodImpl(MethodImplOptions.AggressiveInlining)]
        public static float Load(byte* p) => BitConverter.Int32BitsToSingle(*(ushort*)p << 16);
    }
}
