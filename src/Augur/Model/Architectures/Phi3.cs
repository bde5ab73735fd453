using Augur.Gguf;
using Augur.Tensors;

namespace Augur.Model.Architectures;

/// <summary>
/// Phi-3 / Phi-3.5 / Phi-4-mini (llama.cpp's phi3.cpp): Llama with NeoX RoPE, Q/K/V fused into one
/// <c>attn_qkv</c> (rows: Q, then K, then V) and gate and up fused into <c>ffn_up</c> (gate rows first), split
/// here into views. LongRoPE's <c>rope_factors_short</c>/<c>_long</c> are read by the loader. llama.cpp disables
/// Phi's sliding window, so <c>attention.sliding_window</c> is ignored as it is there.
/// </summary>
public sealed class Phi3 : IArchitecture
{
    public string Name => "phi3";
    public ModelConfig Configure(ModelConfig common, Func<string, GgufValue?> metadata) => common with { Rope = RopeKind.NeoX };
    public ModelConfig Typical(ModelConfig shape, int slidingWindow) => shape with { TiedClassifier = false };

    public LayerWeights LoadLayer(TensorReader t, ModelConfig c, int l)
    {
        int qkv = c.QDim + 2 * c.KvDim, ff = c.HiddenDim;
        bool fused = t.Has(TensorNames.Wqkv(l)); // some conversions write attn_q/k/v separately; ffn_up is always fused
        return t.Layer(c, l,
            fused ? t.Rows(TensorNames.Wqkv(l), qkv, 0, c.QDim, c.Dim) : t.Matrix(TensorNames.Wq(l), c.QDim, c.Dim),
            fused ? t.Rows(TensorNames.Wqkv(l), qkv, c.QDim, c.KvDim, c.Dim) : t.Matrix(TensorNames.Wk(l), c.KvDim, c.Dim),
            fused ? t.Rows(TensorNames.Wqkv(l), qkv, c.QDim + c.KvDim, c.KvDim, c.Dim) : t.Matrix(TensorNames.Wv(l), c.KvDim, c.Dim),
            t.Rows(TensorNames.Up(l), 2 * ff, 0, ff, c.Dim),
            t.Rows(TensorNames.Up(l), 2 * ff, ff, ff, c.Dim));
    }

    public IEnumerable<(string Name, long[] Shape)> LayerTensors(ModelConfig c, int l) =>
        BlockTensors.Attention(c, l, [(TensorNames.Wqkv(l), [c.Dim, c.QDim + 2 * c.KvDim])])
        .Concat(BlockTensors.FeedForward(c, l, [(TensorNames.Down(l), [c.HiddenDim, c.Dim]), (TensorNames.Up(l), [c.Dim, 2 * c.HiddenDim])]));
}
