using System.Text;
using Augur.Generation;
using Augur.Model;
using Augur.Sampling;
using Augur.Tests.Support;
using Augur.Tokenizers;

namespace Augur.Tests.Generation;

/// <summary>
/// The generation loop on stories260K at temperature 0, where run.c's greedy continuation of "Once upon a time"
/// (../shared/data) says what the model produces: stop strings, EOS, max tokens and the context limit cut it.
/// </summary>
public sealed class GeneratorTests : IDisposable
{
    readonly LoadedModel _model = LoadedModel.Open(Reference.Stories260KGguf);
    static readonly Reference.Case Once = Reference.Get("once_upon_a_time");

    public void Dispose() => _model.Dispose();

    (GenerationResult Result, List<TokenEvent> Events) Run(GenerationRequest request, ITokenizer? tokenizer = null, int? context = null)
    {
        var events = new List<TokenEvent>();
        var result = new Generator(_model.Model, tokenizer ?? _model.Tokenizer, context).Generate(request, events.Add);
        return (result, events);
    }

    static GenerationRequest Greedy(int maxTokens = 64, params string[] stop) =>
        new() { Prompt = Once.Prompt, MaxTokens = maxTokens, Sampling = SamplingOptions.Greedy, Stop = stop };

    static string Streamed(List<TokenEvent> events) => string.Concat(events.Select(e => e.Text));

    [Fact]
    public void Without_limits_the_greedy_text_is_run_cs()
    {
        var (result, events) = Run(Greedy());
        Assert.Equal(Once.GeneratedIds, result.Ids);
        Assert.Equal(Once.GeneratedText, result.Text);
        Assert.Equal(Once.GeneratedText, Streamed(events));
        Assert.Equal(FinishReason.Length, result.FinishReason);
    }

    /// <summary>Checks a run that hit <paramref name="stop"/>: text cut before it, nothing of it streamed, the last id completes it.</summary>
    void AssertStoppedAt(string stop, GenerationResult result, List<TokenEvent> events)
    {
        int at = Once.GeneratedText.IndexOf(stop, StringComparison.Ordinal);
        Assert.True(at >= 0, "the stop string must occur in the reference text");
        Assert.Equal(FinishReason.Stop, result.FinishReason);
        Assert.Equal(Once.GeneratedText[..at], result.Text);
        Assert.Equal(result.Text, Streamed(events));
        Assert.Equal(Once.GeneratedIds[..result.Ids.Length], result.Ids);
        int last = Once.PromptIds[^1];
        Assert.DoesNotContain(stop, _model.Tokenizer.Decode(result.Ids.AsSpan(0, result.Ids.Length - 1), last));
        Assert.Contains(stop, _model.Tokenizer.Decode(result.Ids, last));
    }

    [Fact]
    public void A_stop_string_cuts_the_text_and_is_never_streamed()
    {
        var (result, events) = Run(Greedy(64, "Lily"));
        AssertStoppedAt("Lily", result, events);
    }

    [Fact]
    public void A_stop_string_split_across_tokens_is_cut_and_never_streamed()
    {
        // Build the stop string from the end of one generated piece and the start of the next (run.c's ids).
        var tok = _model.Tokenizer;
        var ids = Once.GeneratedIds;
        string stop = "";
        for (int i = 5; i + 1 < ids.Length && stop.Length == 0; i++)
        {
            string a = tok.Decode([ids[i]], ids[i - 1]), b = tok.Decode([ids[i + 1]], ids[i]);
            if (a.Length >= 2 && b.Length >= 2) stop = a[^2..] + b[..2];
        }
        Assert.NotEqual("", stop);
        var (result, events) = Run(Greedy(64, stop));
        AssertStoppedAt(stop, result, events);
    }

    [Fact]
    public void The_earliest_of_several_stop_strings_wins()
    {
        var (result, events) = Run(Greedy(64, "park", "girl"));
        AssertStoppedAt("girl", result, events);
    }

    [Fact]
    // "Lily!!" starts like text that does occur ("Lily"), so that text is held back, then released at the end.
    public void Text_held_back_for_a_stop_string_that_never_completes_is_released()
    {
        var (result, events) = Run(Greedy(64, "Lily!!", "high.\nLily's mom said!"));
        Assert.Equal(FinishReason.Length, result.FinishReason);
        Assert.Equal(Once.GeneratedText, result.Text);
        Assert.Equal(Once.GeneratedText, Streamed(events));
    }

