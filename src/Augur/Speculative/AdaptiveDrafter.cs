using System.Diagnostics;

namespace Augur.Speculative;

/// <summary>
/// Speculates only when it pays. Each step uses one of several drafters or none (plain decoding), and the
/// wall-clock rate each choice achieved — tokens emitted per second from one step to the next, drafting,
/// verification and the emitted tokens' processing included — is tracked as a moving average (warm-up steps excluded). The best choice is used; a losing choice is
/// re-measured after a wait that doubles each time it loses again (from <see cref="FirstRetry"/> steps up to
/// <see cref="MaxRetry"/>), so a drafter that starts to pay is noticed while one that does not costs
/// almost nothing. Since "none" is always a choice, speculation that loses to plain decoding stops.
/// </summary>
public sealed class AdaptiveDrafter : IDrafter
{
    const int FirstRetry = 16;
    const int MaxRetry = 4096;
    const int WarmupSteps = 3;
    const double Smoothing = 0.1;
    const double Margin = 1.05; // a drafter must beat plain decoding by this much to be used: timings are noisy
    readonly IDrafter?[] _choices; // null = plain decoding
    readonly double[] _rate;
    readonly int[] _tries;
    readonly long[] _retryAt;   // step at which a losing choice is measured again
    readonly int[] _retryWait;
    readonly Stopwatch _clock = new();
    bool _measuring;
    int _emitted;
    long _step;
    int _current;

    public AdaptiveDrafter(params IDrafter[] drafters)
    {
        _choices = [null, .. drafters];
        _rate = new double[_choices.Length];
        _tries = new int[_choices.Length];
        _retryAt = new long[_choices.Length];
        _retryWait = Enumerable.Repeat(FirstRetry, _choices.Length).ToArray();
    }

    public string Name => "auto";

    /// <summary>The drafter in use for the current step (null: plain decoding).</summary>
    public IDrafter? Current => _choices[_current];

    public void Begin(ReadOnlySpan<int> prompt)
    {
        foreach (var d in _choices) d?.Begin(prompt);
        _measuring = false; // the gap between requests belongs to no choice
    }

    public void Propose(ReadOnlySpan<int> context, DraftTree tree)
    {
        // A choice is timed from its Propose to the next one, so the per-token work after verification
        // (detokenizing, streaming) is charged too: excluding it would flatter long drafts.
        if (_measuring) Record(_current, _emitted, _clock.Elapsed.TotalSeconds);
        _step++;
        _current = Choose();
        _emitted = 0;
        _measuring = true;
        _clock.Restart();
        _choices[_current]?.Propose(context, tree);
    }

    int Choose()
    {
        for (int i = 0; i < _choices.Length; i++)
            if (_tries[i] < WarmupSteps) return i;
        int best = Best();
        for (int i = 0; i < _choices.Length; i++)
            if (i != best && _step >= _retryAt[i]) return i;
        return best;
    }

    public void Learn(VerifiedStep step)
    {
        // Every drafter learns from every step (the target's logits are free information).
        foreach (var d in _choices) d?.Learn(step);
        _emitted += step.Emitted.Count;
    }

    void Record(int i, int emitted, double seconds)
    {
        double rate = emitted / Math.Max(seconds, 1e-9);
        // Warm-up steps run code for the first time (JIT, caches): they are not measured.
        if (_tries[i] == WarmupSteps - 1) _rate[i] = rate;
        else if (_tries[i] >= WarmupSteps) _rate[i] = (1 - Smoothing) * _rate[i] + Smoothing * rate;
        _tries[i]++;
        if (_tries[i] >= WarmupSteps && i != Best())
        {
            _retryAt[i] = _step + _retryWait[i];
            _retryWait[i] = Math.Min(MaxRetry, _retryWait[i] * 2);
        }
        else if (i == Best()) _retryWait[i] = FirstRetry;
    }

    int Best()
    {
        int best = 0; // plain decoding, unless a drafter beats it clearly
        for (int i = 1; i < _choices.Length; i++)
            if (_rate[i] > Margin * _rate[0] && _rate[i] > _rate[best]) best = i;
        return best;
    }
}
