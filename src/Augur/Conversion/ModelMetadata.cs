using Augur.Gguf;
using Augur.Model;

namespace Augur.Conversion;

/// <summary>The metadata keys llama.cpp's converter writes for a model's hyper-parameters, prefixed by its architecture.</summary>
public static class ModelMetadata
{
    /// <summary>
    /// The architecture's keys for <paramref name="c"/>: the shared ones, the head size when it is not dim / heads,
    /// the RoPE attention factor when it is not 1, the sliding window when layers slide.
    /// </summary>
    public static IEnumerable<(string Key, GgufValue Value)> Keys(ModelConfig c)
    {
        string a = c.Architecture;
        yield return ($"{a}.context_length", GgufValue.Of((uint)c.ContextLength));
        yield return ($"{a}.embedding_length", GgufValue.Of((uint)c.Dim));
        yield return ($"{a}.block_count", GgufValue.Of((uint)c.Layers));
        yield return ($"{a}.feed_forward_length", GgufValue.Of((uint)c.HiddenDim));
        yield return ($"{a}.attention.head_count", GgufValue.Of((uint)c.Heads));
        yield return ($"{a}.attention.head_count_kv", GgufValue.Of((uint)c.KvHeads));
        if (c.HeadDim * c.Heads != c.Dim)
        {
            yield return ($"{a}.attention.key_length", GgufValue.Of((uint)c.HeadDim));
            yield return ($"{a}.attention.value_length", GgufValue.Of((uint)c.HeadDim));
        }
        yield return ($"{a}.rope.dimension_count", GgufValue.Of((uint)c.RopeDim));
        yield return ($"{a}.attention.layer_norm_rms_epsilon", GgufValue.Of(c.NormEps));
        yield return ($"{a}.rope.freq_base", GgufValue.Of(c.RopeBase));
        if (c.RopeAttentionFactor != 1f) yield return ($"{a}.rope.scaling.attn_factor", GgufValue.Of(c.RopeAttentionFactor));
        if (c.SlidingWindow > 0) yield return ($"{a}.attention.sliding_window", GgufValue.Of((uint)c.SlidingWindow));
    }

    /// <summary>The <c>general.*</c> keys and the architecture's.</summary>
    public static void Write(GgufWriter w, ModelConfig c, string name, uint fileType)
    {
        w.Set("general.architecture", GgufValue.Of(c.Architecture));
        w.Set("general.name", GgufValue.Of(name));
        w.Set("general.file_type", GgufValue.Of(fileType));
        foreach (var (key, value) in Keys(c)) w.Set(key, value);
    }
}
