using System.CommandLine;
using System.Globalization;
using System.Text.RegularExpressions;
using Augur.Cache;

namespace Augur.Cli.Commands;

/// <summary>The KV-cache options every command that runs a model shares.</summary>
sealed partial class KvArguments
{
    readonly Option<string> _type = new("--kv-type") { Description = "KV cache element type: f32, f16 (half the memory) or q8_0 (about a quarter; head size a multiple of 32)", DefaultValueFactory = _ => "f32" };
    readonly Option<string?> _memory = new("--kv-memory") { Description = "a paged KV cache: one block pool of this size (e.g. 512MiB, 2GiB) shared by every sequence, holding memory for the tokens held" };

    public void AddTo(Command command)
    {
        command.Options.Add(_type);
        command.Options.Add(_memory);
    }

    public KvType Type(ParseResult r) => Parse(r.GetValue(_type)!);

    /// <summary>The --kv-memory size in bytes, or null when not given.</summary>
    public long? Memory(ParseResult r) => r.GetValue(_memory) is { } size ? ParseSize(size) : null;

    public KvCacheOptions Options(ParseResult r) => new() { Type = Type(r), Paged = Memory(r) is not null, PoolBytes = Memory(r) };

    public static KvType Parse(string value) => value.ToLowerInvariant() switch
    {
        "f32" => KvType.F32,
        "f16" => KvType.F16,
        "q8_0" => KvType.Q8_0,
        _ => throw new InvalidRequestException($"--kv-type {SafeText.Quote(value)} is not supported (supported: f32, f16, q8_0)"),
    };

    [GeneratedRegex(@"^\s*(\d+(?:\.\d+)?)\s*(B|KB|MB|GB|KiB|MiB|GiB|K|M|G)?\s*$", RegexOptions.IgnoreCase)]
    private static partial Regex Size();

    /// <summary>"512MiB", "2GiB", "1.5G", "1000000": bytes (K, M, G and KiB… are binary, KB… decimal).</summary>
    public static long ParseSize(string value)
    {
        var m = Size().Match(value);
        if (!m.Success) throw new InvalidRequestException($"--kv-memory {SafeText.Quote(value)} is not a size (examples: 512MiB, 2GiB, 1000000)");
        double number = double.Parse(m.Groups[1].Value, CultureInfo.InvariantCulture);
        double unit = m.Groups[2].Value.ToUpperInvariant() switch
        {
            "" or "B" => 1,
            "KB" => 1e3, "MB" => 1e6, "GB" => 1e9,
            "K" or "KIB" => 1L << 10, "M" or "MIB" => 1L << 20, _ => 1L << 30,
        };
        double bytes = number * unit;
        if (bytes < 1 || bytes > long.MaxValue / 2) throw new InvalidRequestException($"--kv-memory {SafeText.Quote(value)} is out of range");
        return (long)bytes;
    }
}
