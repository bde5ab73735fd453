using System.ClientModel;
using Augur.Chat;
using Augur.Model;
using Microsoft.Extensions.AI;
using OpenAI;

namespace Augur.ServerTests;

/// <summary>Microsoft.Extensions.AI: the OpenAI provider's IChatClient against the server, and Augur's own in-process client.</summary>
[Collection("server")]
public sealed class ChatClientTests(ServerFixture server) : IDisposable
{
    readonly LoadedModel _model = LoadedModel.Open(ServerFixture.ModelPath);

    public void Dispose() => _model.Dispose();

    IChatClient RemoteClient() => new OpenAIClient(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(server.Base, "v1") })
        .GetChatClient(ServerFixture.ModelId).AsIChatClient();

    static readonly ChatMessage[] Conversation =
    [
        new(ChatRole.System, "You are a storyteller."),
        new(ChatRole.User, "Tell me about a dog."),
    ];

    static ChatOptions Greedy(int maxTokens) => new() { Temperature = 0, MaxOutputTokens = maxTokens };

    [Fact]
    public async Task OpenAI_provider_client_works_against_the_server_whole_and_streamed()
    {
        using var client = RemoteClient();
        var whole = await client.GetResponseAsync(Conversation, Greedy(30));
        Assert.Equal(ChatFinishReason.Length, whole.FinishReason);
        Assert.Equal(30, whole.Usage?.OutputTokenCount);
        Assert.NotEmpty(whole.Text);

        var streamed = await client.GetStreamingResponseAsync(Conversation, Greedy(30)).ToChatResponseAsync();
        Assert.Equal(whole.Text, streamed.Text);
        Assert.Equal(ChatFinishReason.Length, streamed.FinishReason);
    }

    [Fact]
    public async Task In_process_client_matches_the_server()
    {
        using var remote = RemoteClient();
        using var local = new AugurChatClient(_model);
        var expected = await remote.GetResponseAsync(Conversation, Greedy(40));

        var whole = await local.GetResponseAsync(Conversation, Greedy(40));
        Assert.Equal(expected.Text, whole.Text);
        Assert.Equal(ChatFinishReason.Length, whole.FinishReason);
        Assert.Equal(expected.Usage?.InputTokenCount, whole.Usage?.InputTokenCount);
        Assert.Equal(40, whole.Usage?.OutputTokenCount);
        Assert.Equal(ServerFixture.ModelId, whole.ModelId);

        var updates = new List<ChatResponseUpdate>();
        await foreach (var u in local.GetStreamingResponseAsync(Conversation, Greedy(40))) updates.Add(u);
        var streamed = updates.ToChatResponse();
        Assert.Equal(expected.Text, streamed.Text);
        Assert.Equal(ChatFinishReason.Length, streamed.FinishReason);
        Assert.Equal(40, streamed.Usage?.OutputTokenCount);
        Assert.Equal(ServerFixture.ModelId, local.GetService<ChatClientMetadata>()?.DefaultModelId);
    }

    [Fact]
    public async Task In_process_client_maps_options()
    {
        using var local = new AugurChatClient(_model, parallel: 4);
        string free = (await local.GetResponseAsync(Conversation, Greedy(60))).Text;
        string stop = free.Substring(free.Length / 2, 3);
        var stopped = await local.GetResponseAsync(Conversation, new ChatOptions { Temperature = 0, MaxOutputTokens = 60, StopSequences = [stop] });
        Assert.Equal(ChatFinishReason.Stop, stopped.FinishReason);
        Assert.Equal(free[..free.IndexOf(stop, StringComparison.Ordinal)], stopped.Text);

        // Seeded sampling with every option set repeats itself, also when the calls run at the same time.
        var sampled = new ChatOptions
        {
            Temperature = 1, TopP = 0.9f, TopK = 20, Seed = 42, MaxOutputTokens = 30, FrequencyPenalty = 0.4f, PresencePenalty = 0.4f,
            AdditionalProperties = new() { ["min_p"] = 0.02f },
        };
        var texts = await Task.WhenAll(Enumerable.Range(0, 4).Select(async _ => (await local.GetResponseAsync(Conversation, sampled)).Text));
        Assert.Single(texts.Distinct());

        // Speculation through AdditionalProperties changes nothing in greedy output.
        var speculated = await local.GetResponseAsync(Conversation, new ChatOptions { Temperature = 0, MaxOutputTokens = 60, AdditionalProperties = new() { ["speculative"] = "aded" } });
        Assert.Equal(free, speculated.Text);

        // Bad options are refused before anything runs.
        await Assert.ThrowsAsync<InvalidRequestException>(() => local.GetResponseAsync(Conversation, new ChatOptions { TopP = 3 }));
        await Assert.ThrowsAsync<InvalidRequestException>(() => local.GetResponseAsync(Conversation, new ChatOptions { AdditionalProperties = new() { ["speculative"] = "swift" } }));
    }

    [Fact]
    public async Task Abandoned_stream_leaves_the_batch()
    {
        using var local = new AugurChatClient(_model, parallel: 1);
        await foreach (var _ in local.GetStreamingResponseAsync(Conversation, new ChatOptions { Temperature = 0, MaxOutputTokens = 400 })) break;
        // With one slot, the next call only runs once the abandoned one has left.
        var next = await local.GetResponseAsync(Conversation, Greedy(5)).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.Equal(5, next.Usage?.OutputTokenCount);
    }
}
