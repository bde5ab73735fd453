using System.Runtime.CompilerServices;
using System.Runtime.Intrinsics;
using System.Runtime.Intrinsics.X86;

namespace Augur.Tensors;

/// <summary>Where one head's key and value rows of a sequence's cells live. Cells of one aligned block of
/// <see cref="Attention.BlockCells"/> are rows <c>RowBytes</c> apart; blocks may be anywhere (a block table).</summary>
public unsafe interface ICells
{
    byte* Key(int cell);
    byte* Value(int cell);
}

/// <summary>Cells one after another: the dense cache's row of a sequence.</summary>
public readonly unsafe struct ContiguousCells(byte* keys, byte* values, long rowBytes) : ICells
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* Key(int cell) => keys + cell * rowBytes;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* Value(int cell) => values + cell * rowBytes;
}

/// <summary>Cells through a block table: cell c lives in pool block table[c / BlockCells], slot c mod BlockCells
/// (the paged cache; <paramref name="keys"/> and <paramref name="values"/> point at block 0's first row, head offset included).</summary>
public readonly unsafe struct BlockTableCells(byte* keys, byte* values, int* table, long rowBytes) : ICells
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* Key(int cell) => keys + ((long)table[cell >> Attention.BlockShift] * Attention.BlockCells + (cell & (Attention.BlockCells - 1))) * rowBytes;
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public byte* Value(int cell) => values + ((long)table[cell >> Attention.BlockShift] * Attention.BlockCells + (cell & (Attention.BlockCells - 1))) * rowBytes;
}

/// <summary>
/// Scaled dot-product attention of one query head over the cells it may see: softmax(q·kᵢ·scale) · vᵢ.
/// Cells are numbered logically: cell(i) = i below <c>contiguous</c>, extra[i − contiguous] above (a draft token
/// sees the cached context, then its ancestors in the batch); the head sees logical cells [first, count).
/// The work is cut at fixed logical boundaries — blocks of <see cref="BlockCells"/> cells, the paged cache's block —
/// and each block gives its own max, sum of exponentials and weighted values, folded into the running result by
/// log-sum-exp in ascending block order. Inside a block every reduction runs in an order fixed by the cell's place in
/// the block (scores eight keys per add tree, exponentials summed by lane, weighted values in four accumulators by
/// i mod 4). So a token's bits depend only on its logical cells: one contiguous range (plain decoding), a range plus
/// listed cells (tree verification), a block table (paged), a block shared with other queries (Hydragen), and
/// whatever else is in the batch, all agree. Elements are read in the cache's storage type (<see cref="IKvElement"/>).
/// Scalar twin: <see cref="Reference.ScalarKernels.Attend"/>.
/// </summary>
[SkipLocalsInit]
public static unsafe class Attention
{
    public const int BlockCells = 32, BlockShift = 5;

    /// <summary>Floats of scratch <see cref="Attend"/> needs (one block's scores).</summary>
    public const int ScratchLength = BlockCells;

    /// <summary>The running softmax of one query: the largest score so far and the sum of exponentials relative to it.
    /// The weighted values accumulate, unnormalised, in the output row.</summary>
    public struct Running
    {
        public float Max, Sum;
        public static Running Start => new() { Max = float.NegativeInfinity };
    }

    static bool Vectorised(int headDim) => Avx2.IsSupported && Fma.IsSupported && headDim % 8 == 0;

    /// <summary>
    /// output[0..headDim) = Σᵢ softmax(s)ᵢ · value(cell(i)) over logical cells [first, count),
    /// sᵢ = q · key(cell(i)) · scale. <paramref name="scratch"/> holds <see cref="ScratchLength"/> floats.
    /// </summary>
    public static void Attend<T, C>(float* q, C cells, int first, int contiguous, ReadOnlySpan<int> extra,
        int count, int headDim, float scale, float* scratch, float* output) where T : struct, IKvElement where C : struct, ICells
    {
        var running = Running.Start;
        new Span<float>(output, headDim).Clear();
        AttendFrom<T, C>(q, cells, first, first, contiguous, extra, count, headDim, scale, scratch, output, ref running);
        Finish(output, headDim, running);
    }

    /// <summary>Folds the blocks from the one holding logical cell <paramref name="from"/> to the last, each clipped to
    /// [first, count), into <paramref name="running"/> and the unnormalised <paramref name="output"/>.</summary>
    public static void AttendFrom<T, C>(float* q, C cells, int from, int first, int contiguous, ReadOnlySpan<int> extra,
        int count, int headDim, float scale, float* scratch, float* output, ref Running running) where T : struct, IKvElement where C : struct, ICells
    {
        for (int b0 = from & ~(BlockCells - 1); b0 < count; b0 += BlockCells)
            AttendBlock<T, C>(q, cells, Math.Max(first, b0), Math.Min(count, b0 + BlockCells), contiguous, extra, headDim, scale, scratch, output, ref running);
    }

