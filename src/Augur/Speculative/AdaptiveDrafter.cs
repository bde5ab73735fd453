using System.Diagnostics;

namespace Augur.Speculative;

/// <summary>
/// Speculates only when it pays. Each step uses one of several drafters or none (plain decoding), and the
/// wall-clock rate each choice achieved — tokens emitted per second over its whole step, drafting and
/// verification included — is tracked as a moving average. The best choice is used; every
/// <see cref="ExploreEvery"/> steps the choice tried least recently is measured again, so a drafter that
/// starts to pay (or stops) is noticed. Since "none" is always a choice, a drafter that loses to plain
/// decoding stops being used after its first measurements.
/// </summary>
public sealed class AdaptiveDrafter : IDrafter
{
    const int ExploreEvery = 24;
    const int WarmupSteps = 3;
    const double Smoothing = 0.2;
    readonly IDrafter?[] _choices; // null = plain decoding
    readonly double[] _rate;
    readonly int[] _tries;
    readonly long[] _lastTried;
    readonly Stopwatch _clock = new();
    long _step;
    int _current;

    public AdaptiveDrafter(params IDrafter[] drafters)
    {
        _choices = [null, .. drafters];
        _rate = new double[_choices.Length];
        _tries = new int[_choices.Length];
        _lastTried = new long[_choices.Length];
    }

    public string Name => "auto";

    /// <summary>The drafter in use for the current step (null: plain decoding).</summary>
    public IDrafter? Current => _choices[_current];

    public void Begin(ReadOnlySpan<int> prompt)
    {
        foreach (var d in _choices) d?.Begin(prompt);
    }

    public void Propose(ReadOnlySpan<int> context, DraftTree tree)
    {
        _current = Choose();
        _lastTried[_current] = ++_step;
        _clock.Restart();
        _choices[_current]?.Propose(context, tree);
    }

    int Choose()
    {
        for (int i = 0; i < _choices.Length; i++)
            if (_tries[i] < WarmupSteps) return i;
        if (_step % ExploreEvery == 0)
        {
            int stalest = 0;
            for (int i = 1; i < _choices.Length; i++) if (_lastTried[i] < _lastTried[stalest]) stalest = i;
            return stalest;
        }
        int best = 0;
        for (int i = 1; i < _choices.Length; i++) if (_rate[i] > _rate[best]) best = i;
        return best;
    }

    public void Learn(VerifiedStep step)
    {
        double seconds = _clock.Elapsed.TotalSeconds;
        // Every drafter learns from every step (the target's logits are free information).
        foreach (var d in _choices) d?.Learn(step);
        double rate = step.Emitted.Count / Math.Max(seconds, 1e-9);
        int i = _current;
        _rate[i] = _tries[i] == 0 ? rate : (1 - Smoothing) * _rate[i] + Smoothing * rate;
        _tries[i]++;
    }
}
