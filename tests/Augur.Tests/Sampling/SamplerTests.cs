using Augur.Sampling;
using CsCheck;

namespace Augur.Tests.Sampling;

/// <summary>
/// The samplers against their definitions, computed independently here in double: order by logit (lowest id
/// first on ties), softmax, cumulative mass, llama.cpp's penalty formula, and a chi-square test of the draws.
/// </summary>
public class SamplerTests
{
    /// <summary>Logits with many ties (small integers) or none (continuous), 1..80 of them.</summary>
    static readonly Gen<float[]> TiedLogits = Gen.Int[-4, 4].Select(i => (float)i).Array[1, 80];
    static readonly Gen<float[]> Logits = Gen.Float[-12f, 12f].Array[1, 80];

    /// <summary>Token ids from best to worst: higher logit first, lower id first on a tie.</summary>
    static int[] Ranking(float[] logits) =>
        Enumerable.Range(0, logits.Length).OrderByDescending(i => logits[i]).ThenBy(i => i).ToArray();

    static double[] Softmax(float[] logits)
    {
        double max = logits.Max();
        var e = logits.Select(l => Math.Exp(l - max)).ToArray();
        double sum = e.Sum();
        return e.Select(x => x / sum).ToArray();
    }

    static Candidates Load(float[] logits)
    {
        var c = new Candidates(logits.Length);
        c.Reset(logits);
        return c;
    }

    static int[] Kept(Candidates c) => c.Ids[..c.Count];

    [Fact]
    public void TopK_keeps_exactly_the_k_highest_best_first_lowest_id_on_ties() =>
        Gen.Select(Gen.OneOf(TiedLogits, Logits), Gen.Int[1, 90]).Sample((logits, k) =>
        {
            var c = Load(logits);
            new TopKSampler(k).Apply(c);
            var want = Ranking(logits).Take(k).ToArray();
            Assert.Equal(want, Kept(c));
            Assert.Equal(want.Select(i => logits[i]), c.Logits[..c.Count]);
        });

    [Fact]
    public void TopK_of_zero_is_off() =>
        Logits.Sample(logits =>
        {
            var c = Load(logits);
            new TopKSampler(0).Apply(c);
            Assert.Equal(Enumerable.Range(0, logits.Length), Kept(c));
        });

    [Fact]
    // The kept set is the smallest best-first prefix with mass ≥ p: it reaches p, and without its last token it
    // would not. Masses are computed here in double; 1e-6 allows for the sampler's float probabilities.
    public void TopP_keeps_the_smallest_prefix_whose_mass_reaches_p() =>
        Gen.Select(Logits, Gen.Float[0.01f, 0.999f]).Sample((logits, p) =>
        {
            var c = Load(logits);
            new TopPSampler(p).Apply(c);
            var rank = Ranking(logits);
            var prob = Softmax(logits);
            int m = c.Count;
            Assert.Equal(rank[..m], Kept(c));
            double kept = rank[..m].Sum(i => prob[i]);
            double withoutLast = kept - prob[rank[m - 1]];
            Assert.True(kept >= p - 1e-6, $"kept mass {kept} < p = {p}");
            Assert.True(withoutLast < p + 1e-6, $"dropping the last kept token leaves {withoutLast} ≥ p = {p}");
        });

    [Fact]
    public void TopP_of_one_is_off() =>
        Logits.Sample(logits =>
        {
            var c = Load(logits);
            new TopPSampler(1f).Apply(c);
            Assert.Equal(logits.Length, c.Count);
        });

    [Fact]
    // Keeps exactly the tokens with probability ≥ p · (the best token's probability); relative slack 1e-5.
    public void MinP_keeps_the_tokens_at_or_above_p_times_the_best_probability() =>
        Gen.Select(Gen.OneOf(TiedLogits, Logits), Gen.Float[0.001f, 1f]).Sample((logits, p) =>
        {
            var c = Load(logits);
            new MinPSampler(p).Apply(c);
            var rank = Ranking(logits);
            var prob = Softmax(logits);
            double threshold = p * prob[rank[0]];
            Assert.Equal(rank[..c.Count], Kept(c));
            Assert.All(Kept(c), i => Assert.True(prob[i] >= threshold * (1 - 1e-5), $"kept {i} with {prob[i]} < {threshold}"));
            Assert.All(rank[c.Count..], i => Assert.True(prob[i] < threshold * (1 + 1e-5), $"dropped {i} with {prob[i]} ≥ {threshold}"));
        });

    [Fact]
    public void Temperature_zero_picks_the_argmax_and_the_lowest_id_on_ties() =>
        Gen.Select(Gen.OneOf(TiedLogits, Logits), Gen.Int).Sample((logits, seed) =>
        {
            var chain = SamplingOptions.Greedy.BuildChain(seed);
            Assert.Equal(Ranking(logits)[0], chain.Sample(logits, new Candidates(logits.Length)));
        });

