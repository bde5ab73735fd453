using Augur.Cache;
using Augur.Model;

namespace Augur.Tests.Support;

/// <summary>Greedy decoding straight over a model and a cache, for differential tests of caches: several prompts as
/// sequences 0.. of one cache, their prompt tokens interleaved in shared batches, then one token per sequence per step.</summary>
public static class Greedy
{
    public static int[][] Together(ITransformer m, IKvCache cache, IReadOnlyList<int[]> prompts, int steps)
    {
        var result = prompts.Select(_ => new List<int>()).ToArray();
        var batch = new Batch(m.MaxBatch);
        var wanting = new List<int>(); // sequences whose logits the batch asked for, in order
        void Flush()
        {
            m.Forward(batch, cache);
            for (int k = 0; k < wanting.Count; k++) result[wanting[k]].Add(ArgMax(m.Logits(k)));
            batch.Clear();
            wanting.Clear();
        }
        for (int i = 0; i < prompts.Max(p => p.Length); i++)
            for (int s = 0; s < prompts.Count; s++)
            {
                if (i >= prompts[s].Length) continue;
                bool last = i == prompts[s].Length - 1;
                batch.Add(prompts[s][i], i, s, logits: last);
                if (last) wanting.Add(s);
                if (batch.Count == batch.Capacity) Flush();
            }
        if (batch.Count > 0) Flush();
        for (int step = 1; step < steps; step++)
        {
            for (int s = 0; s < prompts.Count; s++)
            {
                batch.Add(result[s][^1], prompts[s].Length + step - 1, s, logits: true);
                wanting.Add(s);
            }
            Flush();
        }
        return [.. result.Select(r => r.ToArray())];
    }

    /// <summary>One prompt on a fresh sequence 0 of <paramref name="cache"/>.</summary>
    public static int[] Alone(ITransformer m, IKvCache cache, int[] prompt, int steps)
    {
        cache.Clear(0);
        return Together(m, cache, [prompt], steps)[0];
    }

    public static int ArgMax(ReadOnlySpan<float> logits)
    {
        int best = 0;
        for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
        return best;
    }
}
