using Augur.Gguf;
using Augur.Model.Architectures;
using Augur.Tensors;

namespace Augur.Model;

/// <summary>Builds <see cref="ModelConfig"/> and <see cref="ModelWeights"/> from a GGUF file (through its family) or a llama2.c checkpoint.</summary>
public static class ModelLoader
{
    public static ModelConfig ReadConfig(GgufFile file)
    {
        string arch = file.GetString("general.architecture");
        var family = Families.Get(arch, file.Path);
        var config = family.Configure(CommonConfig(file, arch), file.Find);
        config.Validate(file.Path);
        return config;
    }

    /// <summary>The keys every family has, with llama.cpp's defaults where a key may be absent.</summary>
    static ModelConfig CommonConfig(GgufFile file, string arch)
    {
        int Int(string key)
        {
            long v = file.GetInt($"{arch}.{key}");
            return v is >= 0 and <= int.MaxValue ? (int)v : throw new ModelFormatException($"{file.Path}: metadata '{SafeText.Quote(arch)}.{key}' = {v} is out of range");
        }
        int? OptionalInt(string key) => file.TryGetInt($"{arch}.{key}") is { } v ? Int(key) : null;
        int heads = Int("attention.head_count");
        int dim = Int("embedding_length");
        int headDim = OptionalInt("attention.key_length") ?? dim / Math.Max(heads, 1);
        if (OptionalInt("attention.value_length") is { } valueLength && valueLength != headDim)
            throw new ModelFormatException($"{file.Path}: metadata '{arch}.attention.value_length' = {valueLength} differs from the key length {headDim}, which Augur does not support");
        float ropeScale = 1f;
        switch (file.Find($"{arch}.rope.scaling.type")?.Value as string ?? "none")
        {
            case "none" or "linear" or "longrope":
                if (file.TryGetFloat($"{arch}.rope.scaling.factor") is { } factor and not 0) ropeScale = (float)(1 / factor);
                break;
            case var other:
                throw new ModelFormatException($"{file.Path}: metadata '{arch}.rope.scaling.type' = '{other}' is not supported (supported: none, linear, longrope)");
        }
        var tokens = file.TryGetArray<string>("tokenizer.ggml.tokens");
        var embd = file.FindTensor(TensorNames.TokenEmbedding);
        int vocab = tokens?.Length ?? (int)(file.TryGetInt($"{arch}.vocab_size") ?? embd?.Shape.ElementAtOrDefault(1) ?? 0);
        int context = Int("context_length");
        return new ModelConfig(
            arch, dim, Int("feed_forward_length"), Int("block_count"), heads,
            OptionalInt("attention.head_count_kv") ?? heads,
            vocab,
            context,
            OptionalInt("rope.dimension_count") ?? headDim,
            (float)(file.TryGetFloat($"{arch}.rope.freq_base") ?? 10000.0),
            (float)(file.TryGetFloat($"{arch}.attention.layer_norm_rms_epsilon") ?? 1e-5))
        {
            HeadDim = headDim,
            RopeScale = ropeScale,
            RopeAttentionFactor = (float)(file.TryGetFloat($"{arch}.rope.scaling.attn_factor") ?? 1.0),
            RopeOriginalContext = OptionalInt("rope.scaling.original_context_length") ?? context,
            TiedClassifier = file.FindTensor(TensorNames.Output) is null,
        };
    }

    /// <summary>Weights from a GGUF file; they point into its mapping, which the returned weights own.</summary>
    public static unsafe ModelWeights LoadWeights(GgufFile file, ModelConfig config)
    {
        var tensors = new TensorReader(file.Path, name =>
        {
            var t = file.FindTensor(name);
            return t is null ? null : (t.Type, t.Shape, (nint)file.TensorData(t));
        });
        return Build(config, Families.Get(config.Architecture, file.Path), tensors, file);
    }

    public static ModelWeights LoadWeights(Llama2cCheckpoint ckpt)
    {
        var byName = ckpt.Tensors.ToDictionary(t => t.Name);
        var tensors = new TensorReader(ckpt.Path, name => byName.TryGetValue(name, out var t) ? (GgmlType.F32, t.Shape, t.Data) : null);
        return Build(ckpt.Config, Families.Get("llama", ckpt.Path), tensors, ckpt);
    }

    static ModelWeights Build(ModelConfig c, IArchitecture family, TensorReader tensors, IDisposable owner)
    {
        var embedding = tensors.Matrix(TensorNames.TokenEmbedding, c.VocabSize, c.Dim);
        var layers = new LayerWeights[c.Layers];
        for (int l = 0; l < c.Layers; l++) layers[l] = family.LoadLayer(tensors, c, l);
        var output = c.TiedClassifier ? embedding : tensors.Matrix(TensorNames.Output, c.VocabSize, c.Dim);
        int half = c.RopeDim / 2;
        RopeFactors? factors = null;
        if (tensors.Has(TensorNames.RopeFreqs))
        {
            var f = tensors.Vector(TensorNames.RopeFreqs, half);
            factors = new RopeFactors(f, f, c.RopeOriginalContext);
        }
        else if (tensors.Has(TensorNames.RopeFactorsShort) || tensors.Has(TensorNames.RopeFactorsLong))
            factors = new RopeFactors(tensors.Vector(TensorNames.RopeFactorsShort, half), tensors.Vector(TensorNames.RopeFactorsLong, half), c.RopeOriginalContext);
        return new ModelWeights(embedding, layers, tensors.Vector(TensorNames.OutputNorm, c.Dim), output, owner, factors);
    }
}
