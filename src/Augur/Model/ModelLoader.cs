using Augur.Gguf;
using Augur.Tensors;

namespace Augur.Model;

/// <summary>Builds <see cref="ModelConfig"/> and <see cref="ModelWeights"/> from a GGUF file or a llama2.c checkpoint.</summary>
public static unsafe class ModelLoader
{
    static readonly string[] SupportedArchitectures = ["llama"];

    /// <summary>A tensor by canonical name: its type, GGUF shape and bytes; null if the file lacks it.</summary>
    delegate (GgmlType Type, long[] Shape, nint Data)? TensorLookup(string name);

    public static ModelConfig ReadConfig(GgufFile file)
    {
        string arch = file.GetString("general.architecture");
        if (!SupportedArchitectures.Contains(arch))
            throw new ModelFormatException($"{file.Path}: architecture '{SafeText.Quote(arch)}' is not supported (supported: {string.Join(", ", SupportedArchitectures)})");
        int Int(string key)
        {
            long v = file.GetInt($"{arch}.{key}");
            return v is >= 0 and <= int.MaxValue ? (int)v : throw new ModelFormatException($"{file.Path}: metadata '{SafeText.Quote(arch)}.{key}' = {v} is out of range");
        }
        int heads = Int("attention.head_count");
        int dim = Int("embedding_length");
        var tokens = file.TryGetArray<string>("tokenizer.ggml.tokens");
        var embd = file.FindTensor(TensorNames.TokenEmbedding);
        int vocab = tokens?.Length ?? (int)(file.TryGetInt($"{arch}.vocab_size") ?? embd?.Shape.ElementAtOrDefault(1) ?? 0);
        var config = new ModelConfig(
            arch, dim, Int("feed_forward_length"), Int("block_count"), heads,
            (int)(file.TryGetInt($"{arch}.attention.head_count_kv") ?? heads),
            vocab,
            Int("context_length"),
            (int)(file.TryGetInt($"{arch}.rope.dimension_count") ?? dim / Math.Max(heads, 1)),
            (float)(file.TryGetFloat($"{arch}.rope.freq_base") ?? 10000.0),
            (float)(file.TryGetFloat($"{arch}.attention.layer_norm_rms_epsilon") ?? 1e-5));
        config.Validate(file.Path);
        return config;
    }

    /// <summary>Weights from a GGUF file; they point into its mapping, which the returned weights own.</summary>
    public static ModelWeights LoadWeights(GgufFile file, ModelConfig config)
    {
        return Build(config, file.Path, name =>
        {
            var t = file.FindTensor(name);
            return t is null ? null : (t.Type, t.Shape, (nint)file.TensorData(t));
        }, file);
    }

    public static ModelWeights LoadWeights(Llama2cCheckpoint ckpt)
    {
        var byName = ckpt.Tensors.ToDictionary(t => t.Name);
        return Build(ckpt.Config, ckpt.Path, name =>
            byName.TryGetValue(name, out var t) ? (GgmlType.F32, t.Shape, t.Data) : null, ckpt);
    }

    static ModelWeights Build(ModelConfig c, string path, TensorLookup lookup, IDisposable owner)
    {
        (GgmlType, long[], nint) Require(string name) =>
            lookup(name) ?? throw new ModelFormatException($"{path}: required tensor '{SafeText.Quote(name)}' is missing");

        WeightMatrix Matrix(string name, int rows, int cols)
        {
            var (type, shape, data) = Require(name);
            if (shape.Length != 2 || shape[0] != cols || shape[1] != rows)
                throw new ModelFormatException($"{path}: tensor '{SafeText.Quote(name)}' has shape [{string.Join(", ", shape)}], expected [{cols}, {rows}]");
            var format = WeightFormats.TryGet(type)
                ?? throw new ModelFormatException($"{path}: tensor '{SafeText.Quote(name)}' has type {type}, which Augur cannot compute with yet");
            return new WeightMatrix(name, format, (byte*)data, rows, cols);
        }

        float[] Vector(string name, int n)
        {
            var (type, shape, data) = Require(name);
            if (shape.Length != 1 || shape[0] != n)
                throw new ModelFormatException($"{path}: tensor '{SafeText.Quote(name)}' has shape [{string.Join(", ", shape)}], expected [{n}]");
            var format = WeightFormats.TryGet(type)
                ?? throw new ModelFormatException($"{path}: tensor '{SafeText.Quote(name)}' has type {type}, which Augur cannot compute with yet");
            var v = new float[n];
            fixed (float* dst = v) format.DequantizeRow((byte*)data, dst, n);
            return v;
        }

        var embedding = Matrix(TensorNames.TokenEmbedding, c.VocabSize, c.Dim);
        var layers = new LayerWeights[c.Layers];
        for (int l = 0; l < c.Layers; l++)
        {
            layers[l] = new LayerWeights(
                Vector(TensorNames.AttnNorm(l), c.Dim),
                Matrix(TensorNames.Wq(l), c.Dim, c.Dim),
                Matrix(TensorNames.Wk(l), c.KvDim, c.Dim),
                Matrix(TensorNames.Wv(l), c.KvDim, c.Dim),
                Matrix(TensorNames.Wo(l), c.Dim, c.Dim),
                Vector(TensorNames.FfnNorm(l), c.Dim),
                Matrix(TensorNames.Gate(l), c.HiddenDim, c.Dim),
                Matrix(TensorNames.Up(l), c.HiddenDim, c.Dim),
                Matrix(TensorNames.Down(l), c.Dim, c.HiddenDim));
        }
        var output = lookup(TensorNames.Output) is null ? embedding : Matrix(TensorNames.Output, c.VocabSize, c.Dim);
        return new ModelWeights(embedding, layers, Vector(TensorNames.OutputNorm, c.Dim), output, owner);
    }
}
