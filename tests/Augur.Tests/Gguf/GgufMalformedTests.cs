using Augur.Tensors;
using Augur.Gguf;
using Augur.Tests.Support;
using CsCheck;
using static Augur.Tests.Gguf.GgufLayout;

namespace Augur.Tests.Gguf;

/// <summary>
/// Corrupt GGUF files, each made by writing a valid file with <see cref="GgufWriter"/> and changing bytes at
/// offsets the spec walk (<see cref="GgufLayout"/>) computes. Every one must raise <see cref="ModelFormatException"/>
/// naming the file and the problem — never another exception, a hang or a huge allocation.
/// </summary>
public sealed class GgufMalformedTests : IDisposable
{
    readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    const ulong Absurd = 1UL << 60;

    /// <summary>A small valid file: a string, an int array, a string array, a uint32; three tensors of different types.</summary>
    static byte[] ValidFile(Action<GgufWriter>? extra = null)
    {
        var w = new GgufWriter();
        w.Set("general.architecture", GgufValue.Of("llama"));
        w.Set("test.ints", GgufValue.Of([1, 2, 3]));
        w.Set("test.strings", GgufValue.Of(["a", "bc"]));
        w.Set("test.u32", GgufValue.Of(7u));
        extra?.Invoke(w);
        w.AddTensor("t0", GgmlType.F32, [4, 2], new byte[32]);
        w.AddTensor("t1", GgmlType.F16, [3], new byte[6]);
        w.AddTensor("t2", GgmlType.Q8_0, [32], new byte[34]);
        var ms = new MemoryStream();
        w.WriteTo(ms);
        return ms.ToArray();
    }

    int _files;

    /// <summary>Opens the bytes and checks the error names the file and contains every fragment.</summary>
    ModelFormatException AssertRejected(byte[] bytes, params string[] fragments)
    {
        string path = _dir.Write($"bad{_files++}.gguf", bytes);
        long before = GC.GetAllocatedBytesForCurrentThread();
        var e = Assert.Throws<ModelFormatException>(() => GgufFile.Open(path).Dispose());
        long allocated = GC.GetAllocatedBytesForCurrentThread() - before;
        Assert.True(allocated < 1 << 20, $"rejecting a {bytes.Length}-byte file allocated {allocated} bytes");
        Assert.Contains(path, e.Message);
        foreach (var f in fragments) Assert.Contains(f, e.Message);
        return e;
    }

    static byte[] Patch(Action<byte[], GgufLayout> change, Action<GgufWriter>? extra = null)
    {
        var bytes = ValidFile(extra);
        change(bytes, new GgufLayout(bytes));
        return bytes;
    }

    [Fact]
    public void The_unmodified_file_opens()
    {
        string path = _dir.Write("good.gguf", ValidFile());
        using var f = GgufFile.Open(path);
        Assert.Equal(3, f.Tensors.Count);
        Assert.Equal(4, f.Metadata.Count);
    }

    [Fact]
    public void A_missing_file_raises_AssetNotFoundException_naming_it()
    {
        string path = _dir.File("nope.gguf");
        var e = Assert.Throws<AssetNotFoundException>(() => GgufFile.Open(path));
        Assert.Equal(path, e.Path);
        Assert.Contains(path, e.Message);
    }

    [Fact]
    public void An_empty_file_is_rejected() => AssertRejected([], "0 bytes", "too short");

    [Fact]
    public void Bad_magic_is_rejected() => AssertRejected(Patch((b, _) => b[3] = (byte)'X'), "bad magic", "not a GGUF file");

    [Theory]
    [InlineData(1u)]
    [InlineData(99u)]
    public void An_unsupported_version_is_rejected(uint version) =>
        AssertRejected(Patch((b, _) => PutU32(b, 4, version)), $"version {version}");

    [Fact]
    public void Truncation_inside_the_header_is_rejected() => AssertRejected(ValidFile()[..20], "too short");

    [Fact]
    public void Truncation_inside_a_metadata_string_is_rejected()
    {
        var bytes = ValidFile();
        var kv = new GgufLayout(bytes)["test.strings"];
        AssertRejected(bytes[..(int)(kv.KeyOffset + 10)], "runs past the end");
    }

    [Fact]
    public void Truncation_inside_a_metadata_array_is_rejected()
    {
        var bytes = ValidFile();
        var kv = new GgufLayout(bytes)["test.ints"];
        AssertRejected(bytes[..(int)(kv.ValueOffset + 4 + 8 + 6)], "test.ints");
    }

