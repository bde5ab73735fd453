using System.ClientModel;
using System.Text;
using System.Text.Json;
using Augur.Generation;
using Augur.Model;
using Augur.Sampling;
using OpenAI;
using OpenAI.Chat;

namespace Augur.ServerTests;

/// <summary>The official OpenAI .NET SDK against the server: chat whole and streamed, usage, models; completions over raw HTTP.</summary>
[Collection("server")]
public sealed class OpenAiSdkTests(ServerFixture server)
{
    OpenAIClient Client => new(new ApiKeyCredential("unused"), new OpenAIClientOptions { Endpoint = new Uri(server.Base, "v1") });

    static ChatCompletionOptions Greedy(int maxTokens) => new() { Temperature = 0, MaxOutputTokenCount = maxTokens };

    [Fact]
    public async Task Chat_completion_returns_text_usage_and_length_finish()
    {
        var chat = Client.GetChatClient(ServerFixture.ModelId);
        ChatCompletion reply = await chat.CompleteChatAsync([new UserChatMessage("Once upon a time")], Greedy(24));
        Assert.Equal(ChatFinishReason.Length, reply.FinishReason);
        Assert.Equal(ChatMessageRole.Assistant, reply.Role);
        Assert.NotEmpty(reply.Content[0].Text);
        Assert.Equal(24, reply.Usage.OutputTokenCount);
        Assert.True(reply.Usage.InputTokenCount > 5);
        Assert.Equal(reply.Usage.InputTokenCount + reply.Usage.OutputTokenCount, reply.Usage.TotalTokenCount);
        Assert.StartsWith("chatcmpl-", reply.Id);
        Assert.Equal(ServerFixture.ModelId, reply.Model);
    }

    [Fact]
    public async Task Chat_streaming_gives_the_same_text_and_usage()
    {
        var chat = Client.GetChatClient(ServerFixture.ModelId);
        ChatMessage[] messages = [new SystemChatMessage("You tell stories."), new UserChatMessage("Tell me about a cat.")];
        ChatCompletion whole = await chat.CompleteChatAsync(messages, Greedy(40));

        var text = new StringBuilder();
        ChatTokenUsage? usage = null;
        ChatFinishReason? finish = null;
        // The SDK asks for stream_options.include_usage itself.
        await foreach (var update in chat.CompleteChatStreamingAsync(messages, Greedy(40)))
        {
            foreach (var part in update.ContentUpdate) text.Append(part.Text);
            usage ??= update.Usage;
            finish ??= update.FinishReason;
        }
        Assert.Equal(whole.Content[0].Text, text.ToString());
        Assert.Equal(ChatFinishReason.Length, finish);
        Assert.NotNull(usage);
        Assert.Equal(whole.Usage.InputTokenCount, usage.InputTokenCount);
        Assert.Equal(40, usage.OutputTokenCount);
    }

    [Fact]
    public async Task Chat_prompt_is_the_rendered_default_template()
    {
        // stories260K has no chat template: ChatML is used, and usage counts its tokens.
        using var loaded = LoadedModel.Open(ServerFixture.ModelPath);
        var prompt = Augur.Chat.ChatPrompt.ForModel(loaded);
        int expected = prompt.Encode([new("user", "Hi")]).Length;
        Assert.Equal(loaded.Tokenizer.Encode("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n").Length, expected);

        ChatCompletion reply = await Client.GetChatClient(ServerFixture.ModelId).CompleteChatAsync([new UserChatMessage("Hi")], Greedy(1));
        Assert.Equal(expected, reply.Usage.InputTokenCount);
    }

    [Fact]
    public async Task Stop_sequences_seed_penalties_and_logprobs_are_honoured()
    {
        var chat = Client.GetChatClient(ServerFixture.ModelId);
        ChatCompletion free = await chat.CompleteChatAsync([new UserChatMessage("Once upon a time")], Greedy(60));
        string text = free.Content[0].Text;
        string stop = text.Substring(text.Length / 2, 3);
        var options = Greedy(60);
        options.StopSequences.Add(stop);
        ChatCompletion stopped = await chat.CompleteChatAsync([new UserChatMessage("Once upon a time")], options);
        Assert.Equal(ChatFinishReason.Stop, stopped.FinishReason);
        Assert.Equal(text[..text.IndexOf(stop, StringComparison.Ordinal)], stopped.Content[0].Text);

        var seeded = new ChatCompletionOptions { Temperature = 1.0f, TopP = 0.9f, Seed = 1234, MaxOutputTokenCount = 30, PresencePenalty = 0.5f, FrequencyPenalty = 0.5f };
        string a = (await chat.CompleteChatAsync([new UserChatMessage("Once upon a time")], seeded)).Value.Content[0].Text;
        string b = (await chat.CompleteChatAsync([new UserChatMessage("Once upon a time")], seeded)).Value.Content[0].Text;
        Assert.Equal(a, b);

        var withLogprobs = Greedy(5);
        withLogprobs.IncludeLogProbabilities = true;
        withLogprobs.TopLogProbabilityCount = 3;
        ChatCompletion scored = await chat.CompleteChatAsync([new UserChatMessage("Once upon a time")], withLogprobs);
        Assert.Equal(5, scored.ContentTokenLogProbabilities.Count);
        foreach (var lp in scored.ContentTokenLogProbabilities)
        {
            Assert.True(lp.LogProbability <= 0);
            Assert.Equal(3, lp.TopLogProbabilities.Count);
            // Greedy picks the most likely token.
            Assert.Equal(lp.TopLogProbabilities[0].Token, lp.Token);
            Assert.Equal(lp.TopLogProbabilities[0].LogProbability, lp.LogProbability);
        }
        Assert.Equal(scored.Content[0].Text, string.Concat(scored.ContentTokenLogProbabilities.Select(t => t.Token)).TrimStart());
    }

