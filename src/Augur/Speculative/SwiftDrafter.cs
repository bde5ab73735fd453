using System.Diagnostics;
using Augur.Cache;
using Augur.Model;

namespace Augur.Speculative;

/// <summary>
/// SWIFT self-speculation (Xia et al., 2024): the target model itself, with a subset of its layers skipped,
/// drafts a chain greedily — no extra weights. Drafting writes into the same KV cache (skipped layers write
/// nothing) and trims back afterwards; verification then overwrites those cells with full-model values.
/// The skipped set is searched on the fly: every <see cref="Window"/> steps a neighbouring set (one layer
/// flipped) is tried, and kept if it emitted more tokens per second than the best so far. Drafting stops
/// early when the draft's own confidence drops (its top probability below <see cref="MinConfidence"/>).
/// </summary>
public sealed class SwiftDrafter : IDrafter
{
    const int Window = 8;
    const float MinConfidence = 0.5f;
    readonly ITransformer _model;
    readonly IKvCache _cache;
    readonly int _sequence;
    readonly int _draftLength;
    readonly Batch _batch = new(1);
    readonly Random _random = new(1234);
    bool[] _best, _trial;
    double _bestRate;
    int _steps, _emitted;
    readonly Stopwatch _clock = new();

    public SwiftDrafter(ITransformer model, IKvCache cache, int sequence = 0, int draftLength = 8)
    {
        (_model, _cache, _sequence, _draftLength) = (model, cache, sequence, draftLength);
        int layers = model.Config.Layers;
        // Start by skipping every other inner layer (first and last kept: they matter most).
        _best = new bool[layers];
        for (int l = 1; l < layers - 1; l += 2) _best[l] = true;
        _trial = (bool[])_best.Clone();
    }

    public string Name => "swift";

    /// <summary>The layers currently skipped while drafting.</summary>
    public IReadOnlyList<bool> SkippedLayers => _trial;

    public void Begin(ReadOnlySpan<int> prompt) { }

    public void Propose(ReadOnlySpan<int> context, DraftTree tree)
    {
        _clock.Start();
        int start = _cache.Length(_sequence);
        int token = context[^1];
        int parent = -1;
        int room = Math.Min(_draftLength, _cache.Capacity - start - 1);
        for (int d = 0; d < room && !tree.IsFull; d++)
        {
            _batch.Clear();
            _batch.Add(token, start + d, _sequence, logits: true);
            _model.Forward(_batch, _cache, _trial);
            var logits = _model.Logits(0);
            int best = 0;
            for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
            parent = tree.Add(parent, best);
            token = best;
            if (Confidence(logits, best) < MinConfidence) break;
        }
        _cache.Trim(_sequence, start);
    }

    /// <summary>The draft's own probability of its choice.</summary>
    internal static float Confidence(ReadOnlySpan<float> logits, int best) => MathF.Exp(logits[best] - Augur.Tensors.Ops.LogSumExp(logits));

    public void Learn(VerifiedStep step)
    {
        _clock.Stop();
        _steps++;
        _emitted += step.Emitted.Count;
        if (_steps < Window) { _clock.Start(); return; }
        double rate = _emitted / _clock.Elapsed.TotalSeconds;
        if (rate > _bestRate || _trial.SequenceEqual(_best))
        {
            _bestRate = Math.Max(rate, _trial.SequenceEqual(_best) ? rate : _bestRate);
            _best = (bool[])_trial.Clone();
        }
        // Next trial: the best set with one layer flipped (never skipping all layers).
        _trial = (bool[])_best.Clone();
        int flip = _random.Next(_trial.Length);
        _trial[flip] = !_trial[flip];
        if (_trial.All(s => s)) _trial[flip] = false;
        (_steps, _emitted) = (0, 0);
        _clock.Reset();
    }
}
