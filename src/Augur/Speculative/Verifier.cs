using Augur.Cache;
using Augur.Model;
using Augur.Sampling;
using Augur.Tensors;

namespace Augur.Speculative;

/// <summary>
/// Scores the last context token and a draft tree in one forward pass (tree attention: each node sees the
/// context and its own ancestors; its position is the context length plus its depth), walks the tree from
/// the root keeping the longest accepted path, and compacts the KV cache to that path.
/// Greedy: a child is accepted when its token is the target's argmax, so the output is exactly plain greedy
/// decoding. Sampling: drafts are point-mass proposals, so child c is accepted with probability p(c); on
/// rejection c is removed from p and the next sibling is tried; when none is left the token is drawn from
/// what remains of p (recursive rejection sampling) — the emitted tokens have exactly the target distribution.
/// With an empty tree a step is plain decoding of one token.
/// </summary>
public sealed class Verifier
{
    readonly ITransformer _model;
    readonly IKvCache _cache;
    readonly int _sequence;
    Batch? _batch; // for Step only: under continuous batching the scheduler's batch carries the tree
    readonly Candidates _candidates;
    readonly VerifiedStep _step = new();
    readonly int[] _keep;
    Random _rejection = new(0);
    // The step between Add and Verify.
    DraftTree _tree = null!;
    int _start, _rootRow, _last;

    public Verifier(ITransformer model, IKvCache cache, int sequence = 0)
    {
        _model = model;
        _cache = cache;
        _sequence = sequence;
        _candidates = new Candidates(model.Config.VocabSize);
        _keep = new int[model.MaxBatch];
        _step.Logits = row => _model.Logits(_rootRow + row);
    }

    /// <summary>Largest draft tree a step can take (the root uses one batch slot).</summary>
    public int MaxDraft => _model.MaxBatch - 1;

    public void Reset(int seed) => _rejection = new Random(unchecked(seed * 31 + 7));

    /// <summary>
    /// One step. The cache holds the context except <paramref name="last"/>; afterwards it holds
    /// <paramref name="last"/> and the accepted draft tokens, and the last emitted token is the next root.
    /// Each emitted token is passed to <paramref name="sampler"/>'s Accept before the next is chosen.
    /// </summary>
    public VerifiedStep Step(int last, DraftTree tree, SamplerChain sampler, bool greedy)
    {
        _batch ??= new Batch(_model.MaxBatch);
        _batch.Clear();
        Add(_batch, last, tree);
        _model.Forward(_batch, _cache);
        return Verify(sampler, greedy);
    }

    /// <summary>
    /// The first half of a step when the forward pass is shared (continuous batching): appends <paramref name="last"/>
    /// and the tree to <paramref name="batch"/> for this verifier's sequence, every token asking for logits.
    /// Run the batch, then <see cref="Verify"/>.
    /// </summary>
    public void Add(Batch batch, int last, DraftTree tree)
    {
        _start = _cache.Length(_sequence);
        _rootRow = batch.OutputCount;
        _tree = tree;
        _last = last;
        int root = batch.Count;
        batch.Add(last, _start, _sequence, logits: true, parent: -1);
        for (int i = 0; i < tree.Count; i++)
            batch.Add(tree.Tokens[i], _start + tree.Depths[i], _sequence, logits: true, parent: tree.Parents[i] < 0 ? root : root + 1 + tree.Parents[i]);
    }

    /// <summary>
    /// The second half: walks the tree over the logits of the batch that <see cref="Add"/> filled, keeping the
    /// longest accepted path, and compacts the cache to it.
    /// </summary>
    public VerifiedStep Verify(SamplerChain sampler, bool greedy)
    {
        var tree = _tree;
        _step.Tree = tree;
        _step.Root = _last;
        _step.Emitted.Clear();
        _step.Rows.Clear();
        int kept = 0;
        _keep[kept++] = _start;
        int node = -1;
        while (true)
        {
            _candidates.Reset(_model.Logits(_rootRow + node + 1));
            sampler.ApplyFilters(_candidates);
            int token, child;
            if (greedy)
            {
                sampler.Picker.Apply(_candidates);
                token = _candidates.Selected;
                child = tree.Child(node, token);
            }
            else
            {
                (token, child) = RejectionSample(tree, node, sampler);
            }
            _step.Emitted.Add(token);
            _step.Rows.Add(node + 1);
            sampler.Accept(token);
            if (child < 0) break;
            _keep[kept++] = _start + 1 + child;
            node = child;
        }
        _step.Accepted = kept - 1;
        _cache.Keep(_sequence, _start, _keep.AsSpan(0, kept));
        return _step;
    }

    (int Token, int Child) RejectionSample(DraftTree tree, int node, SamplerChain sampler)
    {
        var c = _candidates;
        for (int child = 0; child < tree.Count; child++)
        {
            if (tree.Parents[child] != node) continue;
            c.Softmax();
            int index = Array.IndexOf(c.Ids, tree.Tokens[child], 0, c.Count);
            if (index < 0) continue; // filtered out: probability 0, never accepted
            if (_rejection.NextDouble() < c.Probabilities[index]) return (tree.Tokens[child], child);
            c.Logits[index] = float.NegativeInfinity; // residual: p without the rejected token, renormalised
        }
        sampler.Picker.Apply(c);
        return (c.Selected, -1);
    }

    /// <summary>Target logits at the last step's row <paramref name="row"/> (0 = the root, i + 1 = draft node i).</summary>
    public ReadOnlySpan<float> Logits(int row) => _model.Logits(_rootRow + row);

    /// <summary>log softmax at <paramref name="token"/> of the last step's row <paramref name="row"/> (0 = the root).</summary>
    public float Logprob(int row, int token)
    {
        var logits = Logits(row);
        return logits[token] - Ops.LogSumExp(logits);
    }
}
