using Augur.Gguf;
using Augur.Tensors;

namespace Augur.Conversion;

/// <summary>
/// llama.cpp's <c>llama_ftype</c>: what a file is "mostly" quantized to, written as <c>general.file_type</c>.
/// Only the file types <see cref="Quantizer"/> can write; the numbers are llama.cpp's.
/// </summary>
public enum LlamaFileType : uint
{
    F16 = 1,
    Q4_0 = 2,
    Q4_1 = 3,
    Q8_0 = 7,
    Q5_0 = 8,
    Q5_1 = 9,
    Q4_K_S = 14,
    Q4_K_M = 15,
    Q5_K_S = 16,
    Q5_K_M = 17,
    Q6_K = 18,
}

/// <summary>One tensor of a quantized file: where it comes from and the type it is written in.</summary>
public sealed record QuantizedTensor(GgufTensorInfo Source, GgmlType Type)
{
    public string Name => Source.Name;
    public long ByteSize => GgufWriter.TensorBytes(Type, Source.Shape);
}

/// <summary>Where a quantization run is: tensor <c>Index</c> of <c>Count</c>, its rows done, and bytes written of all tensors.</summary>
public readonly record struct QuantizeProgress(int Index, int Count, QuantizedTensor Tensor, long RowsDone, long Rows, long BytesDone, long BytesTotal);

/// <summary>
/// Writes a GGUF file with its weight matrices quantized, choosing each tensor's type as llama.cpp's
/// <c>llama-quantize</c> does (<c>llama_tensor_get_type</c> in src/llama-quant.cpp, without an importance
/// matrix): 1-D tensors and norms keep their type; the output matrix (or the embedding, when the output is
/// tied to it) gets Q6_K in every mix but Q8_0; the _M mixes give attn_v and ffn_down Q6_K in the layers
/// <c>use_more_bits</c> picks; a row length that does not fit the chosen block size falls back to a 32-value
/// type. Tensors are written in llama.cpp's order (non-layer tensors, then layer by layer, by name) with the
/// input's metadata plus <c>general.quantization_version</c> and <c>general.file_type</c>, so for the same
/// input the file equals llama.cpp's byte for byte. Input tensors may be F32, F16, BF16 or any type Augur
/// reads (dequantized first). One tensor at a time, a chunk of rows at a time, streams from the mapped input
/// to the output.
/// </summary>
public static unsafe class Quantizer
{
    /// <summary>ggml's GGML_QNT_VERSION: the bit layout of the block formats.</summary>
    public const uint QuantizationVersion = 2;

    /// <summary>Rows are converted this many floats at a time (4 MiB), split across threads.</summary>
    const int ChunkFloats = 1 << 20;

    static readonly Dictionary<string, LlamaFileType> ByName =
        Enum.GetValues<LlamaFileType>().ToDictionary(t => t.ToString(), StringComparer.OrdinalIgnoreCase);

    /// <summary>A file type by name (Q8_0, Q4_K_M, F16, …), ignoring case.</summary>
    public static LlamaFileType ParseFileType(string name) =>
        ByName.TryGetValue(name, out var t)
            ? t
            : throw new InvalidRequestException($"--type {name} is not supported (supported: {string.Join(", ", ByName.Keys)})");

    /// <summary>llama_ftype_get_default_type: the type of a matrix no rule singles out.</summary>
    public static GgmlType DefaultType(LlamaFileType fileType) => fileType switch
    {
        LlamaFileType.F16 => GgmlType.F16,
        LlamaFileType.Q4_0 => GgmlType.Q4_0,
        LlamaFileType.Q4_1 => GgmlType.Q4_1,
        LlamaFileType.Q8_0 => GgmlType.Q8_0,
        LlamaFileType.Q5_0 => GgmlType.Q5_0,
        LlamaFileType.Q5_1 => GgmlType.Q5_1,
        LlamaFileType.Q4_K_S or LlamaFileType.Q4_K_M => GgmlType.Q4_K,
        LlamaFileType.Q5_K_S or LlamaFileType.Q5_K_M => GgmlType.Q5_K,
        LlamaFileType.Q6_K => GgmlType.Q6_K,
        _ => throw new ArgumentOutOfRangeException(nameof(fileType), fileType, null),
    };

    /// <summary>Every tensor of <paramref name="file"/> with the type it gets, in the order it is written.</summary>
    public static IReadOnlyList<QuantizedTensor> Plan(GgufFile file, LlamaFileType fileType)
    {
        var tensors = file.Tensors.OrderBy(t => t, LlamaCppOrder.Instance).ToList();
        var s = new MixState(file, tensors);
        var defaultType = DefaultType(fileType);
        return [.. tensors.Select(t => new QuantizedTensor(t, AllowsQuantization(t) ? TargetType(s, t, fileType, defaultType) : t.Type))];
    }

