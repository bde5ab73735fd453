using System.Diagnostics;

namespace Augur.Speculative;

/// <summary>
/// Speculates only when it pays. Steps come in windows of <see cref="Window"/> steps, each window using one of
/// several drafters or none (plain decoding); a window's rate — tokens emitted per second from its first step to
/// the next window, drafting, verification and the emitted tokens' processing all included — measures that choice.
/// The best choice is used (a drafter must beat plain decoding by <see cref="Margin"/>); a losing choice gets one
/// window again after a wait that doubles each time it loses (from <see cref="FirstRetry"/> steps up to
/// <see cref="MaxRetry"/>), and that fresh window replaces its old rate — but only while the time spent off the best
/// choice stays under 1/<see cref="ExploreShare"/> of all time, which bounds what exploring can cost. Each choice
/// starts with one window (cold code only makes a drafter look worse, which errs towards plain decoding). So a
/// drafter that starts to pay is noticed, one that does not costs little, and speculation that loses stops.
/// </summary>
public sealed class AdaptiveDrafter : IDrafter
{
    const int Window = 6;
    const int ExploreShare = 100;
    const int FirstRetry = 64;
    const int MaxRetry = 4096;
    const double Margin = 1.05; // timings are noisy: a drafter must beat plain decoding clearly
    const double Smoothing = 0.3;
    readonly IDrafter?[] _choices; // null = plain decoding
    readonly double[] _rate;
    readonly int[] _windows;      // windows measured per choice
    readonly long[] _retryAt;     // step at which a losing choice is measured again
    readonly int[] _retryWait;
    readonly Stopwatch _clock = new();
    long _step;
    double _exploreSeconds, _totalSeconds;
    int _current, _windowSteps, _windowEmitted;

    public AdaptiveDrafter(params IDrafter[] drafters)
    {
        _choices = [null, .. drafters];
        _rate = new double[_choices.Length];
        _windows = new int[_choices.Length];
        _retryAt = new long[_choices.Length];
        _retryWait = Enumerable.Repeat(FirstRetry, _choices.Length).ToArray();
    }

    public string Name => "auto";

    /// <summary>The drafter in use for the current step (null: plain decoding).</summary>
    public IDrafter? Current => _choices[_current];

    public void Begin(ReadOnlySpan<int> prompt)
    {
        foreach (var d in _choices) d?.Begin(prompt);
        _windowSteps = 0; // the gap between requests belongs to no window
    }

    public void Propose(ReadOnlySpan<int> context, DraftTree tree)
    {
        _step++;
        if (_windowSteps == Window)
        {
            double seconds = _clock.Elapsed.TotalSeconds;
            _totalSeconds += seconds;
            if (_current != Best()) _exploreSeconds += seconds;
            Record(_current, _windowEmitted / seconds);
        }
        if (_windowSteps == 0 || _windowSteps == Window)
        {
            _current = Choose();
            _windowSteps = 0;
            _windowEmitted = 0;
            _clock.Restart();
        }
        _windowSteps++;
        _choices[_current]?.Propose(context, tree);
    }

    public void Learn(VerifiedStep step)
    {
        // Every drafter learns from the emitted tokens; one that scans the logits (Token Recycling: a top-k of every
        // row) only while it is in use — teaching it on every plain step cost plain decoding ~6 % on stories260K.
        for (int i = 0; i < _choices.Length; i++)
            if (_choices[i] is { } d && (i == _current || !d.LearnsFromLogits)) d.Learn(step);
        _windowEmitted += step.Emitted.Count;
    }

    int Choose()
    {
        for (int i = 0; i < _choices.Length; i++)
            if (_windows[i] == 0) return i;
        int best = Best();
        if (_exploreSeconds * ExploreShare > _totalSeconds) return best;
        for (int i = 0; i < _choices.Length; i++)
            if (i != best && _step >= _retryAt[i]) return i;
        return best;
    }

    void Record(int i, double rate)
    {
        _windows[i]++;
        _rate[i] = i == Best() && _windows[i] > 1 ? (1 - Smoothing) * _rate[i] + Smoothing * rate : rate;
        if (i == Best()) _retryWait[i] = FirstRetry;
        else
        {
            _retryAt[i] = _step + _retryWait[i];
            _retryWait[i] = Math.Min(MaxRetry, _retryWait[i] * 2);
        }
    }

    int Best()
    {
        int best = 0; // plain decoding, unless a drafter beats it clearly
        for (int i = 1; i < _choices.Length; i++)
            if (_rate[i] > Margin * _rate[0] && _rate[i] > _rate[best]) best = i;
        return best;
    }
}
