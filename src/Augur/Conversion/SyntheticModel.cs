using Augur.Model;
using Augur.Conversion;
using Augur.Tensors;
using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Augur.Gguf;
using Augur.Tokenizers;

namespace Augur.Conversion;

/// <summary>
/// Writes random-weight Llama GGUF files with a real vocabulary, for benchmarks and peer tests at sizes
/// no shared file has. Weights are N(0, 0.02) (the usual initialisation, so activations stay in a sane
/// range through every layer), norms are 1, the classifier is tied to the embedding. Everything follows
/// from the seed: each tensor draws from its own stream, seeded by the seed and the tensor's index.
/// Tensors are generated while the file is written, a chunk at a time, so a multi-gigabyte model never
/// sits in memory.
/// </summary>
public static class SyntheticModel
{
    /// <summary>A model shape: widths, depth and heads.</summary>
    public sealed record Shape(int Dim, int Layers, int Heads, int KvHeads, int HiddenDim);

    public const float WeightStd = 0.02f;
    public const int DefaultContextLength = 2048;

    /// <summary>Named shapes: <c>110m</c> (llama2.c's stories110M) and <c>1b</c> (a TinyLlama-like width, 16 layers).</summary>
    public static readonly IReadOnlyDictionary<string, Shape> Presets = new Dictionary<string, Shape>
    {
        ["110m"] = new(768, 12, 12, 12, 2048),
        ["1b"] = new(2048, 16, 32, 8, 5632),
    };

    public static ModelConfig Config(Shape shape, int vocabSize, int contextLength = DefaultContextLength)
    {
        var c = new ModelConfig("llama", shape.Dim, shape.HiddenDim, shape.Layers, shape.Heads, shape.KvHeads, vocabSize,
            contextLength, RopeDim: shape.Dim / Math.Max(shape.Heads, 1), RopeBase: 10000f, NormEps: 1e-5f);
        c.Validate("synthetic model");
        return c;
    }

    /// <summary>
    /// The vocabulary (and chat template, where there is one) of a Hugging Face <c>tokenizer.json</c> or its folder,
    /// a GGUF file, or a SentencePiece <c>.model</c>.
    /// </summary>
    public static HfTokenizer ReadVocabulary(string path)
    {
        if (Directory.Exists(path) || Path.GetFileName(path).EndsWith(".json", StringComparison.OrdinalIgnoreCase))
            return HfTokenizerImport.Read(path);
        if (!File.Exists(path)) throw new AssetNotFoundException(path, "tokenizer file");
        Span<byte> magic = stackalloc byte[4];
        using (var fs = File.OpenRead(path))
            if (fs.Read(magic) < 4 || BitConverter.ToUInt32(magic) != GgufFile.Magic) return new HfTokenizer(Vocabulary.FromFile(path), null);
        using var gguf = GgufFile.Open(path);
        return new HfTokenizer(Vocabulary.FromGguf(gguf), gguf.Find("tokenizer.chat_template")?.Value as string);
    }

    /// <summary>Bytes of tensor data a file of this shape and type holds (what <c>Write</c>'s progress counts up to).</summary>
    public static long TensorBytes(ModelConfig c, GgmlType type) =>
        Tensors(c, type).Sum(t => GgufWriter.TensorBytes(t.Type, t.Shape));

