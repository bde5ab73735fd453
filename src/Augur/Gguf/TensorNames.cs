namespace Augur.Gguf;

/// <summary>llama.cpp's canonical tensor names for the llama architecture.</summary>
public static class TensorNames
{
    public const string TokenEmbedding = "token_embd.weight";
    public const string OutputNorm = "output_norm.weight";
    public const string Output = "output.weight";
    public static string AttnNorm(int l) => $"blk.{l}.attn_norm.weight";
    public static string Wq(int l) => $"blk.{l}.attn_q.weight";
    public static string Wk(int l) => $"blk.{l}.attn_k.weight";
    public static string Wv(int l) => $"blk.{l}.attn_v.weight";
    public static string Wo(int l) => $"blk.{l}.attn_output.weight";
    public static string FfnNorm(int l) => $"blk.{l}.ffn_norm.weight";
    public static string Gate(int l) => $"blk.{l}.ffn_gate.weight";
    public static string Down(int l) => $"blk.{l}.ffn_down.weight";
    public static string Up(int l) => $"blk.{l}.ffn_up.weight";
}
