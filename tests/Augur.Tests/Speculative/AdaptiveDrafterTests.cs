using Augur.Generation;
using Augur.Model;
using Augur.Sampling;
using Augur.Speculative;
using Augur.Tests.Support;

namespace Augur.Tests.Speculative;

/// <summary>
/// `auto`'s choices on virtual time, so they do not depend on the machine's load: a step that verifies n draft
/// nodes takes 20 + 8·n µs (about stories260K's cost curve on this CPU). A drafter that always proposes the true
/// continuation (3 tokens, all accepted: 4 tokens for 2.2 plain steps) must be used; one that always proposes 16
/// wrong tokens (1 token for 7.4 plain steps) must be dropped. Output stays plain greedy's either way.
/// </summary>
public class AdaptiveDrafterTests
{
    const string Prompt = "Once upon a time, there was a little girl named Lily.";
    const int Tokens = 300;

    /// <summary>Virtual microseconds, advanced by the cost of each verified step.</summary>
    sealed class VirtualClock
    {
        public long Now;
        public void Step(int nodes) => Now += 20 + 8 * nodes;
    }

    /// <summary>Proposes the next <paramref name="length"/> tokens of a known greedy output, or tokens that never
    /// follow; it also learns every step (it reads no logits), which is where it advances the clock.</summary>
    sealed class FixedDrafter(int[] sequence, int length, bool wrong, VirtualClock clock) : IDrafter
    {
        public string Name => wrong ? "wrong" : "oracle";
        public void Begin(ReadOnlySpan<int> prompt) { }
        public void Propose(ReadOnlySpan<int> context, DraftTree tree)
        {
            int from = context.Length;
            int n = Math.Min(length, sequence.Length - from);
            if (n <= 0) return;
            var tokens = sequence.AsSpan(from, n).ToArray();
            if (wrong) for (int i = 0; i < tokens.Length; i++) tokens[i] = (tokens[i] + 1) % 512; // never the greedy token
            tree.AddChain(-1, tokens);
        }
        public void Learn(VerifiedStep step) => clock.Step(step.Tree.Count);
    }

    /// <summary>Three requests with one auto (its measurements carry over, as in a server): the last one's result.</summary>
    static (GenerationResult Plain, GenerationResult Auto) Run(int draftLength, bool wrong)
    {
        using var model = LoadedModel.Open(Reference.Stories260KGguf);
        var request = new GenerationRequest { Prompt = Prompt, MaxTokens = Tokens, Sampling = SamplingOptions.Greedy, StopAtEos = false };
        var plain = new Generator(model.Model, model.Tokenizer, contextLength: 512).Generate(request);
        int[] sequence = [.. plain.PromptIds, .. plain.Ids];
        var clock = new VirtualClock();
        var auto = new AdaptiveDrafter(() => clock.Now, 1e6, new FixedDrafter(sequence, draftLength, wrong, clock));
        var generator = new Generator(model.Model, model.Tokenizer, contextLength: 512) { Drafter = auto };
        for (int i = 0; i < 2; i++) generator.Generate(request);
        return (plain, generator.Generate(request));
    }

    [Fact]
    public void Uses_a_drafter_that_pays()
    {
        var (plain, auto) = Run(draftLength: 3, wrong: false);
        Assert.Equal(plain.Ids, auto.Ids);
        // The oracle nearly always (4 tokens per step), plain steps only as occasional retries.
        Assert.True(auto.Speculation!.MeanAccepted > 3.5, $"tokens per step {auto.Speculation.MeanAccepted:F2}");
    }

    [Fact]
    public void Falls_back_to_plain_decoding_when_drafts_never_match()
    {
        var (plain, auto) = Run(draftLength: 16, wrong: true);
        Assert.Equal(plain.Ids, auto.Ids);
        var stats = auto.Speculation!;
        Assert.Equal(0, stats.Accepted);
        // Drafting 16 tokens every step would be 16 per step; retries only are a small fraction of that.
        Assert.True((double)stats.Drafted / stats.Steps < 1, $"{stats.Drafted} tokens drafted over {stats.Steps} steps");
    }
}
