using Augur.Model;
using Augur.Tensors;
using Augur.Tests.Support;

namespace Augur.Tests.Model;

/// <summary>
/// Differential tests of the forward pass on stories260K: a draft tree, several sequences and a trimmed cache
/// each give exactly (bit for bit) the logits of the plain linear computation they stand for.
/// </summary>
public sealed class BatchAndCacheTests : IDisposable
{
    readonly LoadedModel _loaded = LoadedModel.Open(Reference.Stories260KGguf);
    ITransformer M => _loaded.Model;
    static readonly int[] Prompt = Reference.Get("once_upon_a_time").PromptIds;

    public void Dispose() => _loaded.Dispose();

    /// <summary>Logits after each of <paramref name="tokens"/>, fed one at a time after the prompt into a fresh cache.</summary>
    List<float[]> Linear(params int[] tokens)
    {
        var cache = M.CreateCache();
        var batch = new Batch(M.MaxBatch);
        AddPrompt(batch);
        M.Forward(batch, cache);
        var rows = new List<float[]>();
        foreach (int t in tokens)
        {
            batch.Clear();
            batch.Add(t, cache.Length(0), 0, logits: true);
            M.Forward(batch, cache);
            rows.Add(M.Logits(0).ToArray());
        }
        return rows;
    }

    /// <summary>Adds the prompt to sequence 0 at positions 0.. without asking for logits.</summary>
    static void AddPrompt(Batch batch)
    {
        for (int i = 0; i < Prompt.Length; i++) batch.Add(Prompt[i], i, 0, logits: false);
    }

    static void AssertBitIdentical(float[] want, ReadOnlySpan<float> got, string what)
    {
        Assert.Equal(want.Length, got.Length);
        for (int i = 0; i < want.Length; i++)
            Assert.True(BitConverter.SingleToInt32Bits(want[i]) == BitConverter.SingleToInt32Bits(got[i]), $"{what}: logit {i} is {got[i]:R}, linear gives {want[i]:R}");
    }

    const int A = 432, B1 = 322, B2 = 417, C = 261, D = 300, E = 383;

    [Fact]
    // Tree: A → (B1 → C, B2 → D). Siblings must not see each other: each node's logits equal those of its
    // root-to-node path run as a plain sequence.
    public void A_draft_tree_gives_each_branch_the_logits_of_that_branch_run_alone()
    {
        var cache = M.CreateCache();
        var batch = new Batch(16);
        AddPrompt(batch);
        M.Forward(batch, cache);
        int p = Prompt.Length;
        batch.Clear();
        batch.Add(A, p, 0, true, parent: -1);      // 0
        batch.Add(B1, p + 1, 0, true, parent: 0);  // 1
        batch.Add(B2, p + 1, 0, true, parent: 0);  // 2
        batch.Add(C, p + 2, 0, true, parent: 1);   // 3
        batch.Add(D, p + 2, 0, true, parent: 2);   // 4
        M.Forward(batch, cache);
        var tree = Rows(5);

        var left = Linear(A, B1, C);
        var right = Linear(A, B2, D);
        AssertBitIdentical(left[0], tree[0], "A");
        AssertBitIdentical(left[1], tree[1], "A→B1");
        AssertBitIdentical(right[1], tree[2], "A→B2");
        AssertBitIdentical(left[2], tree[3], "A→B1→C");
        AssertBitIdentical(right[2], tree[4], "A→B2→D");

        // Accept the right branch: its cells move into place, and decoding continues as if it had been linear.
        cache.Keep(0, p, [p, p + 2, p + 4]);
        Assert.Equal(p + 3, cache.Length(0));
        batch.Clear();
        batch.Add(E, p + 3, 0, logits: true);
        M.Forward(batch, cache);
        var kept = Rows(1)[0];
        AssertBitIdentical(Linear(A, B2, D, E)[3], kept, "A→B2→D, kept, then E");
    }

    [Fact]
    public void Sibling_roots_each_see_only_the_cached_prefix()
    {
        var cache = M.CreateCache();
        var batch = new Batch(16);
        AddPrompt(batch);
        M.Forward(batch, cache);
        batch.Clear();
        batch.Add(A, Prompt.Length, 0, true, parent: -1);
        batch.Add(B2, Prompt.Length, 0, true, parent: -1);
        M.Forward(batch, cache);
        var roots = Rows(2);
        AssertBitIdentical(Linear(A)[0], roots[0], "root A");
        AssertBitIdentical(Linear(B2)[0], roots[1], "root B2");
    }

