using System.Diagnostics;
using System.Net;
using Augur.Cluster;
using Augur.Server;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Augur.Cli.Commands;

/// <summary><c>augur serve --cluster local:N</c>: the gateway's silo and server here, N <c>augur node</c> processes on loopback.</summary>
static class LocalCluster
{
    public static int Workers(string spec) =>
        spec.StartsWith("local:", StringComparison.Ordinal) && int.TryParse(spec.AsSpan(6), out int n) && n is >= 1 and <= 64 ? n
            : throw new InvalidRequestException($"--cluster must be local:N with N in [1, 64] (got '{SafeText.Quote(spec)}')");

    public static async Task<int> Serve(ServerOptions options, int workers, IPlacementPolicy placement)
    {
        int siloPort = ClusterHosting.FreePort();
        using var silo = new HostBuilder()
            .UseOrleans(s => s.UseAugurClustering(ClusterHosting.GatewaySiloName, siloPort, ClusterHosting.FreePort(), null, IPAddress.Loopback).AddAugurCluster())
            .Build();
        await silo.StartAsync();
        var nodes = new List<Process>();
        try
        {
            for (int i = 0; i < workers; i++) nodes.Add(StartNode(options, $"node-{i}", siloPort));
            var backend = new ClusterBackend(silo.Services.GetRequiredService<IGrainFactory>(), new GatewayOptions { Placement = placement });
            await using var server = AugurServer.Create(options, backend);
            await backend.Gateway.WaitForNodesAsync(workers, TimeSpan.FromMinutes(5));
            return await ServeCommand.Run(server, options, $"gateway over {workers} nodes, silo 127.0.0.1:{siloPort}, pids {string.Join(" ", nodes.Select(p => p.Id))}");
        }
        finally
        {
            foreach (var node in nodes)
            {
                try { node.Kill(entireProcessTree: true); } catch (InvalidOperationException) { } // already gone
                node.Dispose();
            }
            await silo.StopAsync();
        }
    }

    /// <summary>This same program with <c>node --join</c>; its output joins ours.</summary>
    static Process StartNode(ServerOptions options, string name, int siloPort)
    {
        var start = new ProcessStartInfo(Environment.ProcessPath!) { UseShellExecute = false };
        // Run through `dotnet Augur.Cli.dll` (./augur does): the host needs the assembly path first.
        if (Path.GetFileNameWithoutExtension(Environment.ProcessPath) == "dotnet") start.ArgumentList.Add(typeof(LocalCluster).Assembly.Location);
        foreach (string arg in (string[])["node", "--join", $"127.0.0.1:{siloPort}", "--name", name, "-m", options.ModelPath, "--parallel", options.Parallel.ToString(),
                     "--kv-type", options.KvType.ToString().ToLowerInvariant(), "--exit-with", Environment.ProcessId.ToString()])
            start.ArgumentList.Add(arg);
        if (options.TokenizerPath is { } tok) { start.ArgumentList.Add("--tokenizer"); start.ArgumentList.Add(tok); }
        if (options.ContextLength is { } ctx) { start.ArgumentList.Add("--ctx"); start.ArgumentList.Add(ctx.ToString()); }
        if (options.KvMemory is { } memory) { start.ArgumentList.Add("--kv-memory"); start.ArgumentList.Add(memory.ToString()); }
        return Process.Start(start) ?? throw new InvalidOperationException("could not start a node process");
    }
}
