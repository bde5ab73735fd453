using Augur.Cache;

namespace Augur.Model;

/// <summary>
/// A loaded model as its users see it, whatever its family: run a <see cref="Batch"/> over an
/// <see cref="IKvCache"/>, read the logits of the tokens that asked for them.
/// </summary>
public interface ITransformer : IDisposable
{
    ModelConfig Config { get; }
    ModelWeights Weights { get; }
    int MaxBatch { get; }

    /// <summary>A cache for this model: <paramref name="contextLength"/> cells (default: the trained context) per sequence
    /// at most; dense F32 unless <paramref name="options"/> say otherwise (element type, a paged pool).</summary>
    IKvCache CreateCache(int? contextLength = null, int sequences = 1, KvCacheOptions? options = null);

    /// <summary>
    /// Runs the batch through the model. <paramref name="skipLayers"/> (SWIFT self-speculation) leaves out
    /// the marked layers entirely: the residual stream passes them unchanged and their cache cells are not written.
    /// </summary>
    void Forward(Batch batch, IKvCache cache, bool[]? skipLayers = null);

    /// <summary>Logits (vocab) of the k-th token of the last batch that asked for logits.</summary>
    ReadOnlySpan<float> Logits(int output);
}
