using System.Diagnostics;
using System.Numerics.Tensors;
using System.Text;
using Augur.Cache;
using Augur.Model;
using Augur.Sampling;
using Augur.Speculative;
using Augur.Tokenizers;

namespace Augur.Generation;

/// <summary>
/// The generation loop for one request at a time: tokenize, prefill the prompt in batches, then repeat a
/// step that scores the last token — plus a draft tree when a <see cref="Drafter"/> is set — and emits one
/// or more tokens (see <see cref="Verifier"/>). Text streams without splitting a character or leaking a stop string.
/// The cache outlives a request: the next prompt reuses the cells of its longest common prefix with what the
/// cache holds (a chat's earlier turns), so only the new tokens are prefilled.
/// </summary>
public sealed class Generator
{
    readonly ITransformer _model;
    readonly ITokenizer _tokenizer;
    readonly IKvCache _cache;
    readonly Batch _batch;
    readonly Verifier _verifier;
    readonly List<int> _cached = []; // the tokens whose keys and values the cache's cells hold, in cell order
    const int Sequence = 0;

    public Generator(ITransformer model, ITokenizer tokenizer, int? contextLength = null, KvCacheOptions? kv = null)
    {
        _model = model;
        _tokenizer = tokenizer;
        _cache = model.CreateCache(contextLength, options: kv);
        _batch = new Batch(model.MaxBatch);
        _verifier = new Verifier(model, _cache, Sequence);
    }

    public int ContextLength => _cache.Capacity;
    public IKvCache Cache => _cache;

    /// <summary>Speculative drafter; null decodes one token per step.</summary>
    public IDrafter? Drafter { get; set; }

    /// <summary>Most draft tokens verified in one step.</summary>
    public int DraftMax { get; set; } = 64;

    /// <summary>Runs the request to the end, calling <paramref name="onToken"/> for each token as it is generated.</summary>
    public GenerationResult Generate(GenerationRequest request, Action<TokenEvent>? onToken = null, CancellationToken cancel = default)
    {
        var (prompt, seed, sampler) = request.Prepare(_tokenizer, ContextLength);
        _verifier.Reset(seed);

        var clock = Stopwatch.StartNew();
        int reused = ReusablePrefix(prompt);
        _cache.Trim(Sequence, reused);
        _cached.RemoveRange(reused, _cached.Count - reused);
        Prefill(prompt.AsSpan(0, prompt.Length - 1), reused);
        _cached.AddRange(prompt.AsSpan(reused, prompt.Length - 1 - reused));
        var promptTime = clock.Elapsed;
        clock.Restart();

        var context = new List<int>(prompt);
        var ids = new List<int>();
        var text = new StringBuilder();
        var detok = new StreamingDetokenizer(_tokenizer, prompt[^1]);
        var stops = new StopMatcher(request.Stop);
        var stats = new SpeculativeStats();
        var tree = new DraftTree(Math.Min(DraftMax, _verifier.MaxDraft));
        var drafter = Drafter;
        drafter?.Begin(prompt);
        int last = prompt[^1];
        var finish = FinishReason.Length;
        bool done = request.MaxTokens == 0;
        while (!done)
        {
            if (cancel.IsCancellationRequested) { finish = FinishReason.Cancelled; break; }
            int room = ContextLength - _cache.Length(Sequence) - 1;
            if (room < 0) { finish = FinishReason.ContextFull; break; }
            tree.Clear();
            if (drafter is not null && room > 0 && request.MaxTokens - ids.Count > 1)
            {
                drafter.Propose(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(context), tree);
                tree.Fit(maxDepth: request.MaxTokens - ids.Count - 1, maxNodes: room);
            }
            var step = _verifier.Step(last, tree, sampler, request.Sampling.IsGreedy);
            stats.Record(tree.Count, step.Accepted);
            drafter?.Learn(step);
            for (int j = 0; j < step.Emitted.Count && !done; j++)
            {
                int token = step.Emitted[j];
                if (request.StopAtEos && _tokenizer.IsEndOfGeneration(token)) { finish = FinishReason.EndOfSequence; done = true; break; }
                ids.Add(token);
                context.Add(token);
                var (emit, stopped) = stops.Push(detok.Push(token));
                text.Append(emit);
                onToken?.Invoke(new TokenEvent(token, emit, _verifier.Logprob(step.Rows[j], token), FromDraft: j < step.Accepted));
                if (stopped) { finish = FinishReason.Stop; done = true; }
                else if (ids.Count == request.MaxTokens) done = true;
            }
            last = step.Emitted[^1];
        }
        if (finish != FinishReason.Stop)
        {
            string rest = stops.Flush(detok.Flush());
            text.Append(rest);
            if (rest.Length > 0) onToken?.Invoke(new TokenEvent(-1, rest, 0, false));
        }
        // The cells now hold context minus its last token (or, after a stop inside an accepted draft, more): keep
        // what matches the context.
        int kept = Math.Min(_cache.Length(Sequence), context.Count);
        _cache.Trim(Sequence, kept);
        _cached.Clear();
        _cached.AddRange(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(context)[..kept]);
        return new GenerationResult(prompt, ids.ToArray(), text.ToString(), finish, seed, promptTime, clock.Elapsed)
        {
            Speculation = drafter is null ? null : stats,
            ReusedPromptTokens = reused,
        };
    }

