using System.Diagnostics;
using System.Text.Json;
using Augur.Gguf;
using Augur.Tokenizers;

namespace Augur.Tests.Tokenizers;

/// <summary>
/// The shared Hugging Face tokenizers (llama3, qwen3, gemma3) converted once per test run by the real command,
/// <c>augur convert --from hf-tokenizer</c>, into a scratch folder, and read back as Augur loads any GGUF.
/// </summary>
static class ConvertedVocabularies
{
    public static readonly string[] Names = ["llama3", "qwen3", "gemma3"];
    static readonly string Folder = Directory.CreateTempSubdirectory("augur-vocab-").FullName;
    static readonly Dictionary<string, Lazy<(string Path, ITokenizer Tokenizer)>> Converted =
        Names.ToDictionary(n => n, n => new Lazy<(string, ITokenizer)>(() => Convert(n)));

    public static string GgufPath(string name) => Converted[name].Value.Path;
    public static ITokenizer Tokenizer(string name) => Converted[name].Value.Tokenizer;

    static (string, ITokenizer) Convert(string name)
    {
        string output = Path.Combine(Folder, name + ".gguf");
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in (string[])[Path.Combine(AppContext.BaseDirectory, "Augur.Cli.dll"), "convert", "--from", "hf-tokenizer",
                     Path.Combine(SharedAssets.Root, "tokenizers", name), "--out", output])
            psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        var stderr = p.StandardError.ReadToEndAsync();
        p.StandardOutput.ReadToEnd();
        p.WaitForExit();
        if (p.ExitCode != 0) throw new InvalidOperationException($"augur convert {name} failed: {stderr.Result}");
        using var gguf = GgufFile.Open(output);
        return (output, TokenizerFactory.Create(Vocabulary.FromGguf(gguf)));
    }

    /// <summary>One case of <c>shared/data/tokenizer-vectors/NAME.json</c>.</summary>
    public sealed record VectorCase(string Category, string Text, int[] Ids, int[] IdsWithSpecial, string Decoded, string? DecodedCleanup);

    static readonly Dictionary<string, Lazy<VectorCase[]>> Vectors =
        Names.ToDictionary(n => n, n => new Lazy<VectorCase[]>(() => ReadVectors(n)));

    public static VectorCase[] Cases(string name) => Vectors[name].Value;

    static VectorCase[] ReadVectors(string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(SharedAssets.Data($"tokenizer-vectors/{name}.json")));
        return [.. doc.RootElement.GetProperty("cases").EnumerateArray().Select(c => new VectorCase(
            c.GetProperty("category").GetString()!, c.GetProperty("text").GetString()!,
            [.. c.GetProperty("ids").EnumerateArray().Select(i => i.GetInt32())],
            [.. c.GetProperty("ids_with_special").EnumerateArray().Select(i => i.GetInt32())],
            c.GetProperty("decoded").GetString()!,
            c.TryGetProperty("decoded_cleanup", out var d) ? d.GetString() : null))];
    }
}