    public static long Parameters(ModelConfig c) =>
        Tensors(c, GgmlType.F32).Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b));

    /// <summary>Where generated models go: <c>$AUGUR_CACHE</c>, else <c>~/.cache/augur</c> (outside the repository: they are large).</summary>
    public static string CacheFolder =>
        Environment.GetEnvironmentVariable("AUGUR_CACHE") is { Length: > 0 } dir
            ? Path.GetFullPath(dir)
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "augur");

    /// <summary>A bare file name means a file in <see cref="CacheFolder"/>; any other path is used as given.</summary>
    public static string ResolvePath(string path) =>
        Path.GetFileName(path) == path ? Path.Combine(CacheFolder, path) : Path.GetFullPath(path);

    /// <summary>
    /// Writes the model to <paramref name="path"/>: matrices in <paramref name="type"/> (F32 or F16), norms in F32.
    /// <paramref name="progress"/> is called with the tensor bytes written so far.
    /// </summary>
    public static void Write(string path, ModelConfig c, Vocabulary vocab, GgmlType type = GgmlType.F32, ulong seed = 1,
        Action<long>? progress = null, string? name = null, string? chatTemplate = null)
    {
        if (type is not (GgmlType.F32 or GgmlType.F16)) throw new ArgumentException($"synthetic weights are F32 or F16, not {type}", nameof(type));
        if (vocab.Count != c.VocabSize)
            throw new ArgumentException($"the vocabulary has {vocab.Count} tokens but the config says {c.VocabSize}", nameof(vocab));
        var w = new GgufWriter();
        Llama2cConverter.WriteConfig(w, c, name ?? $"synthetic-{c.Dim}x{c.Layers}", fileType: type == GgmlType.F32 ? 0u : 1u);
        vocab.WriteTo(w);
        if (chatTemplate is not null) w.Set("tokenizer.chat_template", GgufValue.Of(chatTemplate));
        long written = 0;
        int index = 0;
        foreach (var (tensorName, tensorType, shape) in Tensors(c, type))
        {
            ulong stream = Mix(seed ^ Mix((ulong)++index));
            bool norm = shape.Length == 1;
            w.AddTensor(tensorName, tensorType, shape, s =>
            {
                long elements = shape.Aggregate(1L, (a, b) => a * b);
                written = norm ? WriteOnes(s, elements, written, progress) : WriteNormal(s, tensorType, elements, stream, written, progress);
            });
        }
        w.Write(path);
    }

    /// <summary>The tensors in file order: embedding, then per layer the llama.cpp order, then the final norm.</summary>
    static IEnumerable<(string Name, GgmlType Type, long[] Shape)> Tensors(ModelConfig c, GgmlType type)
    {
        yield return (TensorNames.TokenEmbedding, type, [c.Dim, c.VocabSize]);
        for (int l = 0; l < c.Layers; l++)
        {
            yield return (TensorNames.AttnNorm(l), GgmlType.F32, [c.Dim]);
            yield return (TensorNames.Wq(l), type, [c.Dim, c.Dim]);
            yield return (TensorNames.Wk(l), type, [c.Dim, c.KvDim]);
            yield return (TensorNames.Wv(l), type, [c.Dim, c.KvDim]);
            yield return (TensorNames.Wo(l), type, [c.Dim, c.Dim]);
            yield return (TensorNames.FfnNorm(l), GgmlType.F32, [c.Dim]);
            yield return (TensorNames.Gate(l), type, [c.Dim, c.HiddenDim]);
            yield return (TensorNames.Down(l), type, [c.HiddenDim, c.Dim]);
            yield return (TensorNames.Up(l), type, [c.Dim, c.HiddenDim]);
        }
        yield return (TensorNames.OutputNorm, GgmlType.F32, [c.Dim]);
    }

    const int Chunk = 1 << 16; // floats generated and written at a time

    static long WriteOnes(Stream s, long elements, long written, Action<long>? progress)
    {
        var bytes = new byte[elements * 4];
        MemoryMarshal.Cast<byte, float>(bytes.AsSpan()).Fill(1f);
        s.Write(bytes);
        written += bytes.Length;
        progress?.Invoke(written);
        return written;
    }

    static long WriteNormal(Stream s, GgmlType type, long elements, ulong state, long written, Action<long>? progress)
    {
        float[] values = ArrayPool<float>.Shared.Rent(Chunk);
        byte[] bytes = ArrayPool<byte>.Shared.Rent(Chunk * 4);
        try
        {
            for (long done = 0; done < elements;)
            {
                int n = (int)Math.Min(Chunk, elements - done);
                FillNormal(values.AsSpan(0, n), ref state);
                int size;
                if (type == GgmlType.F32)
                {
                    size = n * 4;
                    MemoryMarshal.AsBytes(values.AsSpan(0, n)).CopyTo(bytes);
                }
                else
                {
                    size = n * 2;
                    TensorPrimitives.ConvertToHalf(values.AsSpan(0, n), MemoryMarshal.Cast<byte, Half>(bytes.AsSpan(0, size)));
                }
                s.Write(bytes, 0, size);
                done += n;
                written += size;
                progress?.Invoke(written);
            }
        }
        finally
        {
            ArrayPool<float>.Shared.Return(values);
            ArrayPool<byte>.Shared.Return(bytes);
        }
        return written;
    }

    /// <summary>N(0, <see cref="WeightStd"/>) by Box–Muller over SplitMix64, two values per pair of draws.</summary>
    static void FillNormal(Span<float> dst, ref ulong state)
    {
        for (int i = 0; i < dst.Length; i += 2)
        {
            double u1 = ((Next(ref state) >> 11) + 1) * (1.0 / (1UL << 53)); // (0, 1]: the log stays finite
            double u2 = (Next(ref state) >> 11) * (1.0 / (1UL << 53));
            double r = WeightStd * Math.Sqrt(-2 * Math.Log(u1));
            var (sin, cos) = Math.SinCos(2 * Math.PI * u2);
            dst[i] = (float)(r * cos);
            if (i + 1 < dst.Length) dst[i + 1] = (float)(r * sin);
        }
    }

    static ulong Next(ref ulong state) => Mix(state += 0x9E3779B97F4A7C15);

    /// <summary>SplitMix64's finaliser: a good 64-bit hash, used to derive per-tensor streams and draws.</summary>
    static ulong Mix(ulong z)
    {
        z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9;
        z = (z ^ (z >> 27)) * 0x94D049BB133111EB;
        return z ^ (z >> 31);
    }
}