    /// <summary>
    /// How many leading prompt tokens the cache already holds, at most all but the last (which the first step
    /// feeds); none when the cache was changed from outside since the last request.
    /// </summary>
    int ReusablePrefix(int[] prompt)
    {
        if (_cache.Length(Sequence) != _cached.Count) { _cached.Clear(); _cache.Clear(Sequence); return 0; }
        int n = 0, max = Math.Min(_cached.Count, prompt.Length - 1);
        while (n < max && _cached[n] == prompt[n]) n++;
        return n;
    }

    /// <summary>Computes prompt[from..] in batches (no logits needed: the last prompt token is the first step's root).</summary>
    void Prefill(ReadOnlySpan<int> prompt, int from)
    {
        for (int start = from; start < prompt.Length; start += _batch.Capacity)
        {
            int n = Math.Min(_batch.Capacity, prompt.Length - start);
            _batch.Clear();
            for (int i = 0; i < n; i++) _batch.Add(prompt[start + i], start + i, Sequence, logits: false);
            _model.Forward(_batch, _cache);
        }
    }
}

/// <summary>
/// Holds back text that might be the start of a stop string, so a stop string is never streamed out,
/// and cuts the text where one appears.
/// </summary>
public sealed class StopMatcher(IReadOnlyList<string> stops)
{
    string _pending = "";

    /// <summary>The text that is safe to emit now, and whether a stop string was found.</summary>
    public (string Emit, bool Stopped) Push(string chunk)
    {
        if (stops.Count == 0) return (chunk, false);
        _pending += chunk;
        int cut = -1;
        foreach (var s in stops)
        {
            int at = _pending.IndexOf(s, StringComparison.Ordinal);
            if (at >= 0 && (cut < 0 || at < cut)) cut = at;
        }
        if (cut >= 0)
        {
            string before = _pending[..cut];
            _pending = "";
            return (before, true);
        }
        // Keep the longest suffix that is a proper prefix of some stop string.
        int hold = 0;
        foreach (var s in stops)
            for (int len = Math.Min(s.Length - 1, _pending.Length); len > hold; len--)
                if (_pending.AsSpan(_pending.Length - len).SequenceEqual(s.AsSpan(0, len))) { hold = len; break; }
        string emit = _pending[..^hold];
        _pending = _pending[^hold..];
        return (emit, false);
    }

    /// <summary>At the end: everything still held, cut at a stop string if the tail completes one.</summary>
    public string Flush(string tail)
    {
        var (emit, stopped) = Push(tail);
        string rest = stopped ? emit : emit + _pending;
        _pending = "";
        return rest;
    }
}
