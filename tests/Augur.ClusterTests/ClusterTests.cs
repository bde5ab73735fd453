using System.Net.Http.Json;
using System.Text.Json;
using Augur.Cluster;
using Augur.Generation;
using Augur.Sampling;
using Augur.Server;
using Microsoft.Extensions.DependencyInjection;

namespace Augur.ClusterTests;

/// <summary>Requests through a real multi-node Orleans cluster against the same requests on one local scheduler.</summary>
public sealed class ClusterTests
{
    static readonly string[] Prompts =
    [
        "Once upon a time", "The little dog ran to the big tree", "Lily", "One day, a big bird flew over the house",
        "Tom and his mom", "The sun was hot",
    ];

    static GenerationRequest Greedy(TestNodes nodes, string prompt, int maxTokens) =>
        new() { PromptIds = nodes.Reference.Tokenizer.Encode(prompt), MaxTokens = maxTokens, Sampling = SamplingOptions.Greedy };

    [Fact]
    public async Task Greedy_outputs_through_two_nodes_equal_one_local_scheduler()
    {
        await using var nodes = await TestNodes.StartAsync(workers: 2, new RoundRobinPlacement());
        var requests = Prompts.Select((p, i) => Greedy(nodes, p, 24 + 8 * i) with { Stop = i == 3 ? ["bird"] : [] }).ToList();
        var runs = await Task.WhenAll(requests.Select(r => TestNodes.Collect(nodes.Gateway.Submit(r))));
        for (int i = 0; i < requests.Count; i++)
        {
            var alone = nodes.Alone(requests[i]);
            Assert.Equal(alone.Ids, runs[i].Result.Ids);
            Assert.Equal(alone.Text, runs[i].Result.Text);
            Assert.Equal(alone.Text, runs[i].Streamed);
            Assert.Equal(alone.FinishReason, runs[i].Result.FinishReason);
        }
        await WaitUntil(() => nodes.Gateway.Nodes().All(n => n.Status.PromptTokens > 0)); // both nodes served
        Assert.Equal(0, nodes.Gateway.Failovers);
    }

    [Fact]
    public async Task A_killed_workers_stream_completes_on_another_with_the_same_text()
    {
        await using var nodes = await TestNodes.StartAsync(workers: 2, new LeastLoadedPlacement());
        var request = Greedy(nodes, "Once upon a time", 120) with { StopAtEos = false };
        var alone = nodes.Alone(request);
        Assert.Equal(120, alone.Ids.Length);
        string? killed = null;
        var run = await TestNodes.Collect(nodes.Gateway.Submit(request), async count =>
        {
            if (count != 20) return;
            killed = nodes.Gateway.Nodes().Single(n => n.GatewayInFlight > 0).Status.Id;
            await nodes.Cluster.KillSiloAsync(nodes.Silo(killed));
        });
        Assert.NotNull(killed);
        // One failover for the kill; a call to the survivor may fail once more while the membership settles, and the
        // gateway then resumes again from what the client has: the text must be the same either way.
        Assert.InRange(nodes.Gateway.Failovers, 1, 2);
        Assert.Equal(alone.Ids, run.StreamedIds); // nothing lost, nothing repeated
        Assert.Equal(alone.Ids, run.Result.Ids);
        Assert.Equal(alone.Text, run.Streamed);
        Assert.Equal(FinishReason.Length, run.Result.FinishReason);
    }

    [Fact]
    public async Task A_node_that_joins_under_load_takes_requests_and_the_server_lists_it()
    {
        await using var nodes = await TestNodes.StartAsync(workers: 1, new LeastLoadedPlacement());
        var backend = new ClusterBackend((_, _) => nodes.Gateway); // the server disposes it first, the test again: harmless
        await using var server = AugurServer.Create(new ServerOptions { ModelPath = TestNodes.ModelPath, Port = 0 }, backend);
        await server.StartAsync();
        using var http = new HttpClient { BaseAddress = server.Address, Timeout = TimeSpan.FromSeconds(120) };

        var load = Enumerable.Range(0, 6).Select(i => TestNodes.Collect(nodes.Gateway.Submit(Greedy(nodes, Prompts[i], 100) with { StopAtEos = false }))).ToList();
        var joined = await nodes.Cluster.StartAdditionalSiloAsync();
        await nodes.Gateway.WaitForNodesAsync(2, TimeSpan.FromSeconds(60));

        // While the first node is busy, a new request goes to the one that joined; through the HTTP API it is the
        // same text as on one local scheduler.
        var completion = await http.PostAsJsonAsync("/v1/completions", new { prompt = "Lily", max_tokens = 30, temperature = 0 });
        completion.EnsureSuccessStatusCode();
        using var body = JsonDocument.Parse(await completion.Content.ReadAsStringAsync());
        var alone = nodes.Alone(new GenerationRequest { Prompt = "Lily", MaxTokens = 30, Sampling = SamplingOptions.Greedy });
        Assert.Equal(alone.Text, body.RootElement.GetProperty("choices")[0].GetProperty("text").GetString());
        await Task.WhenAll(load);
        await WaitUntil(() => nodes.Gateway.Nodes().Any(n => n.Status.Id == joined.Name) && nodes.Gateway.Nodes().All(n => n.Status.PromptTokens > 0));

        using var cluster = JsonDocument.Parse(await http.GetStringAsync("/cluster"));
        var listed = cluster.RootElement.GetProperty("nodes").EnumerateArray().ToList();
        Assert.Equal(2, listed.Count);
        Assert.Contains(listed, n => n.GetProperty("id").GetString() == joined.Name);
        Assert.All(listed, n =>
        {
            Assert.Equal("both", n.GetProperty("role").GetString());
            Assert.Equal(Environment.ProcessId, n.GetProperty("pid").GetInt32()); // in-process silos
            Assert.True(n.GetProperty("running").GetInt32() >= 0 && n.GetProperty("cached_blocks").GetInt32() >= 0);
            Assert.InRange(n.GetProperty("cached_prompt_tokens").GetInt64(), 0, n.GetProperty("prompt_tokens").GetInt64());
        });
        // Both nodes have run prompts (the joined one took the request above), and /cluster reports what each ran.
        Assert.All(listed, n => Assert.True(n.GetProperty("prompt_tokens").GetInt64() > 0, n.GetRawText()));
    }

    static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while (!condition())
        {
            Assert.True(DateTime.UtcNow < deadline, "the condition did not hold within 30 s");
            await Task.Delay(50);
        }
    }
}
