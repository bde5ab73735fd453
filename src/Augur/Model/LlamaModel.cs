using System.Runtime.InteropServices;
using Augur.Cache;
using Augur.Tensors;

namespace Augur.Model;

/// <summary>
/// The Llama-family transformer: RMSNorm, rotary embeddings, grouped-query attention over an
/// <see cref="IKvCache"/>, SwiGLU feed-forward, tied or separate classifier. <see cref="Forward"/> takes a
/// <see cref="Batch"/> of tokens with positions and sequences — a prompt chunk, one decode step, a draft
/// tree or several requests at once — and leaves logits for the tokens that asked for them.
/// </summary>
public sealed unsafe class LlamaModel : IDisposable
{
    readonly RunState _s;
    readonly MatMul _matmul;
    readonly AttentionJob _attention;
    readonly WorkerPool _pool;
    int[] _seqStart = new int[1]; // (seq) the sequence's cache length before the batch
    int[] _seqNext = new int[1];  // (seq) the next cell to hand out
    int _outputs;

    public ModelConfig Config { get; }
    public ModelWeights Weights { get; }
    public int MaxBatch => _s.MaxBatch;

    public LlamaModel(ModelConfig config, ModelWeights weights, WorkerPool? pool = null, int maxBatch = 512)
    {
        Config = config;
        Weights = weights;
        _pool = pool ?? WorkerPool.Shared;
        _s = new RunState(config, maxBatch);
        long maxCols = Math.Max(config.Dim, config.HiddenDim);
        _matmul = new MatMul(_pool, maxBatch * (maxCols + 64) * 2);
        _attention = new AttentionJob(config, _s, _pool.MaxParts);
    }

    /// <summary>A dense cache for this model: <paramref name="contextLength"/> cells per sequence (default: the
    /// trained context up to <see cref="ContextWindow.DefaultMax"/>, not a file's claim of millions).</summary>
    public KvCache CreateCache(int? contextLength = null, int sequences = 1, KvType type = KvType.F32) =>
        new(Config.Layers, Config.KvDim, contextLength ?? ContextWindow.Resolve(Config, null), sequences, type);

    /// <summary>Logits (vocab) of the k-th token of the last batch that asked for logits.</summary>
    public ReadOnlySpan<float> Logits(int output)
    {
        if ((uint)output >= (uint)_outputs) throw new ArgumentOutOfRangeException(nameof(output), output, $"the last batch produced {_outputs} logit rows");
        return _s.Logits.AsSpan(output * Config.VocabSize, Config.VocabSize);
    }