    /// <summary>Folds logical cells [lo, hi) — inside one block — into <paramref name="running"/> and the unnormalised
    /// <paramref name="output"/>. Blocks must come in ascending order, each as its own call.</summary>
    public static void AttendBlock<T, C>(float* q, C cells, int lo, int hi, int contiguous, ReadOnlySpan<int> extra,
        int headDim, float scale, float* scratch, float* output, ref Running running) where T : struct, IKvElement where C : struct, ICells
    {
        int n = hi - lo;
        byte** keys = stackalloc byte*[BlockCells];
        byte** values = stackalloc byte*[BlockCells];
        for (int j = 0; j < n; j++)
        {
            int i = lo + j, cell = i < contiguous ? i : extra[i - contiguous];
            keys[j] = cells.Key(cell);
            values[j] = cells.Value(cell);
        }
        if (Vectorised(headDim)) Block<T>(q, keys, values, n, headDim, scale, scratch, output, ref running);
        else PlainBlock<T>(q, keys, values, n, headDim, scale, scratch, output, ref running);
    }

    /// <summary>output ← output / sum: the attention result.</summary>
    public static void Finish(float* output, int headDim, Running running)
    {
        if (running.Sum == 0) return; // no cells: output stays zero
        float inv = 1f / running.Sum;
        for (int d = 0; d < headDim; d++) output[d] *= inv;
    }

    static void Block<T>(float* q, byte** keys, byte** values, int n, int headDim, float scale, float* scores, float* output, ref Running running)
        where T : struct, IKvElement
    {
        // Scores, eight keys per add tree; a group that runs past n repeats its first key (harmless for the max, masked after).
        var vmax = Vector256.Create(float.NegativeInfinity);
        var vscale = Vector256.Create(scale);
        byte** k = stackalloc byte*[8];
        for (int g = 0; g < n; g += 8)
        {
            Vector256<float> sums;
            if (g + 8 <= n) sums = Group<T>(q, keys[g], keys[g + 1], keys[g + 2], keys[g + 3], keys[g + 4], keys[g + 5], keys[g + 6], keys[g + 7], headDim);
            else
            {
                for (int j = 0; j < 8; j++) k[j] = keys[g + (g + j < n ? j : 0)];
                sums = Group<T>(q, k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7], headDim);
            }
            sums *= vscale;
            sums.Store(scores + g);
            vmax = Vector256.Max(vmax, sums);
        }
        float blockMax = HorizontalMax(vmax);

        // Exponentials relative to the block's max, summed by lane then a fixed tree.
        var bmax = Vector256.Create(blockMax);
        var vsum = Vector256<float>.Zero;
        for (int g = 0; g < n; g += 8)
        {
            var e = Vector256.Exp(Vector256.Load(scores + g) - bmax);
            if (g + 8 > n) e &= Vector256.LessThan(Vector256.Create(0, 1, 2, 3, 4, 5, 6, 7), Vector256.Create(n - g)).AsSingle();
            e.Store(scores + g);
            vsum += e;
        }
        var s4 = vsum.GetLower() + vsum.GetUpper();
        float blockSum = (s4[0] + s4[1]) + (s4[2] + s4[3]);

        float max = MathF.Max(running.Max, blockMax);
        float alpha = MathF.Exp(running.Max - max), beta = MathF.Exp(blockMax - max);
        running.Sum = running.Sum * alpha + blockSum * beta;
        running.Max = max;

