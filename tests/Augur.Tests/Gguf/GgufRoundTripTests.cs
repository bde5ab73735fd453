using Augur.Tensors;
using System.Text;
using Augur.Gguf;
using Augur.Tests.Support;

namespace Augur.Tests.Gguf;

/// <summary>GgufWriter → GgufFile round trips, with the bytes in between checked against the GGUF specification.</summary>
public sealed class GgufRoundTripTests : IDisposable
{
    readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    static GgufValue Arr(GgufValueType et, Array values) => new(GgufValueType.Array, values, et);

    /// <summary>One value of every scalar type, arrays of every element type (bool, strings and empty ones too), nested arrays.</summary>
    static readonly (string Key, GgufValue Value, uint SpecType)[] Values =
    [
        ("t.u8", new(GgufValueType.UInt8, (byte)200), 0),
        ("t.i8", new(GgufValueType.Int8, (sbyte)-5), 1),
        ("t.u16", new(GgufValueType.UInt16, (ushort)65000), 2),
        ("t.i16", new(GgufValueType.Int16, (short)-30000), 3),
        ("t.u32", new(GgufValueType.UInt32, 4_000_000_000u), 4),
        ("t.i32", new(GgufValueType.Int32, -2_000_000_000), 5),
        ("t.f32", new(GgufValueType.Float32, 3.25f), 6),
        ("t.bool.true", new(GgufValueType.Bool, true), 7),
        ("t.bool.false", new(GgufValueType.Bool, false), 7),
        ("t.str", new(GgufValueType.String, "héllo ✓ 😀 \n\t"), 8),
        ("t.str.empty", new(GgufValueType.String, ""), 8),
        ("t.u64", new(GgufValueType.UInt64, ulong.MaxValue), 10),
        ("t.i64", new(GgufValueType.Int64, long.MinValue), 11),
        ("t.f64", new(GgufValueType.Float64, Math.PI), 12),
        ("a.u8", Arr(GgufValueType.UInt8, new byte[] { 0, 1, 255 }), 9),
        ("a.i8", Arr(GgufValueType.Int8, new sbyte[] { -128, 0, 127 }), 9),
        ("a.u16", Arr(GgufValueType.UInt16, new ushort[] { 0, 65535 }), 9),
        ("a.i16", Arr(GgufValueType.Int16, new short[] { short.MinValue, -1, short.MaxValue }), 9),
        ("a.u32", Arr(GgufValueType.UInt32, new uint[] { 0, uint.MaxValue }), 9),
        ("a.i32", Arr(GgufValueType.Int32, new[] { int.MinValue, 7, int.MaxValue }), 9),
        ("a.i32.empty", Arr(GgufValueType.Int32, Array.Empty<int>()), 9),
        ("a.f32", Arr(GgufValueType.Float32, new[] { -0f, 1e-40f, float.PositiveInfinity, float.NaN }), 9),
        ("a.bool", Arr(GgufValueType.Bool, new[] { true, false, false, true }), 9),
        ("a.str", Arr(GgufValueType.String, new[] { "", "▁the", "<0x0A>", "日本" }), 9),
        ("a.u64", Arr(GgufValueType.UInt64, new[] { 0UL, ulong.MaxValue }), 9),
        ("a.i64", Arr(GgufValueType.Int64, new[] { long.MinValue, long.MaxValue }), 9),
        ("a.f64", Arr(GgufValueType.Float64, new[] { double.Epsilon, -1.5 }), 9),
        ("a.nested", Arr(GgufValueType.Array, new[]
        {
            Arr(GgufValueType.Int32, new[] { 1, 2, 3 }),
            Arr(GgufValueType.Int32, Array.Empty<int>()),
            Arr(GgufValueType.Int32, new[] { -4 }),
        }), 9),
        ("a.nested.mixed", Arr(GgufValueType.Array, new[]
        {
            Arr(GgufValueType.String, new[] { "x", "yz" }),
            Arr(GgufValueType.Bool, new[] { true }),
            Arr(GgufValueType.Array, new[] { Arr(GgufValueType.Float64, new[] { 2.5 }) }),
        }), 9),
    ];

