using System.Diagnostics;
using System.Text;
using System.Threading.Channels;
using Augur.Cache;
using Augur.Model;
using Augur.Sampling;
using Augur.Speculative;
using Augur.Tokenizers;

namespace Augur.Generation;

/// <summary>A token and its log-probability under the model (log softmax of the raw logits).</summary>
public readonly record struct TokenLogprob(int Token, float Logprob);

/// <summary>
/// A generated token as the scheduler streams it: the <see cref="TokenEvent"/> the single-request loop would
/// give, and the most likely tokens at its step when the request asked for them (best first).
/// </summary>
public readonly record struct ScheduledToken(TokenEvent Event, TokenLogprob[] Top);

/// <summary>A submitted request: its prompt ids, its tokens as they come, and its outcome when it ends.</summary>
public sealed class ScheduledRequest
{
    public ScheduledRequest(int[] promptIds, ChannelReader<ScheduledToken> tokens, Task<GenerationResult> completion) =>
        (PromptIds, Tokens, Completion) = (promptIds, tokens, completion);

    public int[] PromptIds { get; }
    /// <summary>Completes when the request ends (with the failure, if the engine failed).</summary>
    public ChannelReader<ScheduledToken> Tokens { get; }
    /// <summary>The whole result; a cancelled request ends with <see cref="FinishReason.Cancelled"/>.</summary>
    public Task<GenerationResult> Completion { get; }
}

/// <summary>More requests are in flight than the scheduler has slots and queue places for.</summary>
public sealed class SchedulerBusyException(string message) : AugurException(message);

/// <summary>
/// Continuous batching: many requests share one model and one <see cref="KvCache"/> with a row (sequence) per
/// slot. One loop thread owns both; each step it admits waiting requests into free slots, builds ONE batch with
/// the next token of every decoding request and a prompt chunk of every prefilling one, runs one forward pass,
/// then samples for each request with its own sampler chain, detokenizer and stop matcher. Requests join and
/// leave between steps. As in vLLM's scheduler there is no prefill phase: a request has tokens computed and
/// tokens to compute. The forward is batch-invariant, so every request gets exactly what it would get alone.
/// A request may speculate with a drafter that needs nothing but its own tokens (lookup, recycling, aded, auto):
/// its draft tree rides in the same batch after its last token, and its <see cref="Verifier"/> accepts the longest
/// matching path and compacts its cache row — output identical to decoding it alone without speculation.
/// </summary>
public sealed class BatchScheduler : IRequestScheduler
{
    readonly ITransformer _model;
    readonly ITokenizer _tokenizer;
    readonly IKvCache _cache;
    readonly Batch _batch;
    readonly Candidates _candidates;
    readonly int _maxWaiting;
    readonly Thread _loop;

    // Shared with submitters, under _lock.
    readonly object _lock = new();
    readonly Queue<Job> _waiting = new();
    int _inFlight;
    bool _stopping;

    // Owned by the loop thread.
    readonly Job?[] _slots; // (sequence) the request using that cache row
    readonly List<Job> _active = [];

    /// <param name="parallel">Requests computed together (cache rows).</param>
    /// <param name="contextLength">Cells per request (default: the model's trained context).</param>
    /// <param name="maxWaiting">Requests that may wait for a slot before <see cref="Submit"/> refuses more.</param>
    public BatchScheduler(ITransformer model, ITokenizer tokenizer, int parallel = 1, int? contextLength = null, int maxWaiting = 64, KvCacheOptions? kv = null)
    {
        if (parallel < 1) throw new InvalidRequestException($"parallel must be ≥ 1 (got {parallel})");
        if (contextLength is < 2) throw new InvalidRequestException($"context length must be ≥ 2 (got {contextLength})");
        if (maxWaiting < 0) throw new InvalidRequestException($"the waiting queue size must be ≥ 0 (got {maxWaiting})");
        _model = model;
        _tokenizer = tokenizer;
        _cache = model.CreateCache(contextLength, parallel, kv);
        _batch = new Batch(model.MaxBatch);
        _candidates = new Candidates(model.Config.VocabSize);
        _maxWaiting = maxWaiting;
        _slots = new Job?[parallel];
        _loop = new Thread(Loop) { IsBackground = true, Name = "augur-scheduler" };
        _loop.Start();
    }

    public int Parallel => _slots.Length;
    public int ContextLength => _cache.Capacity;
    public ITokenizer Tokenizer => _tokenizer;

