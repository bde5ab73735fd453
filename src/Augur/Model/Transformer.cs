using System.Runtime.InteropServices;
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
    readonly AttentionJob _attention;
    readonly WorkerPool _pool;
    int[] _seqStart = new int[1]; // (seq) the sequence's cache length before the batch
    int[] _seqNext = new int[1];  // (seq) the next cell to hand out
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
        _attention = new AttentionJob(config, _s, _pool.MaxParts);
    }

    /// <summary>A dense cache for this model: <paramref name="contextLength"/> cells per sequence (default: the
    /// trained context up to <see cref="ContextWindow.DefaultMax"/>, not a file's claim of millions).</summary>
    public KvCache CreateCache(int? contextLength = null, int sequences = 1, KvType type = KvType.F32) =>
        new(Config.Layers, Config.KvDim, contextLength ?? ContextWindow.Resolve(Config, null), sequences, type);

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
        PlaceInCache(batch, cache);

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
            int cell = _s.Cell[t], seq = batch.Sequences[t];
            Store(kt, cache.Keys(layer, seq), cell, cache.Type);
            Store(vt, cache.Values(layer, seq), cell, cache.Type);
        }
        _attention.Set(batch, cache, layer, local ? c.SlidingWindow : 0);
        _pool.Run(_attention, (long)n * c.QDim * (cache.Length(batch.Sequences[0]) + 1) * 2);
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

    /// <summary>Writes one key or value row into cache cell <paramref name="cell"/>, in the cache's element type.</summary>
    static void Store(ReadOnlySpan<float> row, Span<byte> block, int cell, KvType type)
    {
        if (type == KvType.F16)
            TensorPrimitives.ConvertToHalf(row, MemoryMarshal.Cast<byte, Half>(block).Slice(cell * row.Length, row.Length));
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
        readonly int[][] _windowed = Enumerable.Range(0, maxParts).Select(_ => new int[1]).ToArray();   // (part) → extra cells, window-relative
        Batch _batch = null!;
        IKvCache _cache = null!;
        int _layer, _window;

        /// <summary><paramref name="window"/>: a token sees only its last that many cells (itself included); 0 for all.</summary>
        public void Set(Batch batch, IKvCache cache, int layer, int window)
        {
            (_batch, _cache, _layer, _window) = (batch, cache, layer, window);
            for (int i = 0; i < _scores.Length; i++)
            {
                if (_scores[i].Length < Attention.ScratchLength(cache.Capacity)) _scores[i] = new float[Attention.ScratchLength(cache.Capacity)];
                if (_windowed[i].Length < s.Extra.Length) _windowed[i] = new int[s.Extra.Length];
            }
        }

        public void Execute(int part, int parts)
        {
            int hd = c.HeadDim, kvDim = c.KvDim;
            float scale = c.AttentionScale;
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
                    var extra = s.Extra.AsSpan(e0, e1 - e0);
                    // Logical cell i is position i of the token's lineage, so a window keeps the last cells:
                    // the cached range starts later, and listed cells are renumbered from the window's start.
                    int first = _window > 0 ? Math.Max(0, count - _window) : 0;
                    if (first > 0)
                    {
                        int skippedExtra = Math.Max(0, first - end);
                        var shifted = _windowed[part].AsSpan(0, extra.Length - skippedExtra);
                        for (int i = 0; i < shifted.Length; i++) shifted[i] = extra[skippedExtra + i] - first;
                        extra = shifted;
                        end = Math.Max(0, end - first);
                        count -= first;
                    }
                    float* query = qAll + t * c.QDim + h * hd;
                    float* output = outAll + t * c.QDim + h * hd;
                    fixed (byte* keys = _cache.Keys(_layer, seq), values = _cache.Values(_layer, seq))
                    {
                        int offset = (first * kvDim + kvOffset) * KvCache.ElementBytes(_cache.Type);
                        if (_cache.Type == KvType.F16)
                            Attention.Attend<FloatElements.F16>(query, keys + offset, values + offset, kvDim, end, extra, count, hd, scale, sp, output);
                        else
                            Attention.Attend<FloatElements.F32>(query, keys + offset, values + offset, kvDim, end, extra, count, hd, scale, sp, output);
                    }
                }
            }
        }
    }
}