    [Fact]
    public async Task Models_and_health()
    {
        var models = await Client.GetOpenAIModelClient().GetModelsAsync();
        Assert.Equal(ServerFixture.ModelId, Assert.Single(models.Value).Id);
        var health = JsonDocument.Parse(await server.Http.GetStringAsync(new Uri(server.Base, "health"))).RootElement;
        Assert.Equal("ok", health.GetProperty("status").GetString());
    }

    [Fact]
    public async Task Completions_match_the_single_request_generator()
    {
        const string prompt = "Once upon a time";
        using var loaded = LoadedModel.Open(ServerFixture.ModelPath);
        var alone = new Generator(loaded.Model, loaded.Tokenizer).Generate(new GenerationRequest { Prompt = prompt, MaxTokens = 50, Sampling = SamplingOptions.Greedy });

        var (status, body) = await server.PostAsync("v1/completions",
            $$"""{"model":"{{ServerFixture.ModelId}}","prompt":"{{prompt}}","max_tokens":50,"temperature":0,"logprobs":2}""");
        Assert.Equal(200, status);
        Assert.Equal("text_completion", body.GetProperty("object").GetString());
        var choice = body.GetProperty("choices")[0];
        Assert.Equal(alone.Text, choice.GetProperty("text").GetString());
        Assert.Equal("length", choice.GetProperty("finish_reason").GetString());
        Assert.Equal(alone.PromptIds.Length, body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());
        Assert.Equal(50, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
        var logprobs = choice.GetProperty("logprobs");
        Assert.Equal(50, logprobs.GetProperty("tokens").GetArrayLength());
        Assert.Equal(2, logprobs.GetProperty("top_logprobs")[0].EnumerateObject().Count());

        // The same prompt as token ids, streamed.
        string ids = string.Join(",", alone.PromptIds);
        var events = await server.StreamAsync("v1/completions",
            $$$"""{"prompt":[{{{ids}}}],"max_tokens":50,"temperature":0,"stream":true,"stream_options":{"include_usage":true}}""");
        Assert.Equal("[DONE]", events[^1]);
        var chunks = events[..^1].Select(e => JsonDocument.Parse(e).RootElement).ToList();
        Assert.All(chunks, c => Assert.Equal("text_completion", c.GetProperty("object").GetString()));
        string streamed = string.Concat(chunks.Where(c => c.GetProperty("choices").GetArrayLength() > 0).Select(c => c.GetProperty("choices")[0].GetProperty("text").GetString()));
        Assert.Equal(alone.Text, streamed);
        Assert.Equal("length", chunks[^2].GetProperty("choices")[0].GetProperty("finish_reason").GetString());
        Assert.Equal(0, chunks[^1].GetProperty("choices").GetArrayLength());
        Assert.Equal(50, chunks[^1].GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Theory]
    [InlineData("lookup")]
    [InlineData("recycling")]
    [InlineData("aded")]
    [InlineData("auto")]
    public async Task Speculative_completions_are_exactly_plain_greedy(string drafter)
    {
        const string prompt = "Tom and his dog went to the park.";
        using var loaded = LoadedModel.Open(ServerFixture.ModelPath);
        var alone = new Generator(loaded.Model, loaded.Tokenizer).Generate(new GenerationRequest { Prompt = prompt, MaxTokens = 120, Sampling = SamplingOptions.Greedy });

        var events = await server.StreamAsync("v1/completions",
            $$"""{"prompt":"{{prompt}}","max_tokens":120,"temperature":0,"stream":true,"speculative":"{{drafter}}"}""");
        Assert.Equal("[DONE]", events[^1]);
        string streamed = string.Concat(events[..^1].Select(e => JsonDocument.Parse(e).RootElement)
            .Where(c => c.GetProperty("choices").GetArrayLength() > 0).Select(c => c.GetProperty("choices")[0].GetProperty("text").GetString()));
        Assert.Equal(alone.Text, streamed);
    }
}
