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
/// Tool calling through real clients. stories260K cannot follow instructions, so with tool_choice required the
/// grammar alone makes it call; the arguments are validated against the tool's schema by JsonSchema.Net, and
/// FunctionInvokingChatClient must run the C# function and carry its result into the conversation.
/// A server of its own with a 2048-token context: stories260K spells JSON about a character per token, and the
/// tool descriptions plus a call and its result outgrow the trained 512.
/// </summary>
public sealed class ToolCallingTests : IAsyncLifetime
{
    const int Context = 2048;
    readonly LoadedModel _model = LoadedModel.Open(ServerFixture.ModelPath);
    Augur.Server.AugurServer _server = null!;

    public async Task InitializeAsync() =>
        _server = await ServerFixture.StartAsync(new Augur.Server.ServerOptions { ModelPath = ServerFixture.ModelPath, Port = 0, Parallel = 4, ContextLength = Context, AllowLongContext = true });

    public async Task DisposeAsync()
    {
        await _server.DisposeAsync();
        _model.Dispose();
    }

    const string WeatherParameters = """{"type":"object","properties":{"city":{"enum":["Paris","Rome","Oslo"]},"days":{"type":"integer","minimum":1,"maximum":7}},"required":["city","days"],"additionalProperties":false}""";
    const string TimeParameters = """{"type":"object","properties":{"zone":{"type":"string","maxLength":6}},"required":["zone"]}""";

    OpenAI.Chat.ChatClient Sdk => new OpenAIClient(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(_server.Address, "v1") })
        .GetChatClient(ServerFixture.ModelId);

    static void AssertArguments(string parameters, string arguments)
    {
        using var doc = JsonDocument.Parse(arguments);
        Assert.True(JsonSchema.FromText(parameters).Evaluate(doc.RootElement).IsValid, arguments);
    }

    static ChatCompletionOptions Options(int seed, ChatToolChoice choice)
    {
        var o = new ChatCompletionOptions { Temperature = 1, Seed = seed, MaxOutputTokenCount = 200, ToolChoice = choice, AllowParallelToolCalls = false };
        o.Tools.Add(ChatTool.CreateFunctionTool("get_weather", "Weather", BinaryData.FromString(WeatherParameters)));
        o.Tools.Add(ChatTool.CreateFunctionTool("get_time", "Time", BinaryData.FromString(TimeParameters)));
        return o;
    }

    [Fact]
    public async Task OpenAI_sdk_required_and_named_tool_calls_round_trip_whole_and_streamed()
    {
        for (int seed = 0; seed < 3; seed++)
        {
            ChatCompletion required = await Sdk.CompleteChatAsync([new UserChatMessage("What is the weather?")], Options(seed, ChatToolChoice.CreateRequiredChoice()));
            Assert.Equal(OpenAI.Chat.ChatFinishReason.ToolCalls, required.FinishReason);
            var call = Assert.Single(required.ToolCalls);
            AssertArguments(call.FunctionName == "get_weather" ? WeatherParameters : TimeParameters, call.FunctionArguments.ToString());

            ChatCompletion named = await Sdk.CompleteChatAsync([new UserChatMessage("What time is it?")], Options(seed, ChatToolChoice.CreateFunctionChoice("get_time")));
            var timeCall = Assert.Single(named.ToolCalls);
            Assert.Equal("get_time", timeCall.FunctionName);
            AssertArguments(TimeParameters, timeCall.FunctionArguments.ToString());

            string? name = null;
            var args = new System.Text.StringBuilder();
            OpenAI.Chat.ChatFinishReason? finish = null;
            await foreach (var update in Sdk.CompleteChatStreamingAsync([new UserChatMessage("What time is it?")], Options(seed, ChatToolChoice.CreateFunctionChoice("get_time"))))
            {
                foreach (var t in update.ToolCallUpdates) { name ??= t.FunctionName; args.Append(t.FunctionArgumentsUpdate?.ToString()); }
                finish ??= update.FinishReason;
            }
            Assert.Equal("get_time", name);
            Assert.Equal(timeCall.FunctionArguments.ToString(), args.ToString());
            Assert.Equal(OpenAI.Chat.ChatFinishReason.ToolCalls, finish);

            // The call and its result go back; with tool_choice none the model answers in text.
            ChatCompletion answer = await Sdk.CompleteChatAsync(
                [new UserChatMessage("What time is it?"), new AssistantChatMessage([timeCall]), new ToolChatMessage(timeCall.Id, "12:00")],
                Options(seed, ChatToolChoice.CreateNoneChoice()));
            Assert.Empty(answer.ToolCalls);
            Assert.NotEqual(OpenAI.Chat.ChatFinishReason.ToolCalls, answer.FinishReason);
        }
    }

    static (AIFunction Function, Func<int> Calls) Forecast()
    {
        int calls = 0;
        var f = AIFunctionFactory.Create((int day) => { calls++; return $"sunny on day {day}"; }, "get_forecast", "The forecast for a day");
        return (f, () => calls);
    }

    async Task AssertFunctionInvoked(IChatClient inner)
    {
        var (function, calls) = Forecast();
        using var client = new ChatClientBuilder(inner).UseFunctionInvocation().Build();
        var response = await client.GetResponseAsync([new Microsoft.Extensions.AI.ChatMessage(ChatRole.User, "Weather?")],
            new ChatOptions { Tools = [function], ToolMode = ChatToolMode.RequireAny, Temperature = 0, MaxOutputTokens = 200 });
        Assert.True(calls() >= 1);
        var result = response.Messages.SelectMany(m => m.Contents).OfType<FunctionResultContent>().First();
        Assert.StartsWith("sunny on day", result.Result?.ToString());
        Assert.Contains(response.Messages, m => m.Contents.OfType<FunctionCallContent>().Any(c => c.Name == "get_forecast"));
    }

    [Fact]
    public Task Function_invocation_over_the_in_process_client() => AssertFunctionInvoked(new AugurChatClient(_model, contextLength: Context));

    [Fact]
    public Task Function_invocation_over_the_openai_client_to_the_server() => AssertFunctionInvoked(Sdk.AsIChatClient());
}
