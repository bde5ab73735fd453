using Augur.Gguf;
using Augur.Tensors;
using Augur.Model;
using Augur.Tokenizers;

namespace Augur.Conversion;

/// <summary>Writes a llama2.c checkpoint and its vocabulary as a GGUF file llama.cpp loads (canonical names, F32).</summary>
public static unsafe class Llama2cConverter
{
    public static void Convert(Llama2cCheckpoint ckpt, Vocabulary vocab, string outPath, string? name = null)
    {
        var c = ckpt.Config;
        if (vocab.Count != c.VocabSize)
            throw new ModelFormatException($"the tokenizer has {vocab.Count} tokens but {ckpt.Path} has a vocabulary of {c.VocabSize}");
        var w = new GgufWriter();
        ModelMetadata.Write(w, c, name ?? System.IO.Path.GetFileNameWithoutExtension(ckpt.Path), fileType: 0);
        vocab.WriteTo(w);
        foreach (var (tensorName, shape, data) in ckpt.Tensors)
        {
            long bytes = shape.Aggregate(4L, (a, b) => a * b);
            w.AddTensor(tensorName, GgmlType.F32, shape, s => s.Write(new ReadOnlySpan<byte>((byte*)data, checked((int)bytes))));
        }
        w.Write(outPath);
    }
}
