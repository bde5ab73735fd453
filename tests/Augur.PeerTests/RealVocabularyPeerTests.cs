using Augur.Conversion;
using Augur.Model;
using Augur.Tensors;
using Augur.Tests.Support;
using Xunit.Abstractions;

namespace Augur.PeerTests;

/// <summary>
/// The families with their real vocabularies (Llama 3's 128k and Llama 2's 32k SentencePiece for <c>llama</c>,
/// Qwen 3's 151k for <c>qwen3</c>, Gemma 3's 262k for <c>gemma3</c>) against llama.cpp: both engines tokenize the
/// eight prompts alike, greedy continuations of 64 tokens are the same, and every step's logits agree — as written
/// (F32) and after Augur's quantizer (Q8_0, Q4_K_M). The model is tiny (dim 64, 1–2 layers) because a large
/// vocabulary costs the classifier matmul, and the files are written once per class (<see cref="Files"/>), each
/// loaded once per engine for all its checks. <see cref="FamilyPeerTests"/> covers each family's forward pass at
/// widths where every K-quant applies; at width 64 Q4_K_M falls back to 32-value types as llama.cpp's rules say.
/// </summary>
public sealed class RealVocabularyPeerTests(RealVocabularyPeerTests.Files files, ITestOutputHelper output) : IClassFixture<RealVocabularyPeerTests.Files>
{
    static readonly Dictionary<string, (string Architecture, Func<string> Vocabulary, SyntheticModel.Shape Shape)> Cases = new()
    {
        ["llama/llama3"] = ("llama", () => Path.Combine(SharedAssets.Root, "tokenizers", "llama3"), new(64, 1, 4, 2, 128, RopeFactors: true)),
        ["llama/llama2-spm"] = ("llama", () => SharedAssets.Model("llama2-tokenizer.model"), new(64, 1, 4, 2, 128)),
        ["qwen3/qwen3"] = ("qwen3", () => Path.Combine(SharedAssets.Root, "tokenizers", "qwen3"), new(64, 1, 4, 2, 128, HeadDim: 32)),
        ["gemma3/gemma3"] = ("gemma3", () => Path.Combine(SharedAssets.Root, "tokenizers", "gemma3"), new(64, 2, 4, 2, 128, HeadDim: 32, SlidingWindow: 16)),
    };

    /// <summary>The files, written on first use and deleted with the fixture.</summary>
    public sealed class Files : IDisposable
    {
        readonly string _folder = Directory.CreateTempSubdirectory("augur-real-vocab-").FullName;
        readonly Dictionary<(string, LlamaFileType?), string> _paths = [];

        public string PathOf(string name, LlamaFileType? type)
        {
            if (_paths.TryGetValue((name, type), out var path)) return path;
            path = Path.Combine(_folder, $"{name.Replace('/', '-')}-{type?.ToString() ?? "F32"}.gguf");
            if (type is { } t) Quantizer.Quantize(PathOf(name, null), path, t, threads: 1);
            else
            {
                var (architecture, vocabulary, shape) = Cases[name];
                var vocab = SyntheticModel.ReadVocabulary(vocabulary()).Vocabulary;
                SyntheticModel.Write(path, SyntheticModel.Config(shape, vocab.Count, contextLength: 512, architecture), vocab, seed: 5, ropeFactors: shape.RopeFactors);
            }
            return _paths[(name, type)] = path;
        }

        public void Dispose() => Directory.Delete(_folder, recursive: true);
    }

    public static IEnumerable<object[]> All =>
        Cases.Keys.SelectMany(c => new[] { "F32", "Q8_0", "Q4_K_M" }.Select(t => new object[] { c, t }));

    const int Steps = 64;

    /// <summary>
    /// Bounds, as in <see cref="FamilyPeerTests.Logits_agree_with_llama_cpp"/>: F32 differs only in summation order,
    /// 1e-5 of the largest |logit| (Gemma's half-precision GELU table, 1e-3); quantized files may differ by an 8-bit
    /// activation code step, 2%. F32 continuations must be identical token for token; on quantized files both
    /// engines follow llama.cpp's greedy tokens and Augur's choice must equal llama.cpp's wherever llama.cpp's top
    /// logit leads its runner-up by more than twice the bound (a closer call tests the tie, not the engines).
    /// </summary>
    [Theory]
    [MemberData(nameof(All))]
    public void Tokens_logits_and_greedy_continuations_agree_with_llama_cpp(string name, string type)
    {
        bool quantized = type != "F32";
        float bound = quantized ? 2e-2f : Cases[name].Architecture == "gemma3" ? 1e-3f : 1e-5f;
        string path = files.PathOf(name, quantized ? Enum.Parse<LlamaFileType>(type) : null);
        using var augur = LoadedModel.Open(path, pool: new WorkerPool(1));
        using var peer = LlamaCpp.Model(path);
        var texts = Reference.Cases.Select(c => c.Prompt).Where(p => p.Length > 0).Distinct().Take(8).ToArray();
        Assert.Equal(8, texts.Length);
        float worst = 0;
        int decided = 0;
        foreach (string text in texts)
        {
            int[] prompt = augur.Tokenizer.Encode(text);
            Assert.Equal(peer.Tokenize(text), prompt);
            peer.Clear();
            var cache = augur.Model.CreateCache(prompt.Length + Steps);
            var theirs = peer.Logits(prompt)[^1];
            var ours = AugurRuns.Logits(augur.Model, cache, prompt, 0)[^1];
            var peerIds = new int[Steps];
            var augurIds = new int[Steps];
            for (int i = 0; i < Steps; i++)
            {
                float largest = theirs.Max(Math.Abs);
                float delta = theirs.Select((v, id) => Math.Abs(ours[id] - v)).Max();
                worst = Math.Max(worst, delta / largest);
                Assert.True(delta <= bound * largest, $"{name} {type} '{text}' step {i}: max |Δlogit| {delta} > {bound * largest}");
                peerIds[i] = LlamaCpp.ArgMax(theirs);
                augurIds[i] = LlamaCpp.ArgMax(ours);
                float runnerUp = theirs.Where((_, id) => id != peerIds[i]).Max();
                if (theirs[peerIds[i]] - runnerUp > 2 * bound * largest) decided++;
                if (quantized && theirs[peerIds[i]] - runnerUp > 2 * bound * largest) Assert.Equal(peerIds[i], augurIds[i]);
                // F32 runs free in both engines; quantized, both follow llama.cpp's choice.
                int next = peerIds[i];
                if (!quantized && augurIds[i] != next) break;
                theirs = peer.Logits([next], prompt.Length + i)[0];
                ours = AugurRuns.Logits(augur.Model, cache, [next], prompt.Length + i)[0];
            }
            if (!quantized) Assert.Equal(peerIds, augurIds);
        }
        output.WriteLine($"{name} {type}: vocabulary {augur.Tokenizer.Vocabulary.Count}, worst |Δ| {worst:E2} of the largest |logit|, {decided} of {8 * Steps} steps decided beyond the bound");
        Assert.True(decided > 0, "no step was decided beyond the bound: the comparison of choices tested nothing");
    }
}
