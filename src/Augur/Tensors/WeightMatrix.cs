namespace Augur.Tensors;

/// <summary>
/// A row-major weight matrix (rows, cols) in some <see cref="WeightFormat"/>, pointing at memory owned
/// elsewhere (a memory-mapped GGUF file or a loaded checkpoint). Row r holds output r's input weights.
/// </summary>
public readonly unsafe struct WeightMatrix(string name, WeightFormat format, byte* data, int rows, int cols)
{
    public string Name { get; } = name;
    public WeightFormat Format { get; } = format;
    public byte* Data { get; } = data;
    public int Rows { get; } = rows;
    public int Cols { get; } = cols;
    public long RowBytes => Format.RowBytes(Cols);
    public long ByteSize => RowBytes * Rows;

    /// <summary>Writes row <paramref name="r"/> as floats (embedding lookup).</summary>
    public void DequantizeRow(int r, Span<float> dst)
    {
        fixed (float* d = dst) Format.DequantizeRow(Data + r * RowBytes, d, Cols);
    }
}
