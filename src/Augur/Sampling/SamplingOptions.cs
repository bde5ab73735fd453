namespace Augur.Sampling;

/// <summary>How to choose tokens. Temperature 0 means greedy (argmax); the defaults are llama.cpp's.</summary>
public sealed record SamplingOptions
{
    public float Temperature { get; init; } = 0.8f;
    public int TopK { get; init; } = 40;
    public float TopP { get; init; } = 0.95f;
    public float MinP { get; init; } = 0.05f;
    public float RepeatPenalty { get; init; } = 1.0f;
    public float FrequencyPenalty { get; init; }
    public float PresencePenalty { get; init; }
    public int PenaltyLastN { get; init; } = 64;
    /// <summary>Same seed, same output; null picks one at random.</summary>
    public int? Seed { get; init; }

    public static SamplingOptions Greedy { get; } = new() { Temperature = 0 };

    public bool IsGreedy => Temperature <= 0;

    /// <summary>Checks every value; throws <see cref="InvalidRequestException"/> naming the bad one.</summary>
    public void Validate()
    {
        void Need(bool ok, string what) { if (!ok) throw new InvalidRequestException(what); }
        Need(float.IsFinite(Temperature) && Temperature >= 0, $"temperature must be ≥ 0 (got {Temperature})");
        Need(TopK >= 0, $"top-k must be ≥ 0 (got {TopK})");
        Need(TopP > 0 && TopP <= 1, $"top-p must be in (0, 1] (got {TopP})");
        Need(MinP >= 0 && MinP <= 1, $"min-p must be in [0, 1] (got {MinP})");
        Need(float.IsFinite(RepeatPenalty) && RepeatPenalty > 0, $"repeat penalty must be > 0 (got {RepeatPenalty})");
        Need(float.IsFinite(FrequencyPenalty) && Math.Abs(FrequencyPenalty) <= 2, $"frequency penalty must be in [-2, 2] (got {FrequencyPenalty})");
        Need(float.IsFinite(PresencePenalty) && Math.Abs(PresencePenalty) <= 2, $"presence penalty must be in [-2, 2] (got {PresencePenalty})");
        Need(PenaltyLastN >= 0, $"penalty window must be ≥ 0 (got {PenaltyLastN})");
    }

    /// <summary>penalties → top-k → top-p → min-p → temperature → draw (llama.cpp's order), or penalties → argmax.</summary>
    public SamplerChain BuildChain(int seed)
    {
        Validate();
        var filters = new List<ISampler>();
        if (RepeatPenalty != 1 || FrequencyPenalty != 0 || PresencePenalty != 0)
            filters.Add(new PenaltySampler(PenaltyLastN, RepeatPenalty, FrequencyPenalty, PresencePenalty));
        if (IsGreedy) return new SamplerChain(filters, new GreedySampler());
        if (TopK > 0) filters.Add(new TopKSampler(TopK));
        if (TopP < 1) filters.Add(new TopPSampler(TopP));
        if (MinP > 0) filters.Add(new MinPSampler(MinP));
        filters.Add(new TemperatureSampler(Temperature));
        return new SamplerChain(filters, new DistributionSampler(seed));
    }
}
