using System.Diagnostics;
using System.Net.Http.Json;
using System.Text.Json;
using System.Text.RegularExpressions;
using Augur.Generation;
using Augur.Model;
using Augur.Sampling;

namespace Augur.ClusterTests;

/// <summary>
/// <c>augur serve --cluster local:2</c> as a user runs it: a gateway process and two worker processes on loopback.
/// The in-process cluster tests cover streams cut mid-way; this one kills a worker process and checks that the
/// gateway notices and keeps serving from the other.
/// </summary>
public sealed partial class LocalClusterProcessTests
{
    [GeneratedRegex(@"serving '[^']*' on (http://\S+) ")]
    private static partial Regex Serving();

    [Theory]
    [InlineData("error: --cluster must be local:N with N in [1, 64] (got 'remote:3')", "serve", "--cluster", "remote:3")]
    [InlineData("error: --join must be HOST:PORT with an IP address (got 'nowhere')", "node", "--join", "nowhere")]
    [InlineData("error: --role prefill (Splitwise's prefill/decode split) is not implemented yet; nodes run both phases", "node", "--join", "127.0.0.1:1", "--role", "prefill")]
    public async Task Bad_cluster_arguments_are_one_error_line(string error, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Augur.Cli.dll"));
        foreach (string a in args) psi.ArgumentList.Add(a);
        using var augur = Process.Start(psi)!;
        var stderr = augur.StandardError.ReadToEndAsync();
        await augur.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(1, augur.ExitCode);
        Assert.Equal(error, (await stderr).Trim());
    }

    [Fact]
    public async Task Serve_cluster_local_2_runs_two_worker_processes_and_survives_killing_one()
    {
        var psi = new ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, UseShellExecute = false };
        foreach (string a in (string[])[Path.Combine(AppContext.BaseDirectory, "Augur.Cli.dll"), "serve", "--cluster", "local:2", "--port", "0",
                     "--parallel", "2", "--ctx", "256", "-m", TestNodes.ModelPath])
            psi.ArgumentList.Add(a);
        using var gateway = Process.Start(psi)!;
        try
        {
            var address = new TaskCompletionSource<Uri>(TaskCreationOptions.RunContinuationsAsynchronously);
            var log = new System.Text.StringBuilder();
            gateway.ErrorDataReceived += (_, e) =>
            {
                if (e.Data is null) { address.TrySetException(new InvalidOperationException($"the gateway exited: {log}")); return; }
                lock (log) log.AppendLine(e.Data);
                if (Serving().Match(e.Data) is { Success: true } m) address.TrySetResult(new Uri(m.Groups[1].Value));
            };
            gateway.BeginErrorReadLine();
            using var http = new HttpClient { BaseAddress = await address.Task.WaitAsync(TimeSpan.FromSeconds(120)), Timeout = TimeSpan.FromSeconds(60) };

            using var model = LoadedModel.Open(TestNodes.ModelPath);
            string Alone(string prompt) => new Generator(model.Model, model.Tokenizer)
                .Generate(new GenerationRequest { Prompt = prompt, MaxTokens = 24, Sampling = SamplingOptions.Greedy }).Text;
            async Task<string> Complete(string prompt)
            {
                var response = await http.PostAsJsonAsync("/v1/completions", new { prompt, max_tokens = 24, temperature = 0 });
                string body = await response.Content.ReadAsStringAsync();
                Assert.True(response.IsSuccessStatusCode, body);
                using var json = JsonDocument.Parse(body);
                return json.RootElement.GetProperty("choices")[0].GetProperty("text").GetString()!;
            }
            async Task<int[]> NodePids()
            {
                using var cluster = JsonDocument.Parse(await http.GetStringAsync("/cluster"));
                return cluster.RootElement.GetProperty("nodes").EnumerateArray().Select(n => n.GetProperty("pid").GetInt32()).ToArray();
            }

            int[] pids = await NodePids();
            Assert.Equal(2, pids.Distinct().Count());
            Assert.DoesNotContain(gateway.Id, pids); // separate processes
            string[] prompts = ["Once upon a time", "Lily", "The little dog", "Tom"];
            foreach (string p in prompts) Assert.Equal(Alone(p), await Complete(p));

            using (var worker = Process.GetProcessById(pids[0])) worker.Kill();
            // Every request still completes, with the same text: those placed on the dead node before the gateway
            // noticed are resumed on the other.
            foreach (string p in prompts) Assert.Equal(Alone(p), await Complete(p));
            var deadline = Stopwatch.StartNew();
            while (!(await NodePids()).SequenceEqual([pids[1]]))
            {
                Assert.True(deadline.Elapsed < TimeSpan.FromSeconds(30), "the killed node is still listed after 30 s");
                await Task.Delay(100);
            }
        }
        finally
        {
            gateway.Kill(entireProcessTree: true);
            await gateway.WaitForExitAsync();
        }
    }
}
