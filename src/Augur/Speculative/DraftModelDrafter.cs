using Augur.Cache;
using Augur.Model;

namespace Augur.Speculative;

/// <summary>
/// A second, smaller model with the same vocabulary drafts a chain greedily. Its own KV cache follows the
/// target's context: the common prefix is kept, anything else is recomputed before drafting.
/// </summary>
public sealed class DraftModelDrafter : IDrafter
{
    const float MinConfidence = 0.4f;
    readonly LlamaModel _draft;
    readonly IKvCache _cache;
    readonly Batch _batch;
    readonly List<int> _cached = []; // tokens whose cells the draft cache holds
    readonly int _draftLength;

    /// <param name="contextLength">The target's cache cells: the draft follows the same tokens, so it needs no more.</param>
    public DraftModelDrafter(LlamaModel draft, int targetVocabSize, int draftLength = 8, int? contextLength = null)
    {
        if (draft.Config.VocabSize != targetVocabSize)
            throw new InvalidRequestException($"the draft model's vocabulary ({draft.Config.VocabSize}) differs from the target's ({targetVocabSize})");
        _draft = draft;
        _cache = draft.CreateCache(contextLength);
        _batch = new Batch(draft.MaxBatch);
        _draftLength = draftLength;
    }

    public string Name => "draft";

    public void Begin(ReadOnlySpan<int> prompt) { }

    public void Propose(ReadOnlySpan<int> context, DraftTree tree)
    {
        var known = context[..^1];
        int common = 0;
        while (common < _cached.Count && common < known.Length && _cached[common] == known[common]) common++;
        _cache.Trim(0, common);
        _cached.RemoveRange(common, _cached.Count - common);
        int room = _cache.Capacity - known.Length - 1;
        if (room <= 0) return;
        for (int start = common; start < known.Length; start += _batch.Capacity)
        {
            _batch.Clear();
            for (int i = start; i < Math.Min(known.Length, start + _batch.Capacity); i++) _batch.Add(known[i], i, 0, logits: false);
            _draft.Forward(_batch, _cache);
        }
        _cached.AddRange(known[common..]);

        int token = context[^1], parent = -1;
        for (int d = 0; d < Math.Min(_draftLength, room) && !tree.IsFull; d++)
        {
            _batch.Clear();
            _batch.Add(token, known.Length + d, 0, logits: true);
            _draft.Forward(_batch, _cache);
            var logits = _draft.Logits(0);
            int best = 0;
            for (int i = 1; i < logits.Length; i++) if (logits[i] > logits[best]) best = i;
            parent = tree.Add(parent, best);
            token = best;
            if (SwiftDrafter.Confidence(logits, best) < MinConfidence) break;
        }
        _cache.Trim(0, known.Length);
    }
}
