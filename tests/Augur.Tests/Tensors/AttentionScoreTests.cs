using Augur.Tensors;
using Augur.Tensors.Reference;

namespace Augur.Tests.Tensors;

/// <summary>Simd.Scores: q·k·scale for contiguous and listed cells, against the scalar dot, and group-independent bits.</summary>
public unsafe class AttentionScoreTests
{
    [Theory]
    [InlineData(8, 1)]
    [InlineData(8, 7)]
    [InlineData(8, 8)]
    [InlineData(64, 13)]
    [InlineData(64, 200)]
    [InlineData(12, 9)]  // head size not a multiple of 8: the plain path
    public void Scores_match_the_scalar_dot_and_do_not_depend_on_their_group(int headDim, int cells)
    {
        var rng = new Random(headDim * 1000 + cells);
        int stride = headDim * 3;
        var keys = new float[(cells + 5) * stride];
        var q = new float[headDim];
        for (int i = 0; i < keys.Length; i++) keys[i] = (float)(rng.NextDouble() * 2 - 1);
        for (int i = 0; i < q.Length; i++) q[i] = (float)(rng.NextDouble() * 2 - 1);
        int contiguous = Math.Max(0, cells - 3);
        int[] extra = Enumerable.Range(contiguous + 1, cells - contiguous).ToArray(); // skips one cell, like a tree branch
        var scores = new float[cells];
        const float Scale = 0.35f;
        fixed (float* k = keys, qp = q, sp = scores)
        {
            Simd.Scores(qp, k + headDim, stride, contiguous, extra, cells, headDim, Scale, sp);
            for (int i = 0; i < cells; i++)
            {
                int cell = i < contiguous ? i : extra[i - contiguous];
                double want = ScalarKernels.Dot(q, keys.AsSpan(cell * stride + headDim, headDim)) * Scale;
                Assert.True(Math.Abs(scores[i] - want) <= 1e-5 * (1 + Math.Abs(want)), $"cell {cell}: {scores[i]} vs {want}");

                // The same key scored alone gives the same bits as inside its group of eight.
                float alone;
                Simd.Scores(qp, k + headDim + cell * stride, stride, 1, [], 1, headDim, Scale, &alone);
                Assert.Equal(BitConverter.SingleToInt32Bits(scores[i]), BitConverter.SingleToInt32Bits(alone));
            }
        }
    }
}
