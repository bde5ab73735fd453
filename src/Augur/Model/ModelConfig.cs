using Augur.Tensors;

namespace Augur.Model;

/// <summary>The feed-forward gate's non-linearity: SiLU (SwiGLU) or GELU's tanh approximation (GeGLU).</summary>
public enum Activation { Silu, GeluTanh }

/// <summary>Where a block's RMS norms sit: before each sub-block (Llama), or before and after it (Gemma's sandwich).</summary>
public enum NormPlacement { Pre, Sandwich }

/// <summary>
/// Hyper-parameters of a decoder-only transformer. The positional part is what every family has; the
/// properties below name what differs between families (defaults: Llama's choices), so the one forward pass
/// reads them instead of asking which family it runs.
/// </summary>
public sealed record ModelConfig(
    string Architecture,
    int Dim,           // residual stream width
    int HiddenDim,     // feed-forward width
    int Layers,
    int Heads,
    int KvHeads,       // grouped-query attention: Heads / KvHeads query heads share one key/value head
    int VocabSize,
    int ContextLength, // the longest sequence the model was trained for
    int RopeDim,       // leading dims of each head that RoPE rotates
    float RopeBase,
    float NormEps)
{
    readonly int _headDim;
    readonly float _attentionScale;

    /// <summary>Width of one query/key/value head (<c>attention.key_length</c>); Dim / Heads unless the file says otherwise (Qwen 3, Gemma 3).</summary>
    public int HeadDim { get => _headDim > 0 ? _headDim : Dim / Heads; init => _headDim = value; }
    public int QDim => HeadDim * Heads;
    public int KvDim => HeadDim * KvHeads;
    public int QueriesPerKv => Heads / KvHeads;

    public RopeKind Rope { get; init; } = RopeKind.Adjacent;
    /// <summary>Linear RoPE scaling: positions are multiplied by this (1 / <c>rope.scaling.factor</c>).</summary>
    public float RopeScale { get; init; } = 1f;
    /// <summary>RoPE's cos and sin are multiplied by this (<c>rope.scaling.attn_factor</c>: LongRoPE's attention scaling, ggml's mscale).</summary>
    public float RopeAttentionFactor { get; init; } = 1f;
    /// <summary>Context the RoPE factors were fitted for (<c>rope.scaling.original_context_length</c>): a cache longer than this takes Phi-3's long factors.</summary>
    public int RopeOriginalContext { get; init; }
    /// <summary>Query, key and value projections carry biases (Qwen 2).</summary>
    public bool AttentionBias { get; init; }
    /// <summary>Each query and key head is RMS-normed before RoPE (Qwen 3, Gemma 3).</summary>
    public bool QkNorm { get; init; }
    public Activation Activation { get; init; } = Activation.Silu;
    /// <summary>The token embedding is multiplied by this (Gemma: √dim).</summary>
    public float EmbeddingScale { get; init; } = 1f;
    public NormPlacement Norms { get; init; } = NormPlacement.Pre;
    /// <summary>Scale of the query·key scores; 1/√head_dim unless the family says otherwise.</summary>
    public float AttentionScale { get => _attentionScale > 0 ? _attentionScale : 1f / MathF.Sqrt(HeadDim); init => _attentionScale = value; }
    /// <summary>Tokens a sliding-window layer sees, itself included; 0 when no layer slides.</summary>
    public int SlidingWindow { get; init; }
    /// <summary>Which layers slide (Gemma 3: five of every six); null when none do.</summary>
    public bool[]? SlidingLayers { get; init; }
    /// <summary>RoPE base of the sliding-window layers (Gemma 3's local base); the global layers use <see cref="RopeBase"/>.</summary>
    public float LocalRopeBase { get; init; }
    /// <summary>Layers whose queries and keys are not rotated (SmolLM 3's NoPE layers: every fourth); null when all are.</summary>
    public bool[]? UnrotatedLayers { get; init; }
    /// <summary>The classifier is the token embedding (no <c>output.weight</c>).</summary>
    public bool TiedClassifier { get; init; }

    public bool Slides(int layer) => SlidingLayers is { } s && s[layer];
    public bool Rotates(int layer) => UnrotatedLayers is not { } u || !u[layer];

    /// <summary>Checks the numbers fit together; throws <see cref="ModelFormatException"/> naming the bad one.</summary>
    public void Validate(string source)
    {
        void Need(bool ok, string what) { if (!ok) throw new ModelFormatException($"{source}: {what}"); }
        Need(Dim > 0 && Dim <= 1 << 16, $"embedding length {Dim} is out of range");
        Need(HiddenDim > 0 && HiddenDim <= 1 << 18, $"feed-forward length {HiddenDim} is out of range");
        Need(Layers > 0 && Layers <= 1024, $"layer count {Layers} is out of range");
        Need(Heads > 0 && (_headDim > 0 || Dim % Heads == 0), $"head count {Heads} does not divide embedding length {Dim}");
        Need(HeadDim > 0 && HeadDim <= 1024, $"head size {HeadDim} is out of range");
        Need(KvHeads > 0 && Heads % KvHeads == 0, $"key/value head count {KvHeads} does not divide head count {Heads}");
        Need(VocabSize > 0 && VocabSize <= 1 << 22, $"vocabulary size {VocabSize} is out of range");
        Need(ContextLength > 0 && ContextLength <= 1 << 24, $"context length {ContextLength} is out of range");
        Need(RopeDim > 0 && RopeDim <= HeadDim && RopeDim % 2 == 0, $"rope dimension count {RopeDim} must be even and at most the head size {HeadDim}");
        Need(RopeBase > 0 && float.IsFinite(RopeBase), $"rope base {RopeBase} is not a positive number");
        Need(RopeScale > 0 && float.IsFinite(RopeScale), $"rope scale {RopeScale} is not a positive number");
        Need(RopeAttentionFactor > 0 && float.IsFinite(RopeAttentionFactor), $"rope attention factor {RopeAttentionFactor} is not a positive number");
        Need(NormEps > 0 && NormEps < 1, $"RMS norm epsilon {NormEps} is out of range");
        Need(UnrotatedLayers is null || UnrotatedLayers.Length == Layers, $"{UnrotatedLayers?.Length} unrotated-layer flags for {Layers} layers");
        Need(SlidingLayers is null || (SlidingLayers.Length == Layers && SlidingWindow > 0 && LocalRopeBase > 0),
            $"sliding-window layers need a window (got {SlidingWindow}) and a local rope base (got {LocalRopeBase})");
    }
}
