using Augur.Generation;
using Augur.Model;
using Augur.Sampling;

namespace Augur.ServerTests;

/// <summary>The scheduler in-process: batched requests against the single-request <see cref="Generator"/>.</summary>
public sealed class BatchSchedulerTests : IDisposable
{
    // A small batch forces long prompts to be computed in chunks across steps, mixed with other requests' decodes.
    readonly LoadedModel _model = LoadedModel.Open(ServerFixture.ModelPath, maxBatch: 16);

    public void Dispose() => _model.Dispose();

    static readonly string[] Prompts =
    [
        "Once upon a time", "The little dog ran to the big tree and saw a bird that was singing a song",
        "Lily", "One day, a big bird flew over the house where Tom and his mom lived with their cat",
    ];

    GenerationResult Alone(GenerationRequest request) => new Generator(_model.Model, _model.Tokenizer).Generate(request);

    static async Task<(GenerationResult Result, string Streamed)> Collect(ScheduledRequest run)
    {
        var text = new System.Text.StringBuilder();
        await foreach (var token in run.Tokens.ReadAllAsync()) text.Append(token.Event.Text);
        return (await run.Completion, text.ToString());
    }

    /// <summary>
    /// Submits the first half of the requests at once, waits for the first one's first token, then submits the rest at
    /// once: they arrive while others are mid-prompt and mid-decode. No sleeps: how far a scheduler gets during a
    /// sleep depends on the machine's load. Shared is true when some request's first token came while a request
    /// submitted before it was still unfinished: the scheduler completes a finished request's task before its next
    /// step, so a scheduler that ran one request at a time could never show that — the equality checks that follow
    /// then prove something about batching, not about one request after another.
    /// </summary>
    static async Task<((GenerationResult Result, string Streamed)[] Runs, bool Shared)> SubmitAll(IEnumerable<Func<ScheduledRequest>> submits)
    {
        var all = submits.ToList();
        var submitted = new List<ScheduledRequest>();
        var runs = new List<Task<(GenerationResult Result, string Streamed)>>();
        var firstStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        int shared = 0;
        for (int k = 0; k < all.Count; k++)
        {
            if (k == (all.Count + 1) / 2) await Task.WhenAny(firstStarted.Task, runs[0]);
            var earlier = submitted.ToArray();
            var run = all[k]();
            submitted.Add(run);
            bool isFirst = k == 0;
            runs.Add(Task.Run(async () =>
            {
                var text = new System.Text.StringBuilder();
                bool first = true;
                await foreach (var token in run.Tokens.ReadAllAsync())
                {
                    if (first && earlier.Any(e => !e.Completion.IsCompleted)) Interlocked.Exchange(ref shared, 1);
                    if (first && isFirst) firstStarted.TrySetResult();
                    first = false;
                    text.Append(token.Event.Text);
                }
                return (await run.Completion, text.ToString());
            }));
        }
        return (await Task.WhenAll(runs), shared == 1);
    }

    [Fact]
    public async Task Batched_requests_match_the_generator_greedy_and_seeded()
    {
        var requests = Prompts.SelectMany((p, i) => new[]
        {
            new GenerationRequest { Prompt = p, MaxTokens = 60 + 10 * i, Sampling = SamplingOptions.Greedy },
            new GenerationRequest { Prompt = p, MaxTokens = 50, Sampling = new SamplingOptions { Seed = 7 + i, Temperature = 1, PresencePenalty = 0.3f, FrequencyPenalty = 0.2f } },
        }).ToList();
        var expected = requests.Select(Alone).ToList();

        using var scheduler = new BatchScheduler(_model.Model, _model.Tokenizer, parallel: 5);
        var (got, shared) = await SubmitAll(requests.Select(r => (Func<ScheduledRequest>)(() => scheduler.Submit(r))));
        Assert.True(shared, "no two requests were ever computed in the same step");
        for (int i = 0; i < requests.Count; i++)
        {
            Assert.Equal(expected[i].Ids, got[i].Result.Ids);
            Assert.Equal(expected[i].Text, got[i].Result.Text);
            Assert.Equal(expected[i].Text, got[i].Streamed);
            Assert.Equal(expected[i].FinishReason, got[i].Result.FinishReason);
        }
    }

