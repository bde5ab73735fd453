using Augur.Model;
using Augur.Tensors;
using Augur.Tokenizers;

namespace Augur.Generation;

/// <summary>The perplexity of a text and what it was computed over.</summary>
public sealed record PerplexityResult(double Perplexity, double MeanNegativeLogLikelihood, int ScoredTokens, int Chunks, int ContextLength);

/// <summary>
/// Perplexity the way llama.cpp's <c>llama-perplexity</c> measures it, so the numbers compare: the text (with BOS) is
/// cut into chunks of the context length; each chunk starts a fresh cache with its first token replaced by BOS, and
/// only the second half of each chunk is scored (every scored token sees at least half a context), each by the log
/// softmax of the logits before it. Perplexity = exp(mean negative log-likelihood).
/// </summary>
public static class Perplexity
{
    /// <param name="progress">Called after each chunk with (chunks done, chunks in all).</param>
    public static PerplexityResult Measure(ITransformer model, ITokenizer tokenizer, string text, int contextLength, Action<int, int>? progress = null)
    {
        if (contextLength < 4) throw new InvalidRequestException($"the context length must be at least 4 tokens (got {contextLength})");
        if (contextLength > model.Config.ContextLength)
            throw new InvalidRequestException($"a context of {contextLength} tokens exceeds the model's trained {model.Config.ContextLength}");
        int[] tokens = tokenizer.Encode(text);
        int chunks = tokens.Length / contextLength;
        if (chunks == 0)
            throw new InvalidRequestException($"the text is {tokens.Length} tokens; perplexity needs at least one chunk of {contextLength} (lower --ctx or give more text)");

        var cache = model.CreateCache(contextLength);
        var batch = new Batch(model.MaxBatch);
        int first = contextLength / 2; // the first position whose logits are scored (predicting the token after it)
        double nll = 0;
        int scored = 0;
        for (int c = 0; c < chunks; c++)
        {
            int start = c * contextLength;
            cache.Clear(0);
            for (int from = 0; from < contextLength; from += batch.Capacity)
            {
                int n = Math.Min(batch.Capacity, contextLength - from);
                batch.Clear();
                for (int i = from; i < from + n; i++)
                    batch.Add(i == 0 ? tokenizer.BosId : tokens[start + i], i, 0, logits: i >= first && i < contextLength - 1);
                model.Forward(batch, cache);
                int row = 0;
                for (int i = from; i < from + n; i++)
                {
                    if (i < first || i >= contextLength - 1) continue;
                    var logits = model.Logits(row++);
                    nll += Ops.LogSumExp(logits) - logits[tokens[start + i + 1]];
                    scored++;
                }
            }
            progress?.Invoke(c + 1, chunks);
        }
        double mean = nll / scored;
        return new PerplexityResult(Math.Exp(mean), mean, scored, chunks, contextLength);
    }
}
