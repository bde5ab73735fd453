using Augur.Generation;
using Augur.Model;
using Augur.Sampling;
using Augur.Tests.Support;

namespace Augur.Tests.Model;

/// <summary>Augur against llama2.c's run.c (an independent implementation) on stories260K, in every file form.</summary>
public class ReferenceGenerationTests
{
    public static IEnumerable<object[]> ModelForms =>
        from form in new[] { "gguf", "bin+model", "bin+tokenizer.bin" }
        from c in Reference.Cases
        select new object[] { form, c.Id };

    static LoadedModel Open(string form) => form switch
    {
        "gguf" => LoadedModel.Open(Reference.Stories260KGguf),
        "bin+model" => LoadedModel.Open(Reference.Stories260KBin, Reference.Tok512Model),
        "bin+tokenizer.bin" => LoadedModel.Open(Reference.Stories260KBin, Reference.Tok512Bin),
        _ => throw new ArgumentException(form),
    };

    [Theory]
    [MemberData(nameof(ModelForms))]
    public void Greedy_generation_matches_run_c_exactly(string form, string caseId)
    {
        var c = Reference.Get(caseId);
        using var model = Open(form);
        Assert.Equal(c.PromptIds, model.Tokenizer.Encode(c.Prompt));
        var result = new Generator(model.Model, model.Tokenizer).Generate(new GenerationRequest
        {
            Prompt = c.Prompt,
            MaxTokens = c.GeneratedIds.Length,
            Sampling = SamplingOptions.Greedy,
        });
        Assert.Equal(c.PromptIds, result.PromptIds);
        Assert.Equal(c.GeneratedIds, result.Ids);
        Assert.Equal(c.GeneratedText, result.Text);
    }

    [Theory]
    [InlineData("gguf")]
    [InlineData("bin+model")]
    public void Logits_agree_with_run_c_within_1e4(string form)
    {
        using var model = Open(form);
        var cache = model.Model.CreateCache();
        var batch = new Batch(1);
        foreach (var at in Reference.Logits)
        {
            batch.Clear();
            batch.Add(at.InputToken, at.Pos, 0, logits: true);
            model.Model.Forward(batch, cache);
            var logits = model.Model.Logits(0);
            float worst = 0;
            for (int i = 0; i < logits.Length; i++) worst = Math.Max(worst, Math.Abs(logits[i] - at.Logits[i]));
            Assert.True(worst <= 1e-4f, $"position {at.Pos}: max |Δlogit| = {worst}");
        }
    }

    [Fact]
    // Bit-identical, not just close: speculative verification scores many tokens in one batch and must
    // reproduce plain one-token decoding exactly.
    public void Prefilling_the_prompt_in_one_batch_gives_bit_identical_logits_to_one_token_at_a_time()
    {
        using var model = LoadedModel.Open(Reference.Stories260KGguf);
        var ids = Reference.Get("long_202_chars").PromptIds;
        var m = model.Model;

        var oneByOne = new List<float[]>();
        var cache = m.CreateCache();
        var single = new Batch(1);
        for (int i = 0; i < ids.Length; i++)
        {
            single.Clear();
            single.Add(ids[i], i, 0, logits: true);
            m.Forward(single, cache);
            oneByOne.Add(m.Logits(0).ToArray());
        }

        var batched = m.CreateCache();
        var batch = new Batch(ids.Length);
        for (int i = 0; i < ids.Length; i++) batch.Add(ids[i], i, 0, logits: true);
        m.Forward(batch, batched);
        for (int i = 0; i < ids.Length; i++)
        {
            var row = m.Logits(i);
            Assert.Equal(oneByOne[i], row.ToArray());
        }
    }
}