    /// <summary>
    /// Runs the batch through the model. <paramref name="skipLayers"/> (SWIFT self-speculation) leaves out
    /// the marked layers entirely: the residual stream passes them unchanged and their cache cells are not written.
    /// </summary>
    public void Forward(Batch batch, IKvCache cache, bool[]? skipLayers = null)
    {
        int n = batch.Count;
        if (n == 0) { _outputs = 0; return; }
        if (n > MaxBatch) throw new InvalidRequestException($"batch of {n} tokens exceeds the model's maximum batch of {MaxBatch}");
        var c = Config;
        PlaceInCache(batch, cache);

        fixed (float* x = _s.X, xb = _s.Xb, xb2 = _s.Xb2, q = _s.Q, k = _s.K, v = _s.V, hb = _s.Hb, hb2 = _s.Hb2, logits = _s.Logits)
        {
            for (int t = 0; t < n; t++)
            {
                Weights.TokenEmbedding.DequantizeRow(batch.Tokens[t], _s.X.AsSpan(t * c.Dim, c.Dim));
                Ops.RopeAngles(batch.Positions[t], c.RopeBase, c.RopeDim,
                    _s.RopeCos.AsSpan(t * c.RopeDim / 2, c.RopeDim / 2), _s.RopeSin.AsSpan(t * c.RopeDim / 2, c.RopeDim / 2));
            }

            for (int l = 0; l < c.Layers; l++)
            {
                if (skipLayers is not null && skipLayers[l]) continue;
                var w = Weights.Layers[l];
                // Attention block.
                for (int t = 0; t < n; t++) Ops.RmsNorm(Row(_s.X, t, c.Dim), w.AttnNorm, Row(_s.Xb, t, c.Dim), c.NormEps);
                _matmul.Multiply(w.Wq, q, w.Wk, k, w.Wv, v, xb, n);
                for (int t = 0; t < n; t++)
                {
                    var cos = Row(_s.RopeCos, t, c.RopeDim / 2);
                    var sin = Row(_s.RopeSin, t, c.RopeDim / 2);
                    Ops.Rope(Row(_s.Q, t, c.Dim), c.HeadDim, cos, sin);
                    Ops.Rope(Row(_s.K, t, c.KvDim), c.HeadDim, cos, sin);
                    int cell = _s.Cell[t], seq = batch.Sequences[t];
                    Store(Row(_s.K, t, c.KvDim), cache.Keys(l, seq), cell, cache.Type);
                    Store(Row(_s.V, t, c.KvDim), cache.Values(l, seq), cell, cache.Type);
                }
                _attention.Set(batch, cache, l);
                _pool.Run(_attention, (long)n * c.Dim * (cache.Length(batch.Sequences[0]) + 1) * 2);
                _matmul.Multiply(w.Wo, xb, n, xb2);
                System.Numerics.Tensors.TensorPrimitives.Add(_s.X.AsSpan(0, n * c.Dim), _s.Xb2.AsSpan(0, n * c.Dim), _s.X.AsSpan(0, n * c.Dim));

                // Feed-forward block.
                for (int t = 0; t < n; t++) Ops.RmsNorm(Row(_s.X, t, c.Dim), w.FfnNorm, Row(_s.Xb, t, c.Dim), c.NormEps);
                _matmul.Multiply(w.Gate, hb, w.Up, hb2, xb, n);
                Ops.SiluMul(_s.Hb.AsSpan(0, n * c.HiddenDim), _s.Hb2.AsSpan(0, n * c.HiddenDim));
                _matmul.Multiply(w.Down, hb2, n, xb2);
                System.Numerics.Tensors.TensorPrimitives.Add(_s.X.AsSpan(0, n * c.Dim), _s.Xb2.AsSpan(0, n * c.Dim), _s.X.AsSpan(0, n * c.Dim));
            }

            // Final norm and classifier, only for the tokens that want logits (packed into Xb).
            int outputs = 0;
            for (int t = 0; t < n; t++)
                if (batch.WantLogits[t]) Ops.RmsNorm(Row(_s.X, t, c.Dim), Weights.OutputNorm, Row(_s.Xb, outputs++, c.Dim), c.NormEps);
            if (outputs > 0) _matmul.Multiply(Weights.Output, xb, outputs, logits);
            _outputs = outputs;
        }
    }

    static Span<float> Row(float[] a, int row, int width) => a.AsSpan(row * width, width);

    /// <summary>Writes one key or value row into cache cell <paramref name="cell"/>, in the cache's element type.</summary>
    static void Store(ReadOnlySpan<float> row, Span<byte> block, int cell, KvType type)
    {
        if (type == KvType.F16)
            System.Numerics.Tensors.TensorPrimitives.ConvertToHalf(row, MemoryMarshal.Cast<byte, Half>(block).Slice(cell * row.Length, row.Length));
        else
            row.CopyTo(MemoryMarshal.Cast<byte, float>(block).Slice(cell * row.Length, row.Length));
    }

