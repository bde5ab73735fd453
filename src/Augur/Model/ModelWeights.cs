using Augur.Tensors;

namespace Augur.Model;

/// <summary>One transformer block's weights. Matrices are (out, in); norms are plain float vectors.</summary>
public sealed record LayerWeights(
    float[] AttnNorm,        // (dim)
    WeightMatrix Wq,         // (dim, dim)
    WeightMatrix Wk,         // (kv_dim, dim)
    WeightMatrix Wv,         // (kv_dim, dim)
    WeightMatrix Wo,         // (dim, dim)
    float[] FfnNorm,         // (dim)
    WeightMatrix Gate,       // (hidden, dim)  w1
    WeightMatrix Up,         // (hidden, dim)  w3
    WeightMatrix Down);      // (dim, hidden)  w2

/// <summary>
/// All weights of a Llama-family model. The matrices point into memory this object keeps alive
/// (<see cref="Owner"/>: the mapped GGUF file or the loaded checkpoint bytes); dispose to release it.
/// </summary>
public sealed class ModelWeights(
    WeightMatrix tokenEmbedding, LayerWeights[] layers, float[] outputNorm, WeightMatrix output, IDisposable owner) : IDisposable
{
    public WeightMatrix TokenEmbedding { get; } = tokenEmbedding; // (vocab, dim)
    public LayerWeights[] Layers { get; } = layers;
    public float[] OutputNorm { get; } = outputNorm;               // (dim)
    public WeightMatrix Output { get; } = output;                   // (vocab, dim); the embedding itself when tied
    public IDisposable Owner { get; } = owner;

    /// <summary>Bytes of weights one decode step reads: every matrix once, plus one embedding row.</summary>
    public long BytesPerToken =>
        Layers.Sum(l => l.Wq.ByteSize + l.Wk.ByteSize + l.Wv.ByteSize + l.Wo.ByteSize + l.Gate.ByteSize + l.Up.ByteSize + l.Down.ByteSize
                        + 4L * (l.AttnNorm.Length + l.FfnNorm.Length))
        + Output.ByteSize + TokenEmbedding.RowBytes + 4L * OutputNorm.Length;

    public void Dispose() => Owner.Dispose();
}
