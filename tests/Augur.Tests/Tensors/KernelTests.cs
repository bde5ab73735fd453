using Augur.Tests.Support;
using Augur.Tensors;
using Augur.Tensors.Reference;

namespace Augur.Tests.Tensors;

/// <summary>
/// The SIMD kernels against their scalar twins (summed in double) over every length 0..256, seeded data.
/// Bounds are stated in units of u = 2⁻²⁴ (float's unit roundoff) and follow the classic error analysis
/// of each operation, so a wrong tail, a skipped element or a mis-ordered pair fails by orders of magnitude.
/// </summary>
public unsafe class KernelTests
{
    const double U = 1.0 / (1 << 24);
    const int MaxLength = 256;

    public static IEnumerable<object[]> Lengths => Enumerable.Range(0, MaxLength + 1).Select(n => new object[] { n });

    static float[] RandomFloats(Random rng, int n, float scale = 1)
    {
        var a = new float[n];
        for (int i = 0; i < n; i++) a[i] = (float)(rng.NextDouble() * 2 - 1) * scale;
        return a;
    }

    [Fact]
    // Any summation order of n products is within (n + 1)·u·Σ|aᵢbᵢ| of the exact sum; the final rounding adds u.
    public void Dot_matches_the_exact_dot_product_within_the_summation_bound_for_every_length()
    {
        for (int n = 0; n <= MaxLength; n++)
        {
            var rng = TestSeed.Random(n);
            var a = RandomFloats(rng, n, 3);
            var b = RandomFloats(rng, n, 0.5f);
            float got;
            fixed (float* pa = a, pb = b) got = Simd.Dot(pa, pb, n);
            double exact = ScalarKernels.Dot(a, b);
            double magnitude = 0;
            for (int i = 0; i < n; i++) magnitude += Math.Abs((double)a[i] * b[i]);
            Assert.True(Math.Abs(got - exact) <= (n + 2) * U * magnitude, $"n = {n}: {got} vs {exact}");
        }
    }

    [Fact]
    // The engine relies on batch invariance: a token's result must not depend on whether it shares a batch.
    public void Dot4_gives_each_token_the_bits_of_Dot_for_every_length()
    {
        for (int n = 0; n <= MaxLength; n++)
        {
            var rng = TestSeed.Random(1000 + n);
            int stride = n + 5; // rows of the activation block are not packed: Dot4 must honour the stride
            var w = RandomFloats(rng, n);
            var x = RandomFloats(rng, 4 * stride, 2);
            fixed (float* pw = w, px = x)
            {
                Simd.Dot4(pw, px, stride, n, out float d0, out float d1, out float d2, out float d3);
                float[] got = [d0, d1, d2, d3];
                for (int t = 0; t < 4; t++)
                    Assert.Equal(BitConverter.SingleToInt32Bits(Simd.Dot(pw, px + t * stride, n)), BitConverter.SingleToInt32Bits(got[t]));
            }
        }
    }

    [Theory]
    [InlineData(0)]
    [InlineData(7)]
    [InlineData(8)]
    [InlineData(64)]
    [InlineData(172)]
    [InlineData(200)]
    // Every register tile (8×1, 4×1, 4×2, 3×4, 1×4, remainders) must give each (row, token) exactly Dot's bits,
    // so a token's logits do not depend on how many tokens share its batch or which rows a worker took.
    public void F32_MultiplyRows_gives_every_row_and_token_the_bits_of_Dot(int n)
    {
        const int Rows = 21, YStride = 24;
        var rng = TestSeed.Random(3000 + n);
        var w = RandomFloats(rng, Rows * n);
        var x = RandomFloats(rng, 9 * (n + 3), 2);
        fixed (float* pw = w, px = x)
        {
            foreach (var (r0, r1) in new[] { (0, Rows), (3, 20), (4, 12), (5, 6) })
                for (int tokens = 1; tokens <= 9; tokens++)
                {
                    var y = new float[tokens * YStride];
                    Array.Fill(y, float.NaN);
                    fixed (float* py = y)
                        F32Format.Instance.MultiplyRows((byte*)pw, 4L * n, (byte*)px, 4L * (n + 3), tokens, py, YStride, r0, r1, n);
                    for (int t = 0; t < tokens; t++)
                        for (int r = 0; r < YStride; r++)
                        {
                            float got = y[t * YStride + r];
                            if (r < r0 || r >= r1) { Assert.True(float.IsNaN(got), $"wrote outside [{r0}, {r1}) at row {r}"); continue; }
                            float want = Simd.Dot(pw + r * n, px + t * (n + 3), n);
                            Assert.True(BitConverter.SingleToInt32Bits(want) == BitConverter.SingleToInt32Bits(got),
                                $"n {n}, rows [{r0}, {r1}), {tokens} tokens: ({r}, {t}) = {got}, Dot {want}");
                        }
                }
        }
    }

