using Augur.Gguf;

namespace Augur.Model.Architectures;

/// <summary>
/// Meta's Llama 1–3 (and what loads as it: Mistral 7B, SmolLM2, TinyLlama, llama2.c's stories): pre-norm blocks,
/// adjacent-pair RoPE, SwiGLU; Llama 3.1+ divides RoPE frequencies by the <c>rope_freqs</c> factors (read by the loader).
/// Every difference is a default of <see cref="ModelConfig"/>, so there is nothing to set.
/// </summary>
public sealed class Llama : IArchitecture
{
    public string Name => "llama";
    public ModelConfig Configure(ModelConfig common, Func<string, GgufValue?> metadata) => common;
    public LayerWeights LoadLayer(TensorReader tensors, ModelConfig config, int layer) => tensors.Layer(config, layer);
}
