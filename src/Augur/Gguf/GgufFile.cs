using Augur.Tensors;
using System.IO.MemoryMappedFiles;
using System.Text;

namespace Augur.Gguf;

/// <summary>A tensor's entry in a GGUF file. <c>Shape[0]</c> is the contiguous dimension (ggml's ne[0]).</summary>
public sealed record GgufTensorInfo(string Name, GgmlType Type, long[] Shape, ulong Offset, long ByteSize)
{
    public long ElementCount => Shape.Aggregate(1L, (a, b) => a * b);
}

/// <summary>
/// A GGUF file (versions 2 and 3), memory-mapped: metadata and tensor infos are parsed up front,
/// tensor bytes are pointers into the mapping (nothing is copied). Every count, length, offset and size
/// is checked against the file before use, so a corrupt file raises <see cref="ModelFormatException"/>
/// instead of a crash or a huge allocation.
/// </summary>
public sealed unsafe class GgufFile : IDisposable
{
    public const uint Magic = 0x46554747; // "GGUF" little endian
    public const int DefaultAlignment = 32;
    const int MaxDims = 4;

    readonly MemoryMappedFile? _map;
    readonly MemoryMappedViewAccessor? _view;
    readonly byte* _base;
    bool _disposed;

    public string Path { get; }
    public uint Version { get; }
    public long FileSize { get; }
    public int Alignment { get; }
    public long DataOffset { get; }
    public IReadOnlyDictionary<string, GgufValue> Metadata { get; }
    /// <summary>Metadata keys in file order.</summary>
    public IReadOnlyList<string> MetadataKeys { get; }
    public IReadOnlyList<GgufTensorInfo> Tensors { get; }
    readonly Dictionary<string, GgufTensorInfo> _tensorsByName;

    public static GgufFile Open(string path)
    {
        if (!File.Exists(path)) throw new AssetNotFoundException(path, "model file");
        return new GgufFile(path);
    }