    [Fact]
    public void Max_tokens_zero_generates_nothing()
    {
        var (result, events) = Run(Greedy(0));
        Assert.Empty(result.Ids);
        Assert.Equal("", result.Text);
        Assert.Empty(events);
        Assert.Equal(FinishReason.Length, result.FinishReason);
        Assert.Equal(Once.PromptIds, result.PromptIds);
    }

    [Fact]
    public void Max_tokens_cuts_the_reference_continuation()
    {
        var (result, _) = Run(Greedy(7));
        Assert.Equal(Once.GeneratedIds[..7], result.Ids);
        Assert.Equal(FinishReason.Length, result.FinishReason);
    }

    /// <summary>The real tokenizer with another id declared end-of-sequence, so the greedy run meets it.</summary>
    sealed class EosAt(ITokenizer inner, int eos) : ITokenizer
    {
        public Vocabulary Vocabulary => inner.Vocabulary;
        public int BosId => inner.BosId;
        public int EosId => eos;
        public int[] Encode(string text, bool addBos = true, bool parseSpecial = false, IReadOnlyList<Range>? plainText = null) => inner.Encode(text, addBos, parseSpecial, plainText);
        public ReadOnlySpan<byte> PieceBytes(int token, int previous) => inner.PieceBytes(token, previous);
        public string Decode(ReadOnlySpan<int> tokens, int previous = -1, bool renderSpecial = false) => inner.Decode(tokens, previous, renderSpecial);
        public bool IsEndOfGeneration(int token) => token == eos;
    }

    [Fact]
    public void The_end_of_sequence_token_stops_generation_and_is_not_returned()
    {
        int eos = Once.GeneratedIds[9];
        int first = Array.IndexOf(Once.GeneratedIds, eos);
        var (result, events) = Run(Greedy(), new EosAt(_model.Tokenizer, eos));
        Assert.Equal(FinishReason.EndOfSequence, result.FinishReason);
        Assert.Equal(Once.GeneratedIds[..first], result.Ids);
        Assert.StartsWith(result.Text, Once.GeneratedText);
        Assert.Equal(result.Text, Streamed(events));
        Assert.DoesNotContain(events, e => e.Token == eos);

        var (through, _) = Run(Greedy() with { StopAtEos = false }, new EosAt(_model.Tokenizer, eos));
        Assert.Equal(Once.GeneratedIds, through.Ids);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(5)] // the prompt exactly fills the context: no room for a new token
    public void A_prompt_that_does_not_fit_the_context_is_refused_with_a_clear_message(int context)
    {
        var e = Assert.Throws<InvalidRequestException>(() => Run(Greedy(), context: context));
        Assert.Contains($"prompt is {Once.PromptIds.Length} tokens", e.Message);
        Assert.Contains($"context holds {context}", e.Message);
    }

    [Fact]
    // A 16-cell context after a 5-token prompt gives 12 tokens, as run.c does with -n 16: positions 4..15
    // each produce one token (the last is sampled but never needs a cell of its own).
    public void Filling_the_context_ends_with_ContextFull_after_the_tokens_that_fit()
    {
        var (result, events) = Run(Greedy(100), context: 16);
        Assert.Equal(FinishReason.ContextFull, result.FinishReason);
        Assert.Equal(Once.GeneratedIds[..12], result.Ids);
        Assert.StartsWith(result.Text, Once.GeneratedText);
        Assert.Equal(result.Text, Streamed(events));

        var (exact, _) = Run(Greedy(12), context: 16); // the limit that is reached first is reported
        Assert.Equal(FinishReason.Length, exact.FinishReason);
        Assert.Equal(Once.GeneratedIds[..12], exact.Ids);
    }

    [Fact]
    public void A_generator_can_be_reused_and_gives_the_same_result()
    {
        var generator = new Generator(_model.Model, _model.Tokenizer);
        var first = generator.Generate(Greedy(20));
        generator.Generate(Greedy(5) with { Prompt = "The cat" });
        Assert.Equal(first.Ids, generator.Generate(Greedy(20)).Ids);
    }

    [Fact]
    // run.c's logits at the last prompt position give the first token's log-probability independently.
    public void The_first_token_event_carries_its_log_probability_under_run_cs_logits()
    {
        var at = Reference.Logits.Single(p => p.Pos == Once.PromptIds.Length - 1);
        double max = at.Logits.Max();
        double want = at.Logits[at.Argmax] - max - Math.Log(at.Logits.Sum(l => Math.Exp(l - max)));
        var (_, events) = Run(Greedy(3));
        Assert.Equal(at.Argmax, events[0].Token);
        Assert.True(Math.Abs(events[0].Logprob - want) < 1e-4, $"{events[0].Logprob} vs {want}");
        Assert.All(events, e => Assert.True(e.Logprob <= 0));
    }
}
