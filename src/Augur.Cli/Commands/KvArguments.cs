using System.CommandLine;
using Augur.Cache;

namespace Augur.Cli.Commands;

/// <summary>The KV-cache options every command that runs a model shares.</summary>
sealed class KvArguments
{
    readonly Option<string> _type = new("--kv-type") { Description = "KV cache element type: f32, f16 (half the memory) or q8_0 (about a quarter; head size a multiple of 32)", DefaultValueFactory = _ => "f32" };

    public void AddTo(Command command) => command.Options.Add(_type);

    public KvType Type(ParseResult r) => Parse(r.GetValue(_type)!);

    public static KvType Parse(string value) => value.ToLowerInvariant() switch
    {
        "f32" => KvType.F32,
        "f16" => KvType.F16,
        "q8_0" => KvType.Q8_0,
        _ => throw new InvalidRequestException($"--kv-type {SafeText.Quote(value)} is not supported (supported: f32, f16, q8_0)"),
    };
}