    GgufFile(string path)
    {
        Path = path;
        FileSize = new FileInfo(path).Length;
        if (FileSize < 24) throw Bad($"file is {FileSize} bytes, too short for a GGUF header");
        try
        {
            _map = MemoryMappedFile.CreateFromFile(path, FileMode.Open, null, 0, MemoryMappedFileAccess.Read);
            _view = _map.CreateViewAccessor(0, 0, MemoryMappedFileAccess.Read);
            byte* p = null;
            _view.SafeMemoryMappedViewHandle.AcquirePointer(ref p);
            _base = p + _view.PointerOffset;

            var r = new Reader(_base, FileSize, path);
            uint magic = r.U32();
            if (magic != Magic) throw Bad($"bad magic 0x{magic:X8} (expected \"GGUF\"); not a GGUF file");
            Version = r.U32();
            if (Version is not (2 or 3)) throw Bad($"unsupported GGUF version {Version} (supported: 2, 3)");
            ulong tensorCount = r.U64(), kvCount = r.U64();
            // Each metadata entry needs at least 12 bytes and each tensor info at least 24: bounds counts by the file size.
            if (kvCount > (ulong)FileSize / 12) throw Bad($"metadata count {kvCount} is impossible for a {FileSize}-byte file");
            if (tensorCount > (ulong)FileSize / 24) throw Bad($"tensor count {tensorCount} is impossible for a {FileSize}-byte file");

            var metadata = new Dictionary<string, GgufValue>((int)kvCount);
            var keys = new List<string>((int)kvCount);
            for (ulong i = 0; i < kvCount; i++)
            {
                string key = r.String();
                var type = (GgufValueType)r.U32();
                var value = r.Value(type, key, depth: 0);
                if (!metadata.TryAdd(key, value)) throw Bad($"duplicate metadata key '{SafeText.Quote(key)}'");
                keys.Add(key);
            }
            Metadata = metadata;
            MetadataKeys = keys;

            Alignment = DefaultAlignment;
            if (metadata.TryGetValue("general.alignment", out var al))
            {
                long a;
                try { a = al.AsInt64(); }
                catch (Exception e) when (e is InvalidCastException or OverflowException) { a = 0; } // a float, string or array
                if (a <= 0 || a > 1 << 20 || (a & (a - 1)) != 0) throw Bad($"general.alignment = {SafeText.Quote(al.ToString())} ({al.Type}) is not an integer power of two");
                Alignment = (int)a;
            }

            var infos = new List<(string, GgmlType, long[], ulong)>((int)tensorCount);
            for (ulong i = 0; i < tensorCount; i++)
            {
                string name = r.String();
                uint nDims = r.U32();
                if (nDims == 0 || nDims > MaxDims) throw Bad($"tensor '{SafeText.Quote(name)}' has {nDims} dimensions (1..{MaxDims} allowed)");
                var shape = new long[nDims];
                for (int d = 0; d < nDims; d++)
                {
                    ulong ne = r.U64();
                    if (ne == 0 || ne > (ulong)FileSize * 8) throw Bad($"tensor '{SafeText.Quote(name)}' dimension {d} = {ne} is impossible for a {FileSize}-byte file");
                    shape[d] = (long)ne;
                }
                var type = (GgmlType)r.U32();
                ulong offset = r.U64();
                infos.Add((name, type, shape, offset));
            }
            DataOffset = Align(r.Position, Alignment);

            var tensors = new List<GgufTensorInfo>(infos.Count);
            _tensorsByName = new Dictionary<string, GgufTensorInfo>(infos.Count);
            long dataSize = Math.Max(0, FileSize - DataOffset); // a file cut inside the padding before the data has none
            foreach (var (name, type, shape, offset) in infos)
            {
                if (!GgmlTypeInfo.TryGet(type, out int blockSize, out int blockBytes))
                    throw Bad($"tensor '{SafeText.Quote(name)}' has unknown tensor type {(uint)type}");
                if (shape[0] % blockSize != 0)
                    throw Bad($"tensor '{SafeText.Quote(name)}' row length {shape[0]} is not a multiple of the {type} block size {blockSize}");
                long bytes;
                try
                {
                    long elements = checked(shape.Aggregate(1L, (a, b) => checked(a * b)));
                    bytes = checked(elements / blockSize * blockBytes);
                }
                catch (OverflowException) { throw Bad($"tensor '{SafeText.Quote(name)}' shape [{string.Join(", ", shape)}] overflows"); }
                if (offset % (ulong)Alignment != 0) throw Bad($"tensor '{SafeText.Quote(name)}' offset {offset} is not aligned to {Alignment}");
                if (offset > (ulong)dataSize || (ulong)bytes > (ulong)dataSize - offset)
                    throw Bad($"tensor '{SafeText.Quote(name)}' ({bytes} bytes at data offset {offset}) runs past the end of the file (data section is {dataSize} bytes; file truncated?)");
                var info = new GgufTensorInfo(name, type, shape, offset, bytes);
                if (!_tensorsByName.TryAdd(name, info)) throw Bad($"duplicate tensor name '{SafeText.Quote(name)}'");
                tensors.Add(info);
            }
            Tensors = tensors;
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    ModelFormatException Bad(string what) => new($"{Path}: {what}");

    static long Align(long x, int a) => (x + a - 1) / a * a;

    public GgufTensorInfo? FindTensor(string name) => _tensorsByName.GetValueOrDefault(name);

    public GgufTensorInfo GetTensor(string name) =>
        FindTensor(name) ?? throw Bad($"required tensor '{SafeText.Quote(name)}' is missing");

    /// <summary>The tensor's bytes inside the mapping; valid while this file is open.</summary>
    public byte* TensorData(GgufTensorInfo t)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        return _base + DataOffset + (long)t.Offset;
    }

    public ReadOnlySpan<byte> TensorBytes(GgufTensorInfo t) => new(TensorData(t), checked((int)t.ByteSize));

    public GgufValue? Find(string key) => Metadata.GetValueOrDefault(key);

    public string GetString(string key) => Find(key)?.Value as string ?? throw Bad($"metadata '{SafeText.Quote(key)}' is missing or not a string");

    public long GetInt(string key) => TryGetInt(key) ?? throw Bad($"metadata '{SafeText.Quote(key)}' is missing");

    public long? TryGetInt(string key)
    {
        var v = Find(key);
        if (v is null) return null;
        try { return v.AsInt64(); }
        catch (Exception e) when (e is InvalidCastException or OverflowException) { throw Bad($"metadata '{SafeText.Quote(key)}' = {SafeText.Quote(v.ToString())} is not an integer"); }
    }

    public double? TryGetFloat(string key)
    {
        var v = Find(key);
        if (v is null) return null;
        try { return v.AsDouble(); }
        catch (InvalidCastException) { throw Bad($"metadata '{SafeText.Quote(key)}' = {SafeText.Quote(v.ToString())} is not a number"); }
    }

    public T[]? TryGetArray<T>(string key)
    {
        var v = Find(key);
        if (v is null) return null;
        return v.Value as T[] ?? throw Bad($"metadata '{SafeText.Quote(key)}' is {v.Type}/{v.ElementType}, expected an array of {typeof(T).Name}");
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        if (_view is not null)
        {
            if (_base != null) _view.SafeMemoryMappedViewHandle.ReleasePointer();
            _view.Dispose();
        }
        _map?.Dispose();
    }

    /// <summary>A bounds-checked little-endian cursor over the mapping.</summary>
    ref struct Reader(byte* p, long size, string path)
    {
        long _pos;
        public readonly long Position => _pos;
        const int MaxDepth = 8;

        byte* Take(long n)
        {
            if (n < 0 || n > size - _pos)
                throw new ModelFormatException($"{path}: unexpected end of file at byte {_pos} (needed {n} more bytes; file truncated?)");
            byte* r = p + _pos;
            _pos += n;
            return r;
        }

        public uint U32() => *(uint*)Take(4);
        public ulong U64() => *(ulong*)Take(8);

        /// <summary>GGUF strings are UTF-8; invalid bytes are an error, not a silent U+FFFD (a vocabulary would change under it).</summary>
        public string String(string? key = null)
        {
            ulong len = U64();
            if (len > (ulong)(size - _pos)) throw new ModelFormatException($"{path}: string length {len} at byte {_pos - 8} runs past the end of the file");
            long start = _pos;
            try { return StrictUtf8.GetString(Take((long)len), (int)len); }
            catch (DecoderFallbackException)
            {
                throw new ModelFormatException($"{path}: {(key is null ? "a string" : $"metadata '{key}'")} at byte {start} is not valid UTF-8");
            }
        }

        static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);

        public GgufValue Value(GgufValueType type, string key, int depth) => type switch
        {
            GgufValueType.UInt8 => new(type, *Take(1)),
            GgufValueType.Int8 => new(type, *(sbyte*)Take(1)),
            GgufValueType.UInt16 => new(type, *(ushort*)Take(2)),
            GgufValueType.Int16 => new(type, *(short*)Take(2)),
            GgufValueType.UInt32 => new(type, U32()),
            GgufValueType.Int32 => new(type, *(int*)Take(4)),
            GgufValueType.Float32 => new(type, *(float*)Take(4)),
            GgufValueType.Bool => new(type, *Take(1) != 0),
            GgufValueType.String => new(type, String(key)),
            GgufValueType.UInt64 => new(type, U64()),
            GgufValueType.Int64 => new(type, *(long*)Take(8)),
            GgufValueType.Float64 => new(type, *(double*)Take(8)),
            GgufValueType.Array => Array(key, depth),
            _ => throw new ModelFormatException($"{path}: metadata '{SafeText.Quote(key)}' has unknown value type {(uint)type}"),
        };

        GgufValue Array(string key, int depth)
        {
            if (depth >= MaxDepth) throw new ModelFormatException($"{path}: metadata '{SafeText.Quote(key)}' nests arrays deeper than {MaxDepth}");
            var et = (GgufValueType)U32();
            ulong count = U64();
            long minSize = et switch
            {
                GgufValueType.UInt8 or GgufValueType.Int8 or GgufValueType.Bool => 1,
                GgufValueType.UInt16 or GgufValueType.Int16 => 2,
                GgufValueType.UInt32 or GgufValueType.Int32 or GgufValueType.Float32 => 4,
                GgufValueType.UInt64 or GgufValueType.Int64 or GgufValueType.Float64 or GgufValueType.String => 8,
                GgufValueType.Array => 12,
                _ => throw new ModelFormatException($"{path}: metadata '{SafeText.Quote(key)}' is an array of unknown type {(uint)et}"),
            };
            if (count > (ulong)((size - _pos) / minSize))
                throw new ModelFormatException($"{path}: metadata '{SafeText.Quote(key)}' array of {count} {et} runs past the end of the file");
            int n = (int)count;
            object values = et switch
            {
                GgufValueType.UInt8 => Copy<byte>(n),
                GgufValueType.Int8 => Copy<sbyte>(n),
                GgufValueType.Bool => Copy<byte>(n).Select(b => b != 0).ToArray(),
                GgufValueType.UInt16 => Copy<ushort>(n),
                GgufValueType.Int16 => Copy<short>(n),
                GgufValueType.UInt32 => Copy<uint>(n),
                GgufValueType.Int32 => Copy<int>(n),
                GgufValueType.Float32 => Copy<float>(n),
                GgufValueType.UInt64 => Copy<ulong>(n),
                GgufValueType.Int64 => Copy<long>(n),
                GgufValueType.Float64 => Copy<double>(n),
                GgufValueType.String => Strings(n, key),
                _ => Nested(n, key, depth),
            };
            return new GgufValue(GgufValueType.Array, values, et);
        }

        T[] Copy<T>(int n) where T : unmanaged => new ReadOnlySpan<T>(Take((long)n * sizeof(T)), n).ToArray();

        string[] Strings(int n, string key)
        {
            var a = new string[n];
            for (int i = 0; i < n; i++) a[i] = String(key);
            return a;
        }

        GgufValue[] Nested(int n, string key, int depth)
        {
            var a = new GgufValue[n];
            for (int i = 0; i < n; i++) a[i] = Array(key, depth + 1);
            return a;
        }
    }
}
