namespace Augur.Sampling;

/// <summary>Picks the highest logit; the lowest id wins a tie (as llama2.c's argmax does).</summary>
public sealed class GreedySampler : ISampler
{
    public void Apply(Candidates c)
    {
        int best = 0;
        for (int i = 1; i < c.Count; i++)
            if (c.Logits[i] > c.Logits[best] || (c.Logits[i] == c.Logits[best] && c.Ids[i] < c.Ids[best])) best = i;
        c.Selected = c.Ids[best];
    }
}

/// <summary>Draws from softmax of the remaining logits with a seeded generator: same seed, same draws.</summary>
public sealed class DistributionSampler(int seed) : ISampler
{
    Random _random = new(seed);

    public void Apply(Candidates c)
    {
        c.Softmax();
        c.Selected = Draw(c, _random.NextDouble());
    }

    /// <summary>The candidate at cumulative probability <paramref name="u"/> (in candidate order).</summary>
    public static int Draw(Candidates c, double u)
    {
        double cumulative = 0;
        for (int i = 0; i < c.Count; i++)
        {
            cumulative += c.Probabilities[i];
            if (u < cumulative) return c.Ids[i];
        }
        return c.Ids[c.Count - 1]; // rounding left u just above the total
    }

    public void Reset() => _random = new Random(seed);
}

/// <summary>Divides logits by the temperature.</summary>
public sealed class TemperatureSampler(float temperature) : ISampler
{
    public void Apply(Candidates c)
    {
        for (int i = 0; i < c.Count; i++) c.Logits[i] /= temperature;
        c.HasProbabilities = false;
    }
}

/// <summary>Keeps the k highest logits.</summary>
public sealed class TopKSampler(int k) : ISampler
{
    public void Apply(Candidates c)
    {
        if (k > 0) c.KeepTop(Math.Max(k, 1));
    }
}

/// <summary>Nucleus: keeps the smallest set of most likely tokens whose probabilities reach <c>p</c> (at least one).</summary>
public sealed class TopPSampler(float p) : ISampler
{
    public void Apply(Candidates c)
    {
        if (p >= 1) return;
        c.Sort();
        c.Softmax();
        double cumulative = 0;
        int keep = c.Count;
        for (int i = 0; i < c.Count; i++)
        {
            cumulative += c.Probabilities[i];
            if (cumulative >= p) { keep = i + 1; break; }
        }
        c.Count = keep;
        c.HasProbabilities = false;
    }
}

/// <summary>Keeps tokens whose probability is at least <c>p</c> times the most likely one's.</summary>
public sealed class MinPSampler(float p) : ISampler
{
    public void Apply(Candidates c)
    {
        if (p <= 0) return;
        c.Sort();
        // p_i ≥ p·p_max  ⇔  logit_i ≥ logit_max + ln p
        float threshold = c.Logits[0] + MathF.Log(p);
        int keep = 1;
        while (keep < c.Count && c.Logits[keep] >= threshold) keep++;
        c.Count = keep;
        c.HasProbabilities = false;
    }
}

/// <summary>
/// Repetition, presence and frequency penalties over the last <c>lastN</c> emitted tokens, as llama.cpp applies
/// them: a seen token's logit is divided by <c>repeat</c> if positive (multiplied if not), then lowered by
/// <c>count·frequency + presence</c>.
/// </summary>
public sealed class PenaltySampler(int lastN, float repeat, float frequency, float presence) : ISampler
{
    readonly Queue<int> _history = new();
    readonly Dictionary<int, int> _counts = [];

    public void Apply(Candidates c)
    {
        if (_counts.Count == 0 || (repeat == 1 && frequency == 0 && presence == 0)) return;
        for (int i = 0; i < c.Count; i++)
        {
            if (!_counts.TryGetValue(c.Ids[i], out int count)) continue;
            ref float logit = ref c.Logits[i];
            logit = logit <= 0 ? logit * repeat : logit / repeat;
            logit -= count * frequency + presence;
        }
        c.Sorted = false;
        c.HasProbabilities = false;
    }

    public void Accept(int token)
    {
        if (lastN <= 0) return;
        _history.Enqueue(token);
        _counts[token] = _counts.GetValueOrDefault(token) + 1;
        if (_history.Count > lastN)
        {
            int old = _history.Dequeue();
            if (--_counts[old] == 0) _counts.Remove(old);
        }
    }

    public void Reset()
    {
        _history.Clear();
        _counts.Clear();
    }
}
