using Augur.Generation;
using Augur.Model;
using Augur.Tensors;
using Augur.Tests.Support;

namespace Augur.PeerTests;

/// <summary>`augur perplexity` against llama.cpp: the same chunks (llama-perplexity's procedure) through llama.cpp's
/// tokenizer and forward pass, the negative log-likelihood summed here in double from its logits.</summary>
public class PerplexityParityTests
{
    [Fact]
    public void Perplexity_matches_the_one_from_llama_cpp_s_logits()
    {
        const int Ctx = 128;
        string text = File.ReadAllText(SharedAssets.Data("tinystories-valid-sample.txt"))[..6000];
        using var augur = LoadedModel.Open(Reference.Stories260KGguf, pool: new WorkerPool(1));
        using var peer = LlamaCpp.Model(Reference.Stories260KGguf, contextLength: Ctx);
        var result = Perplexity.Measure(augur.Model, augur.Tokenizer, text, Ctx);

        int[] tokens = peer.Tokenize(text);
        int chunks = tokens.Length / Ctx, scored = 0;
        double nll = 0;
        for (int c = 0; c < chunks; c++)
        {
            var chunk = tokens[(c * Ctx)..((c + 1) * Ctx)];
            chunk[0] = augur.Tokenizer.BosId;
            peer.Clear();
            var rows = peer.Logits(chunk);
            for (int i = Ctx / 2; i < Ctx - 1; i++)
            {
                double max = rows[i].Max(), sum = rows[i].Sum(l => Math.Exp(l - max));
                nll += max + Math.Log(sum) - rows[i][tokens[c * Ctx + i + 1]];
                scored++;
            }
        }
        Assert.True(chunks >= 8, $"only {chunks} chunks");
        Assert.Equal(chunks, result.Chunks);
        Assert.Equal(scored, result.ScoredTokens);
        double want = Math.Exp(nll / scored);
        Assert.True(Math.Abs(result.Perplexity - want) <= 1e-4 * want, $"Augur {result.Perplexity:F6}, llama.cpp {want:F6}");
    }
}
