using Augur.Cache;
using Augur.Cluster;
using Augur.Generation;
using Augur.Model;
using Orleans.TestingHost;

namespace Augur.ClusterTests;

/// <summary>
/// A real Orleans cluster in this process (TestingHost): the primary silo keeps the membership table and is not a
/// worker; each secondary silo is a worker node with stories260K, paced so a stream lasts long enough to kill its
/// node in the middle of it.
/// </summary>
public sealed class TestNodes : IAsyncDisposable
{
    public static string ModelPath => SharedAssets.Model("stories260K.gguf");
    public const string Primary = "Primary";

    public TestCluster Cluster { get; }
    public LoadedModel Reference { get; } = LoadedModel.Open(ModelPath);
    public ClusterGateway Gateway { get; }

    TestNodes(TestCluster cluster, IPlacementPolicy placement)
    {
        Cluster = cluster;
        Gateway = new ClusterGateway(cluster.Client, Reference.Tokenizer, 256, new GatewayOptions { Placement = placement, IsWorker = name => name != Primary });
    }

    public static async Task<TestNodes> StartAsync(int workers, IPlacementPolicy placement)
    {
        var builder = new TestClusterBuilder((short)(workers + 1));
        builder.AddSiloBuilderConfigurator<WorkerConfigurator>();
        var cluster = builder.Build();
        await cluster.DeployAsync();
        var nodes = new TestNodes(cluster, placement);
        await nodes.Gateway.WaitForNodesAsync(workers, TimeSpan.FromSeconds(60));
        return nodes;
    }

    public SiloHandle Silo(string name) => Cluster.Silos.Single(s => s.Name == name);

    /// <summary>The request alone on one local scheduler: what the cluster must reproduce.</summary>
    public GenerationResult Alone(GenerationRequest request) => new Generator(Reference.Model, Reference.Tokenizer).Generate(request);

    public static async Task<(GenerationResult Result, string Streamed, int[] StreamedIds)> Collect(ScheduledRequest run, Func<int, Task>? afterToken = null)
    {
        var text = new System.Text.StringBuilder();
        var ids = new List<int>();
        await foreach (var token in run.Tokens.ReadAllAsync())
        {
            text.Append(token.Event.Text);
            if (token.Event.Token < 0) continue;
            ids.Add(token.Event.Token);
            if (afterToken is not null) await afterToken(ids.Count);
        }
        return (await run.Completion, text.ToString(), ids.ToArray());
    }

    public async ValueTask DisposeAsync()
    {
        Gateway.Dispose();
        await Cluster.DisposeAsync();
        Reference.Dispose();
    }

    sealed class WorkerConfigurator : ISiloConfigurator
    {
        public void Configure(ISiloBuilder silo) => silo.AddAugurNode(new NodeOptions { ModelPath = ModelPath, Parallel = 4, ContextLength = 256 },
            options => { var m = LoadedModel.Open(options.ModelPath); return new LoadedModel(m.Path, new PacedTransformer(m.Model), m.Tokenizer); });
    }
}

/// <summary>The real model, a few milliseconds slower per forward pass: stories260K would otherwise finish a whole
/// story before a test could stop its node. The results are the model's own.</summary>
sealed class PacedTransformer(ITransformer inner) : ITransformer
{
    public ModelConfig Config => inner.Config;
    public ModelWeights Weights => inner.Weights;
    public int MaxBatch => inner.MaxBatch;
    public IKvCache CreateCache(int? contextLength = null, int sequences = 1, KvCacheOptions? options = null) => inner.CreateCache(contextLength, sequences, options);

    public void Forward(Batch batch, IKvCache cache, bool[]? skipLayers = null)
    {
        Thread.Sleep(4);
        inner.Forward(batch, cache, skipLayers);
    }

    public ReadOnlySpan<float> Logits(int output) => inner.Logits(output);
    public void Dispose() => inner.Dispose();
}
