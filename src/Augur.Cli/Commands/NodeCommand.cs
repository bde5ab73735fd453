using System.CommandLine;
using System.Net;
using Augur.Cluster;
using Microsoft.Extensions.Hosting;

namespace Augur.Cli.Commands;

/// <summary><c>augur node --join ADDRESS</c>: a worker node that hosts the model in a cluster's silo.</summary>
static class NodeCommand
{
    public static Command Create()
    {
        var model = new ModelArguments();
        var join = new Option<string>("--join") { Description = "the gateway's silo endpoint, HOST:PORT (as `augur serve --cluster` prints it)", Required = true };
        var role = new Option<string>("--role") { Description = "both (prefill and decode, the default), prefill or decode (Splitwise)", DefaultValueFactory = _ => "both" };
        var name = new Option<string?>("--name") { Description = "node id in the cluster (default: node-PID)" };
        var parallel = new Option<int>("--parallel", "-np") { Description = "requests decoded together on this node", DefaultValueFactory = _ => 4 };
        var ctx = new Option<int?>("--ctx") { Description = "context length per request (default: the model's)" };
        var advertise = new Option<string>("--advertise") { Description = "this machine's address as other silos reach it", DefaultValueFactory = _ => "127.0.0.1" };
        var kv = new KvArguments();
        var exitWith = new Option<int?>("--exit-with") { Description = "stop when the process with this id ends (the local gateway starts its nodes so)", Hidden = true };
        var cmd = new Command("node", "run a worker node that joins a cluster and serves the gateway's requests (see docs/cluster.md)")
        {
            join, role, name, parallel, ctx, advertise, exitWith,
        };
        model.AddTo(cmd);
        kv.AddTo(cmd);
        cmd.SetAction(r => CliErrors.Run(() =>
        {
            var options = new NodeOptions
            {
                ModelPath = model.ModelPath(r),
                TokenizerPath = model.TokenizerPath(r),
                Parallel = r.GetValue(parallel),
                ContextLength = r.GetValue(ctx),
                KvType = kv.Type(r),
                KvMemory = kv.Memory(r),
                Role = ParseRole(r.GetValue(role)!),
            };
            options.Validate();
            var primary = Endpoint(r.GetValue(join)!, "--join");
            if (!IPAddress.TryParse(r.GetValue(advertise), out var address))
                throw new InvalidRequestException($"--advertise '{SafeText.Quote(r.GetValue(advertise))}' is not an IP address");
            string id = r.GetValue(name) ?? $"node-{Environment.ProcessId}";
            if (id == ClusterHosting.GatewaySiloName) throw new InvalidRequestException($"--name '{id}' is the gateway's");
            using var host = new HostBuilder()
                .UseOrleans(silo => silo.UseAugurClustering(id, ClusterHosting.FreePort(), ClusterHosting.FreePort(), primary, address).AddAugurNode(options))
                .Build();
            host.Start();
            if (r.GetValue(exitWith) is { } parent) _ = StopWhenGone(parent, host);
            Console.Error.WriteLine($"augur: node '{id}' joined {primary} (pid {Environment.ProcessId}); Ctrl+C stops");
            host.WaitForShutdown();
            return 0;
        }));
        return cmd;
    }

    /// <summary>A gateway that dies without stopping its nodes (killed) leaves no orphans behind.</summary>
    static async Task StopWhenGone(int pid, IHost host)
    {
        try
        {
            using var parent = System.Diagnostics.Process.GetProcessById(pid);
            await parent.WaitForExitAsync();
        }
        catch (ArgumentException) { } // already gone
        await host.StopAsync();
    }

    static NodeRole ParseRole(string value) => Enum.TryParse<NodeRole>(value, ignoreCase: true, out var role) && !int.TryParse(value, out _) ? role
        : throw new InvalidRequestException($"--role must be prefill, decode or both (got '{SafeText.Quote(value)}')");

    internal static IPEndPoint Endpoint(string value, string option) => IPEndPoint.TryParse(value, out var endpoint) && endpoint.Port > 0 ? endpoint
        : throw new InvalidRequestException($"{option} must be HOST:PORT with an IP address (got '{SafeText.Quote(value)}')");
}
