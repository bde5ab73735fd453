using System.Text.Json;

namespace Augur.Tests.Support;

/// <summary>llama2.c run.c's reference vectors for stories260K (../shared/data/stories260K-reference.json).</summary>
public static class Reference
{
    public sealed record Case(string Id, string Prompt, int[] PromptIds, int[] GeneratedIds, string GeneratedText);
    public sealed record LogitsAt(int Pos, int InputToken, int Argmax, float[] Logits);

    static readonly Lazy<JsonDocument> Doc = new(() => JsonDocument.Parse(File.ReadAllText(SharedAssets.Data("stories260K-reference.json"))));

    public static IReadOnlyList<Case> Cases => Doc.Value.RootElement.GetProperty("cases").EnumerateArray().Select(c => new Case(
        c.GetProperty("id").GetString()!,
        c.GetProperty("prompt").GetString()!,
        c.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
        c.GetProperty("generated_ids").EnumerateArray().Select(e => e.GetInt32()).ToArray(),
        c.GetProperty("generated_text").GetString()!)).ToList();

    public static Case Get(string id) => Cases.Single(c => c.Id == id);

    public static IEnumerable<object[]> CaseIds => Cases.Select(c => new object[] { c.Id });

    public static string LogitsPrompt => Doc.Value.RootElement.GetProperty("logits").GetProperty("prompt").GetString()!;

    public static IReadOnlyList<LogitsAt> Logits => Doc.Value.RootElement.GetProperty("logits").GetProperty("positions").EnumerateArray()
        .Select(p => new LogitsAt(p.GetProperty("pos").GetInt32(), p.GetProperty("input_token").GetInt32(), p.GetProperty("argmax").GetInt32(),
            p.GetProperty("logits").EnumerateArray().Select(e => (float)e.GetDouble()).ToArray())).ToList();

    public static string Stories260KGguf => SharedAssets.Model("stories260K.gguf");
    public static string Stories260KBin => SharedAssets.Model("stories260K.bin");
    public static string Tok512Model => SharedAssets.Model("tok512.model");
    public static string Tok512Bin => SharedAssets.Model("tok512.bin");
}
