namespace Augur.Speculative;

/// <summary>
/// ADED-style adaptive tri-gram drafting: a table from each pair of tokens (and, to back off, each single token)
/// to the tokens that followed it, with counts decayed so recent usage dominates, built from the prompt and the
/// model's own output and kept across requests. A draft follows the most frequent continuation while the
/// estimated chance that the whole chain is accepted — the product of each pick's share of its context's
/// counts — stays at or above <c>confidence</c>. That threshold is the exploration/exploitation balance: on a
/// CPU a draft token costs about half a decode to verify (docs/benchmarks.md), so uncertain continuations
/// (ADED's exploratory branches) cost more than they return; a measured sweep put the balance near 0.8.
/// </summary>
public sealed class AdedDrafter(int depth = 8, float confidence = 0.8f) : IDrafter
{
    const float Decay = 0.98f;
    readonly Dictionary<long, Followers> _trigrams = [];
    readonly Dictionary<int, Followers> _bigrams = [];
    int _before = -1, _last = -1; // the context's last two tokens, kept from Begin and Learn (Propose may be skipped)

    public string Name => "aded";

    public void Begin(ReadOnlySpan<int> prompt)
    {
        for (int i = 1; i < prompt.Length; i++) Observe(i >= 2 ? prompt[i - 2] : -1, prompt[i - 1], prompt[i]);
        (_before, _last) = (prompt.Length >= 2 ? prompt[^2] : -1, prompt[^1]);
    }

    public void Propose(ReadOnlySpan<int> context, DraftTree tree)
    {
        int p = context.Length >= 2 ? context[^2] : -1, q = context[^1], node = -1;
        float chance = 1;
        for (int d = 0; d < depth && !tree.IsFull; d++)
        {
            var followers = (p >= 0 && _trigrams.TryGetValue(Key(p, q), out var f) ? f : null)
                ?? (_bigrams.TryGetValue(q, out var b) ? b : null);
            if (followers is null) return;
            var (token, share) = followers.Best();
            chance *= share;
            if (chance < confidence) return;
            node = tree.Add(node, token);
            (p, q) = (q, token);
        }
    }

    public void Learn(VerifiedStep step)
    {
        // The emitted tokens extend the context: (…, before, root) then emitted. Learn sees every step (also those
        // another drafter proposed for, under auto), so the last two tokens are tracked here, not in Propose.
        foreach (int t in step.Emitted)
        {
            Observe(_before, _last, t);
            (_before, _last) = (_last, t);
        }
    }

    static long Key(int a, int b) => ((long)a << 32) | (uint)b;

    void Observe(int a, int b, int c)
    {
        if (a >= 0)
        {
            if (!_trigrams.TryGetValue(Key(a, b), out var tri)) _trigrams[Key(a, b)] = tri = new Followers();
            tri.Count(c);
        }
        if (!_bigrams.TryGetValue(b, out var bi)) _bigrams[b] = bi = new Followers();
        bi.Count(c);
    }

    /// <summary>
    /// The tokens seen after one context, with decayed counts. Instead of multiplying every count by the decay at
    /// each observation, each new observation weighs 1/decay times the previous one (rescaled before it overflows):
    /// the same shares, at the cost of a search instead of a pass over all followers.
    /// </summary>
    sealed class Followers
    {
        int[] _tokens = new int[2];
        float[] _counts = new float[2];
        int _n;
        float _total, _weight = 1;

        public void Count(int token)
        {
            if (_weight > 1e30f)
            {
                for (int i = 0; i < _n; i++) _counts[i] /= _weight;
                _total /= _weight;
                _weight = 1;
            }
            int at = Array.IndexOf(_tokens, token, 0, _n);
            if (at < 0)
            {
                if (_n == _tokens.Length)
                {
                    Array.Resize(ref _tokens, _n * 2);
                    Array.Resize(ref _counts, _n * 2);
                }
                (_tokens[_n], _counts[_n]) = (token, 0);
                at = _n++;
            }
            _counts[at] += _weight;
            _total += _weight;
            _weight /= Decay;
        }

        /// <summary>The most frequent follower and its share of the counts.</summary>
        public (int Token, float Share) Best()
        {
            int best = 0;
            for (int i = 1; i < _n; i++)
                if (_counts[i] > _counts[best]) best = i;
            return (_tokens[best], _counts[best] / _total);
        }
    }
}
