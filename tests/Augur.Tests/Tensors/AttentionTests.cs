using Augur.Tests.Support;
using System.Runtime.Intrinsics;
using Augur.Tensors;
using Augur.Tensors.Reference;

namespace Augur.Tests.Tensors;

/// <summary>Attention.Attend against the double-precision scalar attention, and layout-independent bits.</summary>
public unsafe class AttentionTests
{
    const float Scale = 0.35f;

    [Theory]
    [InlineData(8, 1)]
    [InlineData(8, 7)]
    [InlineData(8, 8)]
    [InlineData(8, 9)]
    [InlineData(8, 257)]
    [InlineData(64, 13)]
    [InlineData(64, 200)]
    [InlineData(12, 9)]  // head size not a multiple of 8: the plain path
    public void Matches_the_scalar_attention_and_gives_the_same_bits_however_the_cells_are_laid_out(int headDim, int count)
    {
        var rng = TestSeed.Random(headDim * 1000 + count);
        float Next() => (float)(rng.NextDouble() * 4 - 2);
        // Logical key/value rows 0..count-1, and q.
        var k = Enumerable.Range(0, count * headDim).Select(_ => Next()).ToArray();
        var v = Enumerable.Range(0, count * headDim).Select(_ => Next()).ToArray();
        var q = Enumerable.Range(0, headDim).Select(_ => Next()).ToArray();
        var want = new float[headDim];
        ScalarKernels.Attend(q, k, v, count, Scale, want);

        // Layout 1: one contiguous range of cells, rows interleaved with other heads (stride = 3 heads).
        int stride = headDim * 3;
        var contiguous = Attend(q, k, v, count, stride, count, [], cellOf: i => i);
        // Layout 2: the last three logical rows live at scattered later cells, listed as extras (a tree branch).
        int head = Math.Max(0, count - 3);
        int[] extra = Enumerable.Range(0, count - head).Select(j => count + 2 + 2 * j).ToArray();
        var tree = Attend(q, k, v, count, stride, head, extra, cellOf: i => i < head ? i : extra[i - head]);

        for (int d = 0; d < headDim; d++)
        {
            Assert.True(Math.Abs(contiguous[d] - want[d]) <= 2e-5 * (1 + Math.Abs(want[d])), $"dim {d}: {contiguous[d]} vs {want[d]}");
            Assert.Equal(BitConverter.SingleToInt32Bits(contiguous[d]), BitConverter.SingleToInt32Bits(tree[d]));
        }
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
        var got = Attend(q, k, v, 2, 8, 2, [], i => i);
        for (int d = 0; d < 8; d++) Assert.Equal(v[d], got[d]);
    }

    static float[] Attend(float[] q, float[] k, float[] v, int count, int stride, int contiguous, int[] extra, Func<int, int> cellOf)
    {
        int headDim = q.Length, cells = count + 2 + 2 * count + 1;
        var keys = new float[cells * stride + headDim];
        var values = new float[cells * stride + headDim];
        Array.Fill(keys, float.NaN); // cells that are not visible must not be read
        Array.Fill(values, float.NaN);
        for (int i = 0; i < count; i++)
        {
            k.AsSpan(i * headDim, headDim).CopyTo(keys.AsSpan(cellOf(i) * stride + headDim));
            v.AsSpan(i * headDim, headDim).CopyTo(values.AsSpan(cellOf(i) * stride + headDim));
        }
        var scratch = new float[Attention.ScratchLength(count)];
        var output = new float[headDim];
        fixed (float* kp = keys, vp = values, qp = q, sp = scratch, op = output)
            Attention.Attend<FloatElements.F32>(qp, (byte*)(kp + headDim), (byte*)(vp + headDim), stride, contiguous, extra, count, headDim, Scale, sp, op);
        return output;
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

    [Theory]
    [InlineData(8, 9)]
    [InlineData(8, 257)]
    [InlineData(64, 40)]
    [InlineData(12, 9)]
    // An F16 cache attends exactly as an F32 cache holding the same (widened) keys and values.
    public void Half_keys_and_values_give_the_bits_of_their_widened_floats(int headDim, int count)
    {
        var rng = TestSeed.Random(headDim * 31 + count);
        int stride = headDim * 2, cells = count + 4;
        var keys = new Half[cells * stride];
        var values = new Half[cells * stride];
        for (int i = 0; i < keys.Length; i++) (keys[i], values[i]) = ((Half)(rng.NextDouble() * 4 - 2), (Half)(rng.NextDouble() * 4 - 2));
        var q = Enumerable.Range(0, headDim).Select(_ => (float)(rng.NextDouble() * 2 - 1)).ToArray();
        var wideKeys = keys.Select(h => (float)h).ToArray();
        var wideValues = values.Select(h => (float)h).ToArray();
        int contiguous = count - 2;
        int[] extra = [count, count + 2];
        var scratch = new float[Attention.ScratchLength(count)];
        var half = new float[headDim];
        var full = new float[headDim];
        fixed (Half* kh = keys, vh = values)
        fixed (float* kf = wideKeys, vf = wideValues, qp = q, sp = scratch, oh = half, of = full)
        {
            Attention.Attend<FloatElements.F16>(qp, (byte*)(kh + headDim), (byte*)(vh + headDim), stride, contiguous, extra, count, headDim, Scale, sp, oh);
            Attention.Attend<FloatElements.F32>(qp, (byte*)(kf + headDim), (byte*)(vf + headDim), stride, contiguous, extra, count, headDim, Scale, sp, of);
        }
        for (int d = 0; d < headDim; d++) Assert.Equal(BitConverter.SingleToInt32Bits(full[d]), BitConverter.SingleToInt32Bits(half[d]));
    }
}
