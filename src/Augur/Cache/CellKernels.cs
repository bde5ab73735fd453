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
}

/// <summary>A cache's kernels over its placed batch: write each token's key and value row into its cell, and attend
/// every (token, query head) over the cells it sees, split across the worker pool.</summary>
public abstract unsafe class CellKernels : IParallelJob
{
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
    int _layer, _window;
    AttentionHeads _heads;
    float* _queries, _output;

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
        if (_scratch.Length < pool.MaxParts) _scratch = [.. Enumerable.Range(0, pool.MaxParts).Select(_ => new float[Attention.ScratchLength])];
        (_layer, _heads, _window) = (layer, heads, window);
        _queries = queries;
        _output = output;
        var p = placement;
        long work = 0;
        for (int t = 0; t < p.Count; t++) work += p.Visible(t);
        pool.Run(this, work * heads.QDim * 2);
    }

    public override void Execute(int part, int parts)
    {
        var p = placement;
        var h = _heads;
        var (i0, i1) = WorkerPool.Split(p.Count * h.Heads, part, parts);
        fixed (float* scratch = _scratch[part])
            for (int item = i0; item < i1; item++)
            {
                int t = item / h.Heads, head = item % h.Heads;
                int count = p.Visible(t), contiguous = p.VisibleEnd[t];
                var extra = p.Extra.AsSpan(p.ExtraStart[t], count - contiguous);
                // Logical cell i is position i of the token's lineage, so a window keeps the last cells.
                int first = _window > 0 ? Math.Max(0, count - _window) : 0;
                var cells = layout.Cells(_layer, p.Sequences[t], T.RowBytes(head / h.QueriesPerKv * h.HeadDim));
                long at = (long)t * h.QDim + head * h.HeadDim;
                Attention.Attend<T, TCells>(_queries + at, cells, first, contiguous, extra, count, h.HeadDim, h.Scale, scratch, _output + at);
            }
    }
}
