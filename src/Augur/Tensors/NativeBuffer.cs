using System.Runtime.InteropServices;

namespace Augur.Tensors;

/// <summary>64-byte-aligned unmanaged memory that weights and kernels can point into without pinning.</summary>
public sealed unsafe class NativeBuffer : IDisposable
{
    public byte* Pointer { get; private set; }
    public long Length { get; }

    public NativeBuffer(long length)
    {
        Length = length;
        Pointer = (byte*)NativeMemory.AlignedAlloc((nuint)Math.Max(length, 1), 64);
        NativeMemory.Clear(Pointer, (nuint)length);
    }

    public Span<byte> Span => new(Pointer, checked((int)Length));

    public void Dispose()
    {
        if (Pointer == null) return;
        NativeMemory.AlignedFree(Pointer);
        Pointer = null;
    }
}