    [Fact]
    public void Truncation_inside_the_tensor_infos_is_rejected()
    {
        var bytes = ValidFile();
        var t = new GgufLayout(bytes).Tensor("t1");
        AssertRejected(bytes[..(int)(t.DimsOffset + 3)], "unexpected end of file");
    }

    [Fact]
    public void Truncation_inside_the_tensor_data_is_rejected_naming_the_tensor()
    {
        var bytes = ValidFile();
        AssertRejected(bytes[..^40], "'t2'", "runs past the end of the file");
    }

    [Fact]
    // Stronger than named cut points: no prefix of the file that ends before the last tensor's last byte opens.
    public void Every_truncation_before_the_end_of_the_tensor_data_is_rejected()
    {
        var bytes = ValidFile();
        var layout = new GgufLayout(bytes);
        long dataStart = (layout.InfosEnd + 31) / 32 * 32;
        long dataEnd = dataStart + (long)layout.Tensor("t2").Offset + 34;
        string path = _dir.File("prefix.gguf");
        for (int length = 0; length < dataEnd; length++)
        {
            File.WriteAllBytes(path, bytes[..length]);
            var e = Assert.Throws<ModelFormatException>(() => GgufFile.Open(path).Dispose());
            Assert.Contains(path, e.Message);
        }
        for (long length = dataEnd; length <= bytes.Length; length++) // only trailing padding is missing: still valid
        {
            File.WriteAllBytes(path, bytes[..(int)length]);
            GgufFile.Open(path).Dispose();
        }
    }

    [Theory]
    [InlineData(13u)]
    [InlineData(0xFFFFFFFFu)]
    public void An_unknown_metadata_value_type_is_rejected(uint type) =>
        AssertRejected(Patch((b, l) => PutU32(b, l["test.u32"].TypeOffset, type)), "'test.u32'", $"unknown value type {type}");

    [Fact]
    public void An_unknown_array_element_type_is_rejected() =>
        AssertRejected(Patch((b, l) => PutU32(b, l["test.ints"].ValueOffset, 77)), "'test.ints'", "unknown type 77");

    [Theory]
    [InlineData(4u)]  // Q4_2, removed from ggml
    [InlineData(99u)]
    public void An_unknown_tensor_type_is_rejected(uint type) =>
        AssertRejected(Patch((b, l) => PutU32(b, l.Tensor("t1").TypeOffset, type)), "'t1'", $"unknown tensor type {type}");

    [Fact]
    public void An_absurd_array_length_is_rejected() =>
        AssertRejected(Patch((b, l) => PutU64(b, l["test.ints"].ValueOffset + 4, Absurd)), "'test.ints'", Absurd.ToString());

    [Fact]
    public void An_absurd_key_length_is_rejected() =>
        AssertRejected(Patch((b, l) => PutU64(b, l["test.u32"].KeyOffset, Absurd)), $"string length {Absurd}");

    [Fact]
    public void An_absurd_string_value_length_is_rejected() =>
        AssertRejected(Patch((b, l) => PutU64(b, l["general.architecture"].ValueOffset, Absurd)), $"string length {Absurd}");

    [Fact]
    public void An_absurd_length_of_a_string_inside_an_array_is_rejected() =>
        AssertRejected(Patch((b, l) => PutU64(b, l["test.strings"].ValueOffset + 4 + 8, Absurd)), $"string length {Absurd}");

    [Fact]
    public void An_absurd_tensor_name_length_is_rejected() =>
        AssertRejected(Patch((b, l) => PutU64(b, l.Tensor("t2").NameOffset, Absurd)), $"string length {Absurd}");

    [Fact]
    public void Absurd_metadata_and_tensor_counts_are_rejected()
    {
        AssertRejected(Patch((b, _) => PutU64(b, 16, Absurd)), $"metadata count {Absurd}");
        AssertRejected(Patch((b, _) => PutU64(b, 8, Absurd)), $"tensor count {Absurd}");
    }

    [Fact]
    public void An_absurd_dimension_is_rejected() =>
        AssertRejected(Patch((b, l) => PutU64(b, l.Tensor("t0").DimsOffset + 8, Absurd)), "'t0'", $"dimension 1 = {Absurd}");

    [Fact]
    public void A_zero_dimension_is_rejected() =>
        AssertRejected(Patch((b, l) => PutU64(b, l.Tensor("t0").DimsOffset, 0)), "'t0'", "dimension 0 = 0");

