using Augur.Cache;
using System.Numerics.Tensors;
using Augur.Tensors;

namespace Augur.Model;

/// <summary>
/// The one forward pass of every family: embedding (optionally scaled), then per block RMSNorm, grouped-query
/// attention (optional biases, per-head Q/K norm, adjacent or NeoX RoPE, optional sliding window) over an
/// <see cref="IKvCache"/>, a gated feed-forward (SiLU or GELU), norms before or around each sub-block, and a tied
/// or separate classifier. What differs between families is named in <see cref="ModelConfig"/> and read from the
/// file by the family's <see cref="IArchitecture"/>; this class owns the buffers and the batch.
/// <see cref="Forward"/> takes a <see cref="Batch"/> of tokens with positions and sequences — a prompt chunk, one
/// decode step, a draft tree or several requests at once — and leaves logits for the tokens that asked for them.
/// </summary>
public sealed unsafe class Transformer : ITransformer
{
    readonly RunState _s;
    readonly MatMul _matmul;
    readonly AttentionHeads _heads;
    readonly WorkerPool _pool;
    int _outputs;

    public ModelConfig Config { get; }
    public ModelWeights Weights { get; }
    public int MaxBatch => _s.MaxBatch;

    public Transformer(ModelConfig config, ModelWeights weights, WorkerPool? pool = null, int maxBatch = 512)
    {
        Config = config;
        Weights = weights;
        _pool = pool ?? WorkerPool.Shared;
        _s = new RunState(config, maxBatch);
        long maxCols = Math.Max(Math.Max(config.Dim, config.QDim), config.HiddenDim);
        _matmul = new MatMul(_pool, maxBatch * (maxCols + 64) * 2);
        _heads = new AttentionHeads(config.Heads, config.QueriesPerKv, config.HeadDim, config.AttentionScale);
    }

    /// <summary>A cache for this model: <paramref name="contextLength"/> cells per sequence at most (default: the
    /// trained context up to <see cref="ContextWindow.DefaultMax"/>, not a file's claim of millions); dense F32 unless
    /// <paramref name="options"/> say otherwise.</summary>
    public IKvCache CreateCache(int? contextLength = null, int sequences = 1, KvCacheOptions? options = null) =>
        (options ?? new KvCacheOptions()).Create(Config.Layers, Config.KvDim, Config.HeadDim, contextLength ?? ContextWindow.Resolve(Config, null), sequences);

    public ReadOnlySpan<float> Logits(int output)
    {
        if ((uint)output >= (uint)_outputs) throw new ArgumentOutOfRangeException(nameof(output), output, $"the last batch produced {_outputs} logit rows");
        return _s.Logits.AsSpan(output * Config.VocabSize, Config.VocabSize);
    }

    public void Forward(Batch batch, IKvCache cache, bool[]? skipLayers = null)
    {
        int n = batch.Count;
        if (n == 0) { _outputs = 0; return; }
        if (n > MaxBatch) throw new InvalidRequestException($"batch of {n} tokens exceeds the model's maximum batch of {MaxBatch}");
        var c = Config;
        Place(batch, cache);

        fixed (float* x = _s.X, xb = _s.Xb, xb2 = _s.Xb2, q = _s.Q, k = _s.K, v = _s.V, hb = _s.Hb, hb2 = _s.Hb2, logits = _s.Logits)
        {
            int half = c.RopeDim / 2;
            var factors = Weights.RopeFactors is { } f ? f.For(cache.Capacity) : default;
            for (int t = 0; t < n; t++)
            {
                var row = Row(_s.X, t, c.Dim);
                Weights.TokenEmbedding.DequantizeRow(batch.Tokens[t], row);
                if (c.EmbeddingScale != 1f) TensorPrimitives.Multiply(row, c.EmbeddingScale, row);
                Ops.RopeAngles(batch.Positions[t], c.RopeBase, c.RopeDim, Row(_s.RopeCos, t, half), Row(_s.RopeSin, t, half), c.RopeScale, factors, c.RopeAttentionFactor);
                if (c.SlidingLayers is not null)
                    Ops.RopeAngles(batch.Positions[t], c.LocalRopeBase, c.RopeDim, Row(_s.LocalCos, t, half), Row(_s.LocalSin, t, half));
            }

            for (int l = 0; l < c.Layers; l++)
            {
                if (skipLayers is not null && skipLayers[l]) continue;
                var w = Weights.Layers[l];
                for (int t = 0; t < n; t++) Ops.RmsNorm(Row(_s.X, t, c.Dim), w.AttnNorm, Row(_s.Xb, t, c.Dim), c.NormEps);
                AttentionBlock(batch, cache, l, w, q, k, v, xb, xb2);
                if (w.PostAttnNorm is { } postAttn)
                    for (int t = 0; t < n; t++) Ops.RmsNorm(Row(_s.Xb2, t, c.Dim), postAttn, Row(_s.Xb2, t, c.Dim), c.NormEps);
                TensorPrimitives.Add(_s.X.AsSpan(0, n * c.Dim), _s.Xb2.AsSpan(0, n * c.Dim), _s.X.AsSpan(0, n * c.Dim));

                for (int t = 0; t < n; t++) Ops.RmsNorm(Row(_s.X, t, c.Dim), w.FfnNorm, Row(_s.Xb, t, c.Dim), c.NormEps);
                FeedForward(n, w, xb, hb, hb2, xb2);
                if (w.PostFfnNorm is { } postFfn)
                    for (int t = 0; t < n; t++) Ops.RmsNorm(Row(_s.Xb2, t, c.Dim), postFfn, Row(_s.Xb2, t, c.Dim), c.NormEps);
                TensorPrimitives.Add(_s.X.AsSpan(0, n * c.Dim), _s.Xb2.AsSpan(0, n * c.Dim), _s.X.AsSpan(0, n * c.Dim));
            }

            // Final norm and classifier, only for the tokens that want logits (packed into Xb).
            int outputs = 0;
            for (int t = 0; t < n; t++)
                if (batch.WantLogits[t]) Ops.RmsNorm(Row(_s.X, t, c.Dim), Weights.OutputNorm, Row(_s.Xb, outputs++, c.Dim), c.NormEps);
            if (outputs > 0) _matmul.Multiply(Weights.Output, xb, outputs, logits);
            _outputs = outputs;
        }
    }

