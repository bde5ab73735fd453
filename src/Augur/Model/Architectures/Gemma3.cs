using Augur.Gguf;
using Augur.Tensors;

namespace Augur.Model.Architectures;

/// <summary>
/// Gemma 3 text (llama.cpp's gemma3.cpp, hparams in llama-model.cpp): the embedding scaled by √dim, sandwich norms,
/// per-head Q/K norm, GeGLU, NeoX RoPE, and — when <c>attention.sliding_window</c> is set — five sliding-window
/// layers in every six (layer l slides unless l % 6 == 5) with their own RoPE base 10000, the others global with
/// <c>rope.freq_base</c>. The query scale is 1/√head_dim, except for the 62-layer 27B's 1/√(dim/heads). The
/// converter stores Gemma's (1 + w) norm weights already added, so the norms are plain RMS norms. llama.cpp
/// applies no final soft-cap to the sliding-window model, so neither does Augur.
/// </summary>
public sealed class Gemma3 : IArchitecture
{
    const int Pattern = 6;
    const float LocalRopeBase = 10000f;

    public string Name => "gemma3";

    /// <summary>Gemma 3's global RoPE base and epsilon; its 512-token window unless the shape sets one.</summary>
    public ModelConfig Typical(ModelConfig shape, int slidingWindow) =>
        shape with { RopeBase = 1000000f, NormEps = 1e-6f, SlidingWindow = slidingWindow > 0 ? slidingWindow : 512 };

    public ModelConfig Configure(ModelConfig c, Func<string, GgufValue?> metadata)
    {
        int window = (int)(metadata($"{Name}.attention.sliding_window")?.AsInt64() ?? 0);
        return c with
        {
            Rope = RopeKind.NeoX,
            QkNorm = true,
            Activation = Activation.GeluTanh,
            EmbeddingScale = MathF.Sqrt(c.Dim),
            Norms = NormPlacement.Sandwich,
            AttentionScale = 1f / MathF.Sqrt(c.Layers == 62 ? c.Dim / c.Heads : c.HeadDim),
            SlidingWindow = window,
            SlidingLayers = window > 0 ? [.. Enumerable.Range(0, c.Layers).Select(l => l % Pattern < Pattern - 1)] : null,
            LocalRopeBase = window > 0 ? LocalRopeBase : 0,
        };
    }

    public LayerWeights LoadLayer(TensorReader tensors, ModelConfig config, int layer) => tensors.Layer(config, layer);
}
