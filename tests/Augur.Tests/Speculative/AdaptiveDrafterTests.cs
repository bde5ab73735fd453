using Augur.Generation;
using Augur.Model;
using Augur.Sampling;
using Augur.Speculative;
using Augur.Tests.Support;

namespace Augur.Tests.Speculative;

/// <summary>
/// `auto` on drafters whose worth is not in doubt: one that always proposes the true continuation (8 tokens, all
/// accepted: far more tokens per step than the step costs) and one that always proposes 16 wrong tokens (a costly
/// step that emits one token). The margins are wide, so timing noise cannot flip the decisions.
/// </summary>
public class AdaptiveDrafterTests
{
    const string Prompt = "Once upon a time, there was a little girl named Lily.";
    const int Tokens = 300;

    /// <summary>Proposes the next <paramref name="length"/> tokens of a known greedy output (or, when <paramref name="wrong"/>, tokens that never follow).</summary>
    sealed class FixedDrafter(int[] sequence, int length, bool wrong) : IDrafter
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
    }

    static (GenerationResult Plain, int[] Sequence) Reference(LoadedModel model)
    {
        var request = new GenerationRequest { Prompt = Prompt, MaxTokens = Tokens, Sampling = SamplingOptions.Greedy, StopAtEos = false };
        var plain = new Generator(model.Model, model.Tokenizer, contextLength: 512).Generate(request);
        return (plain, [.. plain.PromptIds, .. plain.Ids]);
    }

    /// <summary>Three requests with one auto (its measurements carry over, as in a server): the last one's result.
    /// The first request pays for cold code, which only makes drafting look worse.</summary>
    static GenerationResult RunAuto(LoadedModel model, IDrafter drafter)
    {
        var generator = new Generator(model.Model, model.Tokenizer, contextLength: 512) { Drafter = new AdaptiveDrafter(drafter) };
        var request = new GenerationRequest { Prompt = Prompt, MaxTokens = Tokens, Sampling = SamplingOptions.Greedy, StopAtEos = false };
        for (int i = 0; i < 2; i++) generator.Generate(request);
        return generator.Generate(request);
    }

    [Fact]
    public void Uses_a_drafter_that_pays()
    {
        using var model = LoadedModel.Open(Augur.Tests.Support.Reference.Stories260KGguf);
        var (plain, sequence) = Reference(model);
        var result = RunAuto(model, new FixedDrafter(sequence, 8, wrong: false));
        Assert.Equal(plain.Ids, result.Ids);
        // Plain until warm, a trial, then the oracle nearly always: 9 tokens per step when it drafts.
        Assert.True(result.Speculation!.MeanAccepted > 4, $"tokens per step {result.Speculation.MeanAccepted:F2}");
    }

    [Fact]
    public void Falls_back_to_plain_decoding_when_drafts_never_match()
    {
        using var model = LoadedModel.Open(Augur.Tests.Support.Reference.Stories260KGguf);
        var (plain, sequence) = Reference(model);
        var result = RunAuto(model, new FixedDrafter(sequence, 16, wrong: true));
        Assert.Equal(plain.Ids, result.Ids);
        var stats = result.Speculation!;
        Assert.Equal(0, stats.Accepted);
        // Drafting 16 tokens every step would be 16 per step; trials and retries only are a small fraction of that.
        Assert.True((double)stats.Drafted / stats.Steps < 2, $"{stats.Drafted} tokens drafted over {stats.Steps} steps");
    }
}
