namespace Augur.Model;

/// <summary>Hyper-parameters of a Llama-family transformer.</summary>
public sealed record ModelConfig(
    string Architecture,
    int Dim,           // residual stream width
    int HiddenDim,     // feed-forward width
    int Layers,
    int Heads,
    int KvHeads,       // grouped-query attention: Heads / KvHeads query heads share one key/value head
    int VocabSize,
    int ContextLength, // the longest sequence the model was trained for
    int RopeDim,       // leading dims of each head that RoPE rotates (adjacent pairs)
    float RopeBase,
    float NormEps)
{
    public int HeadDim => Dim / Heads;
    public int KvDim => HeadDim * KvHeads;
    public int QueriesPerKv => Heads / KvHeads;

    /// <summary>Checks the numbers fit together; throws <see cref="ModelFormatException"/> naming the bad one.</summary>
    public void Validate(string source)
    {
        void Need(bool ok, string what) { if (!ok) throw new ModelFormatException($"{source}: {what}"); }
        Need(Dim > 0 && Dim <= 1 << 16, $"embedding length {Dim} is out of range");
        Need(HiddenDim > 0 && HiddenDim <= 1 << 18, $"feed-forward length {HiddenDim} is out of range");
        Need(Layers > 0 && Layers <= 1024, $"layer count {Layers} is out of range");
        Need(Heads > 0 && Dim % Heads == 0, $"head count {Heads} does not divide embedding length {Dim}");
        Need(KvHeads > 0 && Heads % KvHeads == 0, $"key/value head count {KvHeads} does not divide head count {Heads}");
        Need(VocabSize > 0 && VocabSize <= 1 << 22, $"vocabulary size {VocabSize} is out of range");
        Need(ContextLength > 0 && ContextLength <= 1 << 24, $"context length {ContextLength} is out of range");
        Need(RopeDim > 0 && RopeDim <= HeadDim && RopeDim % 2 == 0, $"rope dimension count {RopeDim} must be even and at most the head size {HeadDim}");
        Need(RopeBase > 0 && float.IsFinite(RopeBase), $"rope base {RopeBase} is not a positive number");
        Need(NormEps > 0 && NormEps < 1, $"RMS norm epsilon {NormEps} is out of range");
    }
}
