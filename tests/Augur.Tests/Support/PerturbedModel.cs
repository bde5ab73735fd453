using Augur.Gguf;
using Augur.Tensors;

namespace Augur.Tests.Support;

/// <summary>
/// A copy of an F32 GGUF with Gaussian noise added to every matrix: the same vocabulary and shape, but a model that
/// disagrees with the original now and then — a draft model whose proposals get rejected, so that speculative
/// decoding's rejection and recovery paths run.
/// </summary>
public static class PerturbedModel
{
    /// <summary>
    /// Writes <paramref name="source"/> to <paramref name="path"/> with each 2-D F32 tensor's values moved by
    /// N(0, (<paramref name="relativeNoise"/> · the tensor's RMS)²). Norm vectors stay as they are.
    /// </summary>
    public static string Write(string source, string path, double relativeNoise, int seed)
    {
        File.Copy(source, path, overwrite: true);
        List<(long Offset, int Count)> matrices;
        using (var file = GgufFile.Open(source))
            matrices = [.. file.Tensors.Where(t => t.Type == GgmlType.F32 && t.Shape.Length == 2)
                .Select(t => (file.DataOffset + (long)t.Offset, checked((int)t.ElementCount)))];
        var rng = TestSeed.Random(seed);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        foreach (var (offset, count) in matrices)
        {
            var bytes = new byte[count * sizeof(float)];
            stream.Position = offset;
            stream.ReadExactly(bytes);
            var values = System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(bytes.AsSpan());
            double sumSquares = 0;
            foreach (float v in values) sumSquares += (double)v * v;
            double sigma = relativeNoise * Math.Sqrt(sumSquares / count);
            for (int i = 0; i < values.Length; i++)
                values[i] += (float)(sigma * Math.Sqrt(-2 * Math.Log(1 - rng.NextDouble())) * Math.Cos(2 * Math.PI * rng.NextDouble()));
            stream.Position = offset;
            stream.Write(bytes);
        }
        return path;
    }
}
