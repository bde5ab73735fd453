using Augur.Cache;
using Augur.Generation;
using Augur.Model;
using Augur.Sampling;
using Augur.Tests.Support;

namespace Augur.Tests.Cache;

/// <summary>The KV element types: their memory, logits close to the F32 cache's, and each batch-invariant on its own.</summary>
public sealed class KvTypeTests(TinyModelFile files) : IClassFixture<TinyModelFile>
{
    public static TheoryData<KvType> Types => [KvType.F32, KvType.F16, KvType.Q8_0];

    [Fact]
    public void F16_takes_half_the_memory_of_F32_and_q8_0_34_bytes_per_32_values()
    {
        long F(KvType type) => new KvCache(5, 64, 512, 2, type).ByteSize;
        Assert.Equal(2L * 5 * 2 * 512 * 64 * 4, F(KvType.F32));
        Assert.Equal(F(KvType.F32), 2 * F(KvType.F16));
        Assert.Equal(2L * 5 * 2 * 512 * (64 / 32 * 34), F(KvType.Q8_0));
    }

    [Fact]
    public void Q8_0_refuses_heads_that_are_not_whole_blocks_naming_the_head_size()
    {
        using var model = LoadedModel.Open(Reference.Stories260KGguf); // heads of 8
        var e = Assert.Throws<InvalidRequestException>(() => model.Model.CreateCache(64, 1, KvType.Q8_0));
        Assert.Contains("multiple of 32", e.Message);
        Assert.Contains("heads are 8 wide", e.Message);
    }

    static float[] PromptLogits(ITransformer m, IKvCache cache, int[] ids)
    {
        var batch = new Batch(ids.Length);
        for (int i = 0; i < ids.Length; i++) batch.Add(ids[i], i, 0, logits: i == ids.Length - 1);
        m.Forward(batch, cache);
        return m.Logits(0).ToArray();
    }

    [Theory]
    [InlineData(KvType.F16, 5e-2f)]
    [InlineData(KvType.Q8_0, 5e-2f)]
    public void Rounded_cells_move_the_logits_a_little_from_the_F32_cache(KvType type, float bound)
    {
        // F16 rounds each element by ≤ 2^-11 relative; q8_0 by ≤ half a step of amax/127 per block of 32. Measured on
        // this model: F16 moves the last logits by ≈ 1e-3 at most, q8_0 by ≈ 1e-2; the bound leaves room for other data.
        using var model = LoadedModel.Open(files.Llama);
        var m = model.Model;
        var ids = Reference.Get("long_202_chars").PromptIds;
        var f32 = PromptLogits(m, m.CreateCache(256), ids);
        var rounded = PromptLogits(m, m.CreateCache(256, 1, type), ids);
        float worst = f32.Zip(rounded, (a, b) => Math.Abs(a - b)).Max();
        Assert.True(worst < bound, $"{type}: max |Δlogit| = {worst}");
        Assert.True(worst > 0, $"the {type} cache should round something");
    }

    [Fact]
    public void Greedy_generation_with_an_F16_cache_follows_run_c_on_the_reference_prompts()
    {
        // Rounding can in principle flip a near-tie; on these prompts it does not, so the run.c ids still hold.
        using var model = LoadedModel.Open(Reference.Stories260KGguf);
        var generator = new Generator(model.Model, model.Tokenizer, kv: KvType.F16);
        int matched = 0;
        foreach (var c in Reference.Cases.Where(c => c.GeneratedIds.Length == 64))
        {
            var ids = generator.Generate(new GenerationRequest { Prompt = c.Prompt, MaxTokens = 64, Sampling = SamplingOptions.Greedy }).Ids;
            if (ids.SequenceEqual(c.GeneratedIds)) matched++;
            // Always agrees at the start, before rounding errors can accumulate.
            Assert.Equal(c.GeneratedIds.Take(8), ids.Take(8));
        }
        Assert.True(matched >= 8, $"only {matched} reference continuations reproduced with an F16 cache");
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void Prefill_in_one_batch_is_bit_identical_to_one_token_at_a_time(KvType type)
    {
        using var model = LoadedModel.Open(files.Llama);
        var m = model.Model;
        var ids = Reference.Get("one_day_tim").PromptIds;
        var single = m.CreateCache(64, 1, type);
        var batch = new Batch(ids.Length);
        var oneByOne = new List<float[]>();
        for (int i = 0; i < ids.Length; i++)
        {
            batch.Clear();
            batch.Add(ids[i], i, 0, logits: true);
            m.Forward(batch, single);
            oneByOne.Add(m.Logits(0).ToArray());
        }
        var together = m.CreateCache(64, 1, type);
        batch.Clear();
        for (int i = 0; i < ids.Length; i++) batch.Add(ids[i], i, 0, logits: true);
        m.Forward(batch, together);
        for (int i = 0; i < ids.Length; i++) Assert.Equal(oneByOne[i], m.Logits(i).ToArray());
    }

    [Theory]
    [MemberData(nameof(Types))]
    public void Greedy_sequences_decoded_together_match_each_decoded_alone(KvType type)
    {
        using var model = LoadedModel.Open(files.Llama);
        var m = model.Model;
        var prompts = Reference.Cases.Take(6).Select(c => c.PromptIds).ToArray();
        var together = Greedy.Together(m, m.CreateCache(128, prompts.Length, type), prompts, 40);
        var alone = m.CreateCache(128, 1, type);
        for (int s = 0; s < prompts.Length; s++) Assert.Equal(Greedy.Alone(m, alone, prompts[s], 40), together[s]);
    }
}
