using System.ClientModel;
using System.Text.Json;
using Augur.Chat;
using Augur.Model;
using Json.Schema;
using Microsoft.Extensions.AI;
using OpenAI;
using OpenAI.Chat;

namespace Augur.ServerTests;

/// <summary>
/// Structured outputs through real clients: the OpenAI SDK's json_schema response format against the live server,
/// and Microsoft.Extensions.AI's ChatResponseFormat through the in-process AugurChatClient. stories260K knows no
/// JSON, so a valid reply is the grammar's doing; JsonSchema.Net judges it.
/// </summary>
[Collection("server")]
public sealed class StructuredOutputTests(ServerFixture server) : IDisposable
{
    readonly LoadedModel _model = LoadedModel.Open(ServerFixture.ModelPath);

    public void Dispose() => _model.Dispose();

    const string Schema = """
        {"type":"object","properties":{"name":{"type":"string","maxLength":10},"age":{"type":"integer","minimum":0,"maximum":99},
         "pet":{"enum":["cat","dog"]},"tags":{"type":"array","items":{"type":"string","maxLength":4},"maxItems":2}},
         "required":["name","age","pet","tags"],"additionalProperties":false}
        """;

    static void AssertValid(string text)
    {
        using var doc = JsonDocument.Parse(text);
        var verdict = JsonSchema.FromText(Schema).Evaluate(doc.RootElement, new EvaluationOptions { RequireFormatValidation = true });
        Assert.True(verdict.IsValid, text);
    }

    [Fact]
    public async Task OpenAI_sdk_structured_output_validates_whole_and_streamed()
    {
        var chat = new OpenAIClient(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(server.Base, "v1") })
            .GetChatClient(ServerFixture.ModelId);
        for (int seed = 0; seed < 3; seed++)
        {
            var options = new ChatCompletionOptions
            {
                Temperature = 1, Seed = seed, MaxOutputTokenCount = 300,
                ResponseFormat = OpenAI.Chat.ChatResponseFormat.CreateJsonSchemaFormat("person", BinaryData.FromString(Schema), jsonSchemaIsStrict: true),
            };
            ChatCompletion reply = await chat.CompleteChatAsync([new UserChatMessage("Describe a person.")], options);
            Assert.Equal(OpenAI.Chat.ChatFinishReason.Stop, reply.FinishReason);
            AssertValid(reply.Content[0].Text);

            var streamed = new System.Text.StringBuilder();
            await foreach (var update in chat.CompleteChatStreamingAsync([new UserChatMessage("Describe a person.")], options))
                foreach (var part in update.ContentUpdate) streamed.Append(part.Text);
            Assert.Equal(reply.Content[0].Text, streamed.ToString());
        }
    }

    [Fact]
    public async Task In_process_client_maps_the_response_format()
    {
        using var client = new AugurChatClient(_model);
        var format = Microsoft.Extensions.AI.ChatResponseFormat.ForJsonSchema(JsonDocument.Parse(Schema).RootElement, "person");
        for (int seed = 0; seed < 3; seed++)
        {
            var reply = await client.GetResponseAsync([new Microsoft.Extensions.AI.ChatMessage(ChatRole.User, "Describe a person.")],
                new ChatOptions { Temperature = 1, Seed = seed, MaxOutputTokens = 300, ResponseFormat = format });
            Assert.Equal(Microsoft.Extensions.AI.ChatFinishReason.Stop, reply.FinishReason);
            AssertValid(reply.Text);
        }
    }
}