    /// <summary>
    /// Quantizes <paramref name="inputPath"/> into <paramref name="outputPath"/> (written under a temporary name,
    /// moved into place when complete). <paramref name="threads"/> ≤ 0 means one per core.
    /// </summary>
    public static IReadOnlyList<QuantizedTensor> Quantize(string inputPath, string outputPath, LlamaFileType fileType,
        Action<QuantizeProgress>? progress = null, int threads = 0)
    {
        if (Path.GetFullPath(inputPath) == Path.GetFullPath(outputPath))
            throw new InvalidRequestException($"the output path is the input file ({inputPath}); choose another name");
        using var file = GgufFile.Open(inputPath);
        var plan = Plan(file, fileType);
        foreach (var t in plan)
        {
            if (t.Type != t.Source.Type && WeightFormats.TryGet(t.Source.Type) is null)
                throw new ModelFormatException($"{inputPath}: tensor '{SafeText.Quote(t.Name)}' is {t.Source.Type}, which Augur cannot dequantize");
        }

        var w = new GgufWriter { Alignment = file.Alignment };
        foreach (string key in file.MetadataKeys)
        {
            // Re-set below (llama.cpp removes and appends them, so they end the list); a split's keys describe shards this file is not.
            if (key is "general.quantization_version" or "general.file_type" or "split.no" or "split.count" or "split.tensors.count") continue;
            w.Set(key, file.Metadata[key]);
        }
        w.Set("general.quantization_version", GgufValue.Of(QuantizationVersion));
        w.Set("general.file_type", GgufValue.Of((uint)fileType));

        long total = plan.Sum(t => t.ByteSize), done = 0;
        int parts = threads > 0 ? threads : Environment.ProcessorCount;
        for (int i = 0; i < plan.Count; i++)
        {
            var t = plan[i];
            int index = i;
            w.AddTensor(t.Name, t.Type, t.Source.Shape, stream =>
                WriteTensor(stream, file, t, parts, (rows, rowsTotal, bytes) =>
                    progress?.Invoke(new QuantizeProgress(index, plan.Count, t, rows, rowsTotal, done += bytes, total))));
        }
        w.Write(outputPath);
        return plan;
    }

    /// <summary>One tensor: copied when its type stays, else converted a chunk of rows at a time.</summary>
    static void WriteTensor(Stream stream, GgufFile file, QuantizedTensor t, int parts, Action<long, long, long> report)
    {
        byte* src = file.TensorData(t.Source);
        int n = checked((int)t.Source.Shape[0]);
        long rows = t.Source.ElementCount / n;
        if (t.Type == t.Source.Type)
        {
            long rowBytes = t.Source.ByteSize / rows;
            long step = Math.Max(1, ChunkFloats * 4L / rowBytes);
            for (long r = 0; r < rows; r += step)
            {
                long count = Math.Min(step, rows - r);
                stream.Write(new ReadOnlySpan<byte>(src + r * rowBytes, checked((int)(count * rowBytes))));
                report(r + count, rows, count * rowBytes);
            }
            return;
        }
        var from = WeightFormats.TryGet(t.Source.Type)!;
        var to = WeightFormats.TryGet(t.Type)!;
        long inRow = from.RowBytes(n), outRow = to.RowBytes(n);
        int chunk = (int)Math.Max(1, Math.Min(rows, ChunkFloats / n));
        var output = new byte[chunk * outRow];
        fixed (byte* dst = output)
        {
            nint srcAt = (nint)src, dstAt = (nint)dst;
            for (long r0 = 0; r0 < rows; r0 += chunk)
            {
                int count = (int)Math.Min(chunk, rows - r0);
                // Each row is quantized on its own, so splitting rows across threads changes no byte.
                int used = Math.Min(parts, count);
                Parallel.For(0, used, new ParallelOptions { MaxDegreeOfParallelism = used }, part =>
                {
                    var floats = new float[n];
                    fixed (float* x = floats)
                    {
                        for (long r = r0 + (long)count * part / used; r < r0 + (long)count * (part + 1) / used; r++)
                        {
                            from.DequantizeRow((byte*)srcAt + r * inRow, x, n);
                            to.QuantizeRow(x, (byte*)dstAt + (r - r0) * outRow, n);
                        }
                    }
                });
                stream.Write(output, 0, checked((int)(count * outRow)));
                report(r0 + count, rows, count * outRow);
            }
        }
    }

    // ---- llama_tensor_get_type ----

    /// <summary>What llama.cpp's quantize_state_impl counts: attn_v tensors seen and to come, ffn_down layers, and the model facts the mixes consult.</summary>
    sealed class MixState
    {
        public readonly string Path, Architecture;
        public readonly int Layers, Experts;
        public readonly bool Is70B, TiedEmbeddings;
        public readonly int AttentionV;
        public int AttentionVSeen, FfnDownSeen;

