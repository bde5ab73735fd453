using Augur.Generation;
using Augur.Model;
using Augur.Sampling;
using Augur.Speculative;
using Augur.Tests.Support;
using Xunit.Abstractions;

namespace Augur.Tests.Speculative;

/// <summary>What speculation must not change: greedy output token for token, the sampling distribution, the cache.</summary>
public class SpeculativeDecodingTests(TempDirectory temp, ITestOutputHelper output) : IClassFixture<TempDirectory>
{
    /// <summary>
    /// The draft model for the <c>draft</c> drafter: stories260K with noise on its matrices (see
    /// <see cref="DraftNoise"/>), so that it proposes what the target would not — with the target's own weights every
    /// draft would be accepted and rejection and recovery would never run.
    /// </summary>
    LoadedModel OpenDraft() =>
        LoadedModel.Open(PerturbedModel.Write(Reference.Stories260KGguf, temp.File("stories260K-perturbed.gguf"), DraftNoise, seed: 5));

    /// <summary>Noise of 10% of each matrix's RMS. Measured on the greedy test's prompts: the target's own weights get all
    /// 5,668 drafted tokens accepted; this draft gets 4,790 of 7,790 (61%) — accepted often, rejected often.</summary>
    const double DraftNoise = 0.1;

    public static IEnumerable<object[]> DrafterNames => Drafters.Names.Where(n => n != "none").Select(n => new object[] { n });

    /// <summary>
    /// The drafter by name. `auto` is given a clock that advances one tick per step, whatever the step holds — a machine
    /// on which verifying drafts costs nothing extra, so speculating always pays and auto's choice among its real
    /// drafters (those of <see cref="Drafters.CreateBatchable"/>) does not hang on this machine's load; with the wall
    /// clock it drafted 0–16 tokens over these prompts. Its choices on costed virtual time: AdaptiveDrafterTests.
    /// </summary>
    static IDrafter Create(string name, LoadedModel model, Generator generator, LoadedModel draft)
    {
        if (name != "auto") return Drafters.Create(name, model.Model, generator.Cache, draft.Model)!;
        long ticks = 0;
        return new AdaptiveDrafter(() => ++ticks, 1e6, new PromptLookupDrafter(draftLength: 10),
            new TokenRecyclingDrafter(model.Config.VocabSize), new AdedDrafter(depth: 10));
    }

    [Theory]
    [MemberData(nameof(DrafterNames))]
    public void Greedy_speculative_output_is_identical_to_plain_greedy(string drafter)
    {
        using var model = LoadedModel.Open(Reference.Stories260KGguf);
        using var draft = OpenDraft();
        var plain = new Generator(model.Model, model.Tokenizer);
        var spec = new Generator(model.Model, model.Tokenizer);
        spec.Drafter = Create(drafter, model, spec, draft);

        var prompts = Reference.Cases.Select(c => (c.Prompt, c.GeneratedIds.Length))
            .Concat(TinyStories.FirstSentences.Select(p => (p, 128)));
        int accepted = 0, drafted = 0;
        foreach (var (prompt, n) in prompts)
        {
            var request = new GenerationRequest { Prompt = prompt, MaxTokens = n, Sampling = SamplingOptions.Greedy };
            var expected = plain.Generate(request);
            var actual = spec.Generate(request);
            Assert.Equal(expected.Ids, actual.Ids);
            Assert.Equal(expected.Text, actual.Text);
            accepted += actual.Speculation!.Accepted;
            drafted += actual.Speculation.Drafted;
        }
        Assert.Equal(50, TinyStories.FirstSentences.Length);
        output.WriteLine($"{drafter}: accepted {accepted} of {drafted} drafted tokens");
        // The comparison only means something if drafts were verified and accepted.
        Assert.True(accepted >= 100, $"{drafter} accepted only {accepted} draft tokens");
        // The draft model must also have been wrong, many times, or the verifier's rejection path went untested.
        if (drafter == "draft") Assert.True(drafted - accepted >= 100, $"draft: only {drafted - accepted} of {drafted} drafted tokens rejected");
    }

    public static TheoryData<string, string> SamplingDrafters => new() { { "recycling", "Once upon a time" }, { "draft", "Tom had a red ball" } };

