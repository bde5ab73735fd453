using System.Diagnostics;
using Augur.Cache;
using Augur.Model;
using Augur.Tensors;
using LLama;
using LLama.Common;
using LLama.Native;

namespace Augur.Bench;

/// <summary>
/// One engine driven the way llama-bench drives llama.cpp: prompt processing is one forward batch of the
/// whole prompt from an empty cache (logits for the last token only); text generation is one token per
/// forward pass from an empty cache. Each call returns the seconds it took.
/// </summary>
interface IBenchEngine : IDisposable
{
    string Name { get; }
    double PromptProcessing(int[] tokens);
    double TextGeneration(int[] tokens);
}

sealed class AugurEngine : IBenchEngine
{
    readonly WorkerPool _pool;
    readonly LoadedModel _loaded;
    readonly IKvCache _cache;
    readonly Batch _batch;

    public AugurEngine(string path, int threads, int maxBatch, int context, KvType kv)
    {
        _pool = new WorkerPool(threads);
        _loaded = LoadedModel.Open(path, pool: _pool, maxBatch: maxBatch);
        _cache = _loaded.Model.CreateCache(context, options: kv);
        _batch = new Batch(maxBatch);
    }

    public string Name => "Augur";
    public ITransformer Model => _loaded.Model;
    public WorkerPool Pool => _pool;
    public int BosId => _loaded.Tokenizer.BosId;

    public double PromptProcessing(int[] tokens)
    {
        _cache.Clear(0);
        _batch.Clear();
        for (int i = 0; i < tokens.Length; i++) _batch.Add(tokens[i], i, 0, logits: i == tokens.Length - 1);
        long start = Stopwatch.GetTimestamp();
        _loaded.Model.Forward(_batch, _cache);
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    public double TextGeneration(int[] tokens)
    {
        _cache.Clear(0);
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < tokens.Length; i++)
        {
            _batch.Clear();
            _batch.Add(tokens[i], i, 0, logits: true);
            _loaded.Model.Forward(_batch, _cache);
        }
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    public void Dispose()
    {
        _loaded.Dispose();
        _pool.Dispose();
    }
}

/// <summary>
/// llama.cpp through LLamaSharp's CPU backend, configured as this build's llama-bench configures it by default
/// (n_batch 2048, n_ubatch 512, flash attention <c>auto</c>, mmap) except where a row asks otherwise; the KV
/// element type is always the one Augur uses in the same run. <see cref="Configuration"/> says what
/// llama.cpp actually resolved (it logs what <c>auto</c> became), so the table never guesses.
/// </summary>
sealed class LlamaCppEngine : IBenchEngine
{
    // llama-bench's defaults (tools/llama-bench: cmd_params_defaults).
    public const int DefaultBatch = 2048, DefaultUBatch = 512;

    readonly LLamaWeights _weights;
    readonly LLamaContext _context;
    readonly LLamaBatch _batch = new();
    readonly int _nBatch;

    // llama.cpp reports its resolved context settings only through the log; the last context created
    // is the one the lines belong to, because engines are built one after another on one thread.
    static readonly List<string> ContextLog = [];

    static LlamaCppEngine() => NativeLibraryConfig.All.WithLogCallback((_, message) =>
    {
        lock (ContextLog)
            if (message.Contains("flash_attn", StringComparison.Ordinal) || message.Contains("Flash Attention", StringComparison.Ordinal))
                ContextLog.Add(message.Trim());
    });

    public LlamaCppEngine(string path, int threads, int context, KvType kv, bool? flashAttention, string name)
    {
        var cellType = kv switch { KvType.F16 => GGMLType.GGML_TYPE_F16, KvType.Q8_0 => GGMLType.GGML_TYPE_Q8_0, _ => GGMLType.GGML_TYPE_F32 };
        _nBatch = DefaultBatch;
        var p = new ModelParams(path)
        {
            GpuLayerCount = 0,
            ContextSize = (uint)context,
            BatchSize = DefaultBatch,
            UBatchSize = DefaultUBatch,
            Threads = threads,
            BatchThreads = threads,
            FlashAttention = flashAttention,
            TypeK = cellType,
            TypeV = cellType,
        };
        lock (ContextLog) ContextLog.Clear();
        _weights = LLamaWeights.LoadFromFile(p);
        _context = _weights.CreateContext(p);
        Name = name;
        string requested = flashAttention switch { null => "auto", true => "on", false => "off" };
        string resolved;
        lock (ContextLog) resolved = string.Join("; ", ContextLog.Distinct());
        // `auto` counts as on only where llama.cpp said so; an unclear log earns the forced-on row too.
        FlashAttentionEnabled = flashAttention ?? resolved.Contains("set to enabled", StringComparison.Ordinal);
        Configuration = $"n_batch {DefaultBatch}, n_ubatch {DefaultUBatch}, flash attention {requested}" +
                        (resolved.Length > 0 ? $" (llama.cpp: {resolved})" : "") + $", KV {kv}, {threads} threads";
    }

    public string Name { get; }
    public string Configuration { get; }
    /// <summary>Whether flash attention is known to run: requested on, or <c>auto</c> that llama.cpp's log says it enabled.</summary>
    public bool FlashAttentionEnabled { get; }

    /// <summary>The whole prompt in n_batch chunks, as llama-bench's test_prompt submits it.</summary>
    public double PromptProcessing(int[] tokens)
    {
        _context.NativeHandle.MemoryClear(true);
        long start = Stopwatch.GetTimestamp();
        for (int from = 0; from < tokens.Length; from += _nBatch)
        {
            _batch.Clear();
            int to = Math.Min(tokens.Length, from + _nBatch);
            for (int i = from; i < to; i++) _batch.Add(tokens[i], i, LLamaSeqId.Zero, i == tokens.Length - 1);
            Decode();
        }
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    public double TextGeneration(int[] tokens)
    {
        _context.NativeHandle.MemoryClear(true);
        long start = Stopwatch.GetTimestamp();
        for (int i = 0; i < tokens.Length; i++)
        {
            _batch.Clear();
            _batch.Add(tokens[i], i, LLamaSeqId.Zero, true);
            Decode();
        }
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    void Decode()
    {
        var result = _context.NativeHandle.Decode(_batch);
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode failed: {result}");
    }

    public void Dispose()
    {
        _context.Dispose();
        _weights.Dispose();
    }
}
