using Augur.Gguf;
using Augur.Tensors;

namespace Augur.Model.Architectures;

/// <summary>Qwen 2 / 2.5 (llama.cpp's qwen2.cpp): Llama with biases on the Q, K and V projections and NeoX RoPE.</summary>
public sealed class Qwen2 : IArchitecture
{
    public string Name => "qwen2";
    public ModelConfig Configure(ModelConfig common, Func<string, GgufValue?> metadata) => common with { Rope = RopeKind.NeoX, AttentionBias = true };
    public ModelConfig Typical(ModelConfig shape, int slidingWindow) => shape with { RopeBase = 1000000f, NormEps = 1e-6f };
    public LayerWeights LoadLayer(TensorReader tensors, ModelConfig config, int layer) => tensors.Layer(config, layer);
}
