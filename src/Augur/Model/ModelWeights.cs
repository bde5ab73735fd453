using Augur.Tensors;

namespace Augur.Model;

/// <summary>
/// One transformer block's weights. Matrices are (out, in); norms and biases are plain float vectors. The
/// optional ones are present exactly when the config asks for them (<see cref="ModelConfig.AttentionBias"/>,
/// <see cref="ModelConfig.QkNorm"/>, <see cref="NormPlacement.Sandwich"/>).
/// </summary>
public sealed record LayerWeights(
    float[] AttnNorm,        // (dim)
    WeightMatrix Wq,         // (q_dim, dim)
    WeightMatrix Wk,         // (kv_dim, dim)
    WeightMatrix Wv,         // (kv_dim, dim)
    WeightMatrix Wo,         // (dim, q_dim)
    float[] FfnNorm,         // (dim)
    WeightMatrix Gate,       // (hidden, dim)  w1
    WeightMatrix Up,         // (hidden, dim)  w3
    WeightMatrix Down)       // (dim, hidden)  w2
{
    public float[]? QBias { get; init; }        // (q_dim)
    public float[]? KBias { get; init; }        // (kv_dim)
    public float[]? VBias { get; init; }        // (kv_dim)
    public float[]? QNorm { get; init; }        // (head_dim)
    public float[]? KNorm { get; init; }        // (head_dim)
    public float[]? PostAttnNorm { get; init; } // (dim)
    public float[]? PostFfnNorm { get; init; }  // (dim)

    /// <summary>Bytes one token reads from this block: every matrix once, the vectors.</summary>
    public long BytesPerToken =>
        Wq.ByteSize + Wk.ByteSize + Wv.ByteSize + Wo.ByteSize + Gate.ByteSize + Up.ByteSize + Down.ByteSize
        + 4L * new[] { AttnNorm, FfnNorm, QBias, KBias, VBias, QNorm, KNorm, PostAttnNorm, PostFfnNorm }.Sum(v => v?.Length ?? 0);
}

/// <summary>
/// RoPE frequency factors: θᵢ is divided by factor i. Llama 3 has one set (<c>rope_freqs</c>); Phi-3's LongRoPE a
/// short set and a long one, the long for caches longer than the context the factors were fitted for.
/// </summary>
public sealed record RopeFactors(float[] Short, float[] Long, int OriginalContext)
{
    public float[] For(int cacheCapacity) => cacheCapacity > OriginalContext ? Long : Short;
}

/// <summary>
/// All weights of a model. The matrices point into memory this object keeps alive
/// (<see cref="Owner"/>: the mapped GGUF file or the loaded checkpoint bytes); dispose to release it.
/// </summary>
public sealed class ModelWeights(
    WeightMatrix tokenEmbedding, LayerWeights[] layers, float[] outputNorm, WeightMatrix output, IDisposable owner,
    RopeFactors? ropeFactors = null) : IDisposable
{
    public WeightMatrix TokenEmbedding { get; } = tokenEmbedding; // (vocab, dim)
    public LayerWeights[] Layers { get; } = layers;
    public float[] OutputNorm { get; } = outputNorm;               // (dim)
    public WeightMatrix Output { get; } = output;                   // (vocab, dim); the embedding itself when tied
    public RopeFactors? RopeFactors { get; } = ropeFactors;         // (rope_dim / 2) each
    public IDisposable Owner { get; } = owner;

    /// <summary>Bytes of weights one decode step reads: every matrix once, plus one embedding row.</summary>
    public long BytesPerToken => Layers.Sum(l => l.BytesPerToken) + Output.ByteSize + TokenEmbedding.RowBytes + 4L * OutputNorm.Length;

    public void Dispose() => Owner.Dispose();
}
