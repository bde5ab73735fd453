using System.Diagnostics;
using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Augur.ChatTemplates;
using Augur.Gguf;
using Augur.Server;

namespace Augur.ServerTests;

/// <summary>
/// What an attacker sends (docs/security.md): bodies that are not valid Unicode, a DNS-rebinding Host, requests from
/// another origin, chat templates that never end or never parse, fields too long to tokenize. Each gets an OpenAI
/// error body, and the server keeps serving.
/// </summary>
[Collection("server")]
public sealed class HostileInputTests(ServerFixture server) : IDisposable
{
    const string Chat = "v1/chat/completions";
    const string Completions = "v1/completions";
    readonly string _dir = Directory.CreateTempSubdirectory("augur-hostile-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static async Task<(int Status, JsonElement Body, HttpResponseMessage Response)> SendAsync(HttpClient http, HttpRequestMessage request)
    {
        var response = await http.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, text.Length == 0 ? default : JsonDocument.Parse(text).RootElement.Clone(), response);
    }

    Task<(int Status, JsonElement Body, HttpResponseMessage Response)> PostBytesAsync(string path, byte[] body, string contentType = "application/json") =>
        SendAsync(server.Http, new HttpRequestMessage(HttpMethod.Post, new Uri(server.Base, path))
        {
            Content = new ByteArrayContent(body) { Headers = { ContentType = new MediaTypeHeaderValue(contentType) } },
        });

    static void AssertError(int status, (int Status, JsonElement Body, HttpResponseMessage _) reply, string? param, string code, string type = "invalid_request_error")
    {
        Assert.Equal(status, reply.Status);
        var error = reply.Body.GetProperty("error");
        Assert.Equal(type, error.GetProperty("type").GetString());
        Assert.Equal(param, error.GetProperty("param").GetString());
        Assert.Equal(code, error.GetProperty("code").GetString());
    }

    static byte[] Body(string before, byte[] inside, string after) => [.. Encoding.UTF8.GetBytes(before), .. inside, .. Encoding.UTF8.GetBytes(after)];

    public static TheoryData<string, byte[]> BadText => new()
    {
        { "invalid byte", [(byte)'h', 0xFF, (byte)'i'] },
        { "overlong slash", [(byte)'a', 0xC0, 0xAF] },
        { "overlong NUL", [0xE0, 0x80, 0x80] },
        { "encoded surrogate", [0xED, 0xA0, 0x80] },
        { "lone high escape", Encoding.ASCII.GetBytes("a\\ud800b") },
        { "lone low escape", Encoding.ASCII.GetBytes("\\udc00") },
    };

    [Theory]
    [MemberData(nameof(BadText))]
    public async Task Text_that_is_not_valid_unicode_is_a_400_naming_the_field(string what, byte[] text)
    {
        _ = what;
        AssertError(400, await PostBytesAsync(Completions, Body("""{"max_tokens":2,"prompt":" """, text, "\"}")), "prompt", "invalid_encoding");
        AssertError(400, await PostBytesAsync(Chat, Body("""{"max_tokens":2,"messages":[{"role":"user","content":" """, text, "\"}]}")), "messages[0].content", "invalid_encoding");
        AssertError(400, await PostBytesAsync(Chat, Body("""{"max_tokens":2,"messages":[{"role":"user","content":"hi"}],"stop":[" """, text, "\"]}")), "stop", "invalid_encoding");
        AssertError(400, await PostBytesAsync(Completions, Body("""{"prompt":"hi","model":" """, text, "\"}")), "model", "invalid_encoding");
        var (status, _) = await server.PostAsync(Completions, """{"prompt":"Once","max_tokens":2}""");
        Assert.Equal(200, status);
    }

    [Fact]
    public async Task A_host_that_is_not_loopback_is_refused_on_a_loopback_server()
    {
        foreach (string path in new[] { "v1/models", "health" })
        {
            var request = new HttpRequestMessage(HttpMethod.Get, new Uri(server.Base, path));
            request.Headers.Host = "attacker.example";
            AssertError(403, await SendAsync(server.Http, request), null, "host_not_allowed");
        }
        foreach (string host in new[] { "localhost", $"localhost:{server.Base.Port}", $"127.0.0.1:{server.Base.Port}", "[::1]", "app.localhost" })
        {
            var request = new HttpRequestMessage(HttpMethod.Get, new Uri(server.Base, "health"));
            request.Headers.Host = host;
            Assert.Equal(200, (await SendAsync(server.Http, request)).Status);
        }
    }

