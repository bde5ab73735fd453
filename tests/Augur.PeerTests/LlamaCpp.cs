using System.Runtime.CompilerServices;
using System.Text;
using LLama;
using LLama.Common;
using LLama.Native;

namespace Augur.PeerTests;

/// <summary>llama.cpp (through LLamaSharp's CPU backend) as the peer: load a GGUF, tokenize, run batches, read logits.</summary>
public sealed class LlamaCpp : IDisposable
{
    /// <summary>llama.cpp logs every load to stderr; silence it before the native library is first touched.</summary>
    [ModuleInitializer]
    internal static void SilenceLogging() => NativeLibraryConfig.All.WithLogCallback((_, _) => { });

    readonly LLamaWeights _weights;
    readonly LLamaContext? _context;
    readonly LLamaBatch _batch = new();

    public int VocabSize { get; }

    LlamaCpp(LLamaWeights weights, LLamaContext? context)
    {
        _weights = weights;
        _context = context;
        VocabSize = weights.Vocab.Count;
    }

    /// <summary>The tokenizer only (llama.cpp's vocab-only load: no tensors are read).</summary>
    public static LlamaCpp Vocabulary(string gguf) =>
        new(LLamaWeights.LoadFromFile(new ModelParams(gguf) { VocabOnly = true, GpuLayerCount = 0 }), null);

    /// <summary>
    /// The whole model with a context of <paramref name="contextLength"/> cells. The KV cache is F32 and flash
    /// attention is off, so that the comparison measures the forward pass, not llama.cpp's default F16 cache.
    /// </summary>
    public static LlamaCpp Model(string gguf, int contextLength = 512, int threads = 1)
    {
        var p = new ModelParams(gguf)
        {
            GpuLayerCount = 0,
            ContextSize = (uint)contextLength,
            BatchSize = (uint)contextLength,
            UBatchSize = (uint)contextLength,
            Threads = threads,
            BatchThreads = threads,
            TypeK = GGMLType.GGML_TYPE_F32,
            TypeV = GGMLType.GGML_TYPE_F32,
            FlashAttention = false,
        };
        var weights = LLamaWeights.LoadFromFile(p);
        return new LlamaCpp(weights, weights.CreateContext(p));
    }

    /// <summary>llama.cpp's tokenization: BOS as the vocabulary asks, special tokens treated as plain text (as Augur does).</summary>
    public int[] Tokenize(string text, bool addBos = true) =>
        [.. _weights.Tokenize(text, addBos, special: false, Encoding.UTF8).Select(t => (int)t)];

    /// <summary>llama.cpp's tokenization with special-token parsing chosen by the caller.</summary>
    public int[] Tokenize(string text, bool addBos, bool special) =>
        [.. _weights.Tokenize(text, addBos, special, Encoding.UTF8).Select(t => (int)t)];

    /// <summary>llama.cpp's pieces of <paramref name="ids"/> joined (token_to_piece with control tokens rendered), as bytes.</summary>
    public byte[] Detokenize(IEnumerable<int> ids)
    {
        var bytes = new List<byte>();
        var buffer = new byte[512];
        foreach (int id in ids)
        {
            int n = (int)_weights.NativeHandle.TokenToSpan((LLamaToken)id, buffer, 0, true);
            bytes.AddRange(buffer.AsSpan(0, n));
        }
        return [.. bytes];
    }

    SafeLLamaContextHandle Context => _context?.NativeHandle ?? throw new InvalidOperationException("loaded for its vocabulary only");

    /// <summary>Forgets the sequence so the next <see cref="Logits"/> starts at position 0.</summary>
    public void Clear() => Context.MemoryClear(true);

    /// <summary>Appends <paramref name="tokens"/> at positions from <paramref name="start"/> in one batch; returns every token's logits.</summary>
    public float[][] Logits(ReadOnlySpan<int> tokens, int start = 0)
    {
        _batch.Clear();
        for (int i = 0; i < tokens.Length; i++) _batch.Add(tokens[i], start + i, LLamaSeqId.Zero, true);
        Decode();
        var rows = new float[tokens.Length][];
        for (int i = 0; i < tokens.Length; i++) rows[i] = Context.GetLogitsIth(i).ToArray();
        return rows;
    }

    /// <summary>Greedy continuation: the prompt in one batch, then <paramref name="count"/> tokens one at a time (lowest id wins a tie).</summary>
    public int[] Greedy(int[] prompt, int count)
    {
        Clear();
        var logits = Logits(prompt)[^1];
        var ids = new int[count];
        for (int i = 0; i < count; i++)
        {
            ids[i] = ArgMax(logits);
            if (i + 1 < count) logits = Logits([ids[i]], prompt.Length + i)[0];
        }
        return ids;
    }

    void Decode()
    {
        var result = Context.Decode(_batch);
        if (result != DecodeResult.Ok) throw new InvalidOperationException($"llama_decode failed: {result}");
    }

    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++)
            if (logits[i] > logits[best]) best = i;
        return best;
    }

    public void Dispose()
    {
        _context?.Dispose();
        _weights.Dispose();
    }
}
