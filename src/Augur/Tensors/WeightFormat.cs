
namespace Augur.Tensors;

/// <summary>
/// How one GGUF tensor type lays out a row and multiplies it with activations (ggml's type traits).
/// A row of <c>n</c> elements is <c>n / BlockSize</c> blocks of <c>BlockBytes</c> bytes.
/// Before a matrix multiply the activations are converted once into <see cref="ActivationFormat"/>
/// (F32 for float weights; 8-bit blocks for quantized weights, so the dot product runs on integers).
/// </summary>
public abstract unsafe class WeightFormat
{
    public abstract GgmlType Type { get; }

    /// <summary>Elements per block (1 for plain float types).</summary>
    public abstract int BlockSize { get; }

    /// <summary>Bytes per block.</summary>
    public abstract int BlockBytes { get; }

    /// <summary>The format activations are converted to before <see cref="Dot"/> is called.</summary>
    public abstract WeightFormat ActivationFormat { get; }

    public long RowBytes(long n) => n / BlockSize * BlockBytes;

    /// <summary>Writes the <paramref name="n"/> floats a row stores.</summary>
    public abstract void DequantizeRow(byte* src, float* dst, int n);

    /// <summary>Encodes <paramref name="n"/> floats into this format (rounding as ggml's reference quantizer does).</summary>
    public abstract void QuantizeRow(float* src, byte* dst, int n);

    /// <summary>Dot product of a row of this format with activations already in <see cref="ActivationFormat"/>.</summary>
    public abstract float Dot(byte* row, byte* activations, int n);

    /// <summary>
    /// y[t * yStride + r] = row r · activations of token t, for rows [r0, r1) and tokens [0, tokens).
    /// The default walks row by row so each weight row is read from memory once for the whole batch;
    /// formats override it with register-tiled kernels.
    /// </summary>
    public virtual void MultiplyRows(byte* weights, long rowBytes, byte* activations, long activationBytes,
        int tokens, float* y, int yStride, int r0, int r1, int n)
    {
        for (int r = r0; r < r1; r++)
        {
            byte* row = weights + r * rowBytes;
            for (int t = 0; t < tokens; t++)
                y[(long)t * yStride + r] = Dot(row, activations + t * activationBytes, n);
        }
    }

    public override string ToString() => Type.ToString();
}
