namespace Augur.Sampling;

/// <summary>
/// The tokens still in the running and their logits, as samplers narrow them down (llama.cpp's
/// token-data array). Buffers are allocated once per vocabulary size and reused every step.
/// </summary>
public sealed class Candidates(int vocabSize)
{
    public int[] Ids { get; } = new int[vocabSize];
    public float[] Logits { get; } = new float[vocabSize];
    /// <summary>Probabilities after <see cref="Softmax"/>; valid only while <see cref="HasProbabilities"/>.</summary>
    public float[] Probabilities { get; } = new float[vocabSize];
    public int Count { get; set; }
    /// <summary>True when entries are ordered by logit, highest first.</summary>
    public bool Sorted { get; set; }
    public bool HasProbabilities { get; set; }
    /// <summary>The chosen token once a final sampler ran; −1 before.</summary>
    public int Selected { get; set; } = -1;

    /// <summary>Loads all <paramref name="logits"/> as candidates.</summary>
    public void Reset(ReadOnlySpan<float> logits)
    {
        for (int i = 0; i < logits.Length; i++) Ids[i] = i;
        logits.CopyTo(Logits);
        Count = logits.Length;
        Sorted = false;
        HasProbabilities = false;
        Selected = -1;
    }

    readonly (float Logit, int Id)[] _pairs = new (float, int)[vocabSize];
    readonly PriorityQueue<int, (float Logit, int Id)> _heap = new(WorstFirst.Instance);

    /// <summary>Sorts by logit, highest first; ties keep the lower id first.</summary>
    public void Sort()
    {
        if (Sorted) return;
        for (int i = 0; i < Count; i++) _pairs[i] = (Logits[i], Ids[i]);
        Array.Sort(_pairs, 0, Count, BestFirst.Instance);
        for (int i = 0; i < Count; i++) (Logits[i], Ids[i]) = _pairs[i];
        Sorted = true;
    }

    /// <summary>Keeps only the <paramref name="k"/> best entries, sorted, without sorting the whole vocabulary.</summary>
    public void KeepTop(int k)
    {
        if (k < Count && !Sorted)
        {
            // A min-heap of the k best seen so far: O(n log k).
            _heap.Clear();
            for (int i = 0; i < Count; i++)
            {
                var key = (Logits[i], Ids[i]);
                if (_heap.Count < k) _heap.Enqueue(i, key);
                else if (_heap.TryPeek(out _, out var worst) && WorstFirst.Instance.Compare(key, worst) > 0) _heap.EnqueueDequeue(i, key);
            }
            int j = 0;
            while (_heap.TryDequeue(out _, out var key)) _pairs[j++] = key;
            for (int i = 0; i < k; i++) (Logits[i], Ids[i]) = _pairs[i];
            Count = k;
        }
        Sort();
        Count = Math.Min(k, Count);
        HasProbabilities = false;
    }

    /// <summary>Probabilities = softmax of the current logits (max-subtracted, summed in double).</summary>
    public void Softmax()
    {
        float max = float.NegativeInfinity;
        for (int i = 0; i < Count; i++) max = Math.Max(max, Logits[i]);
        double sum = 0;
        for (int i = 0; i < Count; i++) { float e = MathF.Exp(Logits[i] - max); Probabilities[i] = e; sum += e; }
        for (int i = 0; i < Count; i++) Probabilities[i] = (float)(Probabilities[i] / sum);
        HasProbabilities = true;
    }

    sealed class BestFirst : IComparer<(float Logit, int Id)>
    {
        public static readonly BestFirst Instance = new();
        public int Compare((float Logit, int Id) a, (float Logit, int Id) b) =>
            a.Logit != b.Logit ? b.Logit.CompareTo(a.Logit) : a.Id.CompareTo(b.Id);
    }

    /// <summary>Heap order: the lowest logit (then the highest id) is on top, to be evicted first.</summary>
    sealed class WorstFirst : IComparer<(float Logit, int Id)>
    {
        public static readonly WorstFirst Instance = new();
        public int Compare((float Logit, int Id) a, (float Logit, int Id) b) =>
            a.Logit != b.Logit ? a.Logit.CompareTo(b.Logit) : b.Id.CompareTo(a.Id);
    }
}
