using Augur.Gguf;
using Augur.Tensors;

namespace Augur.Model;

/// <summary>
/// A model file's tensors by canonical name, checked as they are taken: a missing tensor, a shape other than
/// the config implies, or a type Augur cannot compute with is one <see cref="ModelFormatException"/> naming it.
/// </summary>
public sealed unsafe class TensorReader
{
    /// <summary>A tensor by canonical name: its type, GGUF shape and bytes; null if the file lacks it.</summary>
    public delegate (GgmlType Type, long[] Shape, nint Data)? Lookup(string name);

    readonly string _path;
    readonly Lookup _lookup;

    public TensorReader(string path, Lookup lookup) => (_path, _lookup) = (path, lookup);

    public bool Has(string name) => _lookup(name) is not null;

    (GgmlType, long[], nint) Require(string name) =>
        _lookup(name) ?? throw new ModelFormatException($"{_path}: required tensor '{SafeText.Quote(name)}' is missing");

    WeightFormat Format(string name, GgmlType type) => WeightFormats.TryGet(type)
        ?? throw new ModelFormatException($"{_path}: tensor '{SafeText.Quote(name)}' has type {type}, which Augur cannot compute with yet");

    /// <summary>A (rows, cols) matrix: GGUF shape [cols, rows].</summary>
    public WeightMatrix Matrix(string name, int rows, int cols) => Rows(name, totalRows: rows, first: 0, rows, cols);

    /// <summary>
    /// Rows [first, first + rows) of a (totalRows, cols) matrix, as a view — how a fused projection (Phi-3's
    /// attn_qkv, its gate+up ffn_up) is split into the matrices the forward pass multiplies.
    /// </summary>
    public WeightMatrix Rows(string name, int totalRows, int first, int rows, int cols)
    {
        var (type, shape, data) = Require(name);
        if (shape.Length != 2 || shape[0] != cols || shape[1] != totalRows)
            throw new ModelFormatException($"{_path}: tensor '{SafeText.Quote(name)}' has shape [{string.Join(", ", shape)}], expected [{cols}, {totalRows}]");
        var format = Format(name, type);
        return new WeightMatrix(name, format, (byte*)data + first * format.RowBytes(cols), rows, cols);
    }

    public float[] Vector(string name, int n)
    {
        var (type, shape, data) = Require(name);
        if (shape.Length != 1 || shape[0] != n)
            throw new ModelFormatException($"{_path}: tensor '{SafeText.Quote(name)}' has shape [{string.Join(", ", shape)}], expected [{n}]");
        var v = new float[n];
        fixed (float* dst = v) Format(name, type).DequantizeRow((byte*)data, dst, n);
        return v;
    }

    /// <summary>
    /// The block every family starts from: pre-norms, separate Q/K/V/O, gate/up/down, plus the biases, Q/K norms
    /// and post-norms the config asks for.
    /// </summary>
    public LayerWeights Layer(ModelConfig c, int l) =>
        Layer(c, l, Matrix(TensorNames.Wq(l), c.QDim, c.Dim), Matrix(TensorNames.Wk(l), c.KvDim, c.Dim), Matrix(TensorNames.Wv(l), c.KvDim, c.Dim),
            Matrix(TensorNames.Gate(l), c.HiddenDim, c.Dim), Matrix(TensorNames.Up(l), c.HiddenDim, c.Dim));

    /// <summary>The same block with the projections given (split from fused tensors).</summary>
    public LayerWeights Layer(ModelConfig c, int l, WeightMatrix wq, WeightMatrix wk, WeightMatrix wv, WeightMatrix gate, WeightMatrix up)
    {
        bool sandwich = c.Norms == NormPlacement.Sandwich;
        return new LayerWeights(
            Vector(TensorNames.AttnNorm(l), c.Dim), wq, wk, wv, Matrix(TensorNames.Wo(l), c.Dim, c.QDim),
            Vector(TensorNames.FfnNorm(l), c.Dim), gate, up, Matrix(TensorNames.Down(l), c.Dim, c.HiddenDim))
        {
            QBias = c.AttentionBias ? Vector(TensorNames.QBias(l), c.QDim) : null,
            KBias = c.AttentionBias ? Vector(TensorNames.KBias(l), c.KvDim) : null,
            VBias = c.AttentionBias ? Vector(TensorNames.VBias(l), c.KvDim) : null,
            QNorm = c.QkNorm ? Vector(TensorNames.QNorm(l), c.HeadDim) : null,
            KNorm = c.QkNorm ? Vector(TensorNames.KNorm(l), c.HeadDim) : null,
            PostAttnNorm = sandwich ? Vector(TensorNames.PostAttnNorm(l), c.Dim) : null,
            PostFfnNorm = sandwich ? Vector(TensorNames.PostFfnNorm(l), c.Dim) : null,
        };
    }
}
