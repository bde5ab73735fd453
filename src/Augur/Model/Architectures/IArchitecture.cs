using Augur.Gguf;

namespace Augur.Model.Architectures;

/// <summary>
/// One model family as llama.cpp's converter writes it (the <c>general.architecture</c> value): what its metadata
/// means beyond the keys every family shares, and which tensors a block has. The forward pass is shared
/// (<see cref="Transformer"/>); a family only names its differences in the <see cref="ModelConfig"/> it returns.
/// </summary>
public interface IArchitecture
{
    /// <summary>The <c>general.architecture</c> value, also the prefix of its metadata keys.</summary>
    string Name { get; }

    /// <summary>The family's config: <paramref name="common"/> (the shared keys, read by <see cref="ModelLoader"/>) with its own differences set; <paramref name="metadata"/> looks up a key.</summary>
    ModelConfig Configure(ModelConfig common, Func<string, GgufValue?> metadata);

    /// <summary>Block <paramref name="layer"/>'s weights.</summary>
    LayerWeights LoadLayer(TensorReader tensors, ModelConfig config, int layer);

    /// <summary>
    /// For synthetic files: <paramref name="shape"/> (widths and heads; RoPE base 10000, norm epsilon 1e-5, tied
    /// classifier) with the family's real models' values where those differ; <paramref name="slidingWindow"/> is the
    /// shape's window (0: the family's own), for families whose layers slide.
    /// </summary>
    ModelConfig Typical(ModelConfig shape, int slidingWindow) => shape;

    /// <summary>Block <paramref name="layer"/>'s tensors as the converter writes them: name and GGUF shape ([cols, rows] for a matrix).</summary>
    IEnumerable<(string Name, long[] Shape)> LayerTensors(ModelConfig config, int layer) => BlockTensors.Standard(config, layer);
}

/// <summary>The tensor set of the block <see cref="TensorReader.Layer(ModelConfig, int)"/> reads.</summary>
public static class BlockTensors
{
    public static IEnumerable<(string Name, long[] Shape)> Standard(ModelConfig c, int l) =>
        Attention(c, l, [(TensorNames.Wq(l), [c.Dim, c.QDim]), (TensorNames.Wk(l), [c.Dim, c.KvDim]), (TensorNames.Wv(l), [c.Dim, c.KvDim])])
        .Concat(FeedForward(c, l, [(TensorNames.Gate(l), [c.Dim, c.HiddenDim]), (TensorNames.Down(l), [c.HiddenDim, c.Dim]), (TensorNames.Up(l), [c.Dim, c.HiddenDim])]));

    /// <summary>The attention half with the given projections: norm, projections, biases, Q/K norms, output, post-norm.</summary>
    public static IEnumerable<(string, long[])> Attention(ModelConfig c, int l, (string, long[])[] projections)
    {
        yield return (TensorNames.AttnNorm(l), [c.Dim]);
        foreach (var p in projections) yield return p;
        if (c.AttentionBias)
        {
            yield return (TensorNames.QBias(l), [c.QDim]);
            yield return (TensorNames.KBias(l), [c.KvDim]);
            yield return (TensorNames.VBias(l), [c.KvDim]);
        }
        if (c.QkNorm)
        {
            yield return (TensorNames.QNorm(l), [c.HeadDim]);
            yield return (TensorNames.KNorm(l), [c.HeadDim]);
        }
        yield return (TensorNames.Wo(l), [c.QDim, c.Dim]);
        if (c.Norms == NormPlacement.Sandwich) yield return (TensorNames.PostAttnNorm(l), [c.Dim]);
    }

    /// <summary>The feed-forward half with the given projections: norm, projections, post-norm.</summary>
    public static IEnumerable<(string, long[])> FeedForward(ModelConfig c, int l, (string, long[])[] projections)
    {
        yield return (TensorNames.FfnNorm(l), [c.Dim]);
        foreach (var p in projections) yield return p;
        if (c.Norms == NormPlacement.Sandwich) yield return (TensorNames.PostFfnNorm(l), [c.Dim]);
    }
}

/// <summary>The families Augur runs, by <c>general.architecture</c>.</summary>
public static class Families
{
    static readonly IArchitecture[] All = [new Llama(), new Qwen2(), new Qwen3(), new Gemma3(), new Phi3(), new SmolLM3()];

    public static IReadOnlyList<string> Names { get; } = [.. All.Select(a => a.Name)];

    /// <summary>The family named <paramref name="name"/>; throws naming the supported ones when Augur has none.</summary>
    public static IArchitecture Get(string name, string source) =>
        All.FirstOrDefault(a => a.Name == name)
        ?? throw new ModelFormatException($"{source}: architecture '{SafeText.Quote(name)}' is not supported (supported: {string.Join(", ", Names)})");
}