    /// <summary>
    /// Queues a request. Throws <see cref="InvalidRequestException"/> for a request that cannot run (bad options,
    /// empty prompt, prompt that fills the context) and <see cref="SchedulerBusyException"/> when every slot and
    /// queue place is taken. <paramref name="topLogprobs"/> asks for that many alternatives per token.
    /// Cancelling <paramref name="cancel"/> drops the request at the next step and frees its cache row.
    /// <paramref name="speculative"/> names a drafter from <see cref="Drafters.Batchable"/> ("none": plain decoding).
    /// </summary>
    public ScheduledRequest Submit(GenerationRequest request, int topLogprobs = 0, CancellationToken cancel = default, string speculative = "none")
    {
        if (topLogprobs < 0) throw new InvalidRequestException($"top logprobs must be ≥ 0 (got {topLogprobs})");
        var drafter = Drafters.CreateBatchable(speculative, _model.Config.VocabSize);
        var (prompt, seed, sampler) = request.Prepare(_tokenizer, ContextLength);
        var job = new Job(request, prompt, seed, sampler, Math.Min(topLogprobs, _model.Config.VocabSize), _tokenizer);
        if (drafter is not null)
        {
            drafter.Begin(prompt);
            job.Speculation = new Speculation(drafter, new DraftTree(Math.Min(MaxDraftPerRequest, _batch.Capacity / Parallel - 1)), prompt);
            job.Next = prompt[^1]; // as in Generator: the last prompt token is the first step's root
        }
        job.Registration = cancel.Register(() => job.Cancelled = true);
        string? refusal;
        lock (_lock)
        {
            refusal = _stopping ? "the scheduler is shut down"
                : _inFlight >= _slots.Length + _maxWaiting ? $"the server is busy: {_inFlight} requests are in flight ({_slots.Length} running, up to {_maxWaiting} waiting)"
                : null;
            if (refusal is null)
            {
                _inFlight++;
                _waiting.Enqueue(job);
                Monitor.Pulse(_lock);
                return new ScheduledRequest(prompt, job.Channel.Reader, job.Done.Task);
            }
        }
        job.Registration.Dispose();
        throw new SchedulerBusyException(refusal);
    }

    void Loop()
    {
        while (true)
        {
            lock (_lock)
            {
                while (!_stopping && _waiting.Count == 0 && _active.Count == 0) Monitor.Wait(_lock);
                if (_stopping) break;
                Admit();
            }
            try
            {
                Step();
            }
            catch (Exception e)
            {
                // The engine failed mid-step: end every running request with the error, keep serving new ones.
                foreach (var job in _active.ToArray()) Finish(job, null, e);
            }
        }
        var stopped = new ObjectDisposedException(nameof(BatchScheduler));
        foreach (var job in _active.ToArray()) Finish(job, null, stopped);
        lock (_lock)
            while (_waiting.TryDequeue(out var job)) job.End(null, stopped);
    }

    /// <summary>Moves waiting requests into free slots (first come, first served). Called under the lock.</summary>
    void Admit()
    {
        for (int seq = 0; seq < _slots.Length && _waiting.Count > 0; seq++)
        {
            if (_slots[seq] is not null) continue;
            var job = _waiting.Dequeue();
            job.Sequence = seq;
            if (job.Speculation is { } spec)
            {
                spec.Verifier = new Verifier(_model, _cache, seq);
                spec.Verifier.Reset(job.Seed);
            }
            job.Clock.Start();
            _cache.Clear(seq);
            _slots[seq] = job;
            _active.Add(job);
        }
    }

