using Augur.Conversion;
using Augur.Model;
using Augur.Tokenizers;

namespace Augur.Tests.Support;

/// <summary>Small synthetic models on tok512's vocabulary (the reference prompts' ids fit), written once per test class:
/// a Llama with 32-wide heads and grouped queries (q8_0 cells need heads a multiple of 32), and a Gemma 3 whose
/// layers mostly slide over a 40-token window (longer than a 32-cell block, so windows start inside blocks).</summary>
public sealed class TinyModelFile : IDisposable
{
    readonly TempDirectory _dir = new();

    public string Llama { get; }
    public string Gemma { get; }

    public TinyModelFile()
    {
        var vocab = Vocabulary.FromFile(Reference.Tok512Model);
        Llama = _dir.File("tiny-llama.gguf");
        SyntheticModel.Write(Llama, SyntheticModel.Config(new SyntheticModel.Shape(64, 2, 4, 2, 128, HeadDim: 32), vocab.Count, 2048), vocab, seed: 11);
        Gemma = _dir.File("tiny-gemma.gguf");
        SyntheticModel.Write(Gemma, SyntheticModel.Config(new SyntheticModel.Shape(64, 3, 2, 1, 128, HeadDim: 32, SlidingWindow: 40), vocab.Count, 2048, "gemma3"), vocab, seed: 12);
    }

    public static LoadedModel Open(string path) => LoadedModel.Open(path);

    public void Dispose() => _dir.Dispose();
}
