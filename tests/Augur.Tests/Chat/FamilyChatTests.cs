using System.Text.Json;
using Augur.Chat;
using Augur.Conversion;
using Augur.Model;
using Augur.Tests.Support;
using Augur.Tests.Tokenizers;

namespace Augur.Tests.Chat;

/// <summary>
/// A tiny synthetic model of each family carrying the family's real vocabulary (shared/tokenizers, converted by
/// <c>augur convert</c>) and real chat template (shared/data/chat-templates), loaded as any GGUF and prompted through
/// <see cref="ChatPrompt.ForModel"/>: every finished turn is closed by
/// the family's end-of-turn token as one special id, and generation stops at that id. The expected token and id are
/// read from the family's own tokenizer_config.json, not from Augur.
/// </summary>
public sealed class FamilyChatTests : IDisposable
{
    readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    /// <summary>Architecture, shared tokenizer, shared template.</summary>
    public static TheoryData<string, string, string> Families => new()
    {
        { "llama", "llama3", "meta-llama-Llama-3.1-8B-Instruct.jinja" },
        { "qwen3", "qwen3", "Qwen-Qwen3-0.6B.jinja" },
        { "gemma3", "gemma3", "google-gemma-3-it.jinja" },
    };

    static readonly ChatTurn[] Conversation = [new("user", "Hello"), new("assistant", "Hi there."), new("user", "Bye")];

    /// <summary>The end-of-turn token (tokenizer_config's eos_token, a string or an added-token object) and its id.</summary>
    static (string Text, int Id) EndOfTurn(string family)
    {
        using var doc = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(SharedAssets.Root, "tokenizers", family, "tokenizer_config.json")));
        var eos = doc.RootElement.GetProperty("eos_token");
        string text = eos.ValueKind == JsonValueKind.String ? eos.GetString()! : eos.GetProperty("content").GetString()!;
        int id = doc.RootElement.GetProperty("added_tokens_decoder").EnumerateObject()
            .Where(t => t.Value.GetProperty("content").GetString() == text).Select(t => int.Parse(t.Name)).Single();
        return (text, id);
    }

    [Theory]
    [MemberData(nameof(Families))]
    public void The_real_template_closes_every_turn_with_the_end_of_turn_token_generation_stops_at(string architecture, string family, string template)
    {
        var (eotText, eotId) = EndOfTurn(family);
        var vocab = ConvertedVocabularies.Tokenizer(family).Vocabulary;
        string path = _dir.File(family + ".gguf");
        SyntheticModel.Write(path, SyntheticModel.Config(new SyntheticModel.Shape(16, 1, 2, 1, 32), vocab.Count, 256, architecture), vocab,
            chatTemplate: File.ReadAllText(SharedAssets.Data("chat-templates/" + template)));
        using var model = LoadedModel.Open(path);
        var tokenizer = model.Tokenizer;
        var prompt = ChatPrompt.ForModel(model);
        Assert.Null(prompt.LoadProblem);

        Assert.Contains(eotId, tokenizer.Vocabulary.EndOfGeneration);
        Assert.True(tokenizer.IsEndOfGeneration(eotId));

        string rendered = prompt.Render(Conversation);
        int[] ids = prompt.Encode(Conversation);
        // Llama 3.1 writes a system turn of its own (knowledge cutoff) before the conversation.
        int closedTurns = rendered.Split(eotText).Length - 1;
        Assert.InRange(closedTurns, Conversation.Length, Conversation.Length + 1);
        Assert.Equal(closedTurns, ids.Count(i => i == eotId));
        Assert.DoesNotContain(ids, i => i != eotId && tokenizer.IsEndOfGeneration(i));
        // The prompt ends on the assistant's open turn, not on a closed one: the model's next token is the reply.
        Assert.NotEqual(eotId, ids[^1]);
        Assert.Contains("Bye", rendered[..rendered.LastIndexOf(eotText, StringComparison.Ordinal)]);
    }
}
