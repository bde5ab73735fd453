using System.Text.Json;
using Augur.Chat;
using Augur.Conversion;
using Augur.Model;
using Augur.Tests.Support;
using Augur.Tests.Tokenizers;
using Json.Schema;
using Microsoft.Extensions.AI;

namespace Augur.Tests.Chat;

/// <summary>
/// A tool call and its result, round-tripped through <see cref="AugurChatClient"/> on a tiny synthetic model that
/// carries a family's real vocabulary and the chat template its tokenizer_config.json ships: with a call required the
/// grammar makes the random-weight model call in the family's own syntax, the call is read back and validated against
/// the tool's schema by JsonSchema.Net, and the result goes back through the template's own tool turn.
/// </summary>
public sealed class NativeToolRoundTripTests : IDisposable
{
    readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    /// <summary>Architecture, shared tokenizer, the syntax its template writes, what the template writes a tool result after.</summary>
    public static TheoryData<string, string, string, string> Families => new()
    {
        { "llama", "llama3", "llama3-json", "<|start_header_id|>ipython<|end_header_id|>\n\n" },
        { "qwen3", "qwen3", "hermes", "<|im_start|>user\n<tool_response>\n" },
    };

    const string Parameters = """{"type":"object","properties":{"city":{"enum":["Paris","Rome","Oslo"]}},"required":["city"],"additionalProperties":false}""";

    [Theory]
    [MemberData(nameof(Families))]
    public async Task A_required_call_comes_back_in_the_family_syntax_and_its_result_goes_through_the_template(string architecture, string family, string syntax, string resultTurn)
    {
        string template = JsonDocument.Parse(File.ReadAllBytes(Path.Combine(SharedAssets.Root, "tokenizers", family, "tokenizer_config.json")))
            .RootElement.GetProperty("chat_template").GetString()!;
        var vocab = ConvertedVocabularies.Tokenizer(family).Vocabulary;
        string path = _dir.File(family + ".gguf");
        SyntheticModel.Write(path, SyntheticModel.Config(new SyntheticModel.Shape(16, 1, 2, 1, 32), vocab.Count, 1024, architecture), vocab, chatTemplate: template);
        using var model = LoadedModel.Open(path);
        var prompt = ChatPrompt.ForModel(model);
        Assert.Equal(syntax, prompt.NativeTools?.Name);

        var weather = AIFunctionFactory.Create((string city) => $"sunny in {city}", "get_weather", "Weather of a city");
        var declaration = AIFunctionFactory.CreateDeclaration("get_weather", "Weather of a city", JsonDocument.Parse(Parameters).RootElement);
        using var client = new AugurChatClient(model, contextLength: 1024);
        List<Microsoft.Extensions.AI.ChatMessage> conversation = [new(ChatRole.User, "Weather in Paris?")];
        var options = new ChatOptions { Tools = [declaration], ToolMode = ChatToolMode.RequireAny, Temperature = 0, MaxOutputTokens = 60, AllowMultipleToolCalls = false };

        var first = await client.GetResponseAsync(conversation, options);
        Assert.Equal(ChatFinishReason.ToolCalls, first.FinishReason);
        // The reply is written in the family's syntax, and only that one reads it.
        string reply = Assert.IsType<Augur.Generation.GenerationResult>(first.RawRepresentation).Text;
        Assert.Equal([syntax], ToolCallSyntaxes.All.Where(s => s.Read(reply).Count > 0).Select(s => s.Name));
        var call = Assert.Single(first.Messages.SelectMany(m => m.Contents).OfType<FunctionCallContent>());
        Assert.Equal("get_weather", call.Name);
        using (var args = JsonDocument.Parse(JsonSerializer.Serialize(call.Arguments)))
            Assert.True(JsonSchema.FromText(Parameters).Evaluate(args.RootElement).IsValid, args.RootElement.GetRawText());

        var result = await weather.InvokeAsync(new AIFunctionArguments(call.Arguments));
        conversation.AddRange(first.Messages);
        conversation.Add(new Microsoft.Extensions.AI.ChatMessage(ChatRole.Tool, [new FunctionResultContent(call.CallId, result)]));
        var auto = options.Clone();
        auto.ToolMode = ChatToolMode.Auto;
        var second = await client.GetResponseAsync(conversation, auto);

        // The second request's prompt: the template's own tool turn with the result, and no default tool prompt.
        var tools = new[] { new ToolDefinition("get_weather", "Weather of a city", JsonDocument.Parse(Parameters).RootElement) };
        ChatTurn[] turns =
        [
            new("user", "Weather in Paris?"),
            new("assistant", "") { ToolCalls = [new ToolCall(call.CallId, call.Name, JsonSerializer.Serialize(call.Arguments))] },
            new("tool", "sunny in " + call.Arguments!["city"]) { ToolCallId = call.CallId },
        ];
        string rendered = prompt.Render(turns, tools);
        // Llama prints a tool result through tojson, quoted.
        Assert.Contains(resultTurn + (syntax == "llama3-json" ? "\"sunny in " : "sunny in "), rendered);
        Assert.DoesNotContain(ToolCalls.SystemPrompt(tools), rendered);
        Assert.Equal(prompt.Encode(turns, tools).Length, second.Usage!.InputTokenCount);
    }
}
