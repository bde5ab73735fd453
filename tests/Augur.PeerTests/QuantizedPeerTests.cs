using Augur.Conversion;
using Augur.Cache;
using Augur.Gguf;
using Augur.Model;
using Augur.Tensors;
using Augur.Tensors.Reference;
using Augur.Tests.Support;
using LLama;
using LLama.Native;
using Xunit.Abstractions;

namespace Augur.PeerTests;

/// <summary>
/// Quantized GGUF files between the two engines: files llama.cpp's quantizer writes run in Augur as they run in
/// llama.cpp, and Augur's <see cref="Quantizer"/> writes the same files llama.cpp's does.
/// </summary>
public class QuantizedPeerTests(ITestOutputHelper output)
{
    /// <summary>Widths that are multiples of 256 so every K-quant applies; GQA; 2 layers, so the _M mixes give
    /// layer 1's attn_v and ffn_down more bits (use_more_bits(1, 2)) and layer 0's not.</summary>
    static readonly SyntheticModel.Shape Shape = new(Dim: 256, Layers: 2, Heads: 4, KvHeads: 2, HiddenDim: 512);

    static readonly string Folder = Directory.CreateTempSubdirectory("augur-quant-").FullName;

    static QuantizedPeerTests()
    {
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Directory.Delete(Folder, recursive: true);
        NativeApi.llama_empty_call(); // loads the native library, as LLamaQuantizer needs
    }

    /// <summary>The F32 source: random N(0, 0.02) weights, tok512's vocabulary, the embedding tied to the output.</summary>
    static readonly Lazy<string> Source = new(() =>
    {
        string path = Path.Combine(Folder, "synthetic-f32.gguf");
        var vocab = SyntheticModel.ReadVocabulary(Reference.Tok512Model).Vocabulary;
        SyntheticModel.Write(path, SyntheticModel.Config(Shape, vocab.Count, contextLength: 512), vocab, seed: 11);
        return path;
    });

    /// <summary>The same weights stored as F16: what <c>augur synth --type f16</c> writes for the benchmarks.</summary>
    static readonly Lazy<string> SourceF16 = new(() =>
    {
        string path = Path.Combine(Folder, "synthetic-f16.gguf");
        var vocab = SyntheticModel.ReadVocabulary(Reference.Tok512Model).Vocabulary;
        SyntheticModel.Write(path, SyntheticModel.Config(Shape, vocab.Count, contextLength: 512), vocab, GgmlType.F16, seed: 11);
        return path;
    });

    /// <summary>A source by name: f32, f16, or q8_0 (llama.cpp's Q8_0 file, to requantize).</summary>
    static string SourceFile(string name) => name switch
    {
        "f32" => Source.Value,
        "f16" => SourceF16.Value,
        "q8_0" => QuantizedByLlamaCpp(Source.Value, LlamaFileType.Q8_0),
        _ => throw new ArgumentException(name),
    };

    static readonly Dictionary<(string, LlamaFileType), string> ByLlamaCpp = [];
    static readonly Dictionary<(string, LlamaFileType), string> ByAugur = [];

    static string QuantizedByLlamaCpp(string source, LlamaFileType type)
    {
        if (!ByLlamaCpp.TryGetValue((source, type), out var path))
        {
            path = Path.Combine(Folder, $"{Path.GetFileNameWithoutExtension(source)}-{type}-llama.cpp.gguf");
            Assert.True(LLamaQuantizer.Quantize(source, path, (LLamaFtype)type, nthread: 2, allowRequantize: true, quantizeOutputTensor: true),
                $"llama.cpp could not quantize {source} to {type}");
            ByLlamaCpp[(source, type)] = path;
        }
        return path;
    }

    static string QuantizedByAugur(string source, LlamaFileType type)
    {
        if (!ByAugur.TryGetValue((source, type), out var path))
        {
            path = Path.Combine(Folder, $"{Path.GetFileNameWithoutExtension(source)}-{type}-augur.gguf");
            Quantizer.Quantize(source, path, type, threads: 2);
            ByAugur[(source, type)] = path;
        }
        return path;
    }

    /// <summary>The mixes whose main type is each of Augur's quantized weight formats.</summary>
    public static IEnumerable<object[]> Formats =>
        new[] { LlamaFileType.Q8_0, LlamaFileType.Q4_0, LlamaFileType.Q4_1, LlamaFileType.Q5_0, LlamaFileType.Q5_1, LlamaFileType.Q4_K_M, LlamaFileType.Q5_K_M, LlamaFileType.Q6_K }
            .Select(t => new object[] { t });