        public MixState(GgufFile file, IReadOnlyList<GgufTensorInfo> tensors)
        {
            Path = file.Path;
            Architecture = file.GetString("general.architecture");
            Layers = (int)file.GetInt($"{Architecture}.block_count");
            Experts = (int)(file.TryGetInt($"{Architecture}.expert_count") ?? 0);
            long heads = file.TryGetInt($"{Architecture}.attention.head_count") ?? 0;
            long kvHeads = file.TryGetInt($"{Architecture}.attention.head_count_kv") ?? heads;
            // llama.cpp's LLM_TYPE_70B: an 80-layer llama whose key/value heads are shared.
            Is70B = Architecture == "llama" && Layers == 80 && heads != kvHeads;
            TiedEmbeddings = tensors.All(t => Category(t.Name) != TensorCategory.Output);
            AttentionV = tensors.Count(t => IsAttentionV(Category(t.Name)));
        }

        public bool Falcon => Architecture == "falcon";
    }

    enum TensorCategory { TokenEmbedding, AttentionQ, AttentionK, AttentionV, AttentionQkv, AttentionKvB, AttentionOutput, FfnUp, FfnGate, FfnDown, Output, Other }

    static TensorCategory Category(string name)
    {
        if (name == "output.weight") return TensorCategory.Output;
        if (name is "token_embd.weight" or "per_layer_token_embd.weight") return TensorCategory.TokenEmbedding;
        if (name.Contains("attn_qkv.weight")) return TensorCategory.AttentionQkv;
        if (name.Contains("attn_kv_b.weight")) return TensorCategory.AttentionKvB;
        if (name.Contains("attn_v.weight")) return TensorCategory.AttentionV;
        if (name.Contains("attn_k.weight")) return TensorCategory.AttentionK;
        if (name.Contains("attn_q.weight")) return TensorCategory.AttentionQ;
        if (name.Contains("attn_output.weight")) return TensorCategory.AttentionOutput;
        if (name.Contains("ffn_up")) return TensorCategory.FfnUp;
        if (name.Contains("ffn_gate")) return TensorCategory.FfnGate;
        if (name.Contains("ffn_down")) return TensorCategory.FfnDown;
        return TensorCategory.Other;
    }

    /// <summary>The value projections, which quantization hurts most.</summary>
    static bool IsAttentionV(TensorCategory c) => c is TensorCategory.AttentionV or TensorCategory.AttentionQkv or TensorCategory.AttentionKvB;

    /// <summary>Name parts of tensors llama.cpp never quantizes (small or precision-critical ones of other architectures).</summary>
    static readonly string[] NeverQuantized =
    [
        "_norm.weight", "ffn_gate_inp.weight", "ffn_gate_tid2eid.weight", "altup", "laurel", "per_layer_model_proj",
        "ssm_conv1d", "shortconv.conv.weight", "indexer.k_proj.weight", "indexer.q_proj.weight",
        "time_mix_first.weight", "time_mix_w0.weight", "time_mix_w1.weight", "time_mix_w2.weight", "time_mix_v0.weight",
        "time_mix_v1.weight", "time_mix_v2.weight", "time_mix_a0.weight", "time_mix_a1.weight", "time_mix_a2.weight",
        "time_mix_g1.weight", "time_mix_g2.weight", "time_mix_decay_w1.weight", "time_mix_decay_w2.weight", "time_mix_lerp_fused.weight",
        "attn_rel_b.weight", ".position_embd", "sam.pos_embd", "sam.neck.", "sam.net_", ".rel_pos", ".patch_embd", ".patch_merger",
        "a.rvq.codebook", "mm.a.code_embd",
    ];

    /// <summary>tensor_allows_quantization: matrices (two or more dimensions, trailing 1s not counted) named *weight.</summary>
    static bool AllowsQuantization(GgufTensorInfo t)
    {
        int dims = t.Shape.Length;
        while (dims > 1 && t.Shape[dims - 1] == 1) dims--;
        if (dims < 2 || !t.Name.EndsWith("weight", StringComparison.Ordinal)) return false;
        if (t.Name is "position_embd.weight" or "token_types.weight") return false;
        return !NeverQuantized.Any(p => t.Name.Contains(p, StringComparison.Ordinal));
    }

    /// <summary>llama.cpp's use_more_bits: the first and last eighth of the layers, and every third one between.</summary>
    static bool UseMoreBits(int layer, int layers) => layer < layers / 8 || layer >= 7 * layers / 8 || (layer - layers / 8) % 3 == 2;

