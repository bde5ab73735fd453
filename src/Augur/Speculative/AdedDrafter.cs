namespace Augur.Speculative;

/// <summary>
/// ADED-style adaptive tri-gram drafting: a table from each pair of tokens to the tokens that followed it,
/// with counts, built from the prompt and from the model's own accepted output and decayed so recent usage
/// dominates. A draft tree takes the most frequent follower (exploitation) and, near the root, the most
/// recent different one (exploration), then extends each branch greedily by the table.
/// </summary>
public sealed class AdedDrafter(int depth = 8, int rootBranches = 3) : IDrafter
{
    const float Decay = 0.98f;
    readonly Dictionary<(int, int), List<(int Token, float Count, long Seen)>> _table = [];
    long _clock;
    int _beforeRoot = -1;

    public string Name => "aded";

    public void Begin(ReadOnlySpan<int> prompt)
    {
        for (int i = 2; i < prompt.Length; i++) Observe(prompt[i - 2], prompt[i - 1], prompt[i]);
    }

    public void Propose(ReadOnlySpan<int> context, DraftTree tree)
    {
        _beforeRoot = context.Length >= 2 ? context[^2] : -1;
        if (context.Length < 2) return;
        int a = context[^2], b = context[^1];
        if (!_table.TryGetValue((a, b), out var followers)) return;
        // Root branches: the most frequent followers, plus the most recent one if it is not among them.
        var ranked = followers.OrderByDescending(f => f.Count).Take(rootBranches).Select(f => f.Token).ToList();
        int recent = followers.MaxBy(f => f.Seen).Token;
        if (!ranked.Contains(recent)) ranked.Add(recent);
        foreach (int first in ranked)
        {
            int node = tree.Add(-1, first);
            int p = b, q = first;
            for (int d = 1; d < depth && node >= 0; d++)
            {
                if (!_table.TryGetValue((p, q), out var next) || next.Count == 0) break;
                int best = next.MaxBy(f => f.Count).Token;
                node = tree.Add(node, best);
                (p, q) = (q, best);
            }
        }
    }

    public void Learn(VerifiedStep step)
    {
        // The emitted tokens extend the context the drafter last saw: (…, beforeRoot, root) then emitted.
        int p = _beforeRoot, q = step.Root;
        foreach (int t in step.Emitted)
        {
            if (p >= 0) Observe(p, q, t);
            (p, q) = (q, t);
        }
    }

    void Observe(int a, int b, int c)
    {
        _clock++;
        if (!_table.TryGetValue((a, b), out var list)) _table[(a, b)] = list = [];
        for (int i = 0; i < list.Count; i++) list[i] = list[i] with { Count = list[i].Count * Decay };
        int at = list.FindIndex(f => f.Token == c);
        if (at >= 0) list[at] = (c, list[at].Count + 1, _clock);
        else list.Add((c, 1, _clock));
    }
}
