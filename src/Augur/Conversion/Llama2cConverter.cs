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
        WriteConfig(w, c, name ?? System.IO.Path.GetFileNameWithoutExtension(ckpt.Path), fileType: 0);
        vocab.WriteTo(w);
        foreach (var (tensorName, shape, data) in ckpt.Tensors)
        {
            long bytes = shape.Aggregate(4L, (a, b) => a * b);
            w.AddTensor(tensorName, GgmlType.F32, shape, s => s.Write(new ReadOnlySpan<byte>((byte*)data, checked((int)bytes))));
        }
        w.Write(outPath);
    }

    /// <summary>The <c>general.*</c> and <c>llama.*</c> keys llama.cpp reads for a llama model.</summary>
    public static void WriteConfig(GgufWriter w, ModelConfig c, string name, uint fileType)
    {
        w.Set("general.architecture", GgufValue.Of("llama"));
        w.Set("general.name", GgufValue.Of(name));
        w.Set("general.file_type", GgufValue.Of(fileType));
        w.Set("llama.context_length", GgufValue.Of((uint)c.ContextLength));
        w.Set("llama.embedding_length", GgufValue.Of((uint)c.Dim));
        w.Set("llama.block_count", GgufValue.Of((uint)c.Layers));
        w.Set("llama.feed_forward_length", GgufValue.Of((uint)c.HiddenDim));
        w.Set("llama.attention.head_count", GgufValue.Of((uint)c.Heads));
        w.Set("llama.attention.head_count_kv", GgufValue.Of((uint)c.KvHeads));
        w.Set("llama.rope.dimension_count", GgufValue.Of((uint)c.RopeDim));
        w.Set("llama.attention.layer_norm_rms_epsilon", GgufValue.Of(c.NormEps));
        w.Set("llama.rope.freq_base", GgufValue.Of(c.RopeBase));
    }
}