    /// <summary>Every file type from F32; from F16 and from Q8_0 (dequantized first) the benchmarks' types and two more.</summary>
    public static IEnumerable<object[]> QuantizerCases =>
        Enum.GetValues<LlamaFileType>().Select(t => new object[] { "f32", t })
            .Concat([["f16", LlamaFileType.Q8_0], ["f16", LlamaFileType.Q4_0], ["f16", LlamaFileType.Q4_K_M], ["q8_0", LlamaFileType.Q4_0], ["q8_0", LlamaFileType.Q5_K_M]]);

    /// <summary>
    /// Every quantized tensor of llama.cpp's file, row by row: what Augur's format dequantizes is bit for bit what the
    /// scalar oracle (written from ggml's definitions, sharing no code with the formats) reads — so Augur reads
    /// llama.cpp's block layout, not only its own.
    /// </summary>
    [Theory]
    [MemberData(nameof(Formats))]
    public unsafe void Augur_reads_llama_cpp_s_blocks_as_the_reference_dequantizer_does(LlamaFileType type)
    {
        using var file = GgufFile.Open(QuantizedByLlamaCpp(Source.Value, type));
        int checkedTensors = 0;
        foreach (var t in file.Tensors.Where(t => t.Type is not (GgmlType.F32 or GgmlType.F16)))
        {
            var format = WeightFormats.TryGet(t.Type)!;
            int n = (int)t.Shape[0];
            long rows = t.ElementCount / n, rowBytes = format.RowBytes(n);
            var augur = new float[n];
            for (long r = 0; r < rows; r++)
            {
                byte* row = file.TensorData(t) + r * rowBytes;
                fixed (float* y = augur) format.DequantizeRow(row, y, n);
                var reference = ScalarQuantKernels.Dequantize(t.Type, new ReadOnlySpan<byte>(row, (int)rowBytes), n);
                for (int i = 0; i < n; i++)
                    if (BitConverter.SingleToInt32Bits(augur[i]) != BitConverter.SingleToInt32Bits(reference[i]))
                        Assert.Fail($"{t.Name} ({t.Type}) row {r} value {i}: Augur {augur[i]:R}, reference {reference[i]:R}");
            }
            checkedTensors++;
        }
        Assert.True(checkedTensors > 0);
    }

    /// <summary>
    /// Logits of Augur and llama.cpp on llama.cpp's quantized file: a 93-token prompt in one batch, then 16 tokens one at
    /// a time, compared position by position against the largest |logit| (~2.3 here).
    ///
    /// The two engines do the same integer arithmetic on the same weights, but an 8-bit activation code can come out one
    /// apart: (1) the rules differ — Augur follows ggml's reference Q8_0/Q8_1 quantizer (scale 1/(amax/127), round half
    /// away from zero), llama.cpp's AVX2 one takes 127/amax and rounds half to even, which splits values on or within an
    /// ulp of a half-integer, and dequantized weights make those common (a block of a normed Q4_0 embedding row scales to
    /// multiples of 127/8); (2) F32 sums in another order leave activations an ulp apart, and one near a rounding
    /// boundary lands on the other side (this hits Q8_K, whose rule both engines share). A flipped code that reaches a key
    /// or value stays in the cache, so from the first flip on every later position differs. Measured on this model:
    /// before the first flip the engines agree to 1e-7 (positions 0-3 at least, for every format); after it by up to
    /// 0.93% of the largest |logit| (one activation step, 1/127 of a block's range, is 0.8%); Q8_0, whose codes rarely
    /// sit on a boundary, differs at one position only. Hence two bounds: position 0 within 1e-5 of the largest |logit|
    /// (the kernels compute the same function), every position within 2% (a step, with headroom). A wrong block layout
    /// or kernel moves logits by tens of percent; the layout is also checked bit for bit above.
    /// </summary>
    [Theory]
    [MemberData(nameof(Formats))]
    public void Logits_agree_with_llama_cpp_on_llama_cpp_s_quantized_file(LlamaFileType type)
    {
        const float ExactBound = 1e-5f, FlipBound = 2e-2f;
        string path = QuantizedByLlamaCpp(Source.Value, type);
        using var augur = LoadedModel.Open(path, pool: new WorkerPool(1));
        using var peer = LlamaCpp.Model(path);
        var prompt = augur.Tokenizer.Encode(Reference.Get("long_202_chars").Prompt);
        Assert.Equal(peer.Tokenize(Reference.Get("long_202_chars").Prompt), prompt);

        var cache = augur.Model.CreateCache(512);
        var peerRows = peer.Logits(prompt).ToList();
        var augurRows = AugurRuns.Logits(augur.Model, cache, prompt, 0).ToList();
        for (int step = 0, position = prompt.Length; step < 16; step++, position++)
        {
            int next = LlamaCpp.ArgMax(peerRows[^1]);
            peerRows.Add(peer.Logits([next], position)[0]);
            augurRows.AddRange(AugurRuns.Logits(augur.Model, cache, [next], position));
        }

        float largest = peerRows.Max(r => r.Max(Math.Abs));
        var worstByPosition = peerRows.Select((r, p) => r.Select((v, i) => Math.Abs(augurRows[p][i] - v)).Max()).ToArray();
        float worst = worstByPosition.Max();
        int worstAt = Array.IndexOf(worstByPosition, worst);
        int exact = worstByPosition.TakeWhile(d => d <= ExactBound * largest).Count();
        output.WriteLine($"{type}: {peerRows.Count} positions, largest |logit| {largest:F3}; first {exact} within {ExactBound:E0} of it; " +
                         $"max |Δlogit| = {worst:E2} ({worst / largest:P2}) at position {worstAt}");
        Assert.True(worstByPosition[0] <= ExactBound * largest, $"{type}: position 0 differs by {worstByPosition[0]} (bound {ExactBound * largest})");
        Assert.True(worst <= FlipBound * largest, $"{type}: max |Δlogit| = {worst} at position {worstAt} (bound {FlipBound * largest})");
    }

