using System.Buffers;

namespace Augur.Tokenizers;

/// <summary>
/// The pieces found in raw text before the model's own algorithm runs: user-defined pieces always, control and
/// unknown pieces only when the caller parses special tokens (llama.cpp's <c>parse_special</c>; a chat template's
/// output, never a user's text). Matched leftmost, longest first, as Hugging Face's added-token split does.
/// </summary>
sealed class AddedTokens
{
    sealed class Node
    {
        public Dictionary<char, Node>? Children;
        public int Id = -1;
        public bool SpecialOnly;
    }

    readonly Node _root = new();
    readonly SearchValues<char> _starts;

    public AddedTokens(Vocabulary v)
    {
        var starts = new HashSet<char>();
        for (int id = 0; id < v.Count; id++)
        {
            if (v.Types[id] is not (TokenType.Control or TokenType.UserDefined or TokenType.Unknown)) continue;
            string text = v.Tokens[id];
            if (text.Length == 0) continue;
            var node = _root;
            foreach (char c in text)
            {
                node.Children ??= [];
                if (!node.Children.TryGetValue(c, out var child)) node.Children[c] = child = new Node();
                node = child;
            }
            if (node.Id >= 0) continue; // two ids with one text: the first wins
            node.Id = id;
            node.SpecialOnly = v.Types[id] != TokenType.UserDefined;
            starts.Add(text[0]);
        }
        _starts = SearchValues.Create([.. starts]);
    }

    /// <summary>One piece of the split: an added token (<c>Id ≥ 0</c>) or raw text to encode (<c>Id = -1</c>).</summary>
    public readonly record struct Fragment(int Start, int Length, int Id);

    /// <summary>
    /// Splits <paramref name="text"/>; with <paramref name="parseSpecial"/>, control pieces match except where they would
    /// overlap one of <paramref name="plainText"/> (spans of message content inside a rendered chat template).
    /// </summary>
    public void Split(string text, bool parseSpecial, List<Fragment> fragments, IReadOnlyList<Range>? plainText = null)
    {
        fragments.Clear();
        int plain = 0;
        for (int i = 0; i < text.Length;)
        {
            int next = text.AsSpan(i).IndexOfAny(_starts);
            if (next < 0) break;
            i += next;
            var (id, length) = LongestAt(text, i, parseSpecial, plainText);
            if (id < 0) { i++; continue; }
            if (i > plain) fragments.Add(new Fragment(plain, i - plain, -1));
            fragments.Add(new Fragment(i, length, id));
            i += length;
            plain = i;
        }
        if (plain < text.Length) fragments.Add(new Fragment(plain, text.Length - plain, -1));
    }

    (int Id, int Length) LongestAt(string text, int start, bool parseSpecial, IReadOnlyList<Range>? plainText)
    {
        int id = -1, length = 0;
        var node = _root;
        for (int i = start; i < text.Length && node.Children is not null && node.Children.TryGetValue(text[i], out node); i++)
            if (node.Id >= 0 && (!node.SpecialOnly || (parseSpecial && !Overlaps(plainText, text.Length, start, i + 1))))
                (id, length) = (node.Id, i + 1 - start);
        return (id, length);
    }

    static bool Overlaps(IReadOnlyList<Range>? spans, int length, int start, int end)
    {
        if (spans is null) return false;
        foreach (var r in spans)
        {
            var (s, n) = r.GetOffsetAndLength(length);
            if (start < s + n && s < end) return true;
        }
        return false;
    }
}
