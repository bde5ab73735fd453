using System.Diagnostics;

namespace Augur.Speculative;

/// <summary>
/// Speculates only when it pays, by an acceptance × cost model. Plain decoding: the time of a step with no draft, a
/// running average over every such step, whichever choice made it (plain steps are retried now and then while a
/// drafter is best). Each drafter, over the steps it proposed in: tokens emitted per step (acceptance) and the step's
/// time relative to a plain step (cost: drafting, verification and the emitted tokens' processing included). A drafter
/// is worth emitted ÷ relative cost plain steps; the best is used if it beats plain decoding by <see cref="Margin"/>.
/// Every drafter gets a trial of <see cref="TrialSteps"/> steps at the start; a losing one another after a wait that
/// doubles each time (<see cref="FirstRetry"/> up to <see cref="MaxRetry"/> steps), but only while what exploring lost
/// (time beyond what plain decoding would have taken for the same tokens) stays under 1/<see cref="ExploreShare"/> of
/// all time; the first trials, which also pay for cold code, do not count. Tokens are counted exactly and costs are
/// ratios to a plain step timed moments before, so the choice follows the context length and the machine's speed
/// without hinging on a few noisy timings.
/// </summary>
public sealed class AdaptiveDrafter : IDrafter
{
    const int ExploreShare = 200;
    const int FirstRetry = 16;
    const int MaxRetry = 1024;
    const int PlainRetry = 64;
    const int TrialSteps = 2;
    const double Margin = 1.02;
    const double Smoothing = 0.2;      // weight of a drafter's latest step in its averages
    const double PlainSmoothing = 0.05;
    const int WarmSteps = 8;           // plain steps timed before any drafter is tried
    readonly IDrafter?[] _choices;     // null = plain decoding
    readonly double[] _emitted;        // per choice: tokens emitted per step
    readonly double[] _relativeCost;   // per choice: step time ÷ plain step time
    readonly bool[] _tried;
    readonly long[] _retryAt;
    readonly int[] _retryWait;
    double _plainSeconds;              // a step with no draft
    int _plainSteps;
    double _exploreSeconds, _totalSeconds;
    long _step;
    long? _stepStart;
    int _current, _stepNodes, _stepEmitted, _trialLeft;
    bool _exploring, _freeTrial;

    readonly Func<long> _clock;
    readonly double _ticksPerSecond;

    public AdaptiveDrafter(params IDrafter[] drafters) : this(Stopwatch.GetTimestamp, Stopwatch.Frequency, drafters) { }

    /// <summary>With a clock of its own (tests run it on virtual time, so its choices are not left to the machine's load).</summary>
    internal AdaptiveDrafter(Func<long> clock, double ticksPerSecond, params IDrafter[] drafters)
    {
        (_clock, _ticksPerSecond) = (clock, ticksPerSecond);
        _choices = [null, .. drafters];
        _emitted = new double[_choices.Length];
        _relativeCost = new double[_choices.Length];
        _tried = new bool[_choices.Length];
        _retryAt = new long[_choices.Length];
        _retryWait = Enumerable.Repeat(FirstRetry, _choices.Length).ToArray();
        (_emitted[0], _relativeCost[0], _tried[0]) = (1, 1, true);
    }

    public string Name => "auto";

    /// <summary>The drafter in use for the current step (null: plain decoding).</summary>
    public IDrafter? Current => _choices[_current];

    public void Begin(ReadOnlySpan<int> prompt)
    {
        foreach (var d in _choices) d?.Begin(prompt);
        _stepStart = null; // the gap between requests is no step
    }

    public void Propose(ReadOnlySpan<int> context, DraftTree tree)
    {
        long now = _clock();
        if (_stepStart is { } start) Time((now - start) / _ticksPerSecond);
        _stepStart = now;
        _step++;
        if (_trialLeft > 0) _trialLeft--;
        else
        {
            _freeTrial = false;
            _current = Choose();
        }
        _exploring = _current != Best() && !_freeTrial;
        _choices[_current]?.Propose(context, tree);
    }

    public void Learn(VerifiedStep step)
    {
        _stepNodes = step.Tree.Count;
        _stepEmitted = step.Emitted.Count;
        if (_current > 0)
        {
            double w = _tried[_current] ? Smoothing : 1;
            _emitted[_current] += w * (step.Emitted.Count - _emitted[_current]);
        }
        // Every drafter learns from the emitted tokens; one that scans the logits (Token Recycling: a top-k of every
        // row) only while it is in use — teaching it on every plain step cost plain decoding ~6 % on stories260K.
        for (int c = 0; c < _choices.Length; c++)
            if (_choices[c] is { } d && (c == _current || !d.LearnsFromLogits)) d.Learn(step);
    }

    /// <summary>Accounts the step that just ended: <see cref="_current"/> proposed <see cref="_stepNodes"/> nodes.</summary>
    void Time(double seconds)
    {
        if (_plainSteps >= WarmSteps && seconds > 64 * _plainSeconds) return; // preempted or paused: not the step's cost
        _totalSeconds += seconds;
        // What exploring cost: the time beyond what plain decoding would have taken for the same tokens.
        if (_exploring) _exploreSeconds += Math.Max(0, seconds - _stepEmitted * _plainSeconds);
        if (_stepNodes == 0)
        {
            // Noise only ever adds (see below), so a faster plain step is believed sooner than a slower one.
            double w = _plainSteps == 0 ? 1 : seconds < _plainSeconds ? 0.5 : PlainSmoothing;
            _plainSeconds += w * (seconds - _plainSeconds);
            _plainSteps++;
        }
        int i = _current;
        if (i > 0 && _plainSteps > 0)
        {
            // Timing noise only ever adds (preemption, cold caches, code not yet optimized), so a cheaper sample
            // is believed faster than a dearer one.
            double relative = seconds / _plainSeconds;
            double w = relative < _relativeCost[i] ? 0.5 : Smoothing;
            _relativeCost[i] = _tried[i] ? _relativeCost[i] + w * (relative - _relativeCost[i]) : relative;
            _tried[i] = true;
        }
    }

    double Worth(int i) => _emitted[i] / _relativeCost[i];

    int Best()
    {
        int best = 0; // plain decoding, unless a drafter beats it clearly
        for (int i = 1; i < _choices.Length; i++)
            if (_tried[i] && Worth(i) > Margin && Worth(i) > Worth(best)) best = i;
        return best;
    }

    int Choose()
    {
        if (_plainSteps < WarmSteps) return 0;
        for (int i = 1; i < _choices.Length; i++)
            if (!_tried[i]) return Trial(i, free: true);
        int best = Best();
        _retryWait[best] = FirstRetry;
        if (_exploreSeconds * ExploreShare > _totalSeconds) return best;
        // Plain decoding is retried too while a drafter is best: a plain step is what every cost is relative to.
        for (int i = 0; i < _choices.Length; i++)
            if (i != best && _step >= _retryAt[i]) return Trial(i, free: false);
        return best;
    }

    int Trial(int i, bool free)
    {
        _retryAt[i] = _step + _retryWait[i];
        // Plain steps are cheap to retry and everything is measured against them, so they never wait long.
        _retryWait[i] = Math.Min(i == 0 ? PlainRetry : MaxRetry, _retryWait[i] * 2);
        _trialLeft = TrialSteps - 1;
        _freeTrial = free;
        return i;
    }
}