    [Fact]
    public async Task A_cross_origin_post_is_refused_without_cors_even_as_text_plain()
    {
        // The request a web page can send without a preflight: a "simple" text/plain POST.
        var request = new HttpRequestMessage(HttpMethod.Post, new Uri(server.Base, Completions))
        {
            Content = new StringContent("""{"prompt":"Once","max_tokens":2}""", Encoding.UTF8, "text/plain"),
        };
        request.Headers.Add("Origin", "http://attacker.example");
        var reply = await SendAsync(server.Http, request);
        AssertError(403, reply, null, "origin_not_allowed");
        Assert.False(reply.Response.Headers.Contains("Access-Control-Allow-Origin"));

        // The server's own origin is not cross-origin.
        var same = new HttpRequestMessage(HttpMethod.Post, new Uri(server.Base, Completions))
        {
            Content = new StringContent("""{"prompt":"Once","max_tokens":2}""", Encoding.UTF8, "application/json"),
        };
        same.Headers.Add("Origin", server.Base.GetLeftPart(UriPartial.Authority));
        Assert.Equal(200, (await SendAsync(server.Http, same)).Status);
    }

    [Fact]
    public async Task Allowed_hosts_and_cors_origins_are_served_and_others_still_refused()
    {
        await using var guarded = await ServerFixture.StartAsync(new ServerOptions
        {
            ModelPath = ServerFixture.ModelPath, Port = 0, AllowedHosts = ["augur.lan"], CorsOrigins = ["http://app.example"],
        });
        using var http = new HttpClient();
        var named = new HttpRequestMessage(HttpMethod.Get, new Uri(guarded.Address, "health"));
        named.Headers.Host = "augur.lan";
        Assert.Equal(200, (await SendAsync(http, named)).Status);
        var other = new HttpRequestMessage(HttpMethod.Get, new Uri(guarded.Address, "health"));
        other.Headers.Host = "evil.lan";
        Assert.Equal(403, (await SendAsync(http, other)).Status);

        var preflight = new HttpRequestMessage(HttpMethod.Options, new Uri(guarded.Address, Completions));
        preflight.Headers.Add("Origin", "http://app.example");
        preflight.Headers.Add("Access-Control-Request-Method", "POST");
        var answer = await SendAsync(http, preflight);
        Assert.Equal(204, answer.Status);
        Assert.Equal("http://app.example", answer.Response.Headers.GetValues("Access-Control-Allow-Origin").Single());

        var post = new HttpRequestMessage(HttpMethod.Post, new Uri(guarded.Address, Completions))
        {
            Content = new StringContent("""{"prompt":"Once","max_tokens":2}""", Encoding.UTF8, "application/json"),
        };
        post.Headers.Add("Origin", "http://app.example");
        var served = await SendAsync(http, post);
        Assert.Equal(200, served.Status);
        Assert.Equal("http://app.example", served.Response.Headers.GetValues("Access-Control-Allow-Origin").Single());

        var foreign = new HttpRequestMessage(HttpMethod.Options, new Uri(guarded.Address, Completions));
        foreign.Headers.Add("Origin", "http://attacker.example");
        Assert.Equal(403, (await SendAsync(http, foreign)).Status);
    }

