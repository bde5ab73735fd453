using Augur.Cache;
using Augur.Generation;
using Augur.Model;
using Augur.Sampling;
using Augur.Speculative;
using Augur.Tests.Support;

namespace Augur.Tests.Cache;

/// <summary>The paged cache against the dense one: the same bits for every token (greedy output identical, alone and
/// batched, plain and speculative), memory that follows the tokens held, and a full pool that changes nothing.</summary>
public sealed class PagedKvCacheTests(TinyModelFile files) : IClassFixture<TinyModelFile>
{
    static KvCacheOptions Paged(long bytes, KvType type = KvType.F32) => new() { Type = type, Paged = true, PoolBytes = bytes };

    [Fact]
    public void Greedy_output_on_a_paged_cache_is_identical_to_the_dense_cache_plain_and_speculative()
    {
        // stories260K: the reference prompts and 50 TinyStories openings; token recycling drafts trees, so the paged
        // cache's Keep (an accepted branch moved down, blocks copied when shared) is exercised too.
        using var model = LoadedModel.Open(Reference.Stories260KGguf);
        var dense = new Generator(model.Model, model.Tokenizer, 512);
        var paged = new Generator(model.Model, model.Tokenizer, 512, Paged(1 << 20));
        var speculative = new Generator(model.Model, model.Tokenizer, 512, Paged(1 << 20));
        speculative.Drafter = Drafters.Create("recycling", model.Model, speculative.Cache);
        Assert.IsType<PagedKvCache>(paged.Cache);
        int accepted = 0;
        foreach (var (prompt, n) in Reference.Cases.Select(c => (c.Prompt, c.GeneratedIds.Length)).Concat(TinyStories.FirstSentences.Select(p => (p, 96))))
        {
            var request = new GenerationRequest { Prompt = prompt, MaxTokens = n, Sampling = SamplingOptions.Greedy };
            var expected = dense.Generate(request).Ids;
            Assert.Equal(expected, paged.Generate(request).Ids);
            var spec = speculative.Generate(request);
            Assert.Equal(expected, spec.Ids);
            accepted += spec.Speculation!.Accepted;
        }
        Assert.Equal(50, TinyStories.FirstSentences.Length);
        Assert.True(accepted >= 100, $"only {accepted} draft tokens accepted: Keep was hardly exercised");
    }

    [Theory]
    [InlineData(KvType.F32)]
    [InlineData(KvType.Q8_0)]
    public void Paged_and_dense_agree_alone_and_batched_on_grouped_heads_and_sliding_windows(KvType type)
    {
        foreach (string path in new[] { files.Llama, files.Gemma })
        {
            using var model = LoadedModel.Open(path);
            var m = model.Model;
            // Prompts past one 32-cell block and past the 40-token window.
            var prompts = Reference.Cases.Where(c => c.PromptIds.Length > 20).Take(5)
                .Select((c, i) => c.PromptIds.Concat(Reference.Cases[i].PromptIds).Concat(c.PromptIds).ToArray()).ToArray();
            Assert.All(prompts, p => Assert.True(p.Length > 40));
            var dense = Greedy.Together(m, m.CreateCache(256, prompts.Length, type), prompts, 48);
            var paged = Greedy.Together(m, m.CreateCache(256, prompts.Length, Paged(1 << 22, type)), prompts, 48);
            var alone = m.CreateCache(256, 1, Paged(1 << 22, type));
            for (int s = 0; s < prompts.Length; s++)
            {
                Assert.Equal(dense[s], paged[s]);
                Assert.Equal(dense[s], Greedy.Alone(m, alone, prompts[s], 48));
            }
        }
    }

