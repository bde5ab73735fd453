using Augur.Model;
using Augur.Conversion;
using Augur.Tensors;
using System.Buffers;
using System.Numerics.Tensors;
using System.Runtime.InteropServices;
using Augur.Gguf;
using Augur.Tokenizers;
using Augur.Model.Architectures;

namespace Augur.Conversion;

/// <summary>
/// Writes random-weight GGUF files of any family Augur runs (<see cref="Families"/>), with a real vocabulary, for
/// benchmarks and peer tests at sizes no shared file has: the family's exact tensor set and the metadata keys
/// llama.cpp's converter writes. Weights are N(0, 0.02) (the usual initialisation, so activations stay in a sane
/// range through every layer), norms are 1, the classifier is tied to the embedding (Phi-3 has its own, as its
/// converter writes one). Everything follows from the seed: each tensor draws from its own stream, seeded by the
/// seed and the tensor's index. Tensors are generated while the file is written, a chunk at a time, so a
/// multi-gigabyte model never sits in memory.
/// </summary>
public static class SyntheticModel
{
    /// <summary>
    /// A model shape. <paramref name="HeadDim"/> 0 means dim / heads; <paramref name="SlidingWindow"/> applies to
    /// families with sliding layers (Gemma 3: 512 when 0); <paramref name="RopeFactors"/> writes Llama 3's
    /// <c>rope_freqs</c> or Phi-3's LongRoPE factors.
    /// </summary>
    public sealed record Shape(int Dim, int Layers, int Heads, int KvHeads, int HiddenDim, int HeadDim = 0, int SlidingWindow = 0, bool RopeFactors = false);

    public const float WeightStd = 0.02f;
    public const int DefaultContextLength = 2048;

    /// <summary>
    /// Named shapes: the real models' for the named ones (their architecture: <see cref="PresetArchitecture"/>),
    /// <c>110m</c> (llama2.c's stories110M), <c>1b</c> (a TinyLlama-like width, 16 layers), <c>tiny</c> for tests.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, Shape> Presets = new Dictionary<string, Shape>
    {
        ["tiny"] = new(256, 2, 4, 2, 512),
        ["110m"] = new(768, 12, 12, 12, 2048),
        ["1b"] = new(2048, 16, 32, 8, 5632),
        ["llama3.2-1b"] = new(2048, 16, 32, 8, 8192, RopeFactors: true),
        ["qwen3-0.6b"] = new(1024, 28, 16, 8, 3072, HeadDim: 128),
        ["gemma3-1b"] = new(1152, 26, 4, 1, 6912, HeadDim: 256, SlidingWindow: 512),
    };

    /// <summary>The architecture a preset names, if it names one.</summary>
    public static string? PresetArchitecture(string preset) => preset switch
    {
        "llama3.2-1b" => "llama",
        "qwen3-0.6b" => "qwen3",
        "gemma3-1b" => "gemma3",
        _ => null,
    };

