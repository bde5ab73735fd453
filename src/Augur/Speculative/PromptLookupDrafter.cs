namespace Augur.Speculative;

/// <summary>
/// Prompt lookup / input-guided copy (Aggressive Decoding's IAD): finds the most recent earlier occurrence
/// of the context's last n tokens (n from <c>maxNgram</c> down to <c>minNgram</c>) and proposes what followed it.
/// </summary>
public sealed class PromptLookupDrafter(int maxNgram = 3, int minNgram = 1, int draftLength = 10) : IDrafter
{
    public string Name => "lookup";

    public void Begin(ReadOnlySpan<int> prompt) { }

    public void Propose(ReadOnlySpan<int> context, DraftTree tree)
    {
        for (int n = Math.Min(maxNgram, context.Length - 1); n >= minNgram; n--)
        {
            var pattern = context[^n..];
            // Search backwards so the most recent match wins; the match must leave something to copy.
            for (int i = context.Length - n - 1; i >= 0; i--)
            {
                if (!context.Slice(i, n).SequenceEqual(pattern)) continue;
                int from = i + n;
                int len = Math.Min(draftLength, context.Length - from);
                tree.AddChain(-1, context.Slice(from, len));
                return;
            }
        }
    }
}
