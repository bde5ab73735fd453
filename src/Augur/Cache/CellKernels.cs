using Augur.Tensors;

namespace Augur.Cache;

/// <summary>The attention heads of a layer: query heads, how many share each key/value head, their size and scale.</summary>
public readonly record struct AttentionHeads(int Heads, int QueriesPerKv, int HeadDim, float Scale)
{
    public int QDim => Heads * HeadDim;
}

/// <summary>How a cache finds one head's cells of a sequence in a layer (<paramref name="headOffset"/>: bytes from a row's start).</summary>
public interface ICellLayout<TCells> where TCells : struct, ICells
{
    TCells Cells(int layer, int sequence, int headOffset);

    /// <summary>The identity of a sequence's <paramref name="block"/>-th block of <see cref="Attention.BlockCells"/> cells:
    /// two sequences whose blocks have the same id read the same cells (a shared prefix).</summary>
    int BlockId(int sequence, int block);
}

/// <summary>A cache's kernels over its placed batch: write each token's key and value row into its cell, and attend
/// every (token, query head) over the cells it sees, split across the worker pool.</summary>
public abstract unsafe class CellKernels : IParallelJob
{
    /// <summary>Hydragen: tokens of different sequences whose leading blocks are the same blocks attend those blocks
    /// together, each block's keys and values read once for all of their queries. The bits do not change (each
    /// query still folds the same blocks in the same order); only the memory traffic does.</summary>
    public bool SharedPrefixAttention { get; set; } = true;

    /// <summary>keys, values: (batch, kvDim) rows, stored into the placed batch's cells of <paramref name="layer"/>.</summary>
    public abstract void Write(int layer, float* keys, float* values, int kvDim);

    /// <summary>queries (batch, heads × headDim) → output (batch, heads × headDim). <paramref name="window"/>: a token
    /// sees only its last that many cells (itself included); 0 for all.</summary>
    public abstract void Attend(int layer, AttentionHeads heads, int window, float* queries, float* output, WorkerPool pool);

    public abstract void Execute(int part, int parts);
}