    /// <summary>One forward pass over every active request, then one sampling step for each that reached its logits.</summary>
    void Step()
    {
        // Backwards, since finishing removes a request from the list.
        for (int i = _active.Count - 1; i >= 0; i--)
        {
            var job = _active[i];
            if (job.Cancelled) Finish(job, FinishReason.Cancelled);
            else if (job.Request.MaxTokens == 0) Finish(job, FinishReason.Length);
        }
        if (_active.Count == 0) return;

        // Decoding requests first, one token each, so a long prompt never stalls them; then prompt chunks in
        // arrival order with what is left of the batch.
        _batch.Clear();
        foreach (var job in _active)
        {
            job.Output = -1;
            job.Verifying = false;
            if (job.Computed < job.PromptEnd) continue;
            job.Output = _batch.OutputCount;
            if (job.Speculation is { } spec)
            {
                // Every tree fits: each request's tree holds at most Capacity / Parallel − 1 nodes.
                spec.Tree.Clear();
                int room = ContextLength - job.Computed - 1, left = job.Request.MaxTokens - job.Ids.Count - 1;
                if (room > 0 && left > 0)
                {
                    spec.Drafter.Propose(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(spec.Context), spec.Tree);
                    spec.Tree.Fit(maxDepth: left, maxNodes: room);
                }
                spec.Verifier!.Add(_batch, job.Next, spec.Tree);
                job.Verifying = true;
            }
            else _batch.Add(job.Next, job.Computed++, job.Sequence, logits: true);
        }
        foreach (var job in _active)
        {
            int n = Math.Min(_batch.Capacity - _batch.Count, job.PromptEnd - job.Computed);
            if (job.Computed >= job.PromptEnd || n <= 0) continue;
            bool last = job.Speculation is null && job.Computed + n == job.PromptEnd;
            if (last) job.Output = _batch.OutputCount;
            for (int i = 0; i < n; i++, job.Computed++)
                _batch.Add(job.Prompt[job.Computed], job.Computed, job.Sequence, logits: last && i == n - 1);
        }
        _model.Forward(_batch, _cache);

        for (int i = _active.Count - 1; i >= 0; i--)
        {
            var job = _active[i];
            if (job.Verifying) Verify(job);
            else if (job.Output >= 0) Sample(job, _model.Logits(job.Output));
        }
    }

    /// <summary>One step of <see cref="Generator.Generate"/>'s loop for one request: sample, emit, decide whether it ends.</summary>
    void Sample(Job job, ReadOnlySpan<float> logits)
    {
        if (job.PromptTime is null)
        {
            job.PromptTime = job.Clock.Elapsed;
            job.Clock.Restart();
        }
        int token = job.Sampler.Sample(logits, _candidates);
        job.Sampler.Accept(token);
        if (Emit(job, token, logits, fromDraft: false)) FeedOrFinish(job, token);
    }

    /// <summary>A speculating request's step: accept the longest verified path of its tree and emit it.</summary>
    void Verify(Job job)
    {
        if (job.PromptTime is null)
        {
            job.PromptTime = job.Clock.Elapsed;
            job.Clock.Restart();
        }
        var spec = job.Speculation!;
        var step = spec.Verifier!.Verify(job.Sampler, job.Request.Sampling.IsGreedy);
        spec.Stats.Record(spec.Tree.Count, step.Accepted);
        spec.Drafter.Learn(step);
        job.Computed = _cache.Length(job.Sequence);
        for (int j = 0; j < step.Emitted.Count; j++)
        {
            spec.Context.Add(step.Emitted[j]);
            if (!Emit(job, step.Emitted[j], spec.Verifier.Logits(step.Rows[j]), fromDraft: j < step.Accepted)) return;
        }
        FeedOrFinish(job, step.Emitted[^1]);
    }

    /// <summary>Streams a chosen token; false when it ended the request (end of sequence, stop string, length).</summary>
    bool Emit(Job job, int token, ReadOnlySpan<float> logits, bool fromDraft)
    {
        if (job.Request.StopAtEos && _tokenizer.IsEndOfGeneration(token)) { Finish(job, FinishReason.EndOfSequence); return false; }
        job.Ids.Add(token);
        var (emit, stopped) = job.Stops.Push(job.Detokenizer.Push(token));
        job.Text.Append(emit);
        float logSum = Augur.Tensors.Ops.LogSumExp(logits);
        job.Channel.Writer.TryWrite(new ScheduledToken(new TokenEvent(token, emit, logits[token] - logSum, fromDraft), Top(logits, logSum, job.TopLogprobs)));
        if (stopped) Finish(job, FinishReason.Stop);
        else if (job.Ids.Count == job.Request.MaxTokens) Finish(job, FinishReason.Length);
        else return true;
        return false;
    }

    /// <summary>The last emitted token is computed next step, unless the cache row has no cell left for it.</summary>
    void FeedOrFinish(Job job, int token)
    {
        if (job.Computed == ContextLength) Finish(job, FinishReason.ContextFull);
        else job.Next = token;
    }