    [Fact]
    public async Task Speculating_requests_match_the_generator_greedy_and_seeded()
    {
        // Every batchable drafter, greedy and sampled, all at once with plain requests: greedy output must be plain
        // greedy's; seeded sampling must be exactly what the single-request generator with the same drafter gives.
        using var model = LoadedModel.Open(ServerFixture.ModelPath);
        var drafters = Augur.Speculative.Drafters.Batchable.Where(n => n != "none").ToArray();
        // auto picks drafters by measured time, so which drafts it makes (and so which random draws a sampled
        // request consumes) varies run to run: it is checked greedy only.
        var cases = drafters.SelectMany((d, i) => new[]
        {
            (Drafter: d, Request: new GenerationRequest { Prompt = Prompts[i % Prompts.Length], MaxTokens = 100, Sampling = SamplingOptions.Greedy }),
            (Drafter: d, Request: new GenerationRequest { Prompt = Prompts[(i + 1) % Prompts.Length], MaxTokens = 60, Sampling = new SamplingOptions { Seed = 11 + i, Temperature = 0.9f, FrequencyPenalty = 0.2f } }),
        }).Where(c => c.Drafter != "auto" || c.Request.Sampling.IsGreedy).Append((Drafter: "none", Request: new GenerationRequest { Prompt = Prompts[1], MaxTokens = 80, Sampling = SamplingOptions.Greedy })).ToList();
        var expected = cases.Select(c =>
        {
            var plain = new Generator(model.Model, model.Tokenizer).Generate(c.Request);
            var g = new Generator(model.Model, model.Tokenizer) { Drafter = Augur.Speculative.Drafters.CreateBatchable(c.Drafter, model.Model.Config.VocabSize) };
            var speculated = g.Generate(c.Request);
            if (c.Request.Sampling.IsGreedy) Assert.Equal(plain.Ids, speculated.Ids);
            return speculated;
        }).ToList();

        using var scheduler = new BatchScheduler(model.Model, model.Tokenizer, parallel: 6);
        var (got, shared) = await SubmitAll(cases.Select(c => (Func<ScheduledRequest>)(() => scheduler.Submit(c.Request, speculative: c.Drafter))));
        Assert.True(shared, "no two requests were ever computed in the same step");
        for (int i = 0; i < cases.Count; i++)
        {
            Assert.Equal(expected[i].Ids, got[i].Result.Ids);
            Assert.Equal(expected[i].Text, got[i].Streamed);
            Assert.Equal(expected[i].FinishReason, got[i].Result.FinishReason);
            if (cases[i].Drafter != "none") Assert.Equal(got[i].Result.Ids.Length, got[i].Result.Speculation!.Steps + got[i].Result.Speculation!.Accepted);
        }
        // Speculation did draft and accept something (otherwise this test would prove nothing).
        Assert.True(got.Where((_, i) => cases[i].Drafter != "none").Sum(g => g.Result.Speculation!.Accepted) > 0);
    }

    [Fact]
    public async Task A_speculating_request_that_fills_its_context_ends_as_plain_decoding_does()
    {
        // Draft trees near the end of a 48-cell row must be cut to the cells left, and the request must end
        // "context full" with exactly the tokens plain decoding gets.
        using var model = LoadedModel.Open(ServerFixture.ModelPath);
        var request = new GenerationRequest { Prompt = Prompts[1], MaxTokens = 200, Sampling = SamplingOptions.Greedy };
        var plain = new Generator(model.Model, model.Tokenizer, contextLength: 48).Generate(request);
        Assert.Equal(FinishReason.ContextFull, plain.FinishReason);
        using var scheduler = new BatchScheduler(model.Model, model.Tokenizer, parallel: 2, contextLength: 48);
        foreach (var drafter in new[] { "lookup", "recycling", "aded" })
        {
            var (result, streamed) = await Collect(scheduler.Submit(request, speculative: drafter));
            Assert.Equal(plain.Ids, result.Ids);
            Assert.Equal(plain.Text, streamed);
            Assert.Equal(FinishReason.ContextFull, result.FinishReason);
        }
    }

    [Theory]
    [InlineData("swift")]
    [InlineData("draft")]
    [InlineData("ngram")]
    public void Drafters_that_cannot_batch_are_refused_clearly(string name)
    {
        using var scheduler = new BatchScheduler(_model.Model, _model.Tokenizer);
        var e = Assert.Throws<InvalidRequestException>(() => scheduler.Submit(new GenerationRequest { Prompt = "x" }, speculative: name));
        Assert.Contains(name, e.Message);
    }