    [Fact]
    public void Sixteen_sequences_sharing_a_1500_token_prefix_hold_at_most_an_eighth_of_the_dense_bytes_and_decode_as_alone()
    {
        using var model = LoadedModel.Open(files.Llama);
        var m = model.Model;
        const int context = 2048, sequences = 16;
        var dense = (KvCache)m.CreateCache(context, sequences);
        var cache = (PagedKvCache)m.CreateCache(context, sequences, Paged(dense.ByteSize));
        var rng = TestSeed.Random(1500);
        int[] prefix = [.. Enumerable.Range(0, 1500).Select(_ => rng.Next(3, m.Config.VocabSize))];
        var prompts = Enumerable.Range(0, sequences).Select(s => (int[])[.. prefix, .. Enumerable.Range(0, 40).Select(_ => rng.Next(3, m.Config.VocabSize))]).ToArray();
        var last = new int[sequences];
        var batch = new Batch(m.MaxBatch);
        for (int s = 0; s < sequences; s++)
        {
            int cached = cache.Admit(s, prompts[s]);
            Assert.Equal(s == 0 ? 0 : 1472, cached); // 46 whole blocks of 32 cells
            for (int i = cached; i < prompts[s].Length; i += batch.Capacity)
            {
                batch.Clear();
                for (int j = i; j < Math.Min(prompts[s].Length, i + batch.Capacity); j++) batch.Add(prompts[s][j], j, s, logits: j == prompts[s].Length - 1);
                m.Forward(batch, cache);
            }
            last[s] = Greedy.ArgMax(m.Logits(0));
            cache.Publish(s, prompts[s].Length);
        }
        Assert.True(cache.ByteSize * 8 <= dense.ByteSize, $"paged holds {cache.ByteSize} bytes, dense {dense.ByteSize}");

        // One decode step for all sixteen: Hydragen attends the 46 shared blocks once for all queries; off, each alone.
        float[][] Step()
        {
            batch.Clear();
            for (int s = 0; s < sequences; s++) batch.Add(last[s], prompts[s].Length, s, logits: true);
            m.Forward(batch, cache);
            for (int s = 0; s < sequences; s++) cache.Trim(s, prompts[s].Length);
            return [.. Enumerable.Range(0, sequences).Select(s => m.Logits(s).ToArray())];
        }
        var hydragen = Step();
        cache.SharedPrefixAttention = false;
        var separate = Step();
        for (int s = 0; s < sequences; s++) Assert.Equal(separate[s], hydragen[s]);
        // Sharing changes no bits: two of them continue exactly as alone on a dense cache.
        var alone = m.CreateCache(context);
        foreach (int s in new[] { 1, 15 })
        {
            int[] continued = [.. prompts[s], last[s]];
            Assert.Equal(last[s], Greedy.Alone(m, alone, prompts[s], 1)[0]);
            Assert.Equal(Greedy.ArgMax(hydragen[s]), Greedy.Alone(m, alone, continued, 1)[0]);
        }
    }

    [Fact]
    public void A_batch_the_pool_cannot_hold_changes_nothing()
    {
        using var model = LoadedModel.Open(files.Llama);
        var m = model.Model;
        var cache = (PagedKvCache)m.CreateCache(512, 2, Paged(4 * BlockBytes(m)));
        var batch = new Batch(m.MaxBatch);
        for (int i = 0; i < 70; i++) batch.Add(5 + i, i, 0, logits: false); // three blocks
        m.Forward(batch, cache);
        Assert.Equal(3, cache.Pool.InUse);
        batch.Clear();
        batch.Add(9, 70, 0, logits: true);                                      // fits in block 3
        for (int i = 0; i < 40; i++) batch.Add(7 + i, i, 1, logits: false);     // needs two more: only one is free
        var e = Assert.Throws<KvPoolExhaustedException>(() => m.Forward(batch, cache));
        Assert.Contains("KV pool exhausted", e.Message);
        Assert.Equal((70, 0, 3), (cache.Length(0), cache.Length(1), cache.Pool.InUse));
        batch.Clear();
        batch.Add(9, 70, 0, logits: true);
        m.Forward(batch, cache); // the running sequence goes on
        Assert.Equal(71, cache.Length(0));
    }

    [Fact]
    public void A_copied_prefix_shares_blocks_and_each_sequence_writes_its_own()
    {
        using var model = LoadedModel.Open(files.Llama);
        var m = model.Model;
        int[] ids = [.. Reference.Cases.SelectMany(c => c.PromptIds).Take(60)];
        Assert.True(ids.Length > 45);
        var cache = (PagedKvCache)m.CreateCache(256, 2, Paged(1 << 22));
        var batch = new Batch(m.MaxBatch);
        for (int i = 0; i < 45; i++) batch.Add(ids[i], i, 0, logits: false);
        m.Forward(batch, cache);
        cache.Copy(0, 1, 40); // shares block 0 and the partial block 1 (cells 32..39)
        Assert.Equal(cache.Pool.Blocks - 2, cache.Pool.Available);
        // Both write into the shared partial block in one batch: the first to append copies it, the other then holds
        // the original alone and writes in place; block 0 stays shared.
        batch.Clear();
        batch.Add(ids[45], 45, 0, logits: true);
        batch.Add(7, 40, 1, logits: true);
        m.Forward(batch, cache);
        float[] source = m.Logits(0).ToArray(), copy = m.Logits(1).ToArray();
        Assert.Equal(cache.Pool.Blocks - 3, cache.Pool.Available);
        float[] Dense(int[] prompt)
        {
            var dense = m.CreateCache(256);
            var b = new Batch(m.MaxBatch);
            for (int i = 0; i < prompt.Length; i++) b.Add(prompt[i], i, 0, logits: i == prompt.Length - 1);
            m.Forward(b, dense);
            return m.Logits(0).ToArray();
        }
        Assert.Equal(Dense(ids[..46]), source);
        Assert.Equal(Dense([.. ids[..40], 7]), copy);
    }

    /// <summary>One 32-cell block of every layer's F32 keys and values.</summary>
    static long BlockBytes(ITransformer m) => 2L * m.Config.Layers * 32 * m.Config.KvDim * 4;
}