    /// <summary>
    /// Appends each sequence's tokens to its cache row and works out what each token may attend to:
    /// the cells its sequence held before, then itself and its ancestors in the batch. A causal chain
    /// is one contiguous range; tree branches add their ancestors' cells as a list.
    /// </summary>
    void PlaceInCache(Batch batch, IKvCache cache)
    {
        int n = batch.Count;
        if (_seqStart.Length < cache.MaxSequences)
        {
            _seqStart = new int[cache.MaxSequences];
            _seqNext = new int[cache.MaxSequences];
        }
        var next = _seqNext.AsSpan(0, cache.MaxSequences);
        next.Clear();
        for (int t = 0; t < n; t++)
        {
            int seq = batch.Sequences[t], token = batch.Tokens[t];
            if ((uint)seq >= (uint)cache.MaxSequences) throw new InvalidRequestException($"sequence {seq} is outside the cache's {cache.MaxSequences} sequences");
            if ((uint)token >= (uint)Config.VocabSize) throw new InvalidRequestException($"token id {token} is outside the vocabulary of {Config.VocabSize}");
            if (batch.Positions[t] < 0) throw new InvalidRequestException($"position {batch.Positions[t]} is negative");
            next[seq]++;
        }
        // Check every sequence before touching any, so a batch that does not fit changes nothing.
        for (int seq = 0; seq < next.Length; seq++)
            if (next[seq] > cache.Capacity - cache.Length(seq))
                throw new InvalidRequestException($"context full: sequence {seq} holds {cache.Length(seq)} of {cache.Capacity} tokens and {next[seq]} more do not fit");
        for (int seq = 0; seq < next.Length; seq++)
            if (next[seq] > 0) _seqStart[seq] = next[seq] = cache.Append(seq, next[seq]);

        int extras = 0;
        for (int t = 0; t < n; t++)
        {
            int seq = batch.Sequences[t];
            _s.Cell[t] = next[seq]++;
            // The token's own cell and its ancestors' cells, root first; those that continue the
            // sequence's cached range extend it, the rest (other branches' gaps) are listed.
            int depth = 0;
            for (int a = t; a >= 0; a = batch.Parents[a]) depth++;
            if (_s.Extra.Length < extras + depth) Array.Resize(ref _s.Extra, Math.Max(extras + depth, _s.Extra.Length * 2));
            int i = extras + depth;
            for (int a = t; a >= 0; a = batch.Parents[a]) _s.Extra[--i] = _s.Cell[a];
            int end = _seqStart[seq], k = extras;
            while (k < extras + depth && _s.Extra[k] == end) { end++; k++; }
            int remaining = extras + depth - k;
            Array.Copy(_s.Extra, k, _s.Extra, extras, remaining);
            _s.VisibleEnd[t] = end;
            _s.ExtraStart[t] = extras;
            extras += remaining;
        }
        _s.ExtraStart[n] = extras;
    }

    public void Dispose()
    {
        _matmul.Dispose();
    }

    /// <summary>Scaled dot-product attention for every (token, head) of the batch, split into parts.</summary>
    sealed class AttentionJob(ModelConfig c, RunState s, int maxParts) : IParallelJob
    {
        readonly float[][] _scores = Enumerable.Range(0, maxParts).Select(_ => new float[1]).ToArray(); // (part) → (cells)
        Batch _batch = null!;
        IKvCache _cache = null!;
        int _layer;

        public void Set(Batch batch, IKvCache cache, int layer)
        {
            (_batch, _cache, _layer) = (batch, cache, layer);
            for (int i = 0; i < _scores.Length; i++)
                if (_scores[i].Length < Attention.ScratchLength(cache.Capacity)) _scores[i] = new float[Attention.ScratchLength(cache.Capacity)];
        }

        public void Execute(int part, int parts)
        {
            int hd = c.HeadDim, kvDim = c.KvDim;
            float scale = 1f / MathF.Sqrt(hd);
            var (i0, i1) = WorkerPool.Split(_batch.Count * c.Heads, part, parts);
            var scores = _scores[part];
            fixed (float* sp = scores, qAll = s.Q, outAll = s.Xb)
            {
                for (int item = i0; item < i1; item++)
                {
                    int t = item / c.Heads, h = item % c.Heads;
                    int seq = _batch.Sequences[t];
                    int kvOffset = h / c.QueriesPerKv * hd;
                    int end = s.VisibleEnd[t], e0 = s.ExtraStart[t], e1 = s.ExtraStart[t + 1];
                    int count = end + (e1 - e0);
                    float* q = qAll + t * c.Dim + h * hd;
                    float* output = outAll + t * c.Dim + h * hd;
                    fixed (byte* keys = _cache.Keys(_layer, seq), values = _cache.Values(_layer, seq))
                    {
                        int offset = kvOffset * KvCache.ElementBytes(_cache.Type);
                        var extra = s.Extra.AsSpan(e0, e1 - e0);
                        if (_cache.Type == KvType.F16)
                            Attention.Attend<FloatElements.F16>(q, keys + offset, values + offset, kvDim, end, extra, count, hd, scale, sp, output);
                        else
                            Attention.Attend<FloatElements.F32>(q, keys + offset, values + offset, kvDim, end, extra, count, hd, scale, sp, output);
                    }
                }
            }
        }
    }
}
