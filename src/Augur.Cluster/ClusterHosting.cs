using System.Net;
using System.Net.Sockets;
using Augur.Generation;
using Augur.Model;
using Augur.Server;
using Augur.Tokenizers;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Routing;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Orleans.Configuration;

namespace Augur.Cluster;

/// <summary>Silo set-up for the gateway and the worker nodes.</summary>
public static class ClusterHosting
{
    /// <summary>The gateway's silo name: it hosts no model, so it is never a worker.</summary>
    public const string GatewaySiloName = "gateway";
    public const string ClusterId = "augur";

    /// <summary>What every silo of an Augur cluster needs: node grains placed on their own silo.</summary>
    public static ISiloBuilder AddAugurCluster(this ISiloBuilder silo)
    {
        silo.Services.AddPlacementDirector<NodePlacement, NodePlacementDirector>();
        return silo;
    }

    /// <summary>A worker node: this silo hosts <paramref name="options"/>' model, loaded when the silo starts
    /// (by <paramref name="open"/> if given, see <see cref="NodeEngine"/>).</summary>
    public static ISiloBuilder AddAugurNode(this ISiloBuilder silo, NodeOptions options, Func<NodeOptions, LoadedModel>? open = null)
    {
        silo.AddAugurCluster();
        silo.Services.AddSingleton(_ => new NodeEngine(options, open));
        silo.Services.AddHostedService<NodeWarmUp>();
        return silo;
    }

    /// <summary>Localhost clustering (the default: one machine) when the primary is on loopback, else the development
    /// provider with this silo advertising <paramref name="advertise"/>. Production clusters use Orleans' membership
    /// providers instead (docs/cluster.md).</summary>
    public static ISiloBuilder UseAugurClustering(this ISiloBuilder silo, string name, int siloPort, int gatewayPort, IPEndPoint? primary, IPAddress advertise)
    {
        silo.Configure<SiloOptions>(o => o.SiloName = name);
        silo.Configure<ClusterOptions>(o => { o.ClusterId = ClusterId; o.ServiceId = ClusterId; });
        // A killed node is declared dead in seconds, not the default minute: a gateway's probes notice sooner anyway.
        silo.Configure<ClusterMembershipOptions>(o =>
        {
            o.ProbeTimeout = TimeSpan.FromSeconds(2);
            o.NumMissedProbesLimit = 2;
            o.NumVotesForDeathDeclaration = 1;
        });
        if (IPAddress.IsLoopback(advertise) && (primary is null || IPAddress.IsLoopback(primary.Address)))
            return silo.UseLocalhostClustering(siloPort, gatewayPort, primary, ClusterId, ClusterId);
        silo.UseDevelopmentClustering(primary ?? new IPEndPoint(advertise, siloPort));
        silo.ConfigureEndpoints(advertise, siloPort, gatewayPort, listenOnAnyHostAddress: true);
        return silo;
    }

    /// <summary>A port free now on loopback (for silos started with "any port").</summary>
    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    sealed class NodeWarmUp(NodeEngine engine) : IHostedService
    {
        // Resolving the engine loads the model before the silo reports itself active.
        public Task StartAsync(CancellationToken cancellationToken) => Task.FromResult(engine.Options);
        public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
    }
}

/// <summary>The OpenAI server's backend in cluster mode: a <see cref="ClusterGateway"/>, and GET /cluster.</summary>
/// <param name="create">Makes the gateway from the server's tokenizer and context length.</param>
public sealed class ClusterBackend(Func<ITokenizer, int, ClusterGateway> create) : IServingBackend
{
    ClusterGateway? _gateway;

    public ClusterBackend(IGrainFactory grains, GatewayOptions? options = null)
        : this((tokenizer, context) => new ClusterGateway(grains, tokenizer, context, options)) { }

    public ClusterGateway Gateway => _gateway ?? throw new InvalidOperationException("the server has not created its scheduler yet");

    public IRequestScheduler CreateScheduler(LoadedModel model, int contextLength) => _gateway = create(model.Tokenizer, contextLength);

    public void MapRoutes(IEndpointRouteBuilder routes) => routes.MapGet("/cluster", () => Results.Json(new
    {
        nodes = Gateway.Nodes().Select(n => new
        {
            id = n.Status.Id,
            role = n.Status.Role.ToString().ToLowerInvariant(),
            address = n.Status.Address,
            running = n.Status.Running,
            waiting = n.Status.Waiting,
            cached_blocks = n.Status.CachedBlocks.Length,
            // Prompt tokens the node has run, and how many of them it found cached (its prefix hits).
            prompt_tokens = n.Status.PromptTokens,
            cached_prompt_tokens = n.Status.CachedPromptTokens,
            pid = n.Status.Pid,
        }),
        failovers = Gateway.Failovers,
    }));
}