    [Fact]
    public async Task Stop_strings_and_logprobs_match_the_generator()
    {
        var probe = Alone(new GenerationRequest { Prompt = Prompts[0], MaxTokens = 80, Sampling = SamplingOptions.Greedy });
        var request = new GenerationRequest { Prompt = Prompts[0], MaxTokens = 80, Sampling = SamplingOptions.Greedy, Stop = [probe.Text.Substring(probe.Text.Length / 2, 4)] };
        var events = new List<TokenEvent>();
        var expected = new Generator(_model.Model, _model.Tokenizer).Generate(request, events.Add);

        using var scheduler = new BatchScheduler(_model.Model, _model.Tokenizer, parallel: 2);
        var run = scheduler.Submit(request, topLogprobs: 3);
        var tokens = new List<ScheduledToken>();
        await foreach (var t in run.Tokens.ReadAllAsync()) tokens.Add(t);
        var result = await run.Completion;
        Assert.Equal(FinishReason.Stop, result.FinishReason);
        Assert.Equal(expected.Text, result.Text);
        Assert.Equal(events.Select(e => (e.Token, e.Text)), tokens.Select(t => (t.Event.Token, t.Event.Text)));
        for (int i = 0; i < tokens.Count; i++)
        {
            Assert.Equal(events[i].Logprob, tokens[i].Event.Logprob, 1e-5f);
            Assert.Equal(3, tokens[i].Top.Length);
            Assert.Equal(tokens[i].Event.Token, tokens[i].Top[0].Token); // greedy takes the most likely
            Assert.True(tokens[i].Top[0].Logprob >= tokens[i].Top[1].Logprob && tokens[i].Top[1].Logprob >= tokens[i].Top[2].Logprob);
        }
    }

    [Fact]
    public async Task Cancelled_request_leaves_and_frees_its_slot()
    {
        // A long context and budget, so the request is surely still running when it is cancelled.
        using var scheduler = new BatchScheduler(_model.Model, _model.Tokenizer, parallel: 1, contextLength: 8192, maxWaiting: 0);
        using var cancel = new CancellationTokenSource();
        var run = scheduler.Submit(new GenerationRequest { Prompt = Prompts[0], MaxTokens = 8000, Sampling = SamplingOptions.Greedy }, cancel: cancel.Token);
        Assert.Throws<SchedulerBusyException>(() => scheduler.Submit(new GenerationRequest { Prompt = "x" }));
        await run.Tokens.ReadAsync();
        cancel.Cancel();
        var result = await run.Completion;
        Assert.Equal(FinishReason.Cancelled, result.FinishReason);
        Assert.True(result.Ids.Length < 8000);

        // The slot (and its cache row) is free again and starts clean.
        var request = new GenerationRequest { Prompt = Prompts[1], MaxTokens = 20, Sampling = SamplingOptions.Greedy };
        var next = await scheduler.Submit(request).Completion;
        Assert.Equal(Alone(request).Ids, next.Ids);
    }

    [Fact]
    public void Refuses_what_cannot_run()
    {
        using var scheduler = new BatchScheduler(_model.Model, _model.Tokenizer, parallel: 1, contextLength: 32);
        Assert.Throws<InvalidRequestException>(() => scheduler.Submit(new GenerationRequest { Prompt = string.Concat(Enumerable.Repeat("the cat ", 40)) }));
        Assert.Throws<InvalidRequestException>(() => scheduler.Submit(new GenerationRequest { Prompt = "x", MaxTokens = -1 }));
        Assert.Throws<InvalidRequestException>(() => scheduler.Submit(new GenerationRequest { Prompt = "x", Stop = [""] }));
    }

    [Fact]
    public async Task Context_full_ends_the_request()
    {
        using var scheduler = new BatchScheduler(_model.Model, _model.Tokenizer, parallel: 2, contextLength: 24);
        var request = new GenerationRequest { Prompt = Prompts[0], MaxTokens = 100, Sampling = SamplingOptions.Greedy };
        var result = await scheduler.Submit(request).Completion;
        Assert.Equal(FinishReason.ContextFull, result.FinishReason);
        // Every cell holds a token; the last token is sampled from them and emitted without being fed.
        Assert.Equal(24 + 1, result.PromptIds.Length + result.Ids.Length);
        Assert.Equal(new Generator(_model.Model, _model.Tokenizer, 24).Generate(request).Ids, result.Ids);
    }
}