        // Weighted values, cell j into accumulator j mod 4, folded into the output as output·α + block·β.
        var va = Vector256.Create(alpha);
        var vb = Vector256.Create(beta);
        int fast = n & ~3;
        for (int d = 0; d < headDim; d += 8)
        {
            Vector256<float> a0 = default, a1 = default, a2 = default, a3 = default;
            int j = 0;
            for (; j < fast; j += 4)
            {
                a0 = Vector256.FusedMultiplyAdd(Vector256.Create(scores[j]), T.Load8(values[j], d), a0);
                a1 = Vector256.FusedMultiplyAdd(Vector256.Create(scores[j + 1]), T.Load8(values[j + 1], d), a1);
                a2 = Vector256.FusedMultiplyAdd(Vector256.Create(scores[j + 2]), T.Load8(values[j + 2], d), a2);
                a3 = Vector256.FusedMultiplyAdd(Vector256.Create(scores[j + 3]), T.Load8(values[j + 3], d), a3);
            }
            if (j < n) a0 = Vector256.FusedMultiplyAdd(Vector256.Create(scores[j]), T.Load8(values[j], d), a0);
            if (j + 1 < n) a1 = Vector256.FusedMultiplyAdd(Vector256.Create(scores[j + 1]), T.Load8(values[j + 1], d), a1);
            if (j + 2 < n) a2 = Vector256.FusedMultiplyAdd(Vector256.Create(scores[j + 2]), T.Load8(values[j + 2], d), a2);
            var block = (a0 + a1) + (a2 + a3);
            Vector256.FusedMultiplyAdd(Vector256.Load(output + d), va, block * vb).Store(output + d);
        }
    }

    /// <summary>The dots of q with eight keys, lane j = key j, each reduced by the same tree.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    static Vector256<float> Group<T>(float* q, byte* k0, byte* k1, byte* k2, byte* k3, byte* k4, byte* k5, byte* k6, byte* k7, int n)
        where T : struct, IKvElement
    {
        var qv = Vector256.Load(q);
        Vector256<float> a0 = qv * T.Load8(k0, 0), a1 = qv * T.Load8(k1, 0), a2 = qv * T.Load8(k2, 0), a3 = qv * T.Load8(k3, 0);
        Vector256<float> a4 = qv * T.Load8(k4, 0), a5 = qv * T.Load8(k5, 0), a6 = qv * T.Load8(k6, 0), a7 = qv * T.Load8(k7, 0);
        for (int b = 8; b < n; b += 8)
        {
            qv = Vector256.Load(q + b);
            a0 = Vector256.FusedMultiplyAdd(qv, T.Load8(k0, b), a0);
            a1 = Vector256.FusedMultiplyAdd(qv, T.Load8(k1, b), a1);
            a2 = Vector256.FusedMultiplyAdd(qv, T.Load8(k2, b), a2);
            a3 = Vector256.FusedMultiplyAdd(qv, T.Load8(k3, b), a3);
            a4 = Vector256.FusedMultiplyAdd(qv, T.Load8(k4, b), a4);
            a5 = Vector256.FusedMultiplyAdd(qv, T.Load8(k5, b), a5);
            a6 = Vector256.FusedMultiplyAdd(qv, T.Load8(k6, b), a6);
            a7 = Vector256.FusedMultiplyAdd(qv, T.Load8(k7, b), a7);
        }
        // Lane j = ((a_j[0]+a_j[1]) + (a_j[2]+a_j[3])) + ((a_j[4]+a_j[5]) + (a_j[6]+a_j[7])).
        var h0123 = Avx.HorizontalAdd(Avx.HorizontalAdd(a0, a1), Avx.HorizontalAdd(a2, a3));
        var h4567 = Avx.HorizontalAdd(Avx.HorizontalAdd(a4, a5), Avx.HorizontalAdd(a6, a7));
        return Avx.Permute2x128(h0123, h4567, 0x20) + Avx.Permute2x128(h0123, h4567, 0x31);
    }

    static float HorizontalMax(Vector256<float> v)
    {
        var m = Vector128.Max(v.GetLower(), v.GetUpper());
        m = Vector128.Max(m, Vector128.Shuffle(m, Vector128.Create(2, 3, 0, 1)));
        m = Vector128.Max(m, Vector128.Shuffle(m, Vector128.Create(1, 0, 3, 2)));
        return m.ToScalar();
    }

    /// <summary>Head sizes that are not a multiple of 8 (or no AVX2): the same block, one element at a time.</summary>
    static void PlainBlock<T>(float* q, byte** keys, byte** values, int n, int headDim, float scale, float* scores, float* output, ref Running running)
        where T : struct, IKvElement
    {
        float blockMax = float.NegativeInfinity;
        for (int j = 0; j < n; j++)
        {
            float dot = 0;
            for (int d = 0; d < headDim; d++) dot += q[d] * T.Load(keys[j], d);
            scores[j] = dot * scale;
            blockMax = MathF.Max(blockMax, scores[j]);
        }
        float blockSum = 0;
        for (int j = 0; j < n; j++) blockSum += scores[j] = MathF.Exp(scores[j] - blockMax);
        float max = MathF.Max(running.Max, blockMax);
        float alpha = MathF.Exp(running.Max - max), beta = MathF.Exp(blockMax - max);
        running.Sum = running.Sum * alpha + blockSum * beta;
        running.Max = max;
        for (int d = 0; d < headDim; d++)
        {
            float acc = 0;
            for (int j = 0; j < n; j++) acc += scores[j] * T.Load(values[j], d);
            output[d] = output[d] * alpha + acc * beta;
        }
    }
}
