using System.Net;
using System.Text;
using System.Text.Json;
using Augur.Server;

namespace Augur.ServerTests;

/// <summary>Every refusal has the right status and OpenAI's error body; the server keeps working afterwards.</summary>
[Collection("server")]
public sealed class BadInputTests(ServerFixture server)
{
    const string Chat = "v1/chat/completions";
    const string Completions = "v1/completions";

    static void AssertError(int expectedStatus, (int Status, JsonElement Body) reply, string? param = null, string? code = null)
    {
        Assert.Equal(expectedStatus, reply.Status);
        var error = reply.Body.GetProperty("error");
        Assert.False(string.IsNullOrWhiteSpace(error.GetProperty("message").GetString()));
        Assert.Equal(JsonValueKind.String, error.GetProperty("type").ValueKind);
        Assert.True(error.TryGetProperty("param", out var p));
        Assert.True(error.TryGetProperty("code", out var c));
        if (param is not null) Assert.Equal(param, p.GetString());
        if (code is not null) Assert.Equal(code, c.GetString());
    }

    async Task AssertStillWorks()
    {
        var (status, body) = await server.PostAsync(Chat, """{"messages":[{"role":"user","content":"Hi"}],"max_tokens":3,"temperature":0}""");
        Assert.Equal(200, status);
        Assert.Equal(3, body.GetProperty("usage").GetProperty("completion_tokens").GetInt32());
    }

