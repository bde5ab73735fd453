using Augur.Cache;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using Augur.Generation;
using Augur.Tokenizers;

namespace Augur.Cluster;

/// <summary>How the gateway finds, watches and uses nodes.</summary>
public sealed record GatewayOptions
{
    public IPlacementPolicy Placement { get; init; } = new CacheAwarePlacement();
    /// <summary>Which silos are worker nodes (by silo name); the gateway's own silo is not.</summary>
    public Func<string, bool> IsWorker { get; init; } = name => name != ClusterHosting.GatewaySiloName;
    /// <summary>How often node status (load, cached blocks) is refreshed.</summary>
    public TimeSpan RefreshInterval { get; init; } = TimeSpan.FromMilliseconds(250);
    /// <summary>A node that does not answer a status call this fast is taken as gone.</summary>
    public TimeSpan ProbeTimeout { get; init; } = TimeSpan.FromSeconds(2);
    /// <summary>While a stream is silent this long, the gateway checks that its node still answers.</summary>
    public TimeSpan StallCheck { get; init; } = TimeSpan.FromSeconds(1);
    /// <summary>How long a request waits for a node when none is up.</summary>
    public TimeSpan NodeWait { get; init; } = TimeSpan.FromSeconds(30);
    /// <summary>Nodes a request may be resumed on after failures before it fails.</summary>
    public int MaxAttempts { get; init; } = 4;
}

/// <summary>A node as the gateway last saw it.</summary>
public sealed record NodeSnapshot(NodeStatus Status, int GatewayInFlight);

/// <summary>
/// The cluster's front: an <see cref="IRequestScheduler"/> the OpenAI server uses in place of a local scheduler.
/// Each request is placed on a node by the <see cref="IPlacementPolicy"/> and streamed back token by token. Nodes
/// send token ids only; the gateway detokenizes and matches stop strings, so it knows exactly what the client has
/// seen. If the node fails mid-stream the request resumes on another node from its prompt plus the tokens already
/// streamed (re-prefill): nothing is lost or repeated, and greedy output is identical to an uninterrupted run.
/// </summary>
public sealed class ClusterGateway : IRequestScheduler
{
    readonly IGrainFactory _grains;
    readonly GatewayOptions _options;
    readonly ConcurrentDictionary<string, NodeState> _nodes = new();
    readonly CancellationTokenSource _stopping = new();
    readonly Task _refresher;
    readonly TaskCompletionSource _firstRefresh = new(TaskCreationOptions.RunContinuationsAsynchronously);
    long _failovers;

    public ClusterGateway(IGrainFactory grains, ITokenizer tokenizer, int contextLength, GatewayOptions? options = null)
    {
        _grains = grains;
        Tokenizer = tokenizer;
        ContextLength = contextLength;
        _options = options ?? new GatewayOptions();
        _refresher = Task.Run(RefreshLoop);
    }

    public ITokenizer Tokenizer { get; }
    public int ContextLength { get; }
    /// <summary>Requests resumed on another node after theirs failed.</summary>
    public long Failovers => Interlocked.Read(ref _failovers);

    /// <summary>The nodes that answered the last status round, by id.</summary>
    public IReadOnlyList<NodeSnapshot> Nodes() => _nodes.Values.Where(n => n.Up).OrderBy(n => n.Id, StringComparer.Ordinal)
        .Select(n => new NodeSnapshot(n.Status!, n.InFlight)).ToList();

    /// <summary>Waits until at least <paramref name="count"/> nodes are up.</summary>
    public async Task WaitForNodesAsync(int count, TimeSpan timeout)
    {
        var deadline = Stopwatch.StartNew();
        while (Nodes().Count < count)
        {
            if (deadline.Elapsed > timeout) throw new TimeoutException($"{Nodes().Count} of {count} nodes joined within {timeout.TotalSeconds:0} s");
            await Task.Delay(50);
        }
    }

    public ScheduledRequest Submit(GenerationRequest request, int topLogprobs = 0, CancellationToken cancel = default, string speculative = "none")
    {
        if (topLogprobs < 0) throw new InvalidRequestException($"top logprobs must be ≥ 0 (got {topLogprobs})");
        if (request.Grammar is not null)
            throw new InvalidRequestException("structured output (response_format, a required tool call: anything with a grammar) is not yet supported through the cluster gateway");
        Speculative.Drafters.CreateBatchable(speculative, Tokenizer.Vocabulary.Count); // refuses unknown names here, not on a node
        var (prompt, seed, _) = request.Prepare(Tokenizer, ContextLength);
        var channel = Channel.CreateUnbounded<ScheduledToken>(new() { SingleWriter = true, SingleReader = true });
        var job = new NodeJob(prompt, request.MaxTokens, WireSampling.From(request.Sampling with { Seed = seed }), request.StopAtEos,
            topLogprobs, speculative);
        var completion = Task.Run(() => RunAsync(request, job, channel.Writer, cancel));
        return new ScheduledRequest(prompt, channel.Reader, completion);
    }

