namespace Augur.Cache;

/// <summary>
/// Where each token of the last placed batch went and what it may attend to: the cells its sequence held before
/// the batch, then itself and its ancestors in the batch. A causal chain is one contiguous range of cells
/// [0, VisibleEnd); tree branches add their ancestors' cells as a list (Extra). Logical cell i of a token is cell i
/// below VisibleEnd and Extra[ExtraStart + i − VisibleEnd] above: the order the attention kernel reduces in.
/// Buffers grow to the largest batch seen and are then reused.
/// </summary>
public sealed class BatchPlacement
{
    public int Count { get; private set; }
    public int[] Sequences = new int[1];  // (batch) the token's sequence
    public int[] Cell = new int[1];       // (batch) the cell its key and value are written to
    public int[] VisibleEnd = new int[1]; // (batch) it sees cells [0, VisibleEnd) ...
    public int[] ExtraStart = new int[2]; // (batch + 1) ... plus Extra[ExtraStart[t] .. ExtraStart[t+1])
    public int[] Extra = new int[1];      // cells of non-contiguous ancestors (tree attention)
    public int[] Added = new int[1];      // (seq) tokens the batch adds to the sequence
    public int[] Start = new int[1];      // (seq) the sequence's first new cell, set by the cache before Assign

    /// <summary>Checks the batch's sequences and parents and counts each sequence's new tokens (in <see cref="Added"/>).</summary>
    public void Begin(ReadOnlySpan<int> sequences, ReadOnlySpan<int> parents, int maxSequences)
    {
        int n = sequences.Length;
        if (Sequences.Length < n)
        {
            int size = Math.Max(n, 2 * Sequences.Length);
            Sequences = new int[size];
            Cell = new int[size];
            VisibleEnd = new int[size];
            ExtraStart = new int[size + 1];
        }
        if (Added.Length < maxSequences)
        {
            Added = new int[maxSequences];
            Start = new int[maxSequences];
        }
        Added.AsSpan(0, maxSequences).Clear();
        for (int t = 0; t < n; t++)
        {
            int seq = sequences[t], parent = parents[t];
            if ((uint)seq >= (uint)maxSequences) throw new InvalidRequestException($"sequence {seq} is outside the cache's {maxSequences} sequences");
            if (parent >= t || (parent >= 0 && sequences[parent] != seq))
                throw new ArgumentOutOfRangeException(nameof(parents), parent, $"token {t}'s parent must be an earlier token of its sequence");
            Added[seq]++;
        }
        sequences.CopyTo(Sequences);
        Count = n;
    }

    /// <summary>Gives each token its cell (its sequence's next, from <see cref="Start"/>) and its visible cells.</summary>
    public void Assign(ReadOnlySpan<int> parents)
    {
        int n = Count, extras = 0;
        var next = Added; // reused as each sequence's next cell
        for (int t = 0; t < n; t++) next[Sequences[t]] = Start[Sequences[t]];
        for (int t = 0; t < n; t++)
        {
            int seq = Sequences[t];
            Cell[t] = next[seq]++;
            // The token's own cell and its ancestors' cells, root first; those that continue the
            // sequence's cached range extend it, the rest (other branches' gaps) are listed.
            int depth = 0;
            for (int a = t; a >= 0; a = parents[a]) depth++;
            if (Extra.Length < extras + depth) Array.Resize(ref Extra, Math.Max(extras + depth, Extra.Length * 2));
            int i = extras + depth;
            for (int a = t; a >= 0; a = parents[a]) Extra[--i] = Cell[a];
            int end = Start[seq], k = extras;
            while (k < extras + depth && Extra[k] == end) { end++; k++; }
            int remaining = extras + depth - k;
            Array.Copy(Extra, k, Extra, extras, remaining);
            VisibleEnd[t] = end;
            ExtraStart[t] = extras;
            extras += remaining;
        }
        ExtraStart[n] = extras;
    }

    /// <summary>Logical cells token <paramref name="t"/> sees.</summary>
    public int Visible(int t) => VisibleEnd[t] + ExtraStart[t + 1] - ExtraStart[t];
}
