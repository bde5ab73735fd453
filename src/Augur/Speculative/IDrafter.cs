namespace Augur.Speculative;

/// <summary>
/// Proposes draft tokens for the target model to verify (vLLM's proposer). Drafts are deterministic
/// functions of the context, so the verifier can treat each as a point-mass proposal: greedy output stays
/// identical to plain decoding and sampled output keeps exactly the target distribution.
/// </summary>
public interface IDrafter
{
    string Name { get; }

    /// <summary>A new request starts with this prompt.</summary>
    void Begin(ReadOnlySpan<int> prompt);

    /// <summary>Fills <paramref name="tree"/> (empty on entry) with drafts continuing <paramref name="context"/>
    /// (prompt and output so far; its last token is the tree's root). Leaving it empty means: decode plainly.</summary>
    void Propose(ReadOnlySpan<int> context, DraftTree tree);

    /// <summary>What verification found: which nodes were accepted and the target's logits at every node.</summary>
    void Learn(VerifiedStep step) { }

    /// <summary>Whether <see cref="Learn"/> scans the target's logits (costly on a CPU: a top-k of every row), rather
    /// than only the emitted tokens.</summary>
    bool LearnsFromLogits => false;
}

/// <summary>The outcome of one verification step, handed to the drafter to learn from.</summary>
public sealed class VerifiedStep
{
    public DraftTree Tree { get; internal set; } = null!;
    /// <summary>The root token (last context token before the step).</summary>
    public int Root { get; internal set; }
    /// <summary>Emitted tokens in order: the accepted draft tokens, then the target's own next token.</summary>
    public List<int> Emitted { get; } = [];
    /// <summary>For each emitted token, the batch row whose logits chose it (0 = root, i + 1 = draft node i).</summary>
    public List<int> Rows { get; } = [];
    /// <summary>Number of emitted tokens that came from the draft.</summary>
    public int Accepted { get; internal set; }
    /// <summary>Target logits at batch row r: row 0 is the root, row i + 1 is draft node i.</summary>
    public LogitsRow Logits { get; internal set; } = null!;
}

public delegate ReadOnlySpan<float> LogitsRow(int row);
