using Augur.Tests.Support;
using System.Runtime.Intrinsics;
using Augur.Tensors;
using Augur.Tensors.Reference;

namespace Augur.Tests.Tensors;

/// <summary>Attention.Attend against the double-precision scalar attention in every cell type, and the same bits
/// however the cells are laid out (contiguous, tree extras, a shuffled block table).</summary>
public unsafe class AttentionTests
{
    const float Scale = 0.35f;

    public enum Cells { F32, F16, Q8_0 }

    [Theory]
    [InlineData(8, 1, Cells.F32)]
    [InlineData(8, 7, Cells.F32)]
    [InlineData(8, 9, Cells.F32)]
    [InlineData(8, 257, Cells.F32)]
    [InlineData(64, 13, Cells.F32)]
    [InlineData(64, 200, Cells.F32)]
    [InlineData(12, 9, Cells.F32)]  // head size not a multiple of 8: the plain path
    [InlineData(12, 70, Cells.F32)]
    [InlineData(8, 40, Cells.F16)]
    [InlineData(64, 100, Cells.F16)]
    [InlineData(12, 33, Cells.F16)]
    [InlineData(32, 65, Cells.Q8_0)]
    [InlineData(64, 200, Cells.Q8_0)]
    public void Matches_the_scalar_attention_and_gives_the_same_bits_however_the_cells_are_laid_out(int headDim, int count, Cells type)
    {
        switch (type)
        {
            case Cells.F32: Check<KvElements.F32>(headDim, count); break;
            case Cells.F16: Check<KvElements.F16>(headDim, count); break;
            default: Check<KvElements.Q8_0>(headDim, count); break;
        }
    }

    static void Check<T>(int headDim, int count) where T : struct, IKvElement
    {
        var rng = TestSeed.Random(headDim * 1000 + count);
        float Next() => (float)(rng.NextDouble() * 4 - 2);
        var k = Enumerable.Range(0, count * headDim).Select(_ => Next()).ToArray();
        var v = Enumerable.Range(0, count * headDim).Select(_ => Next()).ToArray();
        var q = Enumerable.Range(0, headDim).Select(_ => Next()).ToArray();
        // The oracle sees what the cells hold: each row stored as T and read back one element at a time.
        var storedK = RoundTrip<T>(k, headDim);
        var storedV = RoundTrip<T>(v, headDim);

        // Logical rows 0..head-1 contiguous; the rest at scattered later cells, listed as extras (a tree branch).
        int head = Math.Max(0, count - 3);
        int[] extra = [.. Enumerable.Range(0, count - head).Select(j => count + 2 + 2 * j)];
        int[] none = [];
        foreach (int first in new[] { 0, count / 3 })
        {
            var want = new float[headDim];
            int seen = count - first;
            ScalarKernels.Attend(q, storedK.AsSpan(first * headDim), storedV.AsSpan(first * headDim), seen, Scale, want);

            var layouts = new[]
            {
                Attend<T>(q, k, v, first, count, count, none, shuffled: false),
                Attend<T>(q, k, v, first, count, head, extra, shuffled: false),
                Attend<T>(q, k, v, first, count, count, none, shuffled: true),
                Attend<T>(q, k, v, first, count, head, extra, shuffled: true),
            };
            for (int d = 0; d < headDim; d++)
            {
                Assert.True(Math.Abs(layouts[0][d] - want[d]) <= 2e-5 * (1 + Math.Abs(want[d])), $"first {first}, dim {d}: {layouts[0][d]} vs {want[d]}");
                foreach (var other in layouts[1..])
                    Assert.Equal(BitConverter.SingleToInt32Bits(layouts[0][d]), BitConverter.SingleToInt32Bits(other[d]));
            }
        }
    }

    static float[] RoundTrip<T>(float[] rows, int headDim) where T : struct, IKvElement
    {
        var bytes = new byte[T.RowBytes(headDim)];
        var back = new float[rows.Length];
        fixed (float* r = rows)
        fixed (byte* b = bytes)
            for (int i = 0; i < rows.Length; i += headDim)
            {
                T.Store(r + i, b, headDim);
                for (int d = 0; d < headDim; d++) back[i + d] = T.Load(b, d);
            }
        return back;
    }

