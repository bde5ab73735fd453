using System.Diagnostics;
using Augur.Cache;
using Augur.Generation;
using Augur.Model;

namespace Augur.Cluster;

/// <summary>How a worker node runs its model.</summary>
public sealed record NodeOptions
{
    public required string ModelPath { get; init; }
    public string? TokenizerPath { get; init; }
    /// <summary>Requests decoded together on this node.</summary>
    public int Parallel { get; init; } = 4;
    public int? ContextLength { get; init; }
    public int MaxWaiting { get; init; } = 64;
    public KvType KvType { get; init; } = KvType.F32;
    /// <summary>Bytes of the paged KV cache's block pool (default: the cells of <see cref="Parallel"/> full contexts).</summary>
    public long? KvMemory { get; init; }
    public NodeRole Role { get; init; } = NodeRole.Both;

    /// <summary>Throws <see cref="InvalidRequestException"/> for options a node cannot run with.</summary>
    public void Validate()
    {
        if (Parallel < 1) throw new InvalidRequestException($"--parallel must be ≥ 1 (got {Parallel})");
        if (Role != NodeRole.Both)
            throw new InvalidRequestException($"--role {Role.ToString().ToLowerInvariant()} (Splitwise's prefill/decode split) is not implemented yet; nodes run both phases");
    }
}

/// <summary>
/// The content hashes of the full KV blocks a node's cache holds: what the gateway's cache-aware placement reads.
/// </summary>
public interface ICachedBlocks
{
    ulong[] Held();
    void Admitted(int[] prompt);
    void Finished(int[] prompt);
}

/// <summary>
/// The prompt blocks of the requests running now, hashed as the node's paged cache hashes its blocks
/// (<see cref="PrefixBlockHash"/>, its block size, this model), so the gateway's view and the cache's agree.
/// </summary>
sealed class RunningPromptBlocks(ulong model) : ICachedBlocks
{
    readonly Dictionary<ulong, int> _count = [];

    public ulong[] Held() { lock (_count) return [.. _count.Keys]; }

    public void Admitted(int[] prompt)
    {
        lock (_count)
            foreach (ulong h in Hashes(prompt)) _count[h] = _count.GetValueOrDefault(h) + 1;
    }

    public void Finished(int[] prompt)
    {
        lock (_count)
            foreach (ulong h in Hashes(prompt))
                if (--_count[h] == 0) _count.Remove(h);
    }

    ulong[] Hashes(int[] prompt) => PrefixBlockHash.Chain(prompt, PagedKvCache.BlockSize, model);
}

/// <summary>A worker's model and scheduler, one per silo, loaded when the silo starts.</summary>
public sealed class NodeEngine : IDisposable
{
    readonly LoadedModel _model;
    readonly BatchScheduler _scheduler;
    readonly ICachedBlocks _blocks;
    readonly ulong _modelHash;
    int _inFlight;
    long _promptTokens, _cachedPromptTokens;

    /// <param name="open">Opens the model (default: <see cref="LoadedModel.Open"/> on the options' paths).</param>
    public NodeEngine(NodeOptions options, Func<NodeOptions, LoadedModel>? open = null)
    {
        options.Validate();
        Options = options;
        _modelHash = PrefixBlockHash.ModelFile(options.ModelPath);
        _blocks = new RunningPromptBlocks(_modelHash);
        _model = open is null ? LoadedModel.Open(options.ModelPath, options.TokenizerPath) : open(options);
        try
        {
            int context = ContextWindow.Resolve(_model.Model.Config, options.ContextLength, allowBeyondTrained: false);
            _scheduler = new BatchScheduler(_model.Model, _model.Tokenizer, options.Parallel, context, options.MaxWaiting,
                new KvCacheOptions { Type = options.KvType, Paged = true, PoolBytes = options.KvMemory, ModelHash = _modelHash });
        }
        catch
        {
            _model.Dispose();
            throw;
        }
    }

    public NodeOptions Options { get; }

    public NodeStatus Status(string id, string address)
    {
        int inFlight = Volatile.Read(ref _inFlight);
        int running = Math.Min(inFlight, _scheduler.Parallel);
        return new NodeStatus(id, Options.Role, address, running, inFlight - running, _scheduler.Parallel, Environment.ProcessId,
            _blocks.Held(), Interlocked.Read(ref _promptTokens), Interlocked.Read(ref _cachedPromptTokens), PagedKvCache.BlockSize, _modelHash);
    }

    /// <summary>Runs <paramref name="job"/> on this node's scheduler; its tokens as they come, then its finish.</summary>
    public async IAsyncEnumerable<NodeToken> Run(NodeJob job, [System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancel = default)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancel);
        var run = _scheduler.Submit(new GenerationRequest
        {
            PromptIds = job.Prompt,
            MaxTokens = job.MaxTokens,
            Sampling = job.Sampling.ToOptions(),
            StopAtEos = job.StopAtEos,
        }, job.TopLogprobs, stop.Token, job.Speculative);
        Interlocked.Increment(ref _inFlight);
        _blocks.Admitted(job.Prompt);
        try
        {
            await foreach (var token in run.Tokens.ReadAllAsync(cancel))
                if (token.Event.Token >= 0) // the scheduler's trailing text-only event: the gateway detokenizes itself
                    yield return new NodeToken(token.Event.Token, token.Event.Logprob, token.Event.FromDraft,
                        token.Top.Select(t => t.Token).ToArray(), token.Top.Select(t => t.Logprob).ToArray());
            var result = await run.Completion;
            Interlocked.Add(ref _promptTokens, result.PromptIds.Length);
            Interlocked.Add(ref _cachedPromptTokens, result.ReusedPromptTokens);
            yield return new NodeToken(-1, 0, false, [], [], (NodeFinish)result.FinishReason, result.PromptTime.TotalMilliseconds);
        }
        finally
        {
            stop.Cancel(); // the gateway went away (or finished early at a stop string): free the slot
            _blocks.Finished(job.Prompt);
            Interlocked.Decrement(ref _inFlight);
        }
    }

    public void Dispose()
    {
        _scheduler.Dispose();
        _model.Dispose();
    }
}

/// <summary>The node grain: the cluster's handle on a silo's <see cref="NodeEngine"/>. Reentrant, so status calls
/// and many generations interleave (the scheduler does the batching).</summary>
[NodePlacement, Orleans.Concurrency.Reentrant]
sealed class NodeGrain(NodeEngine engine, ILocalSiloDetails silo) : Grain, INodeGrain
{
    public Task<NodeStatus> Status() => Task.FromResult(engine.Status(this.GetPrimaryKeyString(), silo.SiloAddress.ToParsableString()));

    public IAsyncEnumerable<NodeToken> Generate(NodeJob job, CancellationToken cancel = default) => engine.Run(job, cancel);
}
