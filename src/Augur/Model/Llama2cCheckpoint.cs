using Augur.Gguf;
using Augur.Tensors;

namespace Augur.Model;

/// <summary>
/// A llama2.c checkpoint (the legacy format <c>run.c</c> reads): a 7-int32 header, then float32 arrays
/// laid out W[out][in]. The arrays are exposed under llama.cpp's canonical GGUF names with GGUF shapes
/// (ne[0] = in), byte for byte — llama2.c already uses the adjacent-pair RoPE layout llama.cpp expects,
/// so no Q/K row permutation is applied.
/// </summary>
public sealed unsafe class Llama2cCheckpoint : IDisposable
{
    const int HeaderBytes = 28;
    readonly NativeBuffer _data;

    public string Path { get; }
    public ModelConfig Config { get; }
    public bool SharedClassifier { get; }
    /// <summary>Tensors in GGUF order with GGUF names and shapes; data points into this checkpoint.</summary>
    public IReadOnlyList<(string Name, long[] Shape, nint Data)> Tensors { get; }

    public static Llama2cCheckpoint Open(string path)
    {
        if (!File.Exists(path)) throw new AssetNotFoundException(path, "model file");
        return new Llama2cCheckpoint(path);
    }

    Llama2cCheckpoint(string path)
    {
        Path = path;
        long size = new FileInfo(path).Length;
        if (size < HeaderBytes) throw Bad($"file is {size} bytes, too short for a llama2.c header");
        Span<int> h = stackalloc int[7];
        using (var fs = File.OpenRead(path))
        {
            fs.ReadExactly(System.Runtime.InteropServices.MemoryMarshal.AsBytes(h));
        }
        int dim = h[0], hidden = h[1], layers = h[2], heads = h[3], kvHeads = h[4], vocab = Math.Abs(h[5]), seqLen = h[6];
        SharedClassifier = h[5] > 0;
        var config = new ModelConfig("llama", dim, hidden, layers, heads, kvHeads, vocab, seqLen,
            RopeDim: heads > 0 ? dim / heads : 0, RopeBase: 10000f, NormEps: 1e-5f) { TiedClassifier = SharedClassifier };
        config.Validate(path);
        Config = config;

        long kvDim = (long)dim * kvHeads / heads, headSize = dim / heads;
        long floats = (long)vocab * dim + layers * (2L * dim + 2L * dim * dim + 2L * kvDim * dim + 3L * hidden * dim)
                      + dim + seqLen * headSize + (SharedClassifier ? 0 : (long)vocab * dim);
        long expected = HeaderBytes + 4 * floats;
        if (size != expected)
            throw Bad($"file is {size} bytes but its header (dim {dim}, hidden {hidden}, layers {layers}, heads {heads}, kv heads {kvHeads}, vocab {h[5]}, seq_len {seqLen}) implies {expected}; truncated or not a llama2.c checkpoint");

        _data = new NativeBuffer(size - HeaderBytes);
        using (var fs = File.OpenRead(path))
        {
            fs.Position = HeaderBytes;
            for (long done = 0; done < _data.Length;)
            {
                int chunk = (int)Math.Min(1 << 30, _data.Length - done);
                fs.ReadExactly(new Span<byte>(_data.Pointer + done, chunk));
                done += chunk;
            }
        }

        var list = new List<(string, long[], nint)>();
        float* p = (float*)_data.Pointer;
        float* Take(long n) { float* r = p; p += n; return r; }
        float* emb = Take((long)vocab * dim);
        float* rmsAtt = Take((long)layers * dim);
        float* wq = Take((long)layers * dim * dim);
        float* wk = Take(layers * kvDim * dim);
        float* wv = Take(layers * kvDim * dim);
        float* wo = Take((long)layers * dim * dim);
        float* rmsFfn = Take((long)layers * dim);
        float* w1 = Take((long)layers * hidden * dim);
        float* w2 = Take((long)layers * dim * hidden);
        float* w3 = Take((long)layers * hidden * dim);
        float* rmsFinal = Take(dim);
        Take(seqLen * headSize); // legacy RoPE tables (freq_cis_real, freq_cis_imag): recomputed, not read
        float* wcls = SharedClassifier ? emb : Take((long)vocab * dim);

        list.Add((TensorNames.TokenEmbedding, [dim, vocab], (nint)emb));
        for (int l = 0; l < layers; l++)
        {
            list.Add((TensorNames.AttnNorm(l), [dim], (nint)(rmsAtt + (long)l * dim)));
            list.Add((TensorNames.Wq(l), [dim, dim], (nint)(wq + (long)l * dim * dim)));
            list.Add((TensorNames.Wk(l), [dim, kvDim], (nint)(wk + l * kvDim * dim)));
            list.Add((TensorNames.Wv(l), [dim, kvDim], (nint)(wv + l * kvDim * dim)));
            list.Add((TensorNames.Wo(l), [dim, dim], (nint)(wo + (long)l * dim * dim)));
            list.Add((TensorNames.FfnNorm(l), [dim], (nint)(rmsFfn + (long)l * dim)));
            list.Add((TensorNames.Gate(l), [dim, hidden], (nint)(w1 + (long)l * hidden * dim)));
            list.Add((TensorNames.Down(l), [hidden, dim], (nint)(w2 + (long)l * dim * hidden)));
            list.Add((TensorNames.Up(l), [dim, hidden], (nint)(w3 + (long)l * hidden * dim)));
        }
        list.Add((TensorNames.OutputNorm, [dim], (nint)rmsFinal));
        // Written even when shared, as llama.cpp's own converter does, so readers that require it work.
        list.Add((TensorNames.Output, [dim, vocab], (nint)wcls));
        Tensors = list;
    }

    ModelFormatException Bad(string what) => new($"{Path}: {what}");

    public void Dispose() => _data.Dispose();
}
