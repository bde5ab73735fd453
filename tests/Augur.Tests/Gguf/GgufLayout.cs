using System.Buffers.Binary;
using System.Text;

namespace Augur.Tests.Gguf;

/// <summary>
/// An independent walk over GGUF bytes, written from the GGUF specification (ggml/docs/gguf.md): it records
/// where every field sits, so tests can check the encoding and corrupt exactly one field. It trusts the bytes
/// (only valid files are walked).
/// </summary>
sealed class GgufLayout
{
    public sealed record Kv(string Key, long KeyOffset, long TypeOffset, uint Type, long ValueOffset);
    public sealed record TensorInfo(string Name, long NameOffset, long NDimsOffset, long DimsOffset, long TypeOffset, long OffsetOffset, ulong[] Dims, uint Type, ulong Offset);

    public readonly List<Kv> Kvs = [];
    public readonly List<TensorInfo> Tensors = [];
    public long InfosEnd;
    readonly byte[] _b;
    long _p;

    public GgufLayout(byte[] bytes)
    {
        _b = bytes;
        _p = 8;
        ulong tensorCount = U64(), kvCount = U64();
        for (ulong i = 0; i < kvCount; i++)
        {
            long keyOffset = _p;
            string key = Str();
            long typeOffset = _p;
            uint type = U32();
            Kvs.Add(new Kv(key, keyOffset, typeOffset, type, _p));
            SkipValue(type);
        }
        for (ulong i = 0; i < tensorCount; i++)
        {
            long nameOffset = _p;
            string name = Str();
            long nDimsOffset = _p;
            uint nDims = U32();
            long dimsOffset = _p;
            var dims = new ulong[nDims];
            for (int d = 0; d < nDims; d++) dims[d] = U64();
            long typeOffset = _p;
            uint type = U32();
            long offsetOffset = _p;
            Tensors.Add(new TensorInfo(name, nameOffset, nDimsOffset, dimsOffset, typeOffset, offsetOffset, dims, type, U64()));
        }
        InfosEnd = _p;
    }

    public Kv this[string key] => Kvs.Single(k => k.Key == key);
    public TensorInfo Tensor(string name) => Tensors.Single(t => t.Name == name);

    uint U32() { uint v = BinaryPrimitives.ReadUInt32LittleEndian(_b.AsSpan((int)_p)); _p += 4; return v; }
    ulong U64() { ulong v = BinaryPrimitives.ReadUInt64LittleEndian(_b.AsSpan((int)_p)); _p += 8; return v; }

    string Str()
    {
        int len = (int)U64();
        string s = Encoding.UTF8.GetString(_b, (int)_p, len);
        _p += len;
        return s;
    }

    /// <summary>Value sizes from the spec's gguf_metadata_value_type table.</summary>
    void SkipValue(uint type)
    {
        switch (type)
        {
            case 0 or 1 or 7: _p += 1; break;          // uint8, int8, bool
            case 2 or 3: _p += 2; break;               // uint16, int16
            case 4 or 5 or 6: _p += 4; break;          // uint32, int32, float32
            case 10 or 11 or 12: _p += 8; break;       // uint64, int64, float64
            case 8: Str(); break;                      // string: uint64 length + bytes
            case 9:                                    // array: element type, uint64 count, elements
                uint et = U32();
                ulong n = U64();
                for (ulong i = 0; i < n; i++) SkipValue(et);
                break;
            default: throw new InvalidDataException($"value type {type}");
        }
    }

    public static void PutU32(byte[] b, long at, uint v) => BinaryPrimitives.WriteUInt32LittleEndian(b.AsSpan((int)at), v);
    public static void PutU64(byte[] b, long at, ulong v) => BinaryPrimitives.WriteUInt64LittleEndian(b.AsSpan((int)at), v);
}
