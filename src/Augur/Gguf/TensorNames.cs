namespace Augur.Gguf;

/// <summary>llama.cpp's canonical tensor names (llama-arch.cpp), shared by every architecture that has the tensor.</summary>
public static class TensorNames
{
    public const string TokenEmbedding = "token_embd.weight";
    public const string OutputNorm = "output_norm.weight";
    public const string Output = "output.weight";
    public const string RopeFreqs = "rope_freqs.weight";
    public const string RopeFactorsShort = "rope_factors_short.weight";
    public const string RopeFactorsLong = "rope_factors_long.weight";
    public static string AttnNorm(int l) => $"blk.{l}.attn_norm.weight";
    public static string Wq(int l) => $"blk.{l}.attn_q.weight";
    public static string Wk(int l) => $"blk.{l}.attn_k.weight";
    public static string Wv(int l) => $"blk.{l}.attn_v.weight";
    public static string Wqkv(int l) => $"blk.{l}.attn_qkv.weight";
    public static string QBias(int l) => $"blk.{l}.attn_q.bias";
    public static string KBias(int l) => $"blk.{l}.attn_k.bias";
    public static string VBias(int l) => $"blk.{l}.attn_v.bias";
    public static string QNorm(int l) => $"blk.{l}.attn_q_norm.weight";
    public static string KNorm(int l) => $"blk.{l}.attn_k_norm.weight";
    public static string Wo(int l) => $"blk.{l}.attn_output.weight";
    public static string PostAttnNorm(int l) => $"blk.{l}.post_attention_norm.weight";
    public static string FfnNorm(int l) => $"blk.{l}.ffn_norm.weight";
    public static string Gate(int l) => $"blk.{l}.ffn_gate.weight";
    public static string Down(int l) => $"blk.{l}.ffn_down.weight";
    public static string Up(int l) => $"blk.{l}.ffn_up.weight";
    public static string PostFfnNorm(int l) => $"blk.{l}.post_ffw_norm.weight";
}