    [Theory]
    [MemberData(nameof(SamplingDrafters))]
    public void Speculative_sampling_keeps_the_target_distribution(string drafter, string prompt)
    {
        // Two-sample chi-square on the 2nd and 3rd generated tokens over many seeded runs: plain sampling vs
        // speculative sampling. Token recycling drafts trees with several siblings, so recursive rejection is
        // exercised; the draft model drafts chains that the target often rejects, so recovery from the residual is
        // (after "Once upon a time" the draft model is nearly always right; after "Tom had a red ball" measured 2,061
        // of 3,581 drafted tokens accepted).
        using var model = LoadedModel.Open(Reference.Stories260KGguf);
        using var draft = OpenDraft();
        var sampling = new SamplingOptions { Temperature = 1.0f, TopK = 0, TopP = 1, MinP = 0 };
        const int Runs = 1500;
        var plain = new Generator(model.Model, model.Tokenizer);
        var spec = new Generator(model.Model, model.Tokenizer);
        spec.Drafter = Create(drafter, model, spec, draft);
        // Warm token recycling's adjacency matrix so drafts are proposed from the first step.
        spec.Generate(new GenerationRequest { Prompt = "Once upon a time", MaxTokens = 64, Sampling = SamplingOptions.Greedy });

        var countsPlain = new Dictionary<(int, int), int>();
        var countsSpec = new Dictionary<(int, int), int>();
        int drafted = 0, accepted = 0;
        for (int seed = 0; seed < Runs; seed++)
        {
            var request = new GenerationRequest { Prompt = prompt, MaxTokens = 3, Sampling = sampling with { Seed = seed } };
            var a = plain.Generate(request).Ids;
            var bResult = spec.Generate(request with { Sampling = sampling with { Seed = seed + 1_000_000 } });
            var b = bResult.Ids;
            drafted += bResult.Speculation!.Drafted;
            accepted += bResult.Speculation.Accepted;
            for (int pos = 1; pos < 3; pos++)
            {
                countsPlain[(pos, a[pos])] = countsPlain.GetValueOrDefault((pos, a[pos])) + 1;
                countsSpec[(pos, b[pos])] = countsSpec.GetValueOrDefault((pos, b[pos])) + 1;
            }
        }
        output.WriteLine($"{drafter}: accepted {accepted} of {drafted} drafted tokens");
        Assert.True(drafted - accepted > Runs / 4, $"too few rejected drafts ({drafted - accepted} of {drafted}) for the test to exercise recovery");
        Assert.True(accepted > Runs / 4, $"too few accepted drafts ({accepted} of {drafted}) for the test to exercise speculation");
        foreach (int pos in new[] { 1, 2 })
        {
            var (chi2, dof) = ChiSquareTwoSample(countsPlain, countsSpec, pos, minExpected: 5);
            // 99.9th percentile of chi-square with dof degrees of freedom (Wilson–Hilferty approximation).
            double z = 3.09, h = 2.0 / (9 * dof);
            double critical = dof * Math.Pow(1 - h + z * Math.Sqrt(h), 3);
            Assert.True(chi2 < critical, $"position {pos}: chi² = {chi2:F1} ≥ {critical:F1} (dof {dof})");
        }
    }

    /// <summary>Pools rare tokens into one bin so every expected count is at least <paramref name="minExpected"/>.</summary>
    static (double Chi2, int Dof) ChiSquareTwoSample(Dictionary<(int, int), int> a, Dictionary<(int, int), int> b, int pos, int minExpected)
    {
        var tokens = a.Keys.Concat(b.Keys).Where(k => k.Item1 == pos).Select(k => k.Item2).Distinct().ToList();
        double na = tokens.Sum(t => a.GetValueOrDefault((pos, t))), nb = tokens.Sum(t => b.GetValueOrDefault((pos, t)));
        var bins = new List<(double A, double B)>();
        double restA = 0, restB = 0;
        foreach (int t in tokens)
        {
            double x = a.GetValueOrDefault((pos, t)), y = b.GetValueOrDefault((pos, t));
            if ((x + y) / 2 >= minExpected) bins.Add((x, y)); else { restA += x; restB += y; }
        }
        if (restA + restB > 0) bins.Add((restA, restB));
        double chi2 = 0;
        foreach (var (x, y) in bins)
        {
            double total = x + y;
            double ea = total * na / (na + nb), eb = total * nb / (na + nb);
            chi2 += (x - ea) * (x - ea) / ea + (y - eb) * (y - eb) / eb;
        }
        return (chi2, Math.Max(1, bins.Count - 1));
    }

    [Fact]
    public void Cache_after_speculative_rollback_gives_the_logits_of_a_fresh_recompute()
    {
        using var model = LoadedModel.Open(Reference.Stories260KGguf);
        var spec = new Generator(model.Model, model.Tokenizer) { Drafter = new TokenRecyclingDrafter(model.Config.VocabSize) };
        var request = new GenerationRequest { Prompt = "Lily and Ben", MaxTokens = 90, Sampling = SamplingOptions.Greedy };
        spec.Generate(request);
        var result = spec.Generate(request);
        Assert.True(result.Speculation!.Accepted > 0);

        // The cache now holds prompt + output except the last token. Score that token on it, and on a fresh cache.
        var all = result.PromptIds.Concat(result.Ids).ToArray();
        int held = spec.Cache.Length(0);
        Assert.Equal(all.Length - 1, held);
        var batch = new Batch(model.Model.MaxBatch);
        batch.Add(all[^1], held, 0, logits: true);
        model.Model.Forward(batch, spec.Cache);
        var fromSpeculativeCache = model.Model.Logits(0).ToArray();

        var fresh = model.Model.CreateCache();
        batch.Clear();
        for (int i = 0; i < all.Length; i++) batch.Add(all[i], i, 0, logits: i == all.Length - 1);
        model.Model.Forward(batch, fresh);
        Assert.Equal(model.Model.Logits(0).ToArray(), fromSpeculativeCache);
    }
}
