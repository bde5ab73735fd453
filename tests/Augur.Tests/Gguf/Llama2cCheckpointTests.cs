using Augur.Model;
using Augur.Conversion;
using System.Runtime.InteropServices;
using Augur.Gguf;
using Augur.Tests.Support;

namespace Augur.Tests.Gguf;

/// <summary>The llama2.c checkpoint reader against the format as ../shared/models/README.md describes it.</summary>
public sealed unsafe class Llama2cCheckpointTests : IDisposable
{
    readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    /// <summary>A synthetic checkpoint whose float k is k itself, so every tensor's position in the file is visible.</summary>
    static byte[] Synthetic(int dim, int hidden, int layers, int heads, int kvHeads, int vocab, int seqLen, out int floats)
    {
        int kvDim = dim * kvHeads / heads, headSize = dim / heads, v = Math.Abs(vocab);
        floats = v * dim + layers * (dim + dim * dim + 2 * kvDim * dim + dim * dim + dim + 3 * hidden * dim) + dim
                 + 2 * seqLen * (headSize / 2) + (vocab < 0 ? v * dim : 0);
        var bytes = new byte[28 + 4 * floats];
        new[] { dim, hidden, layers, heads, kvHeads, vocab, seqLen }.CopyTo(MemoryMarshal.Cast<byte, int>(bytes.AsSpan(0, 28)));
        var f = MemoryMarshal.Cast<byte, float>(bytes.AsSpan(28));
        for (int i = 0; i < floats; i++) f[i] = i;
        return bytes;
    }

    static float[] Floats(nint data, long[] shape) =>
        new ReadOnlySpan<float>((void*)data, (int)shape.Aggregate(1L, (a, b) => a * b)).ToArray();

    static float[] Range(long start, long count) => Enumerable.Range(0, (int)count).Select(i => (float)(start + i)).ToArray();

    [Theory]
    [InlineData(10)]   // classifier shared with the embedding
    [InlineData(-10)]  // negative vocab_size: a separate wcls follows the RoPE tables
    public void Tensors_are_read_from_the_documented_offsets_with_GGUF_names_and_shapes(int vocab)
    {
        const int dim = 8, hidden = 12, layers = 2, heads = 4, kvHeads = 2, seqLen = 3;
        string path = _dir.Write($"synthetic{vocab}.bin", Synthetic(dim, hidden, layers, heads, kvHeads, vocab, seqLen, out _));
        using var ckpt = Llama2cCheckpoint.Open(path);
        Assert.Equal(vocab > 0, ckpt.SharedClassifier);
        var c = ckpt.Config;
        Assert.Equal((dim, hidden, layers, heads, kvHeads, 10, seqLen), (c.Dim, c.HiddenDim, c.Layers, c.Heads, c.KvHeads, c.VocabSize, c.ContextLength));

        // Offsets (in floats) straight from the layout table: each array follows the previous one.
        const int kvDim = dim * kvHeads / heads;
        long at = 0;
        long Next(long n) { long s = at; at += n; return s; }
        long emb = Next(10 * dim), rmsAtt = Next(layers * dim), wq = Next(layers * dim * dim), wk = Next(layers * kvDim * dim),
             wv = Next(layers * kvDim * dim), wo = Next(layers * dim * dim), rmsFfn = Next(layers * dim), w1 = Next(layers * hidden * dim),
             w2 = Next(layers * dim * hidden), w3 = Next(layers * hidden * dim), rmsFinal = Next(dim);
        Next(2 * seqLen * (dim / heads / 2)); // freq_cis_real, freq_cis_imag
        long wcls = vocab > 0 ? emb : Next(10 * dim);

        var expected = new List<(string, long[], long)> { (TensorNames.TokenEmbedding, [dim, 10], emb) };
        for (int l = 0; l < layers; l++)
        {
            expected.Add((TensorNames.AttnNorm(l), [dim], rmsAtt + l * dim));
            expected.Add((TensorNames.Wq(l), [dim, dim], wq + l * dim * dim));
            expected.Add((TensorNames.Wk(l), [dim, kvDim], wk + l * kvDim * dim));
            expected.Add((TensorNames.Wv(l), [dim, kvDim], wv + l * kvDim * dim));
            expected.Add((TensorNames.Wo(l), [dim, dim], wo + l * dim * dim));
            expected.Add((TensorNames.FfnNorm(l), [dim], rmsFfn + l * dim));
            expected.Add((TensorNames.Gate(l), [dim, hidden], w1 + l * hidden * dim));
            expected.Add((TensorNames.Down(l), [hidden, dim], w2 + l * dim * hidden));
            expected.Add((TensorNames.Up(l), [dim, hidden], w3 + l * hidden * dim));
        }
        expected.Add((TensorNames.OutputNorm, [dim], rmsFinal));
        expected.Add((TensorNames.Output, [dim, 10], wcls));

        Assert.Equal(expected.Select(e => e.Item1), ckpt.Tensors.Select(t => t.Name));
        foreach (var ((name, shape, start), t) in expected.Zip(ckpt.Tensors))
        {
            Assert.Equal(shape, t.Shape);
            Assert.True(Range(start, shape.Aggregate(1L, (a, b) => a * b)).SequenceEqual(Floats(t.Data, t.Shape)), $"{name} does not hold floats from {start}");
        }
    }

