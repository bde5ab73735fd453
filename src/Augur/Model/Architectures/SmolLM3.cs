using Augur.Gguf;

namespace Augur.Model.Architectures;

/// <summary>SmolLM 3 (llama.cpp's smollm3.cpp): Llama whose every fourth layer (l + 1 ≡ 0 mod 4) attends without RoPE (NoPE); the step is fixed, not in the metadata.</summary>
public sealed class SmolLM3 : IArchitecture
{
    const int NoRopeStep = 4;

    public string Name => "smollm3";

    public ModelConfig Configure(ModelConfig c, Func<string, GgufValue?> metadata) =>
        c with { UnrotatedLayers = [.. Enumerable.Range(0, c.Layers).Select(l => (l + 1) % NoRopeStep == 0)] };

    public ModelConfig Typical(ModelConfig shape, int slidingWindow) => shape with { RopeBase = 5000000f, NormEps = 1e-6f };

    public LayerWeights LoadLayer(TensorReader tensors, ModelConfig config, int layer) => tensors.Layer(config, layer);
}
