using System.Net.Http.Headers;
using System.Text;
using System.Text.Json;
using Augur.Server;

// One server at a time: the tests share two cores, and the throughput measurement must not compete.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Augur.ServerTests;

/// <summary>A real server (Kestrel on 127.0.0.1, a free port) on stories260K with 8 parallel slots, shared by the test classes.</summary>
public sealed class ServerFixture : IAsyncLifetime
{
    public const string ModelId = "stories260K";
    public AugurServer Server { get; private set; } = null!;
    public Uri Base => Server.Address;
    public HttpClient Http { get; } = new() { Timeout = TimeSpan.FromMinutes(2) };

    public static string ModelPath => SharedAssets.Model("stories260K.gguf");

    public async Task InitializeAsync() => Server = await StartAsync(new ServerOptions { ModelPath = ModelPath, Port = 0, Parallel = 8 });

    public async Task DisposeAsync()
    {
        Http.Dispose();
        await Server.DisposeAsync();
    }

    public static async Task<AugurServer> StartAsync(ServerOptions options)
    {
        var server = AugurServer.Create(options);
        await server.StartAsync();
        return server;
    }

    /// <summary>POSTs a raw body; returns the status and the parsed JSON reply.</summary>
    public static async Task<(int Status, JsonElement Body)> PostAsync(HttpClient http, Uri url, string body, string? apiKey = null)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        if (apiKey is not null) request.Headers.Authorization = new AuthenticationHeaderValue("Bearer", apiKey);
        using var response = await http.SendAsync(request);
        string text = await response.Content.ReadAsStringAsync();
        return ((int)response.StatusCode, JsonDocument.Parse(text).RootElement.Clone());
    }

    public Task<(int Status, JsonElement Body)> PostAsync(string path, string body) => PostAsync(Http, new Uri(Base, path), body);

    /// <summary>POSTs a streaming request and returns the data lines of its server-sent events ("[DONE]" included).</summary>
    public Task<List<string>> StreamAsync(string path, string body) => StreamAsync(Http, new Uri(Base, path), body);

    public static async Task<List<string>> StreamAsync(HttpClient http, Uri url, string body)
    {
        using var request = new HttpRequestMessage(HttpMethod.Post, url) { Content = new StringContent(body, Encoding.UTF8, "application/json") };
        using var response = await http.SendAsync(request, HttpCompletionOption.ResponseHeadersRead);
        Assert.Equal(200, (int)response.StatusCode);
        Assert.Equal("text/event-stream", response.Content.Headers.ContentType?.MediaType);
        using var reader = new StreamReader(await response.Content.ReadAsStreamAsync());
        var events = new List<string>();
        while (await reader.ReadLineAsync() is { } line)
            if (line.StartsWith("data: ", StringComparison.Ordinal)) events.Add(line["data: ".Length..]);
        return events;
    }
}

[CollectionDefinition("server")]
public sealed class ServerCollection : ICollectionFixture<ServerFixture>;