    [Theory]
    [InlineData(0u)]
    [InlineData(5u)]
    [InlineData(0xFFFFFFFFu)]
    public void An_impossible_number_of_dimensions_is_rejected(uint nDims) =>
        AssertRejected(Patch((b, l) => PutU32(b, l.Tensor("t1").NDimsOffset, nDims)), "'t1'", $"{nDims} dimensions");

    [Fact]
    // Each dimension is plausible on its own; together they need far more bytes than the file has.
    public void Dimensions_whose_product_exceeds_the_file_are_rejected() =>
        AssertRejected(Patch((b, l) => { PutU64(b, l.Tensor("t0").DimsOffset, 100); PutU64(b, l.Tensor("t0").DimsOffset + 8, 100); }),
            "'t0'", "runs past the end of the file");

    [Fact]
    public void A_row_length_that_is_not_a_whole_number_of_blocks_is_rejected() =>
        AssertRejected(Patch((b, l) => PutU64(b, l.Tensor("t2").DimsOffset, 33)), "'t2'", "not a multiple", "32");

    [Theory]
    [InlineData(1UL << 40)]
    [InlineData(ulong.MaxValue - 31)] // aligned, and offset + size overflows 64 bits
    public void A_tensor_offset_past_the_end_is_rejected(ulong offset) =>
        AssertRejected(Patch((b, l) => PutU64(b, l.Tensor("t2").OffsetOffset, offset)), "'t2'", "runs past the end of the file");

    [Fact]
    public void A_misaligned_tensor_offset_is_rejected() =>
        AssertRejected(Patch((b, l) => PutU64(b, l.Tensor("t1").OffsetOffset, l.Tensor("t1").Offset + 4)), "'t1'", "not aligned to 32");

    [Fact]
    // The writer refuses duplicates, so write "dup.a" and "dup.b" and turn the second into the first.
    public void A_duplicate_metadata_key_is_rejected() =>
        AssertRejected(Patch((b, l) => b[l["dup.b"].KeyOffset + 8 + 4] = (byte)'a', w => { w.Set("dup.a", GgufValue.Of(1u)); w.Set("dup.b", GgufValue.Of(2u)); }),
            "duplicate metadata key 'dup.a'");

    [Fact]
    public void A_duplicate_tensor_name_is_rejected() =>
        AssertRejected(Patch((b, l) => b[l.Tensor("t1").NameOffset + 8 + 1] = (byte)'0'), "duplicate tensor name 't0'");

    [Theory]
    [InlineData(48u)]
    [InlineData(0u)]
    public void An_alignment_that_is_not_a_power_of_two_is_rejected(uint alignment) =>
        AssertRejected(ValidFile(w => w.Set("general.alignment", GgufValue.Of(alignment))), "general.alignment", "power of two");

    [Fact]
    public void An_alignment_of_the_wrong_type_is_rejected()
    {
        AssertRejected(ValidFile(w => w.Set("general.alignment", GgufValue.Of(32f))), "general.alignment");
        AssertRejected(ValidFile(w => w.Set("general.alignment", GgufValue.Of("32"))), "general.alignment");
        AssertRejected(ValidFile(w => w.Set("general.alignment", GgufValue.Of([32]))), "general.alignment");
    }

    [Fact]
    public void Arrays_nested_too_deep_are_rejected_without_recursing_further()
    {
        var value = GgufValue.Of([1]);
        for (int i = 0; i < 20; i++) value = new GgufValue(GgufValueType.Array, new[] { value }, GgufValueType.Array);
        AssertRejected(ValidFile(w => w.Set("deep", value)), "'deep'", "deeper");
    }

    [Fact]
    // Whatever single byte of the header, metadata or tensor infos is changed, the reader either opens the file
    // or raises ModelFormatException: no other exception type escapes.
    public void Random_byte_changes_yield_a_file_or_a_ModelFormatException()
    {
        var valid = ValidFile();
        int infosEnd = (int)new GgufLayout(valid).InfosEnd;
        string path = _dir.File("fuzz.gguf");
        Gen.Select(Gen.Int[0, infosEnd - 1], Gen.Byte, Gen.Int[0, infosEnd - 1], Gen.Byte).Sample((i, v, j, u) =>
        {
            var bytes = (byte[])valid.Clone();
            bytes[i] = v;
            bytes[j] = u;
            File.WriteAllBytes(path, bytes);
            try { GgufFile.Open(path).Dispose(); }
            catch (ModelFormatException e) { Assert.Contains(path, e.Message); }
        }, iter: 400, threads: 1);
    }
}
