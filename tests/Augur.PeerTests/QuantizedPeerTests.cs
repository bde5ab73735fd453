using Augur.Conversion;
using Augur.Cache;
using Augur.Gguf;
using Augur.Model;
using Augur.Tensors;
using Augur.Tensors.Reference;
using Augur.Tests.Support;
using Augur.Tests.Tensors.Quantized;
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
    /// a time, compared position by position against the largest |logit| (~2.3 here). Both engines keep the KV cache in
    /// F32 (llama.cpp is given F32 K and V and no flash attention, see <see cref="LlamaCpp.Model"/>).
    ///
    /// The two engines do the same integer arithmetic on the same weights, but an 8-bit activation code can come out one
    /// apart: (1) the rules differ — Augur follows ggml's reference Q8_0/Q8_1 quantizer (scale 1/(amax/127), round half
    /// away from zero), llama.cpp's AVX2 one takes 127/amax and rounds half to even; (2) F32 sums in another order leave
    /// activations an ulp apart, and one near a rounding boundary lands on the other side (this hits Q8_K, whose rule
    /// both engines share). (2) dominates: with Augur switched to llama.cpp's rule the first flip moved only from
    /// position 4 to 8 (Q4_0, Q5_0, Q5_1) and stayed put for the others. Once a code has flipped, its key or value stays
    /// in the cache, so every later activation differs by far more than an ulp and flips more codes: from the first flip
    /// on the engines no longer compute on the same numbers. Measured here (AVX-512), per position, |Δlogit| ÷ largest:
    /// before the first flip at most 4.2e-7 for every type; the first flip at position 3 (Q4_1), 4 (Q4_0, Q5_0, Q5_1),
    /// 16 (Q5_K_M, and Q5_K_S on Augur's file), 22 (Q6_K), 54 (Q4_K_M); Q8_0, whose codes rarely sit on a boundary,
    /// differs at position 76 alone (1.3e-3) and is back to 1e-7 after it; after a flip the others stay at 0.4–0.95% (one activation step, 1/127 of a
    /// block's range, is 0.8%). Hence three bounds. Where the engines compute the same thing — every position before
    /// the first flip, at least the first <see cref="ExactPositions"/> — within 2e-6 of the largest |logit| (5× the
    /// measured 4.2e-7: summation order and F32 exp; the F32 model's parity test allows 5e-6). Q8_0: all but at most
    /// two positions so. Everywhere: within 1.5% (1.6× the measured worst 0.95%, a step with headroom). A wrong block
    /// layout or kernel moves logits by tens of percent at position 0 already; the layout is also checked bit for bit
    /// above. On another CPU llama.cpp sums in another order and the first flip may come earlier: measure before
    /// lowering <see cref="ExactPositions"/>.
    /// </summary>
    [Theory]
    [MemberData(nameof(Formats))]
    public void Logits_agree_with_llama_cpp_on_llama_cpp_s_quantized_file(LlamaFileType type) =>
        AssertLogitsAgree(QuantizedByLlamaCpp(Source.Value, type), type);

    /// <summary>The comparison and bounds described on <see cref="Logits_agree_with_llama_cpp_on_llama_cpp_s_quantized_file"/>.</summary>
    void AssertLogitsAgree(string path, LlamaFileType type)
    {
        const float ExactBound = 2e-6f, FlipBound = 1.5e-2f;
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
        var relative = peerRows.Select((r, p) => r.Select((v, i) => Math.Abs(augurRows[p][i] - v)).Max() / largest).ToArray();
        int exact = relative.TakeWhile(d => d <= ExactBound).Count();
        int flipped = relative.Count(d => d > ExactBound);
        float worst = relative.Max();
        int worstAt = Array.IndexOf(relative, worst);
        output.WriteLine($"{type}: {relative.Length} positions, largest |logit| {largest:F3}; first {exact} within {ExactBound:E0} of it " +
                         $"(worst there {relative.Take(exact).DefaultIfEmpty().Max():E1}), {flipped} beyond; worst {worst:P2} at position {worstAt}");
        Assert.True(exact >= ExactPositions, $"{type}: position {exact} differs by {relative[Math.Min(exact, relative.Length - 1)]:E2} of the largest |logit| (bound {ExactBound:E0} for the first {ExactPositions})");
        if (type == LlamaFileType.Q8_0) Assert.True(flipped <= 2, $"{type}: {flipped} positions beyond {ExactBound:E0} (at most 2)");
        Assert.True(worst <= FlipBound, $"{type}: max |Δlogit| = {worst:P2} of the largest at position {worstAt} (bound {FlipBound:P1})");
    }

    /// <summary>Positions that must agree to <c>ExactBound</c> whatever the type: the earliest first flip measured is at position 3.</summary>
    const int ExactPositions = 3;

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
    /// Augur's quantizer → llama.cpp loads the file and computes the logits Augur computes on it (the bounds of
    /// <see cref="Logits_agree_with_llama_cpp_on_llama_cpp_s_quantized_file"/>), for K-quants and the 32-value types on
    /// the synthetic model. Logits, not greedy tokens: the random model's greedy continuation repeats one token (471,
    /// 32 times, for Q8_0 and the K-quants), so equal tokens said little.
    /// </summary>
    [Theory]
    [InlineData(LlamaFileType.Q8_0)]
    [InlineData(LlamaFileType.Q4_0)]
    [InlineData(LlamaFileType.Q4_K_M)]
    [InlineData(LlamaFileType.Q5_K_S)]
    [InlineData(LlamaFileType.Q6_K)]
    public void Llama_cpp_runs_Augur_s_quantized_file_as_Augur_does(LlamaFileType type) =>
        AssertLogitsAgree(QuantizedByAugur(Source.Value, type), type);

    /// <summary>
    /// stories260K written as F16 by Augur's quantizer: llama.cpp's greedy continuation on it equals Augur's (a trained
    /// model, so the 32 tokens are a real story). Only F16: its feed-forward width, 172, is no multiple of 32, so
    /// llama.cpp (and Augur, which follows it) refuses every quantized type for it.
    /// </summary>
    [Fact]
    public void Llama_cpp_runs_Augur_s_F16_stories260K_to_the_same_greedy_tokens()
    {
        string path = QuantizedByAugur(Reference.Stories260KGguf, LlamaFileType.F16);
        using var augur = LoadedModel.Open(path, pool: new WorkerPool(1));
        using var peer = LlamaCpp.Model(path);
        int[] prompt = augur.Tokenizer.Encode(Reference.Get("once_upon_a_time").Prompt);
        var peerIds = peer.Greedy(prompt, 32);
        var augurIds = AugurRuns.Greedy(augur.Model, prompt, 32);
        output.WriteLine(string.Join(' ', augurIds));
        Assert.True(augurIds.Distinct().Count() > 16, "the continuation is degenerate");
        Assert.Equal(peerIds, augurIds);
    }

    /// <summary>The tensor that holds <see cref="QuantGolden.Input"/> in its first 8 rows: a 256-wide matrix to which
    /// every file type below gives its main type (llama.cpp's mix rules single out ffn_gate only for IQ3_XS).</summary>
    const string GoldenTensor = "blk.0.ffn_gate.weight";

    /// <summary>The F32 source with the golden input written over the first 2,048 values of <see cref="GoldenTensor"/>.</summary>
    static readonly Lazy<string> GoldenSource = new(() =>
    {
        string path = Path.Combine(Folder, "synthetic-f32-golden.gguf");
        File.Copy(Source.Value, path);
        long offset;
        using (var file = GgufFile.Open(path))
        {
            var t = file.GetTensor(GoldenTensor);
            Assert.True(t.Type == GgmlType.F32 && t.Shape[0] == 256 && t.ElementCount >= QuantGolden.Length);
            offset = file.DataOffset + (long)t.Offset;
        }
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Write);
        stream.Position = offset;
        stream.Write(System.Runtime.InteropServices.MemoryMarshal.AsBytes(QuantGolden.Input().AsSpan()));
        return path;
    });

    public static TheoryData<GgmlType, LLamaFtype> GoldenFileTypes => new()
    {
        { GgmlType.Q4_0, LLamaFtype.MOSTLY_Q4_0 }, { GgmlType.Q4_1, LLamaFtype.MOSTLY_Q4_1 }, { GgmlType.Q5_0, LLamaFtype.MOSTLY_Q5_0 },
        { GgmlType.Q5_1, LLamaFtype.MOSTLY_Q5_1 }, { GgmlType.Q8_0, LLamaFtype.MOSTLY_Q8_0 }, { GgmlType.Q2_K, LLamaFtype.MOSTLY_Q2_K },
        { GgmlType.Q3_K, LLamaFtype.MOSTLY_Q3_K_S }, { GgmlType.Q4_K, LLamaFtype.MOSTLY_Q4_K_S }, { GgmlType.Q5_K, LLamaFtype.MOSTLY_Q5_K_S },
        { GgmlType.Q6_K, LLamaFtype.MOSTLY_Q6_K },
    };

    /// <summary>
    /// Where Augur.Tests' golden digests come from, for every type llama.cpp writes to files: llama.cpp quantizes the
    /// golden input (its quantize_* functions call the reference quantizers when there is no importance matrix), and
    /// requantizing that file to F32 dequantizes it with ggml's dequantize_row_* — both digests must be the recorded
    /// ones. (Q8_K and Q8_1, which no file holds, are checked in QuantGoldenTests against a transcription of ggml.)
    /// </summary>
    [Theory]
    [MemberData(nameof(GoldenFileTypes))]
    public void Golden_digests_are_what_llama_cpp_s_quantizer_writes(GgmlType type, LLamaFtype fileType)
    {
        string quantized = Path.Combine(Folder, $"golden-{fileType}.gguf"), dequantized = Path.Combine(Folder, $"golden-{fileType}-f32.gguf");
        Assert.True(LLamaQuantizer.Quantize(GoldenSource.Value, quantized, fileType, nthread: 2, allowRequantize: true, quantizeOutputTensor: true));
        Assert.True(LLamaQuantizer.Quantize(quantized, dequantized, LLamaFtype.ALL_F32, nthread: 2, allowRequantize: true, quantizeOutputTensor: true));
        var (quantizedDigest, dequantizedDigest) = QuantGolden.Digests[type];
        using (var file = GgufFile.Open(quantized))
        {
            var t = file.GetTensor(GoldenTensor);
            Assert.Equal(type, t.Type);
            int bytes = (int)WeightFormats.TryGet(type)!.RowBytes(QuantGolden.Length);
            Assert.Equal(quantizedDigest, QuantGolden.Digest(file.TensorBytes(t)[..bytes]));
        }
        using (var file = GgufFile.Open(dequantized))
        {
            var t = file.GetTensor(GoldenTensor);
            Assert.Equal(GgmlType.F32, t.Type);
            Assert.Equal(dequantizedDigest, QuantGolden.Digest(file.TensorBytes(t)[..(QuantGolden.Length * sizeof(float))]));
        }
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