    /// <summary>llama_tensor_get_type for the mixes <see cref="LlamaFileType"/> lists, then the block-size fallback.
    /// Must be called in write order: attn_v and ffn_down count their layers as llama.cpp does.</summary>
    static GgmlType TargetType(MixState s, GgufTensorInfo t, LlamaFileType ftype, GgmlType type)
    {
        if (type == GgmlType.F16) return type; // not a quantized type: no mix rules, no fallback
        var category = Category(t.Name);
        if (category == TensorCategory.Output || (s.TiedEmbeddings && category == TensorCategory.TokenEmbedding))
        {
            if (s.Falcon || t.Shape[0] % BlockSize(type) != 0) type = GgmlType.Q8_0; // llama.cpp tests the mix's block size, not Q6_K's
            else if (type != GgmlType.Q8_0) type = GgmlType.Q6_K;
        }
        else if (IsAttentionV(category))
        {
            if (ftype is LlamaFileType.Q4_K_M or LlamaFileType.Q5_K_M && UseMoreBits(s.AttentionVSeen, s.AttentionV)) type = GgmlType.Q6_K;
            else if (ftype == LlamaFileType.Q4_K_S && s.AttentionVSeen < 4) type = GgmlType.Q5_K;
            if (s.Is70B && type == GgmlType.Q4_K) type = GgmlType.Q5_K;
            if (s.Experts == 8) type = GgmlType.Q8_0;
            s.AttentionVSeen++;
        }
        else if (category == TensorCategory.AttentionK)
        {
            if (s.Experts == 8) type = GgmlType.Q8_0;
        }
        else if (category == TensorCategory.FfnDown)
        {
            // With experts the counter is not the layer (experts may be split across tensors), so the name says.
            int layer = s.Experts > 1 ? LayerOf(t.Name) : s.FfnDownSeen, layers = s.Layers;
            if (ftype == LlamaFileType.Q4_K_M)
            {
                if (s.Falcon) type = layer < layers / 16 ? GgmlType.Q6_K : UseMoreBits(layer, layers) ? GgmlType.Q5_K : GgmlType.Q4_K;
                else if (UseMoreBits(layer, layers)) type = GgmlType.Q6_K;
            }
            else if (ftype == LlamaFileType.Q5_K_M && UseMoreBits(layer, layers)) type = GgmlType.Q6_K;
            else if (ftype == LlamaFileType.Q4_K_S && !s.Falcon && layer < layers / 8) type = GgmlType.Q5_K;
            s.FfnDownSeen++;
        }
        else if (category == TensorCategory.AttentionOutput)
        {
            if (!s.Falcon && s.Experts == 8 && ftype is LlamaFileType.Q4_K_S or LlamaFileType.Q4_K_M) type = GgmlType.Q5_K;
        }
        return Fallback(s.Path, t, type);
    }

    /// <summary>tensor_type_fallback: a row length the block size does not divide gets the nearest 32-value type, else F16.</summary>
    static GgmlType Fallback(string path, GgufTensorInfo t, GgmlType type)
    {
        long n = t.Shape[0];
        if (n % BlockSize(type) == 0) return type;
        var fallback = type switch
        {
            GgmlType.Q4_K => GgmlType.Q5_0,
            GgmlType.Q5_K => GgmlType.Q5_1,
            GgmlType.Q6_K => GgmlType.Q8_0,
            // llama.cpp has no fallback for the 32-value types either: it refuses the file.
            _ => throw new ModelFormatException($"{path}: tensor '{SafeText.Quote(t.Name)}' has rows of {n} values, which {type} (blocks of {BlockSize(type)}) cannot hold"),
        };
        return n % BlockSize(fallback) == 0 ? fallback : GgmlType.F16;
    }

    static int BlockSize(GgmlType type) => GgmlTypeInfo.TryGet(type, out int size, out _) ? size : throw new ArgumentOutOfRangeException(nameof(type), type, null);

    static int LayerOf(string name) =>
        LayerIndex(name) is >= 0 and var layer ? layer : throw new ModelFormatException($"cannot tell the layer of tensor '{SafeText.Quote(name)}'");

    /// <summary>sscanf(name, "blk.%d."): the layer a tensor belongs to, -1 for none.</summary>
    static int LayerIndex(string name)
    {
        if (!name.StartsWith("blk.", StringComparison.Ordinal)) return -1;
        int end = 4;
        while (end < name.Length && char.IsAsciiDigit(name[end])) end++;
        return int.TryParse(name.AsSpan(4, end - 4), out int layer) ? layer : -1;
    }

    /// <summary>llama.cpp's weight_name_comparer: tensors outside the layers first, then by layer, then by name (ordinal).</summary>
    sealed class LlamaCppOrder : IComparer<GgufTensorInfo>
    {
        public static readonly LlamaCppOrder Instance = new();

        public int Compare(GgufTensorInfo? a, GgufTensorInfo? b)
        {
            int la = LayerIndex(a!.Name), lb = LayerIndex(b!.Name);
            return la != lb ? la.CompareTo(lb) : string.CompareOrdinal(a.Name, b.Name);
        }
    }
}
