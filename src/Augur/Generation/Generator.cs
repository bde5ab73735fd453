using System.Diagnostics;
using System.Numerics.Tensors;
using System.Text;
using Augur.Cache;
using Augur.Model;
using Augur.Sampling;
using Augur.Tokenizers;

namespace Augur.Generation;

/// <summary>
/// The prefill/decode loop for one request at a time: tokenize, prefill the prompt in batches, then
/// decode one token per step, sample, stream text that never splits a character or leaks a stop string.
/// </summary>
public sealed class Generator
{
    readonly LlamaModel _model;
    readonly ITokenizer _tokenizer;
    readonly IKvCache _cache;
    readonly Batch _batch;
    readonly Candidates _candidates;
    const int Sequence = 0;

    public Generator(LlamaModel model, ITokenizer tokenizer, int? contextLength = null)
    {
        _model = model;
        _tokenizer = tokenizer;
        _cache = model.CreateCache(contextLength);
        _batch = new Batch(model.MaxBatch);
        _candidates = new Candidates(model.Config.VocabSize);
    }

    public int ContextLength => _cache.Capacity;

    /// <summary>Runs the request to the end, calling <paramref name="onToken"/> for each token as it is generated.</summary>
    public GenerationResult Generate(GenerationRequest request, Action<TokenEvent>? onToken = null, CancellationToken cancel = default)
    {
        request.Validate();
        int[] prompt = request.PromptIds ?? _tokenizer.Encode(request.Prompt);
        if (prompt.Length == 0) throw new InvalidRequestException("the prompt is empty (no tokens, not even BOS)");
        if (prompt.Length >= ContextLength)
            throw new InvalidRequestException($"the prompt is {prompt.Length} tokens but the context holds {ContextLength} (room is needed for at least one new token)");
        int seed = request.Sampling.Seed ?? Random.Shared.Next();
        var sampler = request.Sampling.BuildChain(seed);
        foreach (int t in prompt) sampler.Accept(t);

        var clock = Stopwatch.StartNew();
        _cache.Clear(Sequence);
        Prefill(prompt);
        var promptTime = clock.Elapsed;
        clock.Restart();

        var ids = new List<int>();
        var text = new StringBuilder();
        var detok = new StreamingDetokenizer(_tokenizer, prompt[^1]);
        var stops = new StopMatcher(request.Stop);
        var finish = FinishReason.Length;
        for (int i = 0; i < request.MaxTokens; i++)
        {
            if (cancel.IsCancellationRequested) { finish = FinishReason.Cancelled; break; }
            var logits = _model.Logits(0);
            int token = sampler.Sample(logits, _candidates);
            if (request.StopAtEos && token == _tokenizer.EosId) { finish = FinishReason.EndOfSequence; break; }
            sampler.Accept(token);
            ids.Add(token);
            var (emit, stopped) = stops.Push(detok.Push(token));
            text.Append(emit);
            onToken?.Invoke(new TokenEvent(token, emit, Logprob(logits, token)));
            if (stopped) { finish = FinishReason.Stop; break; }
            if (i + 1 == request.MaxTokens) break;
            if (_cache.Length(Sequence) == ContextLength) { finish = FinishReason.ContextFull; break; }
            DecodeOne(token, _cache.Length(Sequence));
        }
        if (finish != FinishReason.Stop)
        {
            string rest = stops.Flush(detok.Flush());
            text.Append(rest);
            if (rest.Length > 0) onToken?.Invoke(new TokenEvent(-1, rest, 0));
        }
        return new GenerationResult(prompt, ids.ToArray(), text.ToString(), finish, seed, promptTime, clock.Elapsed);
    }

    /// <summary>Computes the prompt in batches; leaves the last token's logits.</summary>
    void Prefill(ReadOnlySpan<int> prompt)
    {
        for (int start = 0; start < prompt.Length; start += _batch.Capacity)
        {
            int n = Math.Min(_batch.Capacity, prompt.Length - start);
            _batch.Clear();
            for (int i = 0; i < n; i++)
                _batch.Add(prompt[start + i], start + i, Sequence, logits: start + i == prompt.Length - 1);
            _model.Forward(_batch, _cache);
        }
    }

    void DecodeOne(int token, int position)
    {
        _batch.Clear();
        _batch.Add(token, position, Sequence, logits: true);
        _model.Forward(_batch, _cache);
    }

    /// <summary>log softmax(logits)[token].</summary>
    static float Logprob(ReadOnlySpan<float> logits, int token)
    {
        float max = TensorPrimitives.Max(logits);
        double sum = 0;
        foreach (float l in logits) sum += Math.Exp(l - max);
        return (float)(logits[token] - max - Math.Log(sum));
    }
}

/// <summary>
/// Holds back text that might be the start of a stop string, so a stop string is never streamed out,
/// and cuts the text where one appears.
/// </summary>
sealed class StopMatcher(IReadOnlyList<string> stops)
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