    async Task<GenerationResult> RunAsync(GenerationRequest request, NodeJob job, ChannelWriter<ScheduledToken> output, CancellationToken cancel)
    {
        var stream = new StreamState(Tokenizer, job.Prompt, request, job.Sampling.Seed!.Value);
        var clock = Stopwatch.StartNew();
        TimeSpan? promptTime = null;
        var tried = new HashSet<string>();
        Exception? lastFailure = null;
        try
        {
            for (int attempt = 0; ; attempt++)
            {
                if (attempt == _options.MaxAttempts)
                    throw new InvalidOperationException($"the request failed on {attempt} nodes: {lastFailure?.Message}", lastFailure);
                int[] prompt = [.. job.Prompt, .. stream.Ids];
                // A resumed request whose prompt fills the context has no room left on any node.
                if (prompt.Length >= ContextLength) return stream.End(FinishReason.ContextFull, output, promptTime ?? clock.Elapsed, clock.Elapsed);
                var node = await PlaceAsync(prompt, tried, cancel);
                tried.Add(node.Id);
                var resumed = job with { Prompt = prompt, MaxTokens = job.MaxTokens - stream.Ids.Count };
                Interlocked.Increment(ref node.InFlight);
                try
                {
                    var finish = await StreamFromAsync(node, resumed, stream, output, cancel, () => promptTime ??= clock.Elapsed);
                    return stream.End(finish, output, promptTime ?? clock.Elapsed, clock.Elapsed);
                }
                catch (Exception e) when (!cancel.IsCancellationRequested && !_stopping.IsCancellationRequested)
                {
                    // The node died or refused: resume elsewhere from what the client already has.
                    lastFailure = e;
                    node.Up = false;
                    Interlocked.Increment(ref _failovers);
                }
                finally
                {
                    Interlocked.Decrement(ref node.InFlight);
                }
            }
        }
        catch (OperationCanceledException) when (cancel.IsCancellationRequested)
        {
            return stream.End(FinishReason.Cancelled, output, promptTime ?? clock.Elapsed, clock.Elapsed);
        }
        catch (Exception e)
        {
            output.TryComplete(e);
            throw;
        }
    }

    /// <summary>Streams one attempt; returns how the request ended (on the node, or here at a stop string).</summary>
    async Task<FinishReason> StreamFromAsync(NodeState node, NodeJob job, StreamState stream, ChannelWriter<ScheduledToken> output,
        CancellationToken cancel, Action firstToken)
    {
        using var attempt = CancellationTokenSource.CreateLinkedTokenSource(cancel, _stopping.Token);
        var grain = _grains.GetGrain<INodeGrain>(node.Id);
        var tokens = grain.Generate(job, attempt.Token).GetAsyncEnumerator(attempt.Token);
        try
        {
            while (true)
            {
                var next = tokens.MoveNextAsync().AsTask();
                // A silent stream may be a long prefill or a dead node: ask the node, and give up on it if it is gone.
                while (await Task.WhenAny(next, Task.Delay(_options.StallCheck, attempt.Token)) != next)
                    await grain.Status().WaitAsync(_options.ProbeTimeout, attempt.Token);
                if (!await next) throw new InvalidOperationException($"node '{node.Id}' ended the stream without a finish");
                var token = tokens.Current;
                if (token.Finish is { } finish) return (FinishReason)finish;
                firstToken();
                if (stream.Emit(token, output) is { } stopped) return stopped;
            }
        }
        finally
        {
            // Tells the node to stop (a stop string, the client left, a failover); a dead node would make this wait,
            // so it is not awaited.
            attempt.Cancel();
            _ = tokens.DisposeAsync().AsTask().ContinueWith(t => t.Exception, TaskScheduler.Default);
        }
    }

    /// <summary>The node the policy picks among those up (and not yet tried by this request, while others exist).</summary>
    async Task<NodeState> PlaceAsync(int[] prompt, HashSet<string> tried, CancellationToken cancel)
    {
        var waited = Stopwatch.StartNew();
        await _firstRefresh.Task.WaitAsync(cancel);
        while (true)
        {
            var up = _nodes.Values.Where(n => n.Up).ToList();
            var fresh = up.Where(n => !tried.Contains(n.Id)).ToList();
            var pool = fresh.Count > 0 ? fresh : up;
            if (pool.Count > 0)
            {
                // Nodes may hash differently (block size, model): hash the prompt once per kind.
                var hashes = new Dictionary<(int, ulong), ulong[]>();
                ulong[] Blocks(NodeState n) => hashes.TryGetValue(n.HashKind, out var h) ? h
                    : hashes[n.HashKind] = PrefixBlockHash.Chain(prompt, n.HashKind.BlockSize, n.HashKind.Model);
                var candidates = pool.Select(n => n.Candidate(Blocks(n))).ToList();
                var chosen = _nodes[_options.Placement.Choose(candidates, prompt.Length).Id];
                chosen.Placed(Blocks(chosen));
                return chosen;
            }
            if (waited.Elapsed > _options.NodeWait)
                throw new SchedulerBusyException($"no worker node is available (waited {_options.NodeWait.TotalSeconds:0} s)");
            await Task.Delay(_options.RefreshInterval, cancel);
        }
    }

