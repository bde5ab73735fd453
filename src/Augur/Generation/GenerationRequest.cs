using Augur.Sampling;

namespace Augur.Generation;

/// <summary>What to generate: a prompt (text or ids), how many tokens at most, how to sample, where to stop.</summary>
public sealed record GenerationRequest
{
    public string Prompt { get; init; } = "";
    /// <summary>Token ids to use instead of tokenizing <see cref="Prompt"/> (BOS included if wanted).</summary>
    public int[]? PromptIds { get; init; }
    public int MaxTokens { get; init; } = 256;
    public SamplingOptions Sampling { get; init; } = new();
    /// <summary>Generation ends when the text contains one of these; the stop string is not returned.</summary>
    public IReadOnlyList<string> Stop { get; init; } = [];
    /// <summary>Stop at the end-of-sequence token (the token itself is not returned).</summary>
    public bool StopAtEos { get; init; } = true;
    /// <summary>Output must match this grammar (JSON schema, GBNF); generation ends when it is complete and the model ends it.</summary>
    public Grammars.Grammar? Grammar { get; init; }

    /// <summary>
    /// Checks the request, tokenizes the prompt and checks it fits <paramref name="contextLength"/> with room for a
    /// token, picks the seed, and builds the sampler chain primed with the prompt (penalties count it), led by the grammar constraint if any.
    /// </summary>
    public (int[] Prompt, int Seed, SamplerChain Sampler) Prepare(Tokenizers.ITokenizer tokenizer, int contextLength)
    {
        Validate();
        // A text whose length alone proves it cannot fit is refused before the tokenizer spends time on it.
        if (PromptIds is null && tokenizer.Vocabulary.FewestTokens(Prompt) is var fewest && fewest >= contextLength)
            throw new InvalidRequestException($"the prompt is at least {fewest:N0} tokens but the context holds {contextLength} (room is needed for at least one new token)");
        int[] prompt = PromptIds ?? tokenizer.Encode(Prompt);
        if (prompt.Length == 0) throw new InvalidRequestException("the prompt is empty (no tokens, not even BOS)");
        if (prompt.Length >= contextLength)
            throw new InvalidRequestException($"the prompt is {prompt.Length} tokens but the context holds {contextLength} (room is needed for at least one new token)");
        int seed = Sampling.Seed ?? Random.Shared.Next();
        var sampler = Sampling.BuildChain(seed);
        foreach (int t in prompt) sampler.Accept(t);
        // Added after the prompt primed the chain: the grammar constrains the output only.
        if (Grammar is not null) sampler = sampler.WithFirst(Grammar.CreateSampler(tokenizer, prompt[^1]));
        return (prompt, seed, sampler);
    }

    public void Validate()
    {
        if (MaxTokens < 0) throw new InvalidRequestException($"max tokens must be ≥ 0 (got {MaxTokens})");
        if (Stop.Any(string.IsNullOrEmpty)) throw new InvalidRequestException("stop strings must not be empty");
        Sampling.Validate();
    }
}

/// <summary>One generated token and the text it completes (empty while a UTF-8 character or a possible stop
/// string is pending); <paramref name="FromDraft"/> when a speculative draft proposed it and the model accepted it.</summary>
public readonly record struct TokenEvent(int Token, string Text, float Logprob, bool FromDraft = false);

public enum FinishReason { Length, Stop, EndOfSequence, ContextFull, Cancelled }

/// <summary>The outcome of a request, with the timings llama.cpp reports.</summary>
public sealed record GenerationResult(
    int[] PromptIds, int[] Ids, string Text, FinishReason FinishReason, int Seed,
    TimeSpan PromptTime, TimeSpan GenerationTime)
{
    public double PromptTokensPerSecond => PromptIds.Length / Math.Max(PromptTime.TotalSeconds, 1e-9);
    public double GeneratedTokensPerSecond => Ids.Length / Math.Max(GenerationTime.TotalSeconds, 1e-9);
    /// <summary>Speculation counters when a drafter was used.</summary>
    public Augur.Speculative.SpeculativeStats? Speculation { get; init; }
    /// <summary>Leading prompt tokens whose cache cells were kept from the previous request (not prefilled again).</summary>
    public int ReusedPromptTokens { get; init; }
}