    [Fact]
    public async Task Fields_are_bounded_one_by_one_and_a_prompt_too_long_by_its_length_is_refused_untokenized()
    {
        await using var small = await ServerFixture.StartAsync(new ServerOptions { ModelPath = ServerFixture.ModelPath, Port = 0, MaxFieldChars = 1000 });
        using var http = new HttpClient();
        string longText = new('a', 1001);
        var reply = await ServerFixture.PostAsync(http, new Uri(small.Address, Completions), JsonSerializer.Serialize(new { prompt = longText }));
        Assert.Equal(400, reply.Status);
        Assert.Equal("field_too_long", reply.Body.GetProperty("error").GetProperty("code").GetString());
        reply = await ServerFixture.PostAsync(http, new Uri(small.Address, Chat), JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content = longText } } }));
        Assert.Equal("messages[0].content", reply.Body.GetProperty("error").GetProperty("param").GetString());

        // 3 MB of text is at least 350,000 tokens of this vocabulary (longest piece: 9 bytes) for a 512-token context.
        var (status, body) = await server.PostAsync(Completions, JsonSerializer.Serialize(new { prompt = new string('a', 3_000_000) }));
        Assert.Equal(400, status);
        Assert.Contains("the prompt is at least 333,334 tokens", body.GetProperty("error").GetProperty("message").GetString());
    }

    string ModelWithTemplate(string template)
    {
        string path = Path.Combine(_dir, $"t{Guid.NewGuid():N}.gguf");
        using var source = GgufFile.Open(ServerFixture.ModelPath);
        var writer = new GgufWriter();
        foreach (string key in source.MetadataKeys) writer.Set(key, source.Metadata[key]);
        writer.Set("tokenizer.chat_template", GgufValue.Of(template));
        foreach (var t in source.Tensors) writer.AddTensor(t.Name, t.Type, t.Shape, source.TensorBytes(t).ToArray());
        writer.Write(path);
        return path;
    }

    // Goes off only for the message "boom", so the template passes its probe at load.
    const string Bomb =
        "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}" +
        "{% for m in messages %}{% if m.content == 'boom' %}{{ f(64) }}{% endif %}{{ m.content }}{% endfor %}";

    static string ChatBody(string content) => JsonSerializer.Serialize(new { messages = new[] { new { role = "user", content } }, max_tokens = 2 });

    [Fact]
    public async Task A_template_bomb_is_a_400_naming_the_budget_and_the_server_keeps_serving()
    {
        await using var bombed = await ServerFixture.StartAsync(new ServerOptions
        {
            ModelPath = ModelWithTemplate(Bomb), Port = 0, TemplateLimits = new ChatTemplateLimits { MaxSteps = 100_000 },
        });
        Assert.Null(bombed.ChatProblem);
        using var http = new HttpClient();
        var reply = await ServerFixture.PostAsync(http, new Uri(bombed.Address, Chat), ChatBody("boom"));
        Assert.Equal(400, reply.Status);
        Assert.Contains("step budget (100,000 steps)", reply.Body.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal(200, (await ServerFixture.PostAsync(http, new Uri(bombed.Address, Chat), ChatBody("hello"))).Status);
    }

    static Dictionary<int, TimeSpan> ThreadTimes()
    {
        using var process = Process.GetCurrentProcess();
        return process.Threads.Cast<ProcessThread>().ToDictionary(t => t.Id, t => t.TotalProcessorTime);
    }

    [Fact]
    public async Task An_abandoned_bomb_render_stops_burning_cpu()
    {
        // A step budget no render reaches in hours: only the client's leaving can stop this one.
        await using var bombed = await ServerFixture.StartAsync(new ServerOptions
        {
            ModelPath = ModelWithTemplate(Bomb), Port = 0, TemplateLimits = new ChatTemplateLimits { MaxSteps = long.MaxValue, MaxOutputChars = long.MaxValue, MaxBuiltSize = long.MaxValue },
        });
        using var http = new HttpClient();
        using var leave = new CancellationTokenSource();

        // The render's thread is the one that burns while the request is open and did not before. Other work may
        // keep threads of this test process busy (a server of an earlier test finishing), so the test watches
        // that one thread, not the whole process.
        var quiet = ThreadTimes();
        await Task.Delay(500);
        var baseline = ThreadTimes();
        var content = new StringContent(ChatBody("boom"), Encoding.UTF8, "application/json");
        var abandoned = http.PostAsync(new Uri(bombed.Address, Chat), content, leave.Token);
        await Task.Delay(700);
        var a = ThreadTimes();
        await Task.Delay(500);
        var b = ThreadTimes();
        double Delta(Dictionary<int, TimeSpan> from, Dictionary<int, TimeSpan> to, int id) =>
            to.TryGetValue(id, out var end) ? (end - from.GetValueOrDefault(id, end)).TotalSeconds : 0;
        var (render, during) = b.Keys.Select(id => (id, Delta(a, b, id) - Delta(quiet, baseline, id))).MaxBy(t => t.Item2);
        Assert.True(during > 0.05, $"no thread burnt CPU during the render ({during:F2} s in 0.5 s)");

        leave.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => abandoned);
        // Rates: the render thread ran at during/0.5 s of a core; after the client left it must go (nearly) idle.
        // The abort takes a moment to reach Kestrel, the request's token and the interpreter, and a pool thread
        // may briefly pick up other tests' work, so the thread gets several 0.5 s windows within 5 s to show it.
        var windows = new List<double>();
        for (int w = 0; w < 10; w++)
        {
            var c = ThreadTimes();
            await Task.Delay(500);
            windows.Add(Delta(c, ThreadTimes(), render));
            if (windows[^1] < during / 10) break;
        }
        Assert.True(windows[^1] < during / 10, $"the render thread kept burning after the client left: {string.Join(", ", windows.Select(x => x.ToString("F2")))} s per 0.5 s (was {during:F2} s)");
        Assert.Equal(200, (await ServerFixture.PostAsync(http, new Uri(bombed.Address, Completions), """{"prompt":"Once","max_tokens":2}""")).Status);
    }

    [Fact]
    public async Task A_template_that_does_not_parse_leaves_completions_served_and_chat_refused_or_chatml_when_asked()
    {
        string path = ModelWithTemplate("{% for m in messages %}{{ m.content }");
        await using var broken = await ServerFixture.StartAsync(new ServerOptions { ModelPath = path, Port = 0 });
        Assert.Contains("chat template cannot be used", broken.ChatProblem);
        using var http = new HttpClient();
        Assert.Equal(200, (await ServerFixture.PostAsync(http, new Uri(broken.Address, Completions), """{"prompt":"Once","max_tokens":2}""")).Status);
        var refused = await ServerFixture.PostAsync(http, new Uri(broken.Address, Chat), ChatBody("hello"));
        Assert.Equal(400, refused.Status);
        Assert.Contains("chat is unavailable", refused.Body.GetProperty("error").GetProperty("message").GetString());

        await using var fallback = await ServerFixture.StartAsync(new ServerOptions { ModelPath = path, Port = 0, DefaultTemplateOnFailure = true });
        Assert.Contains("using the default ChatML template", fallback.ChatProblem);
        Assert.Equal(200, (await ServerFixture.PostAsync(http, new Uri(fallback.Address, Chat), ChatBody("hello"))).Status);
    }
}
