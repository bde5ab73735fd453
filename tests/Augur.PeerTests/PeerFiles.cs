using Augur.Conversion;
using Augur.Model;
using Augur.Tests.Support;
using Augur.Tokenizers;

// One native model at a time: the machine is small and llama.cpp spins its own threads.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Augur.PeerTests;

/// <summary>
/// The GGUF files both engines read: the shared stories260K.gguf, and files written on the fly into a
/// temporary folder (deleted at exit) — a small random model with GQA and the real 32,000-token Llama 2
/// vocabulary, and stories260K converted from the llama2.c checkpoint by Augur's own converter.
/// </summary>
public static class PeerFiles
{
    static readonly string Folder = Directory.CreateTempSubdirectory("augur-peer-").FullName;

    static PeerFiles() => AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(Folder, recursive: true);

    public const string Stories = "stories260K.gguf";
    public const string Converted = "converted stories260K.bin + tok512.model";
    public const string SyntheticGqa = "synthetic GQA, Llama 2 vocab";

    /// <summary>dim 128, 2 layers, 8 query heads sharing 2 key/value heads: small, but every GQA index path is used.</summary>
    public static readonly SyntheticModel.Shape GqaShape = new(Dim: 128, Layers: 2, Heads: 8, KvHeads: 2, HiddenDim: 384);

    static readonly Lazy<string> SyntheticPath = new(() =>
    {
        string path = Path.Combine(Folder, "synthetic-gqa-llama2-vocab.gguf");
        var vocab = SyntheticModel.ReadVocabulary(SharedAssets.Model("llama2-tokenizer.model")).Vocabulary;
        SyntheticModel.Write(path, SyntheticModel.Config(GqaShape, vocab.Count, contextLength: 512), vocab, seed: 7);
        return path;
    });

    static readonly Lazy<string> ConvertedPath = new(() =>
    {
        string path = Path.Combine(Folder, "stories260K-converted.gguf");
        using var ckpt = Llama2cCheckpoint.Open(Reference.Stories260KBin);
        Llama2cConverter.Convert(ckpt, Vocabulary.FromFile(Reference.Tok512Model), path);
        return path;
    });

    public static string PathOf(string name) => name switch
    {
        Stories => Reference.Stories260KGguf,
        Converted => ConvertedPath.Value,
        SyntheticGqa => SyntheticPath.Value,
        _ => throw new ArgumentException(name),
    };

    public static readonly string[] All = [Stories, Converted, SyntheticGqa];
    /// <summary>The files whose model is trained: their greedy continuations mean something.</summary>
    public static readonly string[] Trained = [Stories, Converted];
}
