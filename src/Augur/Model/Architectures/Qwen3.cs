using Augur.Gguf;
using Augur.Tensors;

namespace Augur.Model.Architectures;

/// <summary>Qwen 3 dense (llama.cpp's qwen3.cpp): Llama with each query and key head RMS-normed before NeoX RoPE; head size from <c>attention.key_length</c>.</summary>
public sealed class Qwen3 : IArchitecture
{
    public string Name => "qwen3";
    public ModelConfig Configure(ModelConfig common, Func<string, GgufValue?> metadata) => common with { Rope = RopeKind.NeoX, QkNorm = true };
    public ModelConfig Typical(ModelConfig shape, int slidingWindow) => shape with { RopeBase = 1000000f, NormEps = 1e-6f };
    public LayerWeights LoadLayer(TensorReader tensors, ModelConfig config, int layer) => tensors.Layer(config, layer);
}