    /// <summary>The attention block: normed input in Xb (batch, dim) → output projection in Xb2 (batch, dim).</summary>
    void AttentionBlock(Batch batch, IKvCache cache, int layer, LayerWeights w, float* q, float* k, float* v, float* xb, float* xb2)
    {
        var c = Config;
        int n = batch.Count, half = c.RopeDim / 2;
        bool local = c.Slides(layer), rotates = c.Rotates(layer);
        float[] cosTable = local ? _s.LocalCos : _s.RopeCos, sinTable = local ? _s.LocalSin : _s.RopeSin;
        _matmul.Multiply(w.Wq, q, w.Wk, k, w.Wv, v, xb, n);
        for (int t = 0; t < n; t++)
        {
            var qt = Row(_s.Q, t, c.QDim);
            var kt = Row(_s.K, t, c.KvDim);
            var vt = Row(_s.V, t, c.KvDim);
            if (w.QBias is not null)
            {
                TensorPrimitives.Add(qt, w.QBias, qt);
                TensorPrimitives.Add(kt, w.KBias!, kt);
                TensorPrimitives.Add(vt, w.VBias!, vt);
            }
            if (w.QNorm is not null)
            {
                for (int h = 0; h < c.QDim; h += c.HeadDim) Ops.RmsNorm(qt.Slice(h, c.HeadDim), w.QNorm, qt.Slice(h, c.HeadDim), c.NormEps);
                for (int h = 0; h < c.KvDim; h += c.HeadDim) Ops.RmsNorm(kt.Slice(h, c.HeadDim), w.KNorm!, kt.Slice(h, c.HeadDim), c.NormEps);
            }
            if (rotates)
            {
                var cos = Row(cosTable, t, half);
                var sin = Row(sinTable, t, half);
                Ops.Rope(qt, c.HeadDim, cos, sin, c.Rope);
                Ops.Rope(kt, c.HeadDim, cos, sin, c.Rope);
            }
        }
        cache.Write(layer, k, v);
        cache.Attend(layer, _heads, local ? c.SlidingWindow : 0, q, xb, _pool);
        _matmul.Multiply(w.Wo, xb, n, xb2);
    }

    /// <summary>The gated feed-forward: normed input in Xb → Xb2.</summary>
    void FeedForward(int n, LayerWeights w, float* xb, float* hb, float* hb2, float* xb2)
    {
        _matmul.Multiply(w.Gate, hb, w.Up, hb2, xb, n);
        var gate = _s.Hb.AsSpan(0, n * Config.HiddenDim);
        var up = _s.Hb2.AsSpan(0, n * Config.HiddenDim);
        if (Config.Activation == Activation.GeluTanh) Ops.GeluMul(gate, up);
        else Ops.SiluMul(gate, up);
        _matmul.Multiply(w.Down, hb2, n, xb2);
    }

    static Span<float> Row(float[] a, int row, int width) => a.AsSpan(row * width, width);

    /// <summary>Checks the batch's tokens and positions, then lets the cache place it (a batch that does not fit changes nothing).</summary>
    void Place(Batch batch, IKvCache cache)
    {
        int n = batch.Count;
        for (int t = 0; t < n; t++)
        {
            if ((uint)batch.Tokens[t] >= (uint)Config.VocabSize) throw new InvalidRequestException($"token id {batch.Tokens[t]} is outside the vocabulary of {Config.VocabSize}");
            if (batch.Positions[t] < 0) throw new InvalidRequestException($"position {batch.Positions[t]} is negative");
        }
        cache.Place(batch.Tokens.AsSpan(0, n), batch.Sequences.AsSpan(0, n), batch.Parents.AsSpan(0, n));
    }

    public void Dispose()
    {
        _matmul.Dispose();
    }
}