    [Fact]
    // llama.cpp (llama_sampler_penalties_apply): for each token seen c > 0 times in the last n accepted,
    // logit ← (logit ≤ 0 ? logit · repeat : logit / repeat) − c · frequency − presence.
    public void Penalties_follow_llama_cpps_formula_over_the_last_n_tokens() =>
        Gen.Select(Gen.Int[0, 9].Array[0, 30], Gen.Int[0, 40], Gen.Float[-10f, 10f].Array[10], Gen.Float[0.5f, 2f], Gen.Float[-1f, 1f], Gen.Float[-1f, 1f])
            .Sample((history, lastN, logits, repeat, frequency, presence) =>
            {
                var sampler = new PenaltySampler(lastN, repeat, frequency, presence);
                foreach (int t in history) sampler.Accept(t);
                var c = Load(logits);
                sampler.Apply(c);
                var window = history.Skip(Math.Max(0, history.Length - lastN)).ToArray();
                for (int i = 0; i < c.Count; i++)
                {
                    int id = c.Ids[i], count = lastN == 0 ? 0 : window.Count(t => t == id);
                    double l = logits[id];
                    double want = count == 0 ? l : (l <= 0 ? l * repeat : l / repeat) - count * (double)frequency - presence;
                    Assert.True(Math.Abs(c.Logits[i] - want) <= 1e-5 * (1 + Math.Abs(want)), $"token {id} seen {count}×: {c.Logits[i]} vs {want}");
                }
            });

    [Fact]
    public void Penalties_on_a_worked_example()
    {
        var sampler = new PenaltySampler(lastN: 5, repeat: 2f, frequency: 0.5f, presence: 0.25f);
        foreach (int t in new[] { 1, 4, 2, 2, 3, 2 }) sampler.Accept(t); // token 1 has left the 5-token window
        var c = Load([1f, 2f, 3f, -1f, 0f]);
        sampler.Apply(c);
        // 2: 3/2 − 3·0.5 − 0.25; 3: −1·2 − 0.5 − 0.25; 4: 0·2 − 0.5 − 0.25.
        Assert.Equal([1f, 2f, -0.25f, -2.75f, -0.75f], c.Logits);
        sampler.Reset();
        c = Load([1f, 2f, 3f, -1f, 0f]);
        sampler.Apply(c);
        Assert.Equal([1f, 2f, 3f, -1f, 0f], c.Logits);
    }

    static SamplerChain Chain(int seed, float temperature = 1f, int topK = 0) =>
        new SamplingOptions { Temperature = temperature, TopK = topK, TopP = 1f, MinP = 0f }.BuildChain(seed);

    static int[] Draws(SamplerChain chain, float[] logits, int n)
    {
        var c = new Candidates(logits.Length);
        return Enumerable.Range(0, n).Select(_ => chain.Sample(logits, c)).ToArray();
    }

    static readonly float[] Flat = Enumerable.Range(0, 50).Select(i => (float)Math.Sin(i)).ToArray();

    [Fact]
    public void The_same_seed_gives_the_same_tokens_and_different_seeds_do_not()
    {
        Assert.Equal(Draws(Chain(7), Flat, 200), Draws(Chain(7), Flat, 200));
        Assert.NotEqual(Draws(Chain(7), Flat, 200), Draws(Chain(8), Flat, 200));
        var chain = Chain(7);
        var first = Draws(chain, Flat, 50);
        chain.Reset();
        Assert.Equal(first, Draws(chain, Flat, 50));
    }

    /// <summary>Pearson's χ² of observed counts against expected probabilities.</summary>
    static double ChiSquare(int[] draws, double[] expected)
    {
        double chi = 0;
        for (int i = 0; i < expected.Length; i++)
        {
            double e = draws.Length * expected[i];
            double o = draws.Count(d => d == i);
            chi += (o - e) * (o - e) / e;
        }
        return chi;
    }

    static readonly float[] Eight = [2f, 1f, 0.5f, 0f, -0.5f, -1f, -2f, -3f];

    [Theory]
    [InlineData(1f)]
    [InlineData(0.7f)]
    [InlineData(1.8f)]
    // 20,000 draws with a fixed seed; 7 degrees of freedom: χ² must stay under 24.32 (the 0.1% critical value),
    // while drawing from softmax(logits) at the wrong temperature (or uniformly) exceeds it by far.
    public void Draw_frequencies_match_softmax_of_logits_over_temperature(float temperature)
    {
        var draws = Draws(Chain(12345, temperature), Eight, 20_000);
        var want = Softmax(Eight.Select(l => l / temperature).ToArray());
        double chi = ChiSquare(draws, want);
        Assert.True(chi < 24.32, $"χ² = {chi:F1} at T = {temperature}");
        var wrong = Softmax(Eight.Select(l => l / (temperature * 1.25f)).ToArray());
        Assert.True(ChiSquare(draws, wrong) > 24.32, "the test cannot tell a 25% temperature error apart");
    }

    [Fact]
    // After top-k = 3 only the three best can be drawn, in proportion to their renormalised probabilities (2 df: 13.82).
    public void Draws_after_top_k_come_from_the_renormalised_top_three()
    {
        var draws = Draws(Chain(99, topK: 3), Eight, 20_000);
        Assert.All(draws, d => Assert.InRange(d, 0, 2));
        var top = Softmax(Eight[..3]);
        Assert.True(ChiSquare(draws, top) < 13.82);
    }

    [Theory]
    [InlineData(-1f, 40, 0.95f, "temperature")]
    [InlineData(0.8f, -1, 0.95f, "top-k")]
    [InlineData(0.8f, 40, 0f, "top-p")]
    public void Invalid_options_raise_InvalidRequestException_naming_the_option(float temperature, int topK, float topP, string name)
    {
        var options = new SamplingOptions { Temperature = temperature, TopK = topK, TopP = topP };
        Assert.Contains(name, Assert.Throws<InvalidRequestException>(() => options.BuildChain(1)).Message);
    }
}