sealed unsafe class CellKernels<T, TLayout, TCells>(TLayout layout, BatchPlacement placement) : CellKernels
    where T : struct, IKvElement where TLayout : class, ICellLayout<TCells> where TCells : struct, ICells
{
    float[][] _scratch = []; // (part) → one block's scores
    Attention.Running[][] _running = []; // (part) → a group's (member, query head) softmax states
    int _layer, _window;
    AttentionHeads _heads;
    float* _queries, _output;

    // The plan of one Attend call: groups of tokens sharing leading blocks, then the tokens attended alone.
    readonly Dictionary<int, int> _groupOfFirstBlock = [];
    int[] _members = new int[1];     // tokens of group g at _members[_groupStart[g] .. _groupStart[g + 1])
    int[] _groupStart = new int[2];
    int[] _groupShared = new int[1]; // (group) leading blocks its members share
    int[] _alone = new int[1];       // tokens in no group
    int[] _groupOf = new int[1];     // (batch) candidate group while planning
    int[] _splitStart = new int[1], _splitShared = new int[1]; // groups cut into runs (swapped with the two above)
    bool[] _sequenceSeen = new bool[1];
    int _groups, _aloneCount;

    public override void Write(int layer, float* keys, float* values, int kvDim)
    {
        var p = placement;
        for (int t = 0; t < p.Count; t++)
        {
            var cells = layout.Cells(layer, p.Sequences[t], 0);
            T.Store(keys + (long)t * kvDim, cells.Key(p.Cell[t]), kvDim);
            T.Store(values + (long)t * kvDim, cells.Value(p.Cell[t]), kvDim);
        }
    }

    public override void Attend(int layer, AttentionHeads heads, int window, float* queries, float* output, WorkerPool pool)
    {
        if (_scratch.Length < pool.MaxParts)
        {
            _scratch = [.. Enumerable.Range(0, pool.MaxParts).Select(_ => new float[Attention.ScratchLength])];
            _running = [.. Enumerable.Range(0, pool.MaxParts).Select(_ => new Attention.Running[1])];
        }
        (_layer, _heads, _window) = (layer, heads, window);
        _queries = queries;
        _output = output;
        Plan();
        SplitGroups(pool.MaxParts, heads.Heads / heads.QueriesPerKv);
        var p = placement;
        long work = 0;
        for (int t = 0; t < p.Count; t++) work += p.Visible(t);
        pool.Run(this, work * heads.QDim * 2);
    }

    /// <summary>First cell a token sees under the window.</summary>
    int First(int t) => _window > 0 ? Math.Max(0, placement.Visible(t) - _window) : 0;

    /// <summary>
    /// Groups tokens of different sequences by their first block; a group keeps the leading blocks all its members
    /// see whole and hold in common. A token whose window starts past cell 0, or that sees less than a block, attends alone.
    /// </summary>
    void Plan()
    {
        var p = placement;
        int n = p.Count;
        if (_alone.Length < n)
        {
            _alone = new int[n];
            _members = new int[n];
            _groupOf = new int[n];
            _groupStart = new int[n + 2];
            _groupShared = new int[n + 1];
        }
        _groups = _aloneCount = 0;
        if (!SharedPrefixAttention || n < 2)
        {
            for (int t = 0; t < n; t++) _alone[_aloneCount++] = t;
            return;
        }
        int maxSeq = 0;
        for (int t = 0; t < n; t++) maxSeq = Math.Max(maxSeq, p.Sequences[t] + 1);
        if (_sequenceSeen.Length < maxSeq) _sequenceSeen = new bool[maxSeq];
        _sequenceSeen.AsSpan(0, maxSeq).Clear();

        // Candidate groups by first block, one token per sequence (its first in the batch); members laid out by group.
        _groupOfFirstBlock.Clear();
        int candidates = 0;
        for (int t = 0; t < n; t++)
        {
            int seq = p.Sequences[t];
            _groupOf[t] = -1;
            if (_sequenceSeen[seq] || First(t) != 0 || p.VisibleEnd[t] < Attention.BlockCells) continue;
            _sequenceSeen[seq] = true;
            int id = layout.BlockId(seq, 0);
            if (!_groupOfFirstBlock.TryGetValue(id, out int g))
            {
                _groupOfFirstBlock[id] = g = candidates++;
                _groupStart[g + 1] = 0;
            }
            _groupOf[t] = g;
            _groupStart[g + 1]++;
        }
        _groupStart[0] = 0;
        for (int g = 0; g < candidates; g++) _groupStart[g + 1] += _groupStart[g];
        var next = _groupShared; // reused: each candidate's next member slot
        for (int g = 0; g < candidates; g++) next[g] = _groupStart[g];
        for (int t = 0; t < n; t++)
            if (_groupOf[t] >= 0) _members[next[_groupOf[t]]++] = t;
            else _alone[_aloneCount++] = t;

        // Each candidate shares the leading blocks every member sees whole and holds in common with the first member;
        // candidates of one member or no shared block dissolve into tokens attended alone. Kept groups move forward.
        int write = 0;
        for (int g = 0; g < candidates; g++)
        {
            int m0 = _groupStart[g], m1 = _groupStart[g + 1];
            int leader = p.Sequences[_members[m0]], shared = p.VisibleEnd[_members[m0]] / Attention.BlockCells;
            for (int m = m0 + 1; m < m1; m++)
            {
                int seq = p.Sequences[_members[m]], b = 0, whole = Math.Min(shared, p.VisibleEnd[_members[m]] / Attention.BlockCells);
                while (b < whole && layout.BlockId(seq, b) == layout.BlockId(leader, b)) b++;
                shared = b;
            }
            if (m1 - m0 < 2 || shared == 0)
            {
                for (int m = m0; m < m1; m++) _alone[_aloneCount++] = _members[m];
                continue;
            }
            int start = write;
            for (int m = m0; m < m1; m++) _members[write++] = _members[m];
            _groupShared[_groups] = shared;
            _groupStart[_groups] = start;
            _groups++;
            _groupStart[_groups] = write;
        }
    }

    /// <summary>Cuts groups into runs of members when there are fewer group items than parts, so every thread gets
    /// work: each run still shares its group's blocks (fewer queries per block read; the bits are the same).</summary>
    void SplitGroups(int parts, int kvHeads)
    {
        int items = _groups * kvHeads;
        if (items == 0 || items >= parts) return;
        int pieces = (parts + items - 1) / items;
        // The same sizes as the arrays they swap with, so Plan's sizing holds for both.
        if (_splitStart.Length != _groupStart.Length) _splitStart = new int[_groupStart.Length];
        if (_splitShared.Length != _groupShared.Length) _splitShared = new int[_groupShared.Length];
        int split = 0;
        for (int g = 0; g < _groups; g++)
        {
            int m0 = _groupStart[g], members = _groupStart[g + 1] - m0, runs = Math.Max(1, Math.Min(pieces, members / 2));
            for (int r = 0; r < runs; r++)
            {
                _splitStart[split] = m0 + r * members / runs;
                _splitShared[split++] = _groupShared[g];
            }
        }
        _splitStart[split] = _groupStart[_groups];
        (_groupStart, _splitStart) = (_splitStart, _groupStart);
        (_groupShared, _splitShared) = (_splitShared, _groupShared);
        _groups = split;
    }

    public override void Execute(int part, int parts)
    {
        var h = _heads;
        int kvHeads = h.Heads / h.QueriesPerKv;
        var (i0, i1) = WorkerPool.Split(_groups * kvHeads + _aloneCount * h.Heads, part, parts);
        fixed (float* scratch = _scratch[part])
            for (int item = i0; item < i1; item++)
            {
                if (item < _groups * kvHeads) AttendGroup(item / kvHeads, item % kvHeads, scratch, part);
                else
                {
                    int rest = item - _groups * kvHeads;
                    AttendAlone(_alone[rest / h.Heads], rest % h.Heads, scratch);
                }
            }
    }

    void AttendAlone(int t, int head, float* scratch)
    {
        var p = placement;
        var h = _heads;
        int count = p.Visible(t), contiguous = p.VisibleEnd[t];
        var extra = p.Extra.AsSpan(p.ExtraStart[t], count - contiguous);
        var cells = layout.Cells(_layer, p.Sequences[t], T.RowBytes(head / h.QueriesPerKv * h.HeadDim));
        long at = (long)t * h.QDim + head * h.HeadDim;
        Attention.Attend<T, TCells>(_queries + at, cells, First(t), contiguous, extra, count, h.HeadDim, h.Scale, scratch, _output + at);
    }

    /// <summary>Hydragen for one key/value head: the shared blocks, each read once for every member's queries of that
    /// head, then each member's own blocks — for every query the same blocks in the same order as attending alone.</summary>
    void AttendGroup(int g, int kvHead, float* scratch, int part)
    {
        var p = placement;
        var h = _heads;
        int m0 = _groupStart[g], members = _groupStart[g + 1] - m0, shared = _groupShared[g];
        int headOffset = T.RowBytes(kvHead * h.HeadDim);
        if (_running[part].Length < members * h.QueriesPerKv) _running[part] = new Attention.Running[members * h.QueriesPerKv];
        var running = _running[part];
        for (int m = 0; m < members; m++)
            for (int j = 0; j < h.QueriesPerKv; j++)
            {
                running[m * h.QueriesPerKv + j] = Attention.Running.Start;
                new Span<float>(_output + (long)_members[m0 + m] * h.QDim + (kvHead * h.QueriesPerKv + j) * h.HeadDim, h.HeadDim).Clear();
            }
        for (int b = 0; b < shared; b++)
            for (int m = 0; m < members; m++)
            {
                int t = _members[m0 + m];
                var cells = layout.Cells(_layer, p.Sequences[t], headOffset);
                var extra = p.Extra.AsSpan(p.ExtraStart[t], p.Visible(t) - p.VisibleEnd[t]);
                for (int j = 0; j < h.QueriesPerKv; j++)
                {
                    long at = (long)t * h.QDim + (kvHead * h.QueriesPerKv + j) * h.HeadDim;
                    Attention.AttendBlock<T, TCells>(_queries + at, cells, b * Attention.BlockCells, (b + 1) * Attention.BlockCells, p.VisibleEnd[t], extra,
                        h.HeadDim, h.Scale, scratch, _output + at, ref running[m * h.QueriesPerKv + j]);
                }
            }
        for (int m = 0; m < members; m++)
        {
            int t = _members[m0 + m];
            var cells = layout.Cells(_layer, p.Sequences[t], headOffset);
            int count = p.Visible(t), contiguous = p.VisibleEnd[t];
            var extra = p.Extra.AsSpan(p.ExtraStart[t], count - contiguous);
            for (int j = 0; j < h.QueriesPerKv; j++)
            {
                long at = (long)t * h.QDim + (kvHead * h.QueriesPerKv + j) * h.HeadDim;
                ref var state = ref running[m * h.QueriesPerKv + j];
                Attention.AttendFrom<T, TCells>(_queries + at, cells, shared * Attention.BlockCells, 0, contiguous, extra, count, h.HeadDim, h.Scale, scratch, _output + at, ref state);
                Attention.Finish(_output + at, h.HeadDim, state);
            }
        }
    }
}