    /// <summary>Ends a request: flushes held text, frees its slot and cache row, completes its stream and result.</summary>
    void Finish(Job job, FinishReason? reason, Exception? error = null)
    {
        if (reason is not (null or FinishReason.Stop or FinishReason.Cancelled))
        {
            string rest = job.Stops.Flush(job.Detokenizer.Flush());
            job.Text.Append(rest);
            if (rest.Length > 0) job.Channel.Writer.TryWrite(new ScheduledToken(new TokenEvent(-1, rest, 0), []));
        }
        _active.Remove(job);
        _slots[job.Sequence] = null;
        _cache.Clear(job.Sequence);
        lock (_lock) _inFlight--; // before completing, so whoever awaits the result may submit again at once
        job.End(reason, error);
    }

    /// <summary>The <paramref name="count"/> most likely tokens, best first (lower id first on ties).</summary>
    static TokenLogprob[] Top(ReadOnlySpan<float> logits, float logSum, int count)
    {
        if (count == 0) return [];
        var top = new TokenLogprob[count];
        int filled = 0;
        for (int id = 0; id < logits.Length; id++)
        {
            float lp = logits[id] - logSum;
            if (filled == count && lp <= top[count - 1].Logprob) continue;
            int at = Math.Min(filled, count - 1);
            while (at > 0 && top[at - 1].Logprob < lp) { top[at] = top[at - 1]; at--; }
            top[at] = new TokenLogprob(id, lp);
            if (filled < count) filled++;
        }
        return top;
    }

    public void Dispose()
    {
        lock (_lock)
        {
            if (_stopping) return;
            _stopping = true;
            Monitor.Pulse(_lock);
        }
        _loop.Join();
    }

    /// <summary>Most draft tokens one request verifies per step.</summary>
    const int MaxDraftPerRequest = 64;

    /// <summary>A speculating request's drafter, tree, verifier (once it has a cache row), context and counters.</summary>
    sealed class Speculation(IDrafter drafter, DraftTree tree, int[] prompt)
    {
        public IDrafter Drafter { get; } = drafter;
        public DraftTree Tree { get; } = tree;
        public List<int> Context { get; } = [.. prompt];
        public SpeculativeStats Stats { get; } = new();
        public Verifier? Verifier { get; set; }
    }

    /// <summary>A request's state while the scheduler holds it.</summary>
    sealed class Job(GenerationRequest request, int[] prompt, int seed, SamplerChain sampler, int topLogprobs, ITokenizer tokenizer)
    {
        public GenerationRequest Request { get; } = request;
        public int[] Prompt { get; } = prompt;
        public int Seed { get; } = seed;
        public SamplerChain Sampler { get; } = sampler;
        public int TopLogprobs { get; } = topLogprobs;
        public StreamingDetokenizer Detokenizer { get; } = new(tokenizer, prompt[^1]);
        public StopMatcher Stops { get; } = new(request.Stop);
        public Channel<ScheduledToken> Channel { get; } = System.Threading.Channels.Channel.CreateUnbounded<ScheduledToken>(new() { SingleWriter = true, SingleReader = true });
        public TaskCompletionSource<GenerationResult> Done { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public CancellationTokenRegistration Registration { get; set; }
        public volatile bool Cancelled;

        public int Sequence;   // cache row while admitted
        public int Computed;   // tokens in the cache row (prompt, then generated)
        public int Next;       // the sampled token to feed next step
        /// <summary>Prompt tokens computed as prompt chunks; a speculating request leaves its last one to be the first step's root.</summary>
        public int PromptEnd => Speculation is null ? Prompt.Length : Prompt.Length - 1;
        public int Output;     // logits row in this step's batch, or −1
        public bool Verifying; // this step carries its draft tree (Speculation.Verifier knows the rows)
        public Speculation? Speculation;
        public List<int> Ids { get; } = [];
        public StringBuilder Text { get; } = new();
        public Stopwatch Clock { get; } = new();
        public TimeSpan? PromptTime; // set when the prompt's logits arrive

        public void End(FinishReason? reason, Exception? error)
        {
            Registration.Dispose();
            Channel.Writer.TryComplete(error);
            if (error is not null) Done.TrySetException(error);
            else
            {
                var (promptTime, generationTime) = PromptTime is { } p ? (p, Clock.Elapsed) : (Clock.Elapsed, TimeSpan.Zero);
                Done.TrySetResult(new GenerationResult(Prompt, Ids.ToArray(), Text.ToString(), reason!.Value, Seed, promptTime, generationTime)
                {
                    Speculation = Speculation?.Stats,
                });
            }
        }
    }
}
