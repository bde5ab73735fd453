using Augur.Conversion;
using Augur.Tensors;
using Augur.Gguf;
using Augur.Model;
using Augur.Tokenizers;

namespace Augur.PeerTests;

/// <summary>The synthetic GGUF files: llama.cpp reads the shape they declare, and the seed alone decides their bytes.</summary>
public class SyntheticModelTests
{
    [Fact]
    public void Llama_cpp_reads_the_shape_and_vocabulary_written()
    {
        string path = PeerFiles.PathOf(PeerFiles.SyntheticGqa);
        using var peer = LLama.LLamaWeights.LoadFromFile(new LLama.Common.ModelParams(path) { GpuLayerCount = 0 });
        var shape = PeerFiles.GqaShape;
        Assert.Equal(shape.Dim, peer.NativeHandle.EmbeddingSize);
        Assert.Equal(shape.Layers, peer.NativeHandle.LayerCount);
        Assert.Equal(shape.Heads, peer.NativeHandle.HeadCount);
        Assert.Equal(shape.KvHeads, peer.NativeHandle.KVHeadCount);
        Assert.Equal(32000, peer.Vocab.Count);
        using var gguf = GgufFile.Open(path);
        var config = ModelLoader.ReadConfig(gguf);
        Assert.Equal(SyntheticModel.Parameters(config), (long)peer.NativeHandle.ParameterCount);
    }

    [Fact]
    public void The_seed_decides_every_byte_and_weights_are_small_normals()
    {
        var vocab = Vocabulary.FromFile(Tests.Support.Reference.Tok512Model);
        var config = SyntheticModel.Config(new SyntheticModel.Shape(64, 2, 4, 2, 128), vocab.Count, 256);
        string dir = Directory.CreateTempSubdirectory("augur-synth-").FullName;
        try
        {
            string a = Path.Combine(dir, "a.gguf"), b = Path.Combine(dir, "b.gguf"), c = Path.Combine(dir, "c.gguf");
            long reported = 0;
            SyntheticModel.Write(a, config, vocab, seed: 5, progress: written => reported = written);
            SyntheticModel.Write(b, config, vocab, seed: 5);
            SyntheticModel.Write(c, config, vocab, seed: 6);
            Assert.Equal(File.ReadAllBytes(a), File.ReadAllBytes(b));
            Assert.NotEqual(File.ReadAllBytes(a), File.ReadAllBytes(c));
            Assert.Equal(SyntheticModel.TensorBytes(config, GgmlType.F32), reported);

            using var gguf = GgufFile.Open(a);
            var up = gguf.GetTensor(TensorNames.Up(1));
            var values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(gguf.TensorBytes(up));
            double mean = 0, square = 0;
            foreach (float v in values) { mean += v; square += (double)v * v; }
            mean /= values.Length;
            double std = Math.Sqrt(square / values.Length - mean * mean);
            Assert.InRange(mean, -0.002, 0.002);
            Assert.InRange(std, 0.019, 0.021);
            Assert.All(System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(gguf.TensorBytes(gguf.GetTensor(TensorNames.OutputNorm))).ToArray(), v => Assert.Equal(1f, v));
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