    /// <summary>
    /// Augur's quantizer and llama.cpp's, on the same input: the same type for every tensor (the mix rules), the same
    /// bytes for every tensor (the reference quantizers; llama.cpp splits rows across threads, but each row is quantized
    /// alone, and without an importance matrix its quantize_* functions call the reference ones) and so the same file,
    /// metadata and layout included.
    /// </summary>
    [Theory]
    [MemberData(nameof(QuantizerCases))]
    public void Augur_s_quantizer_writes_llama_cpp_s_file_byte_for_byte(string source, LlamaFileType type)
    {
        string input = SourceFile(source);
        string ours = QuantizedByAugur(input, type), theirs = QuantizedByLlamaCpp(input, type);
        using (var a = GgufFile.Open(ours))
        using (var b = GgufFile.Open(theirs))
        {
            Assert.Equal(b.Tensors.Select(t => (t.Name, t.Type)), a.Tensors.Select(t => (t.Name, t.Type)));
            foreach (var t in b.Tensors)
                Assert.True(a.TensorBytes(a.GetTensor(t.Name)).SequenceEqual(b.TensorBytes(t)), $"{type}: tensor {t.Name} ({t.Type}) differs");
            Assert.Equal(b.MetadataKeys, a.MetadataKeys);
            Assert.Equal((uint)type, b.Find("general.file_type")!.Value);
        }
        Assert.Equal(File.ReadAllBytes(theirs), File.ReadAllBytes(ours));
    }

    /// <summary>
    /// Augur's quantizer → llama.cpp loads the file and its greedy continuation equals Augur's on the same file. K-quants
    /// and the 32-value types on the synthetic model; stories260K only as F16: its feed-forward width, 172, is no
    /// multiple of 32, so llama.cpp (and Augur, which follows it) refuses every quantized type for it.
    /// </summary>
    [Theory]
    [InlineData("synthetic", LlamaFileType.Q8_0)]
    [InlineData("synthetic", LlamaFileType.Q4_0)]
    [InlineData("synthetic", LlamaFileType.Q4_K_M)]
    [InlineData("synthetic", LlamaFileType.Q5_K_S)]
    [InlineData("synthetic", LlamaFileType.Q6_K)]
    [InlineData("stories260K", LlamaFileType.F16)]
    public void Llama_cpp_runs_Augur_s_quantized_file_to_the_same_greedy_tokens(string model, LlamaFileType type)
    {
        string source = model == "stories260K" ? Reference.Stories260KGguf : Source.Value;
        string path = QuantizedByAugur(source, type);
        using var augur = LoadedModel.Open(path, pool: new WorkerPool(1));
        using var peer = LlamaCpp.Model(path);
        int[] prompt = augur.Tokenizer.Encode(Reference.Get("once_upon_a_time").Prompt);
        var peerIds = peer.Greedy(prompt, 32);
        var augurIds = AugurRuns.Greedy(augur.Model, prompt, 32);
        output.WriteLine($"{model} {type}: {string.Join(' ', augurIds)}");
        Assert.Equal(peerIds, augurIds);
    }

    [Theory]
    [InlineData(LlamaFileType.Q8_0)]
    [InlineData(LlamaFileType.Q4_0)]
    public void Stories260K_cannot_be_quantized_to_32_value_blocks_by_either(LlamaFileType type)
    {
        string path = Path.Combine(Folder, $"stories260K-{type}-refused.gguf");
        Assert.False(LLamaQuantizer.Quantize(Reference.Stories260KGguf, path, (LLamaFtype)type, nthread: 2, allowRequantize: true, quantizeOutputTensor: true));
        var e = Assert.Throws<ModelFormatException>(() => Quantizer.Quantize(Reference.Stories260KGguf, path, type));
        Assert.Contains("blk.0.ffn_down.weight", e.Message);
        Assert.False(File.Exists(path));
    }
}