    static void AssertSameValue(GgufValue want, GgufValue got, string key)
    {
        Assert.Equal(want.Type, got.Type);
        if (want.Value is not Array wa)
        {
            Assert.True(want.Value.Equals(got.Value), $"{key}: wrote {want}, read {got}");
            return;
        }
        Assert.Equal(want.ElementType, got.ElementType);
        var ga = Assert.IsAssignableFrom<Array>(got.Value);
        Assert.Equal(wa.Length, ga.Length);
        for (int i = 0; i < wa.Length; i++)
        {
            if (wa.GetValue(i) is GgufValue nested) AssertSameValue(nested, Assert.IsType<GgufValue>(ga.GetValue(i)), $"{key}[{i}]");
            else Assert.True(wa.GetValue(i)!.Equals(ga.GetValue(i)), $"{key}[{i}]: wrote {wa.GetValue(i)}, read {ga.GetValue(i)}");
        }
    }

    [Fact]
    public void Every_metadata_value_type_round_trips_in_order_with_the_spec_type_codes()
    {
        var w = new GgufWriter();
        foreach (var (key, value, _) in Values) w.Set(key, value);
        string path = _dir.File("values.gguf");
        w.Write(path);

        var bytes = File.ReadAllBytes(path);
        Assert.Equal("GGUF"u8.ToArray(), bytes[..4]);
        Assert.Equal(3u, BitConverter.ToUInt32(bytes, 4));
        var layout = new GgufLayout(bytes);
        Assert.Equal(Values.Select(v => (v.Key, v.SpecType)), layout.Kvs.Select(k => (k.Key, k.Type)));
        // Spot checks of the raw encoding: bool is one byte 0/1, a string is a uint64 length then UTF-8 bytes.
        Assert.Equal(1, bytes[layout["t.bool.true"].ValueOffset]);
        Assert.Equal(0, bytes[layout["t.bool.false"].ValueOffset]);
        var str = layout["t.str"];
        int strLen = Encoding.UTF8.GetByteCount("héllo ✓ 😀 \n\t");
        Assert.Equal((ulong)strLen, BitConverter.ToUInt64(bytes, (int)str.ValueOffset));
        Assert.Equal("héllo ✓ 😀 \n\t", Encoding.UTF8.GetString(bytes, (int)str.ValueOffset + 8, strLen));

        using var f = GgufFile.Open(path);
        Assert.Equal(Values.Select(v => v.Key), f.MetadataKeys);
        foreach (var (key, value, _) in Values) AssertSameValue(value, f.Metadata[key], key);
        Assert.Empty(f.Tensors);
    }

    /// <summary>(type, shape, bytes per the ggml block definitions: F32 4 B; F16 2 B; Q4_0 32 values in 2+16 B; Q8_0 2+32 B; Q4_K 256 in 144 B; Q6_K 256 in 210 B).</summary>
    static readonly (string Name, GgmlType Type, long[] Shape, int Bytes)[] Tensors =
    [
        ("odd.f32", GgmlType.F32, [3], 12),
        ("matrix.f16", GgmlType.F16, [5, 3], 30),
        ("q4_0", GgmlType.Q4_0, [64], 36),
        ("q8_0", GgmlType.Q8_0, [32, 2], 68),
        ("q4_k", GgmlType.Q4_K, [256], 144),
        ("q6_k", GgmlType.Q6_K, [256, 1, 1, 2], 420),
        ("i8", GgmlType.I8, [1], 1),
    ];

