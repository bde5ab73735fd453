using Augur.Gguf;
using Augur.Tensors;
using Augur.Tokenizers;

namespace Augur.Model;

/// <summary>A model file opened for use: the transformer and its tokenizer.</summary>
public sealed class LoadedModel(string path, LlamaModel model, ITokenizer tokenizer) : IDisposable
{
    public string Path { get; } = path;
    public LlamaModel Model { get; } = model;
    public ITokenizer Tokenizer { get; } = tokenizer;
    public ModelConfig Config => Model.Config;

    /// <summary>
    /// Opens a GGUF file (tokenizer from its metadata unless <paramref name="tokenizerPath"/> is given) or a
    /// llama2.c checkpoint (which needs <paramref name="tokenizerPath"/>: a SentencePiece .model or tokenizer.bin).
    /// </summary>
    public static LoadedModel Open(string path, string? tokenizerPath = null, WorkerPool? pool = null, int maxBatch = 512)
    {
        if (!File.Exists(path)) throw new AssetNotFoundException(path, "model file");
        if (tokenizerPath is not null && !File.Exists(tokenizerPath)) throw new AssetNotFoundException(tokenizerPath, "tokenizer file");
        if (IsGguf(path))
        {
            var file = GgufFile.Open(path);
            try
            {
                var config = ModelLoader.ReadConfig(file);
                var vocab = tokenizerPath is null ? Vocabulary.FromGguf(file) : Vocabulary.FromFile(tokenizerPath, config.VocabSize);
                CheckVocabulary(path, vocab, config);
                var weights = ModelLoader.LoadWeights(file, config);
                return new LoadedModel(path, new LlamaModel(config, weights, pool, maxBatch), TokenizerFactory.Create(vocab));
            }
            catch
            {
                file.Dispose();
                throw;
            }
        }
        if (tokenizerPath is null)
            throw new ModelFormatException($"{path}: not a GGUF file; a llama2.c checkpoint needs its tokenizer (--tokenizer PATH)");
        var ckpt = Llama2cCheckpoint.Open(path);
        try
        {
            var vocab = Vocabulary.FromFile(tokenizerPath, ckpt.Config.VocabSize);
            CheckVocabulary(tokenizerPath, vocab, ckpt.Config);
            var weights = ModelLoader.LoadWeights(ckpt);
            return new LoadedModel(path, new LlamaModel(ckpt.Config, weights, pool, maxBatch), TokenizerFactory.Create(vocab));
        }
        catch
        {
            ckpt.Dispose();
            throw;
        }
    }

    static bool IsGguf(string path)
    {
        Span<byte> magic = stackalloc byte[4];
        using var fs = File.OpenRead(path);
        return fs.Read(magic) == 4 && BitConverter.ToUInt32(magic) == GgufFile.Magic;
    }

    static void CheckVocabulary(string source, Vocabulary vocab, ModelConfig config)
    {
        if (vocab.Count != config.VocabSize)
            throw new ModelFormatException($"{source}: the tokenizer has {vocab.Count} tokens but the model's vocabulary is {config.VocabSize}");
    }

    public void Dispose()
    {
        Model.Dispose();
        Model.Weights.Dispose();
    }
}