    [Fact]
    // Two requests interleaved in one batch, each in its own sequence, equal the two run apart.
    public void Sequences_in_one_batch_do_not_see_each_other()
    {
        var other = Reference.Get("the_cat").PromptIds;
        var cache = M.CreateCache(sequences: 2);
        var batch = new Batch(32);
        for (int i = 0; i < Math.Max(Prompt.Length, other.Length); i++)
        {
            if (i < other.Length) batch.Add(other[i], i, 1, logits: true);
            if (i < Prompt.Length) batch.Add(Prompt[i], i, 0, logits: true);
        }
        M.Forward(batch, cache);
        var shared = Rows(batch.OutputCount);
        var (otherAlone, promptAlone) = (Alone(other), Alone(Prompt));
        int row = 0;
        for (int i = 0; i < Math.Max(Prompt.Length, other.Length); i++)
        {
            if (i < other.Length) AssertBitIdentical(otherAlone[i], shared[row++], $"the_cat token {i}");
            if (i < Prompt.Length) AssertBitIdentical(promptAlone[i], shared[row++], $"once_upon_a_time token {i}");
        }
    }

    /// <summary>Logits of every token of <paramref name="ids"/> run alone in sequence 0 of a fresh cache.</summary>
    List<float[]> Alone(int[] ids)
    {
        var cache = M.CreateCache();
        var batch = new Batch(ids.Length);
        foreach (var (t, i) in ids.Select((t, i) => (t, i))) batch.Add(t, i, 0, logits: true);
        M.Forward(batch, cache);
        return Rows(ids.Length);
    }

    /// <summary>Copies of the first <paramref name="n"/> logit rows of the last forward pass (the next one overwrites them).</summary>
    List<float[]> Rows(int n) => Enumerable.Range(0, n).Select(i => M.Logits(i).ToArray()).ToList();

    [Fact]
    // Speculative decoding rolls back rejected tokens with Trim; what follows must not see them.
    public void After_Trim_the_logits_equal_a_fresh_recompute()
    {
        var cache = M.CreateCache();
        var batch = new Batch(16);
        AddPrompt(batch);
        foreach (var (t, i) in new[] { A, B1, C }.Select((t, i) => (t, i))) batch.Add(t, Prompt.Length + i, 0, logits: false);
        M.Forward(batch, cache);
        cache.Trim(0, Prompt.Length + 1); // keep A, drop B1 and C
        batch.Clear();
        batch.Add(D, Prompt.Length + 1, 0, logits: true);
        M.Forward(batch, cache);
        var afterTrim = Rows(1)[0];
        AssertBitIdentical(Linear(A, D)[1], afterTrim, "A, (B1, C trimmed), D");
    }

    [Theory]
    [InlineData(1, false)]
    [InlineData(2, false)]
    [InlineData(1, true)]
    // GetAllocatedBytesForCurrentThread sees the calling thread; with one worker every kernel runs on it.
    public void A_decode_step_allocates_nothing(int threads, bool paged)
    {
        using var pool = new WorkerPool(threads);
        using var loaded = LoadedModel.Open(Reference.Stories260KGguf, pool: pool);
        var m = loaded.Model;
        var cache = m.CreateCache(options: new Augur.Cache.KvCacheOptions { Paged = paged });
        var batch = new Batch(m.MaxBatch);
        AddPrompt(batch);
        m.Forward(batch, cache);
        void Step(int token)
        {
            batch.Clear();
            batch.Add(token, cache.Length(0), 0, logits: true);
            m.Forward(batch, cache);
        }
        for (int i = 0; i < 20; i++) Step(A); // warm-up: buffers reach their size, code is compiled
        // Tiered compilation swaps in optimised code a while later and the runtime allocates a little on the
        // calling thread when it does; that is not the engine's. The steady state is what must allocate nothing,
        // so take the best of a few rounds spread over time.
        long allocated = long.MaxValue;
        for (int round = 0; round < 4 && allocated != 0; round++)
        {
            Thread.Sleep(200);
            long before = GC.GetAllocatedBytesForCurrentThread();
            for (int i = 0; i < 50; i++) Step(B1);
            allocated = Math.Min(allocated, GC.GetAllocatedBytesForCurrentThread() - before);
        }
        Assert.True(allocated == 0, $"50 decode steps allocated {allocated} bytes");
    }
}
