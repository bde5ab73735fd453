using Augur.Tests.Support;
using Augur.Tensors;
using Augur.Tensors.Reference;

namespace Augur.Tests.Tensors;

/// <summary>
/// <see cref="MatMul"/> on a pool of two workers against <see cref="ScalarKernels.MatVec"/>, for batches of
/// 1..9 tokens (the four-token tiles and their remainders) and odd row counts (uneven worker shares).
/// </summary>
public sealed unsafe class MatMulTests : IDisposable
{
    const double U = 1.0 / (1 << 24);
    readonly WorkerPool _pool = new(2);

    public void Dispose() => _pool.Dispose();

    public static IEnumerable<object[]> Formats => [[F32Format.Instance], [F16Format.Instance], [BF16Format.Instance]];

    /// <summary>A (rows, cols) matrix of random values stored in <paramref name="format"/>, and the floats it holds.</summary>
    sealed class Matrix : IDisposable
    {
        public readonly NativeBuffer Bytes;
        public readonly float[] Values;
        public readonly WeightMatrix W;

        public Matrix(WeightFormat format, int rows, int cols, Random rng)
        {
            var f = new float[rows * cols];
            for (int i = 0; i < f.Length; i++) f[i] = (float)(rng.NextDouble() * 2 - 1);
            Bytes = new NativeBuffer(format.RowBytes(cols) * rows);
            fixed (float* src = f) format.QuantizeRow(src, Bytes.Pointer, f.Length);
            Values = new float[f.Length];
            fixed (float* dst = Values) format.DequantizeRow(Bytes.Pointer, dst, f.Length);
            W = new WeightMatrix("w", format, Bytes.Pointer, rows, cols);
        }

        public void Dispose() => Bytes.Dispose();
    }

    static float[] Activations(Random rng, int tokens, int cols) =>
        Enumerable.Range(0, tokens * cols).Select(_ => (float)(rng.NextDouble() * 4 - 2)).ToArray();

    void AssertMatchesScalar(Matrix m, float[] x, float[] y, int tokens, string where)
    {
        int rows = m.W.Rows, cols = m.W.Cols;
        var want = new float[rows];
        for (int t = 0; t < tokens; t++)
        {
            var xt = x.AsSpan(t * cols, cols);
            ScalarKernels.MatVec(m.Values, xt, want, cols);
            for (int r = 0; r < rows; r++)
            {
                double magnitude = 0;
                for (int i = 0; i < cols; i++) magnitude += Math.Abs((double)m.Values[r * cols + i] * xt[i]);
                float got = y[t * rows + r];
                Assert.True(Math.Abs(got - want[r]) <= (cols + 2) * U * magnitude, $"{where}: token {t}, row {r}: {got} vs {want[r]}");
            }
        }
    }

    [Theory]
    [MemberData(nameof(Formats))]
    public void Multiply_matches_the_scalar_matvec_for_1_to_9_tokens_and_odd_row_counts(WeightFormat format)
    {
        using var matmul = new MatMul(_pool, 9 * 4 * 101);
        foreach (int rows in new[] { 1, 3, 5, 7, 13, 31, 67 })
            foreach (int cols in new[] { 1, 8, 17, 64, 101 })
            {
                var rng = TestSeed.Random(rows * 1000 + cols);
                using var m = new Matrix(format, rows, cols, rng);
                for (int tokens = 1; tokens <= 9; tokens++)
                {
                    var x = Activations(rng, tokens, cols);
                    var y = new float[tokens * rows + 1];
                    y[^1] = 777f; // sentinel past the output
                    fixed (float* px = x, py = y) matmul.Multiply(m.W, px, tokens, py);
                    AssertMatchesScalar(m, x, y, tokens, $"{format} {rows}x{cols}, {tokens} tokens");
                    Assert.Equal(777f, y[^1]);
                }
            }
    }

    [Theory]
    [MemberData(nameof(Formats))]
    // Speculative verification and batched prefill must reproduce one-token decoding bit for bit.
    public void A_tokens_result_does_not_depend_on_the_batch_it_is_in(WeightFormat format)
    {
        using var matmul = new MatMul(_pool, 9 * 4 * 100);
        var rng = TestSeed.Random(42);
        using var m = new Matrix(format, 37, 100, rng);
        var x = Activations(rng, 9, 100);
        var single = new float[9 * 37];
        for (int t = 0; t < 9; t++)
            fixed (float* px = x, py = single) matmul.Multiply(m.W, px + t * 100, 1, py + t * 37);
        for (int tokens = 2; tokens <= 9; tokens++)
        {
            var batched = new float[tokens * 37];
            fixed (float* px = x, py = batched) matmul.Multiply(m.W, px, tokens, py);
            for (int i = 0; i < batched.Length; i++)
                Assert.True(BitConverter.SingleToInt32Bits(single[i]) == BitConverter.SingleToInt32Bits(batched[i]),
                    $"{format}: batch of {tokens}, token {i / 37}, row {i % 37}: {batched[i]:R} vs alone {single[i]:R}");
        }
    }

    [Fact]
    public void Two_and_three_matrices_in_one_dispatch_equal_separate_multiplies()
    {
        using var matmul = new MatMul(_pool, 5 * 4 * 48);
        var rng = TestSeed.Random(3);
        using var a = new Matrix(F32Format.Instance, 11, 48, rng);
        using var b = new Matrix(F16Format.Instance, 5, 48, rng);
        using var c = new Matrix(BF16Format.Instance, 23, 48, rng);
        var x = Activations(rng, 5, 48);
        float[] ya = new float[5 * 11], yb = new float[5 * 5], yc = new float[5 * 23];
        fixed (float* px = x, pa = ya, pb = yb, pc = yc) matmul.Multiply(a.W, pa, b.W, pb, c.W, pc, px, 5);
        float[] za = new float[ya.Length], zb = new float[yb.Length], zc = new float[yc.Length];
        fixed (float* px = x, pa = za, pb = zb) matmul.Multiply(a.W, pa, b.W, pb, px, 5);
        fixed (float* px = x, pc = zc) matmul.Multiply(c.W, px, 5, pc);
        Assert.Equal(za, ya);
        Assert.Equal(zb, yb);
        Assert.Equal(zc, yc);
        AssertMatchesScalar(c, x, yc, 5, "third matrix");
    }
}
