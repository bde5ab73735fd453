using Augur.Generation;
using Augur.Model;
using Augur.Tests.Support;
using Augur.Tokenizers;

namespace Augur.Tests.Model;

/// <summary>Cells follow the work: the asked-for context, the default cap, the prompt and max tokens; beyond the
/// trained context only when allowed.</summary>
public sealed class ContextWindowTests
{
    static readonly ModelConfig Trained4M = LoadedModel.Open(Reference.Stories260KGguf).Model.Config with { ContextLength = 4 << 20 };

    [Fact]
    public void A_huge_trained_context_gets_the_default_cap_or_the_work()
    {
        Assert.Equal(ContextWindow.DefaultMax, ContextWindow.Resolve(Trained4M, null));
        Assert.Equal(259, ContextWindow.Resolve(Trained4M, Trained4M.ContextLength, work: 2 + 256 + 1));
        Assert.Equal(100_000, ContextWindow.Resolve(Trained4M, 100_000));
        Assert.Equal(2, ContextWindow.Resolve(Trained4M, null, work: 0));
    }

    [Theory]
    [InlineData(-1, "--ctx must be ≥ 2 (got -1)")]
    [InlineData(0, "--ctx must be ≥ 2 (got 0)")]
    [InlineData(1, "--ctx must be ≥ 2 (got 1)")]
    [InlineData(513, "exceeds the model's trained context of 512 tokens")]
    [InlineData(int.MaxValue, "larger than Augur supports")]
    public void Impossible_or_untrained_contexts_are_refused(int requested, string fragment)
    {
        var config = LoadedModel.Open(Reference.Stories260KGguf).Model.Config;
        Assert.Contains(fragment, Assert.Throws<InvalidRequestException>(() => ContextWindow.Resolve(config, requested)).Message);
        if (requested == 513) Assert.Equal(513, ContextWindow.Resolve(config, requested, allowBeyondTrained: true));
    }

    [Fact]
    public void A_generator_for_a_4M_context_model_allocates_for_its_default_not_the_claim()
    {
        using var loaded = LoadedModel.Open(Reference.Stories260KGguf);
        var model = new LlamaModel(Trained4M, loaded.Model.Weights);
        long before = GC.GetTotalAllocatedBytes();
        var generator = new Generator(model, loaded.Tokenizer);
        Assert.Equal(ContextWindow.DefaultMax, generator.ContextLength);
        Assert.True(GC.GetTotalAllocatedBytes() - before < 64L << 20);
    }

    /// <summary>A tokenizer that must not be asked: the request is refused on its length alone.</summary>
    sealed class UntouchableTokenizer(ITokenizer inner) : ITokenizer
    {
        public Vocabulary Vocabulary => inner.Vocabulary;
        public int BosId => inner.BosId;
        public int EosId => inner.EosId;
        public int[] Encode(string text, bool addBos = true, bool parseSpecial = false, IReadOnlyList<Range>? plainText = null) => throw new InvalidOperationException("tokenized a prompt that cannot fit");
        public ReadOnlySpan<byte> PieceBytes(int token, int previous) => inner.PieceBytes(token, previous);
        public string Decode(ReadOnlySpan<int> tokens, int previous = -1, bool renderSpecial = false) => inner.Decode(tokens, previous, renderSpecial);
    }

    [Fact]
    public void A_prompt_whose_bytes_prove_it_too_long_is_refused_before_tokenizing()
    {
        using var loaded = LoadedModel.Open(Reference.Stories260KGguf);
        var tokenizer = new UntouchableTokenizer(loaded.Tokenizer);
        int longest = tokenizer.Vocabulary.LongestPieceBytes;
        Assert.Equal(tokenizer.Vocabulary.Tokens.Max(t => System.Text.Encoding.UTF8.GetByteCount(t)), longest);
        var e = Assert.Throws<InvalidRequestException>(() => new GenerationRequest { Prompt = new string('a', 512 * longest) }.Prepare(tokenizer, 512));
        Assert.Contains("at least 512 tokens", e.Message);
        // One byte less than that bound needs the tokenizer.
        Assert.Throws<InvalidOperationException>(() => new GenerationRequest { Prompt = new string('a', 511 * longest) }.Prepare(tokenizer, 512));
    }
}