    [Theory]
    [InlineData(32)]
    [InlineData(64)]
    [InlineData(1)]
    [InlineData(4096)]
    public void Tensor_bytes_round_trip_at_aligned_offsets(int alignment)
    {
        var rng = TestSeed.Random(alignment);
        var data = Tensors.Select(t => { var b = new byte[t.Bytes]; rng.NextBytes(b); return b; }).ToArray();
        var w = new GgufWriter { Alignment = alignment };
        w.Set("general.architecture", GgufValue.Of("test"));
        for (int i = 0; i < Tensors.Length; i++) w.AddTensor(Tensors[i].Name, Tensors[i].Type, Tensors[i].Shape, data[i]);
        string path = _dir.File($"tensors-{alignment}.gguf");
        w.Write(path);

        // The spec: tensor data starts at the first multiple of the alignment after the infos; each tensor's offset
        // (relative to that start) is the previous one's end rounded up; padding bytes are zero.
        var bytes = File.ReadAllBytes(path);
        var layout = new GgufLayout(bytes);
        long Align(long x) => (x + alignment - 1) / alignment * alignment;
        long dataStart = Align(layout.InfosEnd);
        long expected = 0;
        for (int i = 0; i < Tensors.Length; i++)
        {
            var info = layout.Tensors[i];
            Assert.Equal(Tensors[i].Name, info.Name);
            Assert.Equal((uint)Tensors[i].Type, info.Type);
            Assert.Equal(Tensors[i].Shape.Select(d => (ulong)d), info.Dims);
            Assert.Equal((ulong)expected, info.Offset);
            Assert.Equal(data[i], bytes.AsSpan((int)(dataStart + expected), Tensors[i].Bytes).ToArray());
            long end = expected + Tensors[i].Bytes;
            expected = Align(end);
            Assert.All(bytes[(int)(dataStart + end)..(int)Math.Min(dataStart + expected, bytes.Length)], b => Assert.Equal(0, b));
        }
        Assert.All(bytes[(int)layout.InfosEnd..(int)dataStart], b => Assert.Equal(0, b));
        if (alignment == 32) Assert.DoesNotContain(layout.Kvs, k => k.Key == "general.alignment");
        else Assert.Equal((uint)alignment, BitConverter.ToUInt32(bytes, (int)layout["general.alignment"].ValueOffset));

        using var f = GgufFile.Open(path);
        Assert.Equal(alignment, f.Alignment);
        Assert.Equal(dataStart, f.DataOffset);
        for (int i = 0; i < Tensors.Length; i++)
        {
            var t = f.GetTensor(Tensors[i].Name);
            Assert.Equal(Tensors[i].Type, t.Type);
            Assert.Equal(Tensors[i].Shape, t.Shape);
            Assert.Equal(Tensors[i].Bytes, t.ByteSize);
            Assert.Equal(data[i], f.TensorBytes(t).ToArray());
        }
        Assert.Null(f.FindTensor("absent"));
        var missing = Assert.Throws<ModelFormatException>(() => f.GetTensor("absent"));
        Assert.Contains(path, missing.Message);
        Assert.Contains("'absent'", missing.Message);
    }

    [Fact]
    public void Tensor_data_written_by_a_callback_round_trips_and_a_short_callback_is_refused()
    {
        var w = new GgufWriter();
        w.AddTensor("cb", GgmlType.F32, [2], s => s.Write(BitConverter.GetBytes(1.5f).Concat(BitConverter.GetBytes(-2f)).ToArray()));
        string path = _dir.File("callback.gguf");
        w.Write(path);
        using (var f = GgufFile.Open(path))
            Assert.Equal([1.5f, -2f], System.Runtime.InteropServices.MemoryMarshal.Cast<byte, float>(f.TensorBytes(f.GetTensor("cb"))).ToArray());

        var bad = new GgufWriter();
        bad.AddTensor("short", GgmlType.F32, [2], s => s.Write(new byte[4]));
        string badPath = _dir.File("short.gguf");
        Assert.Throws<InvalidOperationException>(() => bad.Write(badPath));
        Assert.False(File.Exists(badPath)); // the file appears only when complete
        Assert.False(File.Exists(badPath + ".tmp"));
    }
}
