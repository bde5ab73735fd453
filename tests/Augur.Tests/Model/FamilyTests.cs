using Augur.Conversion;
using Augur.Gguf;
using Augur.Model;
using Augur.Model.Architectures;
using Augur.Tensors;
using Augur.Tests.Support;
using Augur.Tokenizers;

namespace Augur.Tests.Model;

/// <summary>
/// The families on small synthetic files: the config a file declares is read back as written, a malformed file
/// is refused naming what is wrong, and sliding-window attention keeps the forward pass batch-invariant.
/// </summary>
public sealed class FamilyTests : IDisposable
{
    static readonly Vocabulary Vocab = Vocabulary.FromFile(Reference.Tok512Model);
    readonly string _dir = Directory.CreateTempSubdirectory("augur-family-unit-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    /// <summary>Gemma 3: six layers (five slide over 8 tokens), heads wider than dim / heads, GQA.</summary>
    static readonly SyntheticModel.Shape GemmaShape = new(64, 6, 4, 2, 128, HeadDim: 32, SlidingWindow: 8);

    string Write(string architecture, SyntheticModel.Shape shape, bool ropeFactors = false)
    {
        string path = Path.Combine(_dir, $"{architecture}-{Guid.NewGuid():N}.gguf");
        SyntheticModel.Write(path, SyntheticModel.Config(shape, Vocab.Count, 256, architecture), Vocab, seed: 3, ropeFactors: ropeFactors);
        return path;
    }

    public static IEnumerable<object[]> Architectures => Families.Names.Select(n => new object[] { n });

    [Theory]
    [MemberData(nameof(Architectures))]
    public void The_loader_reads_back_the_config_the_synthetic_file_declares(string architecture)
    {
        var shape = new SyntheticModel.Shape(64, 6, 4, 2, 128, HeadDim: 32, SlidingWindow: 8);
        var written = SyntheticModel.Config(shape, Vocab.Count, 256, architecture);
        using var file = GgufFile.Open(Write(architecture, shape));
        var read = ModelLoader.ReadConfig(file);
        Assert.Equal(written with { SlidingLayers = null, UnrotatedLayers = null }, read with { SlidingLayers = null, UnrotatedLayers = null });
        Assert.Equal(written.SlidingLayers, read.SlidingLayers);
        Assert.Equal(written.UnrotatedLayers, read.UnrotatedLayers);
        Assert.Equal(32, read.HeadDim);
    }

    [Fact]
    public void Gemma3_slides_five_layers_in_six_and_scales_its_embedding()
    {
        using var file = GgufFile.Open(Write("gemma3", GemmaShape));
        var c = ModelLoader.ReadConfig(file);
        Assert.Equal([true, true, true, true, true, false], c.SlidingLayers!);
        Assert.Equal(8, c.SlidingWindow);
        Assert.Equal(10000f, c.LocalRopeBase);
        Assert.Equal(MathF.Sqrt(64), c.EmbeddingScale);
        Assert.Equal((RopeKind.NeoX, Activation.GeluTanh, NormPlacement.Sandwich, true), (c.Rope, c.Activation, c.Norms, c.QkNorm));
    }

    /// <summary>
    /// Rewrites <paramref name="source"/>: each key's value through <paramref name="metadata"/> (null drops it), then
    /// <paramref name="set"/> added or replacing; each tensor's shape through <paramref name="shape"/> (null drops it,
    /// a smaller shape keeps the leading bytes).
    /// </summary>
    string Rewrite(string source, Func<string, GgufValue, GgufValue?> metadata, Func<GgufTensorInfo, long[]?> shape, (string Key, GgufValue Value)? set = null)
    {
        string path = Path.Combine(_dir, $"rewritten-{Guid.NewGuid():N}.gguf");
        using var file = GgufFile.Open(source);
        var w = new GgufWriter();
        foreach (var key in file.MetadataKeys)
            if (metadata(key, file.Metadata[key]) is { } value) w.Set(key, value);
        if (set is var (k, v)) w.Set(k, v);
        foreach (var t in file.Tensors)
            if (shape(t) is { } s)
                w.AddTensor(t.Name, t.Type, s, file.TensorBytes(t)[..(int)GgufWriter.TensorBytes(t.Type, s)].ToArray());
        w.Write(path);
        return path;
    }

    [Fact]
    public void An_unsupported_architecture_is_refused_naming_it_and_the_supported_ones()
    {
        string path = Rewrite(Write("llama", new(64, 1, 4, 2, 128)), (k, v) => k == "general.architecture" ? GgufValue.Of("mamba") : v, t => t.Shape);
        var e = Assert.Throws<ModelFormatException>(() => LoadedModel.Open(path));
        Assert.Contains("'mamba' is not supported (supported: llama, qwen2, qwen3, gemma3, phi3, smollm3)", e.Message);
    }

    [Fact]
    public void A_missing_family_tensor_is_refused_naming_it()
    {
        string path = Rewrite(Write("qwen3", new(64, 2, 4, 2, 128, HeadDim: 32)), (_, v) => v, t => t.Name == "blk.1.attn_k_norm.weight" ? null : t.Shape);
        var e = Assert.Throws<ModelFormatException>(() => LoadedModel.Open(path));
        Assert.Contains("required tensor 'blk.1.attn_k_norm.weight' is missing", e.Message);
    }

    [Fact]
    public void A_misshapen_fused_tensor_is_refused_naming_it_and_the_expected_shape()
    {
        // Phi-3's attn_qkv must hold q_dim + 2·kv_dim = 64 + 2·32 rows; claim 64 + 32 + 16 (the bytes of fewer rows).
        string path = Rewrite(Write("phi3", new(64, 1, 4, 2, 128)), (_, v) => v, t => t.Name == "blk.0.attn_qkv.weight" ? [64, 112] : t.Shape);
        var e = Assert.Throws<ModelFormatException>(() => LoadedModel.Open(path));
        Assert.Contains("tensor 'blk.0.attn_qkv.weight' has shape [64, 112], expected [64, 128]", e.Message);
    }

    [Theory]
    [InlineData("qwen3.attention.value_length", "value_length' = 16 differs from the key length 32")]
    [InlineData("qwen3.rope.scaling.type", "rope.scaling.type' = 'yarn' is not supported")]
    public void Inconsistent_or_unsupported_metadata_is_refused_naming_the_key(string key, string message)
    {
        var value = key.EndsWith("type") ? GgufValue.Of("yarn") : GgufValue.Of(16u);
        string path = Rewrite(Write("qwen3", new(64, 1, 4, 2, 128, HeadDim: 32)), (_, v) => v, t => t.Shape, (key, value));
        var e = Assert.Throws<ModelFormatException>(() => LoadedModel.Open(path));
        Assert.Contains(message, e.Message);
    }

    static float[][] Run(ITransformer m, Batch batch, Augur.Cache.IKvCache cache)
    {
        m.Forward(batch, cache);
        return [.. Enumerable.Range(0, batch.OutputCount).Select(i => m.Logits(i).ToArray())];
    }

    static void AssertBitIdentical(float[] want, float[] got, string what)
    {
        for (int i = 0; i < want.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(want[i]) == BitConverter.SingleToInt32Bits(got[i]), $"{what}: logit {i} is {got[i]:R}, expected {want[i]:R}");
    }

    static readonly int[] Tokens = [.. Enumerable.Range(0, 30).Select(i => (i * 37 + 5) % 512)];

    /// <summary>A prompt three windows long in one batch: each token's logits are those of feeding it alone.</summary>
    [Fact]
    public void Sliding_window_layers_give_a_batch_the_logits_of_one_token_at_a_time()
    {
        using var model = LoadedModel.Open(Write("gemma3", GemmaShape), pool: new WorkerPool(1));
        var m = model.Model;
        var together = new Batch(64);
        for (int i = 0; i < Tokens.Length; i++) together.Add(Tokens[i], i, 0, logits: true);
        var batched = Run(m, together, m.CreateCache(64));

        var cache = m.CreateCache(64);
        var one = new Batch(1);
        for (int i = 0; i < Tokens.Length; i++)
        {
            one.Clear();
            one.Add(Tokens[i], i, 0, logits: true);
            AssertBitIdentical(Run(m, one, cache)[0], batched[i], $"position {i}");
        }
    }

    /// <summary>
    /// Two branches of 20 tokens interleaved in one batch after a 4-token prompt: each branch's cells are every
    /// other cell, so its ancestors are a list longer than the 8-token window, which must cut into that list. Each
    /// branch's logits are those of the branch run alone.
    /// </summary>
    [Fact]
    public void Sliding_window_layers_cut_a_tree_branch_s_listed_ancestors_as_the_plain_sequence_does()
    {
        using var model = LoadedModel.Open(Write("gemma3", GemmaShape), pool: new WorkerPool(1));
        var m = model.Model;
        int[] prompt = Tokens[..4], a = Tokens[4..24], b = [.. a.Select(t => (t + 101) % 512)];
        var tree = new Batch(64);
        for (int i = 0; i < prompt.Length; i++) tree.Add(prompt[i], i, 0, logits: false);
        int lastA = prompt.Length - 1, lastB = prompt.Length - 1;
        for (int i = 0; i < a.Length; i++)
        {
            tree.Add(a[i], prompt.Length + i, 0, logits: true, parent: lastA);
            lastA = tree.Count - 1;
            tree.Add(b[i], prompt.Length + i, 0, logits: true, parent: lastB);
            lastB = tree.Count - 1;
        }
        var rows = Run(m, tree, m.CreateCache(64));

        foreach (var (branch, offset) in new[] { (a, 0), (b, 1) })
        {
            var plain = new Batch(64);
            foreach (int t in prompt.Concat(branch)) plain.Add(t, plain.Count, 0, logits: plain.Count >= prompt.Length);
            var alone = Run(m, plain, m.CreateCache(64));
            for (int i = 0; i < branch.Length; i++) AssertBitIdentical(alone[i], rows[2 * i + offset], $"branch {offset} token {i}");
        }
    }

    /// <summary>SWIFT's layer skipping is a forward option of every family: drafting with it leaves greedy output as plain decoding's.</summary>
    [Theory]
    [MemberData(nameof(Architectures))]
    public void Swift_self_speculation_keeps_every_family_s_greedy_output(string architecture)
    {
        using var model = LoadedModel.Open(Write(architecture, new(64, 6, 4, 2, 128, HeadDim: 32, SlidingWindow: 8)), pool: new WorkerPool(1));
        var request = new Augur.Generation.GenerationRequest { PromptIds = Tokens[..6], MaxTokens = 40, Sampling = Augur.Sampling.SamplingOptions.Greedy, StopAtEos = false };
        var plain = new Augur.Generation.Generator(model.Model, model.Tokenizer, contextLength: 64).Generate(request);
        var speculative = new Augur.Generation.Generator(model.Model, model.Tokenizer, contextLength: 64);
        speculative.Drafter = Augur.Speculative.Drafters.Create("swift", model.Model, speculative.Cache);
        var result = speculative.Generate(request);
        Assert.Equal(plain.Ids, result.Ids);
        Assert.True(result.Speculation!.Drafted > 0, "SWIFT drafted nothing");
    }
}
