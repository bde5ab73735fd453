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
    readonly KvCache _cache;
    readonly Batch _batch;

    public AugurEngine(string path, int threads, int maxBatch, int context)
    {
        _pool = new WorkerPool(threads);
        _loaded = LoadedModel.Open(path, pool: _pool, maxBatch: maxBatch);
        _cache = _loaded.Model.CreateCache(context);
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

/// <summary>llama.cpp through LLamaSharp's CPU backend, with llama-bench's defaults: F16 KV cache, no flash attention.</summary>
sealed class LlamaCppEngine : IBenchEngine
{
    readonly LLamaWeights _weights;
    readonly LLamaContext _context;
    readonly LLamaBatch _batch = new();

    static LlamaCppEngine() => NativeLibraryConfig.All.WithLogCallback((_, _) => { });

    public LlamaCppEngine(string path, int threads, int maxBatch, int context)
    {
        var p = new ModelParams(path)
        {
            GpuLayerCount = 0,
            ContextSize = (uint)context,
            BatchSize = (uint)maxBatch,
            UBatchSize = (uint)maxBatch,
            Threads = threads,
            BatchThreads = threads,
            FlashAttention = false,
        };
        _weights = LLamaWeights.LoadFromFile(p);
        _context = _weights.CreateContext(p);
    }

    public string Name => "llama.cpp";

    public double PromptProcessing(int[] tokens)
    {
        _context.NativeHandle.MemoryClear(true);
        _batch.Clear();
        for (int i = 0; i < tokens.Length; i++) _batch.Add(tokens[i], i, LLamaSeqId.Zero, i == tokens.Length - 1);
        long start = Stopwatch.GetTimestamp();
        Decode();
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
