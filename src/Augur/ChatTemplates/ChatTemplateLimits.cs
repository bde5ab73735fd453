namespace Augur.ChatTemplates;

/// <summary>
/// The budget of one render. A chat template comes from whoever made the model file, so it is run as untrusted
/// code: every statement and expression is a step, every value it builds (a string's characters, a list's or
/// dict's items) counts against the memory budget, and the text it writes against the output budget. Running
/// past one raises <see cref="ChatTemplateException"/> naming it. The defaults leave a wide margin over real use:
/// the eleven shared templates given a 1 MB conversation (100 turns of 10,000 characters) take at most 36k steps,
/// build 3.0M characters and items and write 1.0M characters (tests/…/BudgetTests measures it; docs/security.md).
/// </summary>
public sealed record ChatTemplateLimits
{
    /// <summary>Statements and expressions evaluated; filters, tests and <c>in</c> also count the items they visit.</summary>
    public long MaxSteps { get; init; } = 2_000_000;

    /// <summary>Characters the template may write (its output, and the output of each macro call or capture block).</summary>
    public long MaxOutputChars { get; init; } = 16 << 20;

    /// <summary>Characters and items of all values the template builds, added up over the render.</summary>
    public long MaxBuiltSize { get; init; } = 64 << 20;

    public static ChatTemplateLimits Default { get; } = new();

    /// <summary>Throws <see cref="InvalidRequestException"/> for a limit that is not positive.</summary>
    public ChatTemplateLimits Validate()
    {
        if (MaxSteps < 1) throw new InvalidRequestException($"the chat template step budget must be ≥ 1 (got {MaxSteps})");
        if (MaxOutputChars < 1) throw new InvalidRequestException($"the chat template output budget must be ≥ 1 (got {MaxOutputChars})");
        if (MaxBuiltSize < 1) throw new InvalidRequestException($"the chat template memory budget must be ≥ 1 (got {MaxBuiltSize})");
        return this;
    }
}