    [Theory]
    [InlineData("F16", 64)]
    [InlineData("F16", 172)]
    [InlineData("BF16", 64)]
    [InlineData("BF16", 13)]
    // Half-precision rows: read directly for one token, widened per block for a batch — the same bits either way.
    public void Half_precision_MultiplyRows_gives_every_row_and_token_the_bits_of_Dot(string type, int n)
    {
        WeightFormat format = type == "F16" ? F16Format.Instance : BF16Format.Instance;
        const int Rows = 21, YStride = 24;
        var rng = TestSeed.Random(4000 + n);
        var w = new byte[Rows * format.RowBytes(n)];
        fixed (byte* pw = w)
        fixed (float* src = RandomFloats(rng, Rows * n))
            for (int r = 0; r < Rows; r++) format.QuantizeRow(src + r * n, pw + r * format.RowBytes(n), n);
        var x = RandomFloats(rng, 9 * n, 2);
        fixed (byte* pw = w)
        fixed (float* px = x)
            for (int tokens = 1; tokens <= 9; tokens++)
            {
                var y = new float[tokens * YStride];
                fixed (float* py = y) format.MultiplyRows(pw, format.RowBytes(n), (byte*)px, 4L * n, tokens, py, YStride, 2, 19, n);
                for (int t = 0; t < tokens; t++)
                    for (int r = 2; r < 19; r++)
                        Assert.Equal(BitConverter.SingleToInt32Bits(format.Dot(pw + r * format.RowBytes(n), (byte*)(px + t * n), n)),
                            BitConverter.SingleToInt32Bits(y[t * YStride + r]));
            }
    }

    [Fact]
    // Sum of squares: n·u; mean, +eps, sqrt, reciprocal: a few u; two products: 2u → (n/2 + 6)·u; (n + 8)·u stated.
    public void RmsNorm_matches_the_scalar_twin_for_every_length()
    {
        for (int n = 0; n <= MaxLength; n++)
        {
            var rng = TestSeed.Random(2000 + n);
            var x = RandomFloats(rng, n, 4);
            var weight = RandomFloats(rng, n, 2);
            var got = new float[n];
            var want = new float[n];
            Ops.RmsNorm(x, weight, got, 1e-5f);
            ScalarKernels.RmsNorm(x, weight, want, 1e-5f);
            for (int i = 0; i < n; i++)
                Assert.True(Math.Abs(got[i] - want[i]) <= (n + 8) * U * Math.Abs(want[i]) + float.Epsilon, $"n = {n}, i = {i}: {got[i]} vs {want[i]}");
        }
    }

    [Fact]
    // silu(g)·u is a product of three roundings plus the sigmoid's own error: 8·u relative is stated.
    public void SiluMul_matches_the_scalar_twin_for_every_length()
    {
        for (int n = 0; n <= MaxLength; n++)
        {
            var rng = TestSeed.Random(4000 + n);
            var gate = RandomFloats(rng, n, 10);
            var up = RandomFloats(rng, n, 3);
            var got = up.ToArray();
            var want = up.ToArray();
            Ops.SiluMul(gate.ToArray(), got);
            ScalarKernels.SiluMul(gate, want);
            for (int i = 0; i < n; i++)
                Assert.True(Math.Abs(got[i] - want[i]) <= 8 * U * Math.Abs(want[i]) + float.Epsilon, $"n = {n}, i = {i}: gate {gate[i]}: {got[i]} vs {want[i]}");
        }
    }

    public static IEnumerable<object[]> RopeCases =>
        from position in new[] { 0, 1, 7, 511, 32767 }
        from partial in new[] { false, true }
        select new object[] { position, partial };

    [Theory]
    [MemberData(nameof(RopeCases))]
    // cos/sin rounded to float (u each), two products and a sum: |Δ| ≤ 4·u·(|a| + |b|) per rotated pair.
    public void Rope_matches_the_scalar_twin_for_every_even_head_size(int position, bool partial)
    {
        for (int headDim = 2; headDim <= MaxLength; headDim += 2)
        {
            int ropeDim = partial ? Math.Max(2, headDim / 2 & ~1) : headDim;
            int heads = 1 + headDim % 3;
            var rng = TestSeed.Random(5000 + headDim);
            var x = RandomFloats(rng, heads * headDim, 2);
            var got = x.ToArray();
            var want = x.ToArray();
            var cos = new float[ropeDim / 2];
            var sin = new float[ropeDim / 2];
            Ops.RopeAngles(position, 10000f, ropeDim, cos, sin);
            Ops.Rope(got, headDim, cos, sin);
            ScalarKernels.Rope(want, headDim, ropeDim, position, 10000.0);
            for (int h = 0; h < heads; h++)
                for (int d = 0; d < headDim; d++)
                {
                    int i = h * headDim + d;
                    if (d >= ropeDim)
                    {
                        Assert.Equal(x[i], got[i]); // dims past rope_dim are not touched
                        continue;
                    }
                    int pair = h * headDim + (d & ~1);
                    double bound = 4 * U * (Math.Abs(x[pair]) + Math.Abs(x[pair + 1]));
                    Assert.True(Math.Abs(got[i] - want[i]) <= bound, $"head {headDim}, rope {ropeDim}, pos {position}, i = {i}: {got[i]} vs {want[i]}");
                }
        }
    }
}
