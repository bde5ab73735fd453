namespace Augur.Sampling;

/// <summary>
/// One step of choosing the next token (llama.cpp's llama_sampler_i): <see cref="Apply"/> narrows or reshapes
/// the candidates, or picks one (<see cref="Candidates.Selected"/>); <see cref="Accept"/> tells it which
/// token was finally emitted (penalties keep history); <see cref="Reset"/> forgets a request.
/// </summary>
public interface ISampler
{
    void Apply(Candidates candidates);
    void Accept(int token) { }
    void Reset() { }
}

/// <summary>Filters in order, then a final picker (greedy or random draw). A chain is itself a sampler.</summary>
public sealed class SamplerChain(IReadOnlyList<ISampler> filters, ISampler picker) : ISampler
{
    public IReadOnlyList<ISampler> Filters { get; } = filters;
    public ISampler Picker { get; } = picker;

    /// <summary>This chain with <paramref name="filter"/> run before the others (a constraint such as a grammar).</summary>
    public SamplerChain WithFirst(ISampler filter) => new([filter, .. Filters], Picker);

    /// <summary>Applies the filters only: what remains is the distribution the picker draws from.</summary>
    public void ApplyFilters(Candidates candidates)
    {
        foreach (var f in Filters) f.Apply(candidates);
    }

    public void Apply(Candidates candidates)
    {
        ApplyFilters(candidates);
        Picker.Apply(candidates);
    }

    /// <summary>Loads <paramref name="logits"/>, runs the chain and returns the chosen token.</summary>
    public int Sample(ReadOnlySpan<float> logits, Candidates candidates)
    {
        candidates.Reset(logits);
        Apply(candidates);
        return candidates.Selected;
    }

    public void Accept(int token)
    {
        foreach (var f in Filters) f.Accept(token);
        Picker.Accept(token);
    }

    public void Reset()
    {
        foreach (var f in Filters) f.Reset();
        Picker.Reset();
    }
}