    [Fact]
    public void A_missing_file_raises_AssetNotFoundException()
    {
        string path = _dir.File("none.bin");
        var e = Assert.Throws<AssetNotFoundException>(() => Llama2cCheckpoint.Open(path));
        Assert.Contains(path, e.Message);
    }

    void AssertRejected(byte[] bytes, params string[] fragments)
    {
        string path = _dir.Write($"bad{Guid.NewGuid():N}.bin", bytes);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<ModelFormatException>(() => Llama2cCheckpoint.Open(path).Dispose());
        Assert.True(GC.GetAllocatedBytesForCurrentThread() - before < 1 << 20, "rejecting the file allocated more than 1 MB");
        Assert.Contains(path, e.Message);
        foreach (var f in fragments) Assert.Contains(f, e.Message);
    }

    [Theory]
    [InlineData(0)]
    [InlineData(20)]
    public void A_file_shorter_than_the_header_is_rejected(int length) =>
        AssertRejected(File.ReadAllBytes(Reference.Stories260KBin)[..length], "too short");

    [Theory]
    [InlineData(28)]        // header only
    [InlineData(500_000)]   // inside the weights
    [InlineData(1_056_536)] // one float short
    public void A_truncated_checkpoint_is_rejected_with_the_size_its_header_implies(int length) =>
        AssertRejected(File.ReadAllBytes(Reference.Stories260KBin)[..length], $"file is {length} bytes", "implies 1056540");

    [Fact]
    public void Extra_bytes_after_the_checkpoint_are_rejected() =>
        AssertRejected([.. File.ReadAllBytes(Reference.Stories260KBin), 0, 0, 0, 0], "implies 1056540");

    [Theory]
    [InlineData(0, 80)]   // dim 64 → 80: more floats than the file has
    [InlineData(2, 6)]    // 5 layers → 6
    [InlineData(5, -512)] // claims a separate classifier the file does not hold
    public void A_header_that_implies_a_different_size_is_rejected(int field, int value)
    {
        var bytes = File.ReadAllBytes(Reference.Stories260KBin);
        BitConverter.TryWriteBytes(bytes.AsSpan(field * 4), value);
        AssertRejected(bytes, "file is 1056540 bytes", "implies");
    }

    [Theory]
    [InlineData(3, 0, "head count 0")]
    [InlineData(4, 3, "key/value head count 3")]
    [InlineData(0, -64, "embedding length -64")]
    [InlineData(6, int.MaxValue, "context length")]
    public void A_header_with_impossible_values_is_rejected_naming_the_field(int field, int value, string fragment)
    {
        var bytes = File.ReadAllBytes(Reference.Stories260KBin);
        BitConverter.TryWriteBytes(bytes.AsSpan(field * 4), value);
        AssertRejected(bytes, fragment);
    }
}
