namespace Augur.Model;

/// <summary>Activation buffers for a batch of up to <see cref="MaxBatch"/> tokens, allocated once and pinned.</summary>
sealed class RunState
{
    public readonly int MaxBatch;
    public readonly float[] X;       // (batch, dim)     residual stream
    public readonly float[] Xb;      // (batch, max(dim, q_dim)) normed input (dim) / attention output (q_dim)
    public readonly float[] Xb2;     // (batch, dim)     projection output
    public readonly float[] Q;       // (batch, q_dim)
    public readonly float[] K;       // (batch, kv_dim)
    public readonly float[] V;       // (batch, kv_dim)
    public readonly float[] Hb;      // (batch, hidden)  gate
    public readonly float[] Hb2;     // (batch, hidden)  up
    public readonly float[] Logits;  // (batch, vocab)   rows for the tokens that want logits
    public readonly float[] RopeCos; // (batch, rope_dim/2)
    public readonly float[] RopeSin; // (batch, rope_dim/2)
    public readonly float[] LocalCos;// (batch, rope_dim/2) sliding-window layers' own base; empty without them
    public readonly float[] LocalSin;// (batch, rope_dim/2)

    static float[] Pinned(long n) => GC.AllocateArray<float>(checked((int)n), pinned: true);

    public RunState(ModelConfig c, int maxBatch)
    {
        MaxBatch = maxBatch;
        X = Pinned((long)maxBatch * c.Dim);
        Xb = Pinned((long)maxBatch * Math.Max(c.Dim, c.QDim));
        Xb2 = Pinned((long)maxBatch * c.Dim);
        Q = Pinned((long)maxBatch * c.QDim);
        K = Pinned((long)maxBatch * c.KvDim);
        V = Pinned((long)maxBatch * c.KvDim);
        Hb = Pinned((long)maxBatch * c.HiddenDim);
        Hb2 = Pinned((long)maxBatch * c.HiddenDim);
        Logits = Pinned((long)maxBatch * c.VocabSize);
        RopeCos = Pinned((long)maxBatch * c.RopeDim / 2);
        RopeSin = Pinned((long)maxBatch * c.RopeDim / 2);
        long local = c.SlidingLayers is null ? 0 : (long)maxBatch * c.RopeDim / 2;
        LocalCos = Pinned(local);
        LocalSin = Pinned(local);
    }
}
