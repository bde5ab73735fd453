using Augur.Cache;
using Augur.Model;

namespace Augur.PeerTests;

/// <summary>Augur driven exactly like <see cref="LlamaCpp"/> drives llama.cpp, so the two can be compared step for step.</summary>
static class AugurRuns
{
    /// <summary>Greedy continuation: the prompt in one batch, then one token a step.</summary>
    public static int[] Greedy(ITransformer model, int[] prompt, int count)
    {
        var cache = model.CreateCache(prompt.Length + count);
        var logits = Logits(model, cache, prompt, 0)[^1];
        var ids = new int[count];
        for (int i = 0; i < count; i++)
        {
            ids[i] = LlamaCpp.ArgMax(logits);
            if (i + 1 < count) logits = Logits(model, cache, [ids[i]], prompt.Length + i)[0];
        }
        return ids;
    }

    /// <summary>Logits of every token of <paramref name="tokens"/>, placed at positions from <paramref name="start"/>.</summary>
    public static float[][] Logits(ITransformer model, IKvCache cache, ReadOnlySpan<int> tokens, int start)
    {
        var batch = new Batch(tokens.Length);
        for (int i = 0; i < tokens.Length; i++) batch.Add(tokens[i], start + i, 0, logits: true);
        model.Forward(batch, cache);
        return [.. Enumerable.Range(0, tokens.Length).Select(i => model.Logits(i).ToArray())];
    }
}