    [Theory]
    [InlineData("{\"messages\": [", null)]
    [InlineData("not json at all", null)]
    [InlineData("[1, 2, 3]", null)]
    [InlineData("""{"max_tokens":5}""", "messages")]
    [InlineData("""{"messages":[]}""", "messages")]
    [InlineData("""{"messages":"hello"}""", "messages")]
    [InlineData("""{"messages":[{"role":"wizard","content":"x"}]}""", "messages[0].role")]
    [InlineData("""{"messages":[{"role":"user"}]}""", "messages[0].content")]
    [InlineData("""{"messages":[{"role":"user","content":[{"type":"image_url","image_url":{"url":"x"}}]}]}""", "messages[0].content[0].type")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"max_tokens":"ten"}""", "max_tokens")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"max_tokens":2.5}""", "max_tokens")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"max_tokens":-1}""", "max_tokens")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"max_tokens":0}""", "max_tokens")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"max_tokens":1000000}""", "max_tokens")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"max_tokens":99999999999999999999999}""", "max_tokens")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"temperature":"hot"}""", "temperature")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"temperature":3}""", "temperature")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"top_p":1.5}""", "top_p")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"top_k":-3}""", "top_k")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"min_p":2}""", "min_p")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"presence_penalty":5}""", "presence_penalty")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"frequency_penalty":true}""", "frequency_penalty")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"seed":"abc"}""", "seed")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"stop":5}""", "stop")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"stop":[""]}""", "stop")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"stream":"yes"}""", "stream")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"n":2}""", "n")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"top_logprobs":3}""", "top_logprobs")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"logprobs":true,"top_logprobs":50}""", "top_logprobs")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"speculative":"ngram"}""", "speculative")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"speculative":3}""", "speculative")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"speculative":"swift"}""", "speculative")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"response_format":"json"}""", "response_format")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"xml"}}""", "response_format.type")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema"}}""", "response_format.json_schema")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"a","schema":{"type":"string","pattern":"a+"}}}}""", "response_format.json_schema.schema")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"a","schema":{"type":"wizard"}}}}""", "response_format.json_schema.schema")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"response_format":{"type":"json_schema","json_schema":{"name":"a","schema":[1]}}}""", "response_format.json_schema.schema")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"tool_choice":"required"}""", "tool_choice")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":{"type":"function","function":{"name":"g"}}}""", "tool_choice")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"always"}""", "tool_choice")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f"}}],"tool_choice":"required","response_format":{"type":"json_object"}}""", "tool_choice")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"f","parameters":{"type":"object","properties":{"a":{"type":"string","pattern":"x"}}}}}]}""", "tools[0].function.parameters")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function","function":{"name":"bad name"}}]}""", "tools[0].function.name")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"tools":[{"type":"function"}]}""", "tools[0].function")]
    [InlineData("""{"messages":[{"role":"user","content":"x"}],"tools":{"f":1}}""", "tools")]
    [InlineData("""{"messages":[{"role":"user","content":"x"},{"role":"tool","content":"42"}]}""", "messages[1].tool_call_id")]
    [InlineData("""{"messages":[{"role":"assistant","content":null,"tool_calls":[{"id":"1","type":"function","function":{"name":"f","arguments":"{oops"}}]}]}""", "messages[0].tool_calls[0].function.arguments")]
    [InlineData("""{"messages":[{"role":"assistant","content":null,"tool_calls":{"id":"1"}}]}""", "messages[0].tool_calls")]
    public async Task Chat_bad_requests_get_400(string body, string? param)
    {
        AssertError(400, await server.PostAsync(Chat, body), param);
        await AssertStillWorks();
    }

    [Theory]
    [InlineData("""{"max_tokens":5}""", "prompt")]
    [InlineData("""{"prompt":42}""", "prompt")]
    [InlineData("""{"prompt":["a","b"]}""", "prompt")]
    [InlineData("""{"prompt":[1, 99999]}""", "prompt")]
    [InlineData("""{"prompt":"x","logprobs":true}""", "logprobs")]
    [InlineData("""{"prompt":"x","logprobs":9}""", "logprobs")]
    public async Task Completion_bad_requests_get_400(string body, string param)
    {
        AssertError(400, await server.PostAsync(Completions, body), param);
        await AssertStillWorks();
    }

    [Fact]
    public async Task Unknown_fields_are_ignored_and_augur_extras_are_accepted()
    {
        var (status, body) = await server.PostAsync(Chat,
            """{"messages":[{"role":"user","content":"Hi","name":"bob"}],"max_tokens":2,"temperature":0,"user":"u1","metadata":{"a":1},"frobnicate":[1,{"x":null}],"speculative":"aded","top_k":0,"min_p":0}""");
        Assert.Equal(200, status);
        Assert.Equal("chat.completion", body.GetProperty("object").GetString());
    }

    [Fact]
    public async Task Prompt_beyond_the_context_is_400()
    {
        string longText = string.Concat(Enumerable.Repeat("the cat sat on the mat. ", 200));
        AssertError(400, await server.PostAsync(Chat, JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content = longText } } })),
            "messages", "context_length_exceeded");
        AssertError(400, await server.PostAsync(Completions, JsonSerializer.Serialize(new { prompt = longText })), "prompt", "context_length_exceeded");
        await AssertStillWorks();
    }

    [Fact]
    public async Task Unknown_model_and_unknown_url_are_404()
    {
        AssertError(404, await server.PostAsync(Chat, """{"model":"gpt-9","messages":[{"role":"user","content":"x"}]}"""), "model", "model_not_found");
        AssertError(404, await server.PostAsync("v1/embeddings", """{"input":"x"}"""));
        using var response = await server.Http.GetAsync(new Uri(server.Base, "v1/models/gpt-9"));
        Assert.Equal(HttpStatusCode.NotFound, response.StatusCode);
        await AssertStillWorks();
    }

    [Fact]
    public async Task Body_over_the_limit_is_413()
    {
        // A valid request, padded past the 8 MiB limit with a field that would be ignored.
        // Expect: 100-continue lets the server refuse before the body is sent, so the client reads the answer
        // instead of failing mid-upload when the server closes the connection.
        string body = $$"""{"messages":[{"role":"user","content":"x"}],"padding":"{{new string('a', 9 << 20)}}"}""";
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(server.Base, Chat)) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        request.Headers.ExpectContinue = true;
        using var http = new HttpClient(new SocketsHttpHandler { Expect100ContinueTimeout = TimeSpan.FromMinutes(1) }); // a slow machine must not start the upload
        using var response = await http.SendAsync(request);
        AssertError(413, ((int)response.StatusCode, JsonDocument.Parse(await response.Content.ReadAsStringAsync()).RootElement), code: "request_too_large");
        await AssertStillWorks();
    }

    [Fact]
    public async Task Api_key_is_required_when_set()
    {
        await using var keyed = await ServerFixture.StartAsync(new ServerOptions { ModelPath = ServerFixture.ModelPath, Port = 0, ApiKey = "sekret" });
        var url = new Uri(keyed.Address, Chat);
        const string body = """{"messages":[{"role":"user","content":"Hi"}],"max_tokens":2}""";
        AssertError(401, await ServerFixture.PostAsync(server.Http, url, body), code: "invalid_api_key");
        AssertError(401, await ServerFixture.PostAsync(server.Http, url, body, apiKey: "wrong"), code: "invalid_api_key");
        var (status, _) = await ServerFixture.PostAsync(server.Http, url, body, apiKey: "sekret");
        Assert.Equal(200, status);
        // Health checks need no key.
        using var health = await server.Http.GetAsync(new Uri(keyed.Address, "health"));
        Assert.Equal(HttpStatusCode.OK, health.StatusCode);
    }

    [Fact]
    public async Task Full_queue_is_503()
    {
        // One slot and no waiting places: while a long request runs, the next one is refused.
        await using var small = await ServerFixture.StartAsync(new ServerOptions { ModelPath = ServerFixture.ModelPath, Port = 0, Parallel = 1, MaxWaiting = 0, ContextLength = 8192, AllowLongContext = true });
        using var http = new HttpClient();
        using var request = new HttpRequestMessage(HttpMethod.Post, new Uri(small.Address, Chat))
        {
            Content = new StringContent("""{"messages":[{"role":"user","content":"Hi"}],"max_tokens":8000,"temperature":0,"stream":true}""", Encoding.UTF8, "application/json"),
        };
        using var running = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(HttpStatusCode.OK, running.StatusCode);
        const string next = """{"messages":[{"role":"user","content":"Hi"}],"max_tokens":2}""";
        AssertError(503, await ServerFixture.PostAsync(http, new Uri(small.Address, Chat), next), code: "overloaded");

        // The client hangs up: the server drops its request and frees the slot.
        running.Dispose();
        int status = 0;
        for (var clock = System.Diagnostics.Stopwatch.StartNew(); status != 200 && clock.Elapsed < TimeSpan.FromSeconds(10); await Task.Delay(20))
            (status, _) = await ServerFixture.PostAsync(http, new Uri(small.Address, Chat), next);
        Assert.Equal(200, status);
    }
}
