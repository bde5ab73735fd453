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

    /// <summary>The family's config: <paramref name="common"/> (the shared keys, read by <see cref="ModelLoader"/>) with its own differences set.</summary>
    ModelConfig Configure(ModelConfig common, GgufFile file);

    /// <summary>Block <paramref name="layer"/>'s weights.</summary>
    LayerWeights LoadLayer(TensorReader tensors, ModelConfig config, int layer);
}

/// <summary>The families Augur runs, by <c>general.architecture</c>.</summary>
public static class Families
{
    static readonly IArchitecture[] All = [new Llama(), new Qwen2(), new Qwen3(), new Gemma3(), new Phi3()];

    public static IReadOnlyList<string> Names { get; } = [.. All.Select(a => a.Name)];

    /// <summary>The family named <paramref name="name"/>; throws naming the supported ones when Augur has none.</summary>
    public static IArchitecture Get(string name, string source) =>
        All.FirstOrDefault(a => a.Name == name)
        ?? throw new ModelFormatException($"{source}: architecture '{name}' is not supported (supported: {string.Join(", ", Names)})");
}