    /// <summary>
    /// The config a file of this family and shape carries, as <see cref="ModelLoader.ReadConfig"/> reads it back: the
    /// shape, the family's real models' RoPE base and epsilon (<see cref="IArchitecture.Typical"/>), then what the
    /// family's own metadata keys imply (<see cref="IArchitecture.Configure"/>).
    /// </summary>
    public static ModelConfig Config(Shape shape, int vocabSize, int contextLength = DefaultContextLength, string architecture = "llama")
    {
        int headDim = shape.HeadDim > 0 ? shape.HeadDim : shape.Dim / Math.Max(shape.Heads, 1);
        var family = Families.Get(architecture, "synthetic model");
        var written = family.Typical(new ModelConfig(architecture, shape.Dim, shape.HiddenDim, shape.Layers, shape.Heads, shape.KvHeads, vocabSize,
            contextLength, RopeDim: headDim, RopeBase: shape.RopeFactors && architecture == "llama" ? 500000f : 10000f, NormEps: 1e-5f)
        {
            HeadDim = headDim,
            RopeOriginalContext = contextLength,
            TiedClassifier = true,
            // Phi-3's converter writes LongRoPE's attention factor with its factors: √(1 + ln(scale) / ln(original)), here for 128k over 4k.
            RopeAttentionFactor = shape.RopeFactors && architecture == "phi3" ? MathF.Sqrt(1 + MathF.Log(32) / MathF.Log(4096)) : 1f,
        }, shape.SlidingWindow);
        var keys = ModelMetadata.Keys(written).ToDictionary(k => k.Key, k => k.Value);
        var config = family.Configure(written, keys.GetValueOrDefault);
        config.Validate("synthetic model");
        return config;
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
    public static long TensorBytes(ModelConfig c, GgmlType type, bool ropeFactors = false) =>
        Tensors(c, type, ropeFactors).Sum(t => GgufWriter.TensorBytes(t.Type, t.Shape));

    public static long Parameters(ModelConfig c, bool ropeFactors = false) =>
        Tensors(c, GgmlType.F32, ropeFactors).Sum(t => t.Shape.Aggregate(1L, (a, b) => a * b));

    /// <summary>Where generated models go: <c>$AUGUR_CACHE</c>, else <c>~/.cache/augur</c> (outside the repository: they are large).</summary>
    public static string CacheFolder =>
        Environment.GetEnvironmentVariable("AUGUR_CACHE") is { Length: > 0 } dir
            ? Path.GetFullPath(dir)
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.UserProfile), ".cache", "augur");

    /// <summary>A bare file name means a file in <see cref="CacheFolder"/>; any other path is used as given.</summary>
    public static string ResolvePath(string path) =>
        Path.GetFileName(path) == path ? Path.Combine(CacheFolder, path) : Path.GetFullPath(path);

    /// <summary>
    /// Writes the model to <paramref name="path"/>: matrices in <paramref name="type"/> (F32 or F16), vectors in F32
    /// (norms 1, biases random, RoPE factors when <paramref name="ropeFactors"/>, see <see cref="Shape"/>).
    /// <paramref name="progress"/> is called with the tensor bytes written so far.
    /// </summary>
    public static void Write(string path, ModelConfig c, Vocabulary vocab, GgmlType type = GgmlType.F32, ulong seed = 1,
        Action<long>? progress = null, string? name = null, string? chatTemplate = null, bool ropeFactors = false)
    {
        if (type is not (GgmlType.F32 or GgmlType.F16)) throw new ArgumentException($"synthetic weights are F32 or F16, not {type}", nameof(type));
        if (vocab.Count != c.VocabSize)
            throw new ArgumentException($"the vocabulary has {vocab.Count} tokens but the config says {c.VocabSize}", nameof(vocab));
        var w = new GgufWriter();
        ModelMetadata.Write(w, c, name ?? $"synthetic-{c.Dim}x{c.Layers}", fileType: type == GgmlType.F32 ? 0u : 1u);
        vocab.WriteTo(w);
        if (chatTemplate is not null) w.Set("tokenizer.chat_template", GgufValue.Of(chatTemplate));
        long written = 0;
        int index = 0;
        var factors = RopeFactorTensors(c, ropeFactors).ToDictionary(f => f.Name, f => f.Values);
        foreach (var (tensorName, tensorType, shape) in Tensors(c, type, ropeFactors))
        {
            ulong stream = Mix(seed ^ Mix((ulong)++index));
            bool norm = shape.Length == 1 && !tensorName.EndsWith(".bias", StringComparison.Ordinal);
            w.AddTensor(tensorName, tensorType, shape, s =>
            {
                long elements = shape.Aggregate(1L, (a, b) => a * b);
                written = factors.TryGetValue(tensorName, out var values) ? WriteFloats(s, values, written, progress)
                    : norm ? WriteFloats(s, Ones(elements), written, progress)
                    : WriteNormal(s, tensorType, elements, stream, written, progress);
            });
        }
        w.Write(path);
    }

    /// <summary>The tensors in file order: embedding, rope factors, the blocks as the family lays them out, final norm, classifier.</summary>
    static IEnumerable<(string Name, GgmlType Type, long[] Shape)> Tensors(ModelConfig c, GgmlType type, bool ropeFactors)
    {
        var family = Families.Get(c.Architecture, "synthetic model");
        yield return (TensorNames.TokenEmbedding, type, [c.Dim, c.VocabSize]);
        foreach (var (name, _) in RopeFactorTensors(c, ropeFactors)) yield return (name, GgmlType.F32, [c.RopeDim / 2]);
        for (int l = 0; l < c.Layers; l++)
            foreach (var (name, shape) in family.LayerTensors(c, l))
                yield return (name, shape.Length == 1 ? GgmlType.F32 : type, shape);
        yield return (TensorNames.OutputNorm, GgmlType.F32, [c.Dim]);
        if (!c.TiedClassifier) yield return (TensorNames.Output, type, [c.Dim, c.VocabSize]);
    }

    /// <summary>
    /// Llama 3.1's <c>rope_freqs</c> (the converter's formula: factor 32, low/high-frequency factors 1 and 4, original
    /// context 8192) or, for Phi-3, LongRoPE's short and long factors (smooth ramps from 1 to 1.5 and to 8).
    /// </summary>
    static IEnumerable<(string Name, float[] Values)> RopeFactorTensors(ModelConfig c, bool wanted)
    {
        if (!wanted) yield break;
        int half = c.RopeDim / 2;
        if (c.Architecture == "phi3")
        {
            yield return (TensorNames.RopeFactorsLong, [.. Enumerable.Range(0, half).Select(i => 1f + 7f * i / half)]);
            yield return (TensorNames.RopeFactorsShort, [.. Enumerable.Range(0, half).Select(i => 1f + 0.5f * i / half)]);
            yield break;
        }
        const double factor = 32, low = 1, high = 4, original = 8192;
        var f = new float[half];
        for (int i = 0; i < half; i++)
        {
            double wavelength = 2 * Math.PI * Math.Pow(c.RopeBase, 2.0 * i / c.RopeDim);
            if (wavelength < original / high) f[i] = 1;
            else if (wavelength > original / low) f[i] = (float)factor;
            else
            {
                double smooth = (original / wavelength - low) / (high - low);
                f[i] = (float)(1 / ((1 - smooth) / factor + smooth));
            }
        }
        yield return (TensorNames.RopeFreqs, f);
    }

    const int Chunk = 1 << 16; // floats generated and written at a time

    static float[] Ones(long elements)
    {
        var ones = new float[elements];
        ones.AsSpan().Fill(1f);
        return ones;
    }

    static long WriteFloats(Stream s, float[] values, long written, Action<long>? progress)
    {
        var bytes = MemoryMarshal.AsBytes(values.AsSpan());
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
