using Augur.Tensors;
using System.Text;

namespace Augur.Gguf;

/// <summary>
/// Writes GGUF version 3 files: metadata in insertion order, tensor infos, then aligned tensor data.
/// Tensor data is produced by a callback at write time so multi-gigabyte files stream through.
/// The file appears only when complete (written to a temporary name, then moved).
/// </summary>
public sealed class GgufWriter
{
    readonly List<(string Key, GgufValue Value)> _metadata = [];
    readonly List<(string Name, GgmlType Type, long[] Shape, long Bytes, Action<Stream> Write)> _tensors = [];
    public int Alignment { get; set; } = GgufFile.DefaultAlignment;

    public GgufWriter Set(string key, GgufValue value)
    {
        int i = _metadata.FindIndex(m => m.Key == key);
        if (i >= 0) _metadata[i] = (key, value); else _metadata.Add((key, value));
        return this;
    }

    public void AddTensor(string name, GgmlType type, long[] shape, ReadOnlyMemory<byte> data)
    {
        long bytes = TensorBytes(type, shape);
        if (data.Length != bytes) throw new ArgumentException($"tensor '{name}': {data.Length} bytes given, {bytes} expected for {type} {string.Join('x', shape)}");
        _tensors.Add((name, type, shape, bytes, s => s.Write(data.Span)));
    }

    /// <summary>Adds a tensor whose bytes <paramref name="write"/> produces when the file is written.</summary>
    public void AddTensor(string name, GgmlType type, long[] shape, Action<Stream> write) =>
        _tensors.Add((name, type, shape, TensorBytes(type, shape), write));

    public static long TensorBytes(GgmlType type, long[] shape)
    {
        if (!GgmlTypeInfo.TryGet(type, out int bs, out int bb)) throw new ArgumentException($"unknown tensor type {type}");
        long n = shape.Aggregate(1L, (a, b) => a * b);
        if (shape[0] % bs != 0) throw new ArgumentException($"row length {shape[0]} is not a multiple of {type}'s block size {bs}");
        return n / bs * bb;
    }

    public void Write(string path)
    {
        string tmp = path + ".tmp";
        try
        {
            using (var fs = new FileStream(tmp, FileMode.Create, FileAccess.Write, FileShare.None, 1 << 20))
            {
                WriteTo(fs);
            }
            File.Move(tmp, path, overwrite: true);
        }
        finally
        {
            if (File.Exists(tmp)) File.Delete(tmp);
        }
    }

    public void WriteTo(Stream stream)
    {
        var w = new BinaryWriter(stream, Encoding.UTF8, leaveOpen: true);
        if (_metadata.All(m => m.Key != "general.alignment") && Alignment != GgufFile.DefaultAlignment)
            Set("general.alignment", GgufValue.Of((uint)Alignment));
        w.Write(GgufFile.Magic);
        w.Write(3u);
        w.Write((ulong)_tensors.Count);
        w.Write((ulong)_metadata.Count);
        foreach (var (key, value) in _metadata)
        {
            WriteString(w, key);
            w.Write((uint)value.Type);
            WriteValue(w, value);
        }
        long offset = 0;
        foreach (var t in _tensors)
        {
            WriteString(w, t.Name);
            w.Write((uint)t.Shape.Length);
            foreach (long d in t.Shape) w.Write((ulong)d);
            w.Write((uint)t.Type);
            w.Write((ulong)offset);
            offset = Align(offset + t.Bytes);
        }
        w.Flush();
        Pad(stream);
        foreach (var t in _tensors)
        {
            long before = stream.Position;
            t.Write(stream);
            if (stream.Position - before != t.Bytes)
                throw new InvalidOperationException($"tensor '{t.Name}': wrote {stream.Position - before} bytes, expected {t.Bytes}");
            Pad(stream);
        }
    }

    long Align(long x) => (x + Alignment - 1) / Alignment * Alignment;

    void Pad(Stream s)
    {
        long pad = Align(s.Position) - s.Position;
        for (long i = 0; i < pad; i++) s.WriteByte(0);
    }

    static void WriteString(BinaryWriter w, string s)
    {
        var bytes = Encoding.UTF8.GetBytes(s);
        w.Write((ulong)bytes.Length);
        w.Write(bytes);
    }

    static void WriteValue(BinaryWriter w, GgufValue v)
    {
        switch (v.Value)
        {
            case byte x: w.Write(x); break;
            case sbyte x: w.Write(x); break;
            case ushort x: w.Write(x); break;
            case short x: w.Write(x); break;
            case uint x: w.Write(x); break;
            case int x: w.Write(x); break;
            case float x: w.Write(x); break;
            case bool x: w.Write((byte)(x ? 1 : 0)); break;
            case string x: WriteString(w, x); break;
            case ulong x: w.Write(x); break;
            case long x: w.Write(x); break;
            case double x: w.Write(x); break;
            case Array a:
                w.Write((uint)v.ElementType);
                w.Write((ulong)a.Length);
                foreach (object e in a)
                {
                    if (e is GgufValue nested) WriteValue(w, nested);
                    else WriteValue(w, new GgufValue(v.ElementType, e));
                }
                break;
            default: throw new ArgumentException($"cannot write a {v.Value.GetType().Name} as GGUF");
        }
    }
}