    async Task RefreshLoop()
    {
        var management = _grains.GetGrain<IManagementGrain>(0);
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                var hosts = await management.GetDetailedHosts(onlyActive: true).WaitAsync(_options.ProbeTimeout, _stopping.Token);
                var workers = hosts.Where(h => _options.IsWorker(h.SiloName)).Select(h => h.SiloName).ToHashSet();
                foreach (var gone in _nodes.Keys.Where(k => !workers.Contains(k))) _nodes.TryRemove(gone, out _);
                await Task.WhenAll(workers.Select(async id =>
                {
                    var node = _nodes.GetOrAdd(id, k => new NodeState(k));
                    try
                    {
                        node.Refreshed(await _grains.GetGrain<INodeGrain>(id).Status().WaitAsync(_options.ProbeTimeout, _stopping.Token));
                    }
                    catch (Exception) when (!_stopping.IsCancellationRequested)
                    {
                        node.Up = false; // starting, overloaded past the probe timeout, or dead: not placed on until it answers
                    }
                }));
                _firstRefresh.TrySetResult();
            }
            catch (Exception) when (!_stopping.IsCancellationRequested)
            {
                // The membership view was unavailable this round; the last one stands.
            }
            try { await Task.Delay(_options.RefreshInterval, _stopping.Token); } catch (OperationCanceledException) { }
        }
    }

    public void Dispose()
    {
        _stopping.Cancel();
        try { _refresher.Wait(TimeSpan.FromSeconds(5)); } catch (AggregateException) { }
    }

    /// <summary>A node's last status plus what the gateway placed on it since (its blocks, its in-flight count).</summary>
    sealed class NodeState(string id)
    {
        readonly HashSet<ulong> _placedBlocks = [];
        HashSet<ulong> _blocks = [];

        public string Id { get; } = id;
        public NodeStatus? Status { get; private set; }
        public volatile bool Up;
        public int InFlight;

        public void Refreshed(NodeStatus status)
        {
            lock (_placedBlocks)
            {
                Status = status;
                _blocks = [.. status.CachedBlocks];
                _placedBlocks.Clear();
            }
            Up = true;
        }

        /// <summary>The prompt's blocks count as held from now on: the node will hold them once it prefills.</summary>
        public void Placed(ulong[] blocks) { lock (_placedBlocks) _placedBlocks.UnionWith(blocks); }

        public (int BlockSize, ulong Model) HashKind => Status is { } s ? (s.BlockSize, s.ModelHash) : (PagedKvCache.BlockSize, 0);

        public NodeCandidate Candidate(ulong[] promptBlocks)
        {
            lock (_placedBlocks)
            {
                int matched = 0;
                while (matched < promptBlocks.Length && (_blocks.Contains(promptBlocks[matched]) || _placedBlocks.Contains(promptBlocks[matched]))) matched++;
                int published = Status is null ? 0 : Status.Running + Status.Waiting;
                return new NodeCandidate(Id, Math.Max(published, Volatile.Read(ref InFlight)), Status?.Parallel ?? 1,
                    matched * HashKind.BlockSize, _blocks.Count + _placedBlocks.Count);
            }
        }
    }

    /// <summary>The client's side of a request: the tokens it has, their text, the stop strings still pending.</summary>
    sealed class StreamState(ITokenizer tokenizer, int[] prompt, GenerationRequest request, int seed)
    {
        readonly StreamingDetokenizer _detokenizer = new(tokenizer, prompt[^1]);
        readonly StopMatcher _stops = new(request.Stop);
        readonly StringBuilder _text = new();

        public List<int> Ids { get; } = [];

        /// <summary>Streams one token; <see cref="FinishReason.Stop"/> when it completed a stop string.</summary>
        public FinishReason? Emit(NodeToken token, ChannelWriter<ScheduledToken> output)
        {
            Ids.Add(token.Token);
            var (emit, stopped) = _stops.Push(_detokenizer.Push(token.Token));
            _text.Append(emit);
            var top = new TokenLogprob[token.TopIds.Length];
            for (int i = 0; i < top.Length; i++) top[i] = new TokenLogprob(token.TopIds[i], token.TopLogprobs[i]);
            output.TryWrite(new ScheduledToken(new TokenEvent(token.Token, emit, token.Logprob, token.FromDraft), top));
            return stopped ? FinishReason.Stop : null;
        }

        public GenerationResult End(FinishReason reason, ChannelWriter<ScheduledToken> output, TimeSpan promptTime, TimeSpan total)
        {
            if (reason is not (FinishReason.Stop or FinishReason.Cancelled))
            {
                string rest = _stops.Flush(_detokenizer.Flush());
                _text.Append(rest);
                if (rest.Length > 0) output.TryWrite(new ScheduledToken(new TokenEvent(-1, rest, 0), []));
            }
            output.TryComplete();
            return new GenerationResult(prompt, [.. Ids], _text.ToString(), reason, seed, promptTime, total - promptTime);
        }
    }
}
