using System.CommandLine;
using Augur.Server;

namespace Augur.Cli.Commands;

static class ServeCommand
{
    public static Command Create()
    {
        var model = new ModelArguments();
        var host = new Option<string>("--host") { Description = "address to listen on (loopback unless told otherwise)", DefaultValueFactory = _ => "127.0.0.1" };
        var port = new Option<int>("--port") { Description = "port to listen on (0 = any free port)", DefaultValueFactory = _ => 8080 };
        var apiKey = new Option<string?>("--api-key") { Description = "require 'Authorization: Bearer KEY' on /v1 requests" };
        var parallel = new Option<int>("--parallel", "-np") { Description = "requests decoded together in one batch", DefaultValueFactory = _ => 1 };
        var ctx = new Option<int?>("--ctx") { Description = $"context length per request (default: the model's, at most {Augur.Model.ContextWindow.DefaultMax})" };
        var allowLong = new Option<bool>("--allow-long-context") { Description = "allow --ctx beyond the model's trained context" };
        var allowedHosts = new Option<string[]>("--allowed-hosts") { Description = "host names requests may use besides loopback ones (DNS-rebinding guard; repeatable, or comma-separated)" };
        var cors = new Option<string[]>("--cors") { Description = "origins allowed to call the API from a browser, e.g. http://localhost:3000, or * (default: none)" };
        var template = new TemplateArguments();
        var kv = new KvArguments();
        var alias = new Option<string?>("--alias") { Description = "model id in the API (default: the file name without extension)" };
        var cluster = new Option<string?>("--cluster") { Description = "local:N — serve through a gateway over N worker processes on loopback (Orleans; see docs/cluster.md)" };
        var placement = new Option<string>("--placement") { Description = $"with --cluster: how requests are placed on nodes ({string.Join(", ", Augur.Cluster.PlacementPolicies.Names)})", DefaultValueFactory = _ => "cache-aware" };

        var cmd = new Command("serve", "serve the model over an OpenAI-compatible HTTP API (/v1/chat/completions, /v1/completions, /v1/models, /health)")
        {
            host, port, apiKey, parallel, ctx, allowLong, alias, allowedHosts, cors, cluster, placement,
        };
        model.AddTo(cmd);
        kv.AddTo(cmd);
        template.AddTo(cmd);
        cmd.SetAction(r => CliErrors.Run(() =>
        {
            var options = new ServerOptions
            {
                ModelPath = model.ModelPath(r),
                TokenizerPath = model.TokenizerPath(r),
                Host = r.GetValue(host)!,
                Port = r.GetValue(port),
                ApiKey = r.GetValue(apiKey),
                Parallel = r.GetValue(parallel),
                ContextLength = r.GetValue(ctx),
                KvType = kv.Type(r),
                KvMemory = kv.Memory(r),
                Alias = r.GetValue(alias),
                AllowLongContext = r.GetValue(allowLong),
                AllowedHosts = List(r.GetValue(allowedHosts)),
                CorsOrigins = List(r.GetValue(cors)),
                TemplateLimits = template.Limits(r),
                DefaultTemplateOnFailure = template.DefaultOnFailure(r),
            };
            if (r.GetValue(cluster) is { } spec)
                return LocalCluster.Serve(options, LocalCluster.Workers(spec), Augur.Cluster.PlacementPolicies.Create(r.GetValue(placement)!)).GetAwaiter().GetResult();
            return Serve(options).GetAwaiter().GetResult();
        }));
        return cmd;
    }

    static string[] List(string[]? values) =>
        (values ?? []).SelectMany(v => v.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToArray();

    static async Task<int> Serve(ServerOptions options)
    {
        await using var server = AugurServer.Create(options);
        return await Run(server, options, $"{options.Parallel} parallel");
    }

    /// <summary>Starts a created server, says where it listens, waits for Ctrl+C.</summary>
    internal static async Task<int> Run(AugurServer server, ServerOptions options, string how)
    {
        if (server.ChatProblem is { } problem)
            Console.Error.WriteLine($"augur: warning: {SafeText.Line(problem)}{(options.DefaultTemplateOnFailure ? "" : "; chat requests are refused, /v1/completions is served (--default-template uses ChatML)")}");
        await server.StartAsync();
        Console.Error.WriteLine($"augur: serving '{server.ModelId}' on {server.Address} ({how}{(options.ApiKey is null ? "" : ", API key required")}); Ctrl+C stops");
        await server.WaitForShutdownAsync();
        return 0;
    }
}
