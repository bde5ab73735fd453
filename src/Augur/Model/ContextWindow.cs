namespace Augur.Model;

/// <summary>
/// How many cache cells a run gets. Memory follows the work, not the file: a model may claim a context of millions
/// of tokens, and a dense cache for all of them is gigabytes reserved for a two-token prompt. So a run gets what
/// was asked for (<c>--ctx</c>), else the trained context capped at <see cref="DefaultMax"/> (llama.cpp's default
/// n_ctx), and no more than its work needs when that is known (prompt + tokens to generate). A context beyond the
/// trained one is refused unless allowed explicitly: llama.cpp only warns, but the output past it is garbage.
/// </summary>
public static class ContextWindow
{
    /// <summary>Cells per sequence when no context length is asked for, if the model was trained on more.</summary>
    public const int DefaultMax = 4096;

    /// <summary>The largest context anyone may ask for (the model loader accepts no larger trained one).</summary>
    public const int Max = 1 << 24;

    /// <param name="requested">The asked-for context, or null for the default.</param>
    /// <param name="allowBeyondTrained">Whether a context larger than the trained one may be used.</param>
    /// <param name="work">Cells the run can use at most (prompt + tokens to generate), when known.</param>
    public static int Resolve(ModelConfig config, int? requested, bool allowBeyondTrained = false, long? work = null)
    {
        if (requested is < 2) throw new InvalidRequestException($"--ctx must be ≥ 2 (got {requested})");
        if (requested > Max) throw new InvalidRequestException($"--ctx {requested:N0} is larger than Augur supports ({Max:N0})");
        if (requested > config.ContextLength && !allowBeyondTrained)
            throw new InvalidRequestException($"--ctx {requested:N0} exceeds the model's trained context of {config.ContextLength:N0} tokens " +
                                              "(output past it degrades; pass --allow-long-context to use it anyway)");
        int cells = requested ?? Math.Min(config.ContextLength, DefaultMax);
        return work is { } w ? (int)Math.Clamp(w, 2, cells) : cells;
    }
}