    /// <summary>Stores logical row i at sequence cell cell(i), as head 1 of 3 in each row, and attends. Shuffled: the
    /// sequence's blocks sit in the pool in reverse order, reached through a block table.</summary>
    static float[] Attend<T>(float[] q, float[] k, float[] v, int first, int count, int contiguous, int[] extra, bool shuffled)
        where T : struct, IKvElement
    {
        int headDim = q.Length, headBytes = T.RowBytes(headDim), rowBytes = 3 * headBytes;
        int cells = count + 2 + 2 * count + 1;
        int blocks = (cells + Attention.BlockCells - 1) / Attention.BlockCells;
        int[] table = [.. Enumerable.Range(0, blocks).Select(b => shuffled ? blocks - 1 - b : b)];
        int Physical(int cell) => table[cell / Attention.BlockCells] * Attention.BlockCells + cell % Attention.BlockCells;
        var keys = new byte[blocks * Attention.BlockCells * rowBytes];
        var values = new byte[keys.Length];
        Array.Fill(keys, (byte)0xff); // NaN in every type: cells that are not visible must not be read
        Array.Fill(values, (byte)0xff);
        var output = new float[headDim];
        var scratch = new float[Attention.ScratchLength];
        fixed (float* kp = k, vp = v, qp = q, sp = scratch, op = output)
        fixed (byte* kb = keys, vb = values)
        fixed (int* tp = table)
        {
            for (int i = 0; i < count; i++)
            {
                int cell = i < contiguous ? i : extra[i - contiguous];
                T.Store(kp + i * headDim, kb + (long)Physical(cell) * rowBytes + headBytes, headDim);
                T.Store(vp + i * headDim, vb + (long)Physical(cell) * rowBytes + headBytes, headDim);
            }
            if (shuffled)
                Attention.Attend<T, BlockTableCells>(qp, new BlockTableCells(kb + headBytes, vb + headBytes, tp, rowBytes), first, contiguous, extra, count, headDim, Scale, sp, op);
            else
                Attention.Attend<T, ContiguousCells>(qp, new ContiguousCells(kb + headBytes, vb + headBytes, rowBytes), first, contiguous, extra, count, headDim, Scale, sp, op);
        }
        return output;
    }

    [Fact]
    public void Large_scores_do_not_overflow()
    {
        var q = new float[8];
        Array.Fill(q, 100f);
        var k = new float[2 * 8];
        Array.Fill(k, 100f);
        k[8] = -100f; // second key scores −80000·scale: weight exp(−huge) = 0
        var v = Enumerable.Range(0, 16).Select(i => (float)i).ToArray();
        var got = Attend<KvElements.F32>(q, k, v, 0, 2, 2, [], shuffled: false);
        for (int d = 0; d < 8; d++) Assert.Equal(v[d], got[d]);
    }

    [Fact]
    public void Halves_widen_exactly_eight_at_a_time()
    {
        var halves = new ushort[65536];
        for (int i = 0; i < halves.Length; i++) halves[i] = (ushort)i;
        var wide = new float[8];
        fixed (ushort* h = halves)
        fixed (float* w = wide)
            for (int i = 0; i < halves.Length; i += 8)
            {
                FloatElements.F16.Load8((byte*)(h + i)).Store(w);
                for (int j = 0; j < 8; j++)
                {
                    float want = (float)BitConverter.UInt16BitsToHalf(halves[i + j]);
                    if (float.IsNaN(want)) Assert.True(float.IsNaN(wide[j]), $"0x{i + j:X4}");
                    else Assert.Equal(BitConverter.SingleToInt32Bits(want), BitConverter.SingleToInt32Bits(wide[j]));
                }
            }
    }

    [Fact]
    public void Q8_0_rows_are_llama_cpp_blocks_and_widen_exactly()
    {
        // quantize_row_q8_0_ref on one block: d = amax/127 as f16, q = roundf(x/d).
        var x = Enumerable.Range(0, 32).Select(i => (i - 13) * 0.37f).ToArray();
        var row = new byte[34];
        fixed (float* xp = x)
        fixed (byte* r = row)
        {
            KvElements.Q8_0.Store(xp, r, 32);
            float amax = x.Max(MathF.Abs), d = amax / 127;
            Assert.Equal(BitConverter.HalfToUInt16Bits((Half)d), BitConverter.ToUInt16(row, 0));
            float id = 1 / d;
            for (int j = 0; j < 32; j++) Assert.Equal((sbyte)MathF.Round(x[j] * id, MidpointRounding.AwayFromZero), (sbyte)row[2 + j]);
            var wide = new float[8];
            fixed (float* w = wide)
                for (int j = 0; j < 32; j += 8)
                {
                    KvElements.Q8_0.Load8(r, j).Store(w);
                    for (int i = 0; i < 8; i++) Assert.Equal((float)(Half)d * (sbyte)row[2 + j + i], wide[i]);
                }
        }
    }
}
