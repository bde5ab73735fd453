namespace Augur.Gguf;

/// <summary>GGUF metadata value types, numbered as in the file.</summary>
public enum GgufValueType : uint
{
    UInt8 = 0, Int8 = 1, UInt16 = 2, Int16 = 3, UInt32 = 4, Int32 = 5, Float32 = 6, Bool = 7,
    String = 8, Array = 9, UInt64 = 10, Int64 = 11, Float64 = 12,
}

/// <summary>
/// One metadata value. Scalars hold their CLR value (byte, sbyte, ushort, short, uint, int, float, bool,
/// string, ulong, long, double); arrays hold a typed CLR array (<c>float[]</c>, <c>string[]</c>, …) or, when
/// nested, a <c>GgufValue[]</c> — so a 32,000-entry vocabulary is one array, not 32,000 boxes.
/// </summary>
public sealed record GgufValue(GgufValueType Type, object Value, GgufValueType ElementType = GgufValueType.UInt8)
{
    public bool IsArray => Type == GgufValueType.Array;

    public int ArrayLength => Value is Array a ? a.Length : 0;

    /// <summary>An integer of any width, widened.</summary>
    public long AsInt64() => Value switch
    {
        byte v => v, sbyte v => v, ushort v => v, short v => v, uint v => v, int v => v,
        ulong v => v > long.MaxValue ? throw new OverflowException() : (long)v, long v => v, bool v => v ? 1 : 0,
        _ => throw new InvalidCastException($"{Type} is not an integer"),
    };

    public double AsDouble() => Value switch
    {
        float v => v, double v => v,
        _ => AsInt64(),
    };

    public override string ToString() => Value switch
    {
        string s => s,
        Array a => $"[{ElementType} × {a.Length}]",
        float f => f.ToString("G9", System.Globalization.CultureInfo.InvariantCulture),
        double d => d.ToString("G17", System.Globalization.CultureInfo.InvariantCulture),
        _ => Convert.ToString(Value, System.Globalization.CultureInfo.InvariantCulture) ?? "",
    };

    public static GgufValue Of(string v) => new(GgufValueType.String, v);
    public static GgufValue Of(uint v) => new(GgufValueType.UInt32, v);
    public static GgufValue Of(int v) => new(GgufValueType.Int32, v);
    public static GgufValue Of(float v) => new(GgufValueType.Float32, v);
    public static GgufValue Of(bool v) => new(GgufValueType.Bool, v);
    public static GgufValue Of(ulong v) => new(GgufValueType.UInt64, v);
    public static GgufValue Of(string[] v) => new(GgufValueType.Array, v, GgufValueType.String);
    public static GgufValue Of(float[] v) => new(GgufValueType.Array, v, GgufValueType.Float32);
    public static GgufValue Of(int[] v) => new(GgufValueType.Array, v, GgufValueType.Int32);
}
