using System.Runtime.CompilerServices;

namespace Augur.Grammars;

/// <summary>
/// One pushdown stack, as an immutable linked list: <see cref="Pos"/> is the element to match next (always a
/// byte set once expanded), <see cref="Parent"/> the rest. Frames are interned by <see cref="Automaton"/>, so two
/// stacks are equal exactly when they are the same object, and a state (a set of stacks) has a cheap key.
/// A frame at a repeat element carries <see cref="Count"/>, the iterations done (or one of the abstract counts
/// <see cref="Automaton.FarOpen"/> / <see cref="Automaton.FarClosed"/> that token tables use); other frames 0.
/// </summary>
sealed class Frame(int pos, Frame? parent, int count, int id)
{
    public readonly int Pos = pos;
    public readonly Frame? Parent = parent;
    public readonly int Count = count;
    public readonly int Id = id;
}

/// <summary>
/// The grammar run as a nondeterministic pushdown automaton over bytes (llama.cpp's stacks): a state is the set
/// of stacks whose tops are byte sets; a byte keeps the stacks whose top accepts it, advanced and re-expanded.
/// A null stack is the accepting one (the root rule is complete). A rule reference that ends an alternative is
/// a tail call — nothing is pushed — so right recursion (every repetition) keeps the stack flat.
/// <see cref="Bottom"/> stands for "an unknown caller": reaching it means the frame it closes has completed,
/// which is how per-position token tables are computed without the context (see <see cref="TokenTables"/>).
/// A counted repeat <c>x{m,n}</c> keeps one frame below each iteration, at the repeat element with the count so
/// far: when the iteration completes, the frame offers another (while count &lt; n) and the way out (once
/// count ≥ m). The stack stays flat, and the grammar has one context for every count.
/// </summary>
sealed class Automaton(Grammar grammar)
{
    readonly Dictionary<(int Pos, Frame? Parent, int Count), Frame> _frames = new(new FrameKeyComparer());
    public Grammar Grammar { get; } = grammar;
    public readonly Frame Bottom = new(-1, null, 0, -1);
    int _nextId;
    /// <summary>Repeat frames being expanded: an iteration that matches nothing leads back to its own frame.</summary>
    readonly HashSet<Frame> _expanding = new(ReferenceEqualityComparer.Instance);

    /// <summary>A repeat count standing for "far from both bounds": another iteration and the way out are both open.</summary>
    public const int FarOpen = -1;
    /// <summary>A repeat count standing for "far below the minimum, far from the maximum": only another iteration is open.</summary>
    public const int FarClosed = -2;

    /// <summary>Interned frames so far; a bound on memory, checked by the matcher.</summary>
    public int FrameCount => _frames.Count;

    public Frame Intern(int pos, Frame? parent, int count = 0)
    {
        if (!_frames.TryGetValue((pos, parent, count), out var f)) _frames[(pos, parent, count)] = f = new Frame(pos, parent, count, _nextId++);
        return f;
    }

    /// <summary>The start state: the root rule's alternatives, expanded.</summary>
    public void Start(List<Frame?> into)
    {
        foreach (int alt in Grammar.Alternatives[0]) Expand(Intern(alt, null), into);
    }

    /// <summary>Adds to <paramref name="into"/> the stacks <paramref name="stack"/> expands to (tops are byte sets, or null / Bottom).</summary>
    public void Expand(Frame? stack, List<Frame?> into)
    {
        while (true)
        {
            if (stack is null || stack == Bottom) { AddUnique(into, stack); return; }
            var e = Grammar.Elements[stack.Pos];
            switch (e.Kind)
            {
                case ElementKind.Bytes:
                    AddUnique(into, stack);
                    return;
                case ElementKind.End:
                    stack = stack.Parent;
                    continue;
                case ElementKind.Repeat:
                    ExpandRepeat(stack, Grammar.Repeats[e.Value], into);
                    return;
                default:
                    var rest = Grammar.Elements[stack.Pos + 1].Kind == ElementKind.End ? stack.Parent : Intern(stack.Pos + 1, stack.Parent);
                    var alts = Grammar.Alternatives[e.Value];
                    for (int i = 0; i < alts.Length - 1; i++) Expand(Intern(alts[i], rest), into);
                    stack = Intern(alts[^1], rest);
                    continue;
            }
        }
    }

    void ExpandRepeat(Frame stack, Repeat repeat, List<Frame?> into)
    {
        if (!_expanding.Add(stack)) return;
        int count = stack.Count;
        bool far = count < 0;
        if (far || repeat.Max < 0 || count < repeat.Max)
        {
            // Unbounded: the count only matters up to the minimum, so it stops there (and the frame repeats itself).
            int next = far ? count : repeat.Max < 0 ? Math.Min(count + 1, repeat.Min) : count + 1;
            var back = Intern(stack.Pos, stack.Parent, next);
            foreach (int alt in Grammar.Alternatives[repeat.Rule]) Expand(Intern(alt, back), into);
        }
        if (count == FarOpen || (!far && count >= repeat.Min))
            Expand(Grammar.Elements[stack.Pos + 1].Kind == ElementKind.End ? stack.Parent : Intern(stack.Pos + 1, stack.Parent), into);
        _expanding.Remove(stack);
    }

    static void AddUnique(List<Frame?> into, Frame? stack)
    {
        foreach (var s in into) if (s == stack) return;
        into.Add(stack);
    }

    /// <summary>The state after <paramref name="b"/>; empty when no stack accepts it.</summary>
    public void Advance(List<Frame?> state, byte b, List<Frame?> into)
    {
        into.Clear();
        foreach (var s in state)
        {
            if (s is null || s == Bottom) continue;
            var e = Grammar.Elements[s.Pos];
            if (Grammar.Sets[e.Value].Contains(b)) Expand(Intern(s.Pos + 1, s.Parent), into);
        }
    }

    /// <summary>Whether <paramref name="bytes"/> can follow <paramref name="stack"/> (scratch lists passed in to avoid allocation).</summary>
    public bool Accepts(Frame stack, ReadOnlySpan<byte> bytes, List<Frame?> a, List<Frame?> b)
    {
        a.Clear();
        a.Add(stack);
        foreach (byte x in bytes)
        {
            Advance(a, x, b);
            if (b.Count == 0) return false;
            (a, b) = (b, a);
        }
        return true;
    }

    sealed class FrameKeyComparer : IEqualityComparer<(int Pos, Frame? Parent, int Count)>
    {
        public bool Equals((int Pos, Frame? Parent, int Count) x, (int Pos, Frame? Parent, int Count) y) =>
            x.Pos == y.Pos && x.Count == y.Count && ReferenceEquals(x.Parent, y.Parent);
        public int GetHashCode((int Pos, Frame? Parent, int Count) k) => HashCode.Combine(k.Pos, k.Count, RuntimeHelpers.GetHashCode(k.Parent));
    }
}
