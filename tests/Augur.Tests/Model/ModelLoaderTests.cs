using Augur.Tensors;
using Augur.Gguf;
using Augur.Model;
using Augur.Tests.Support;

namespace Augur.Tests.Model;

/// <summary>
/// Well-formed GGUF files that do not describe a usable model: each is stories260K.gguf rewritten with one change,
/// and must raise <see cref="ModelFormatException"/> naming the file and what is wrong.
/// </summary>
public sealed unsafe class ModelLoaderTests : IDisposable
{
    readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    /// <summary>stories260K.gguf's metadata and tensors through <paramref name="change"/>, written to a new file.</summary>
    string Rewrite(string name, Action<GgufWriter, GgufFile> change, Func<GgufTensorInfo, bool>? keepTensor = null)
    {
        using var src = GgufFile.Open(Reference.Stories260KGguf);
        var w = new GgufWriter();
        foreach (var key in src.MetadataKeys) w.Set(key, src.Metadata[key]);
        foreach (var t in src.Tensors.Where(keepTensor ?? (_ => true)))
            w.AddTensor(t.Name, t.Type, t.Shape, src.TensorBytes(t).ToArray());
        change(w, src);
        string path = _dir.File(name + ".gguf");
        w.Write(path);
        return path;
    }

    void AssertRejected(string path, params string[] fragments)
    {
        var e = Assert.Throws<ModelFormatException>(() => LoadedModel.Open(path).Dispose());
        Assert.Contains(path, e.Message);
        foreach (var f in fragments) Assert.Contains(f, e.Message);
    }

    [Fact]
    public void The_unchanged_rewrite_loads()
    {
        using var m = LoadedModel.Open(Rewrite("same", (_, _) => { }));
        Assert.Equal(64, m.Config.Dim);
    }

    [Fact]
    public void An_unsupported_architecture_is_rejected() =>
        AssertRejected(Rewrite("arch", (w, _) => w.Set("general.architecture", GgufValue.Of("gpt2"))), "'gpt2'", "not supported");

    [Fact]
    public void A_missing_hyper_parameter_is_rejected() =>
        AssertRejected(Rewrite("nolayers", (w, _) => w.Set("llama.block_count", GgufValue.Of("five"))), "llama.block_count");

    [Theory]
    [InlineData("llama.context_length", uint.MaxValue)]
    [InlineData("llama.embedding_length", uint.MaxValue)]
    [InlineData("llama.attention.head_count", 0u)]
    [InlineData("llama.attention.head_count_kv", 3u)]
    [InlineData("llama.rope.dimension_count", 7u)]
    public void An_impossible_hyper_parameter_is_rejected(string key, uint value) =>
        AssertRejected(Rewrite(key, (w, _) => w.Set(key, GgufValue.Of(value))));

    [Fact]
    public void A_missing_tensor_is_rejected_by_name() =>
        AssertRejected(Rewrite("notensor", (_, _) => { }, t => t.Name != "blk.3.ffn_up.weight"), "'blk.3.ffn_up.weight'", "missing");

    [Fact]
    public void A_tensor_of_the_wrong_shape_is_rejected_by_name() =>
        AssertRejected(Rewrite("shape", (w, src) => w.AddTensor("blk.0.attn_k.weight", GgmlType.F32, [32, 64], src.TensorBytes(src.GetTensor("blk.0.attn_k.weight")).ToArray()),
            t => t.Name != "blk.0.attn_k.weight"), "'blk.0.attn_k.weight'", "[32, 64]", "[64, 32]");

    [Fact]
    public void A_tensor_type_Augur_cannot_compute_with_is_rejected_by_name() =>
        AssertRejected(Rewrite("i32", (w, src) => w.AddTensor("blk.1.attn_q.weight", GgmlType.I32, [64, 64], new byte[64 * 64 * 4]),
            t => t.Name != "blk.1.attn_q.weight"), "'blk.1.attn_q.weight'", "I32");

    [Fact]
    public void A_vocabulary_that_disagrees_with_the_embedding_is_rejected() =>
        AssertRejected(Rewrite("vocab", (w, src) => w.Set("tokenizer.ggml.scores", GgufValue.Of(new float[500]))), "tokenizer arrays disagree");

    [Fact]
    public void A_special_token_id_outside_the_vocabulary_is_rejected() =>
        AssertRejected(Rewrite("bos", (w, _) => w.Set("tokenizer.ggml.bos_token_id", GgufValue.Of(9999u))), "bos_token_id", "9999");
}
