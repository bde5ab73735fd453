using Augur.Gguf;
using Augur.Tests.Support;
using Augur.Tokenizers;

namespace Augur.Tests.Tokenizers;

/// <summary>The shared vocabularies, each read once per test run.</summary>
static class Vocabularies
{
    static readonly Lazy<Vocabulary> _tok512 = new(() => Vocabulary.FromFile(Reference.Tok512Model));
    static readonly Lazy<Vocabulary> _llama2 = new(() => Vocabulary.FromFile(SharedAssets.Model("llama2-tokenizer.model")));

    public static Vocabulary Tok512 => _tok512.Value;
    public static Vocabulary Llama2 => _llama2.Value;
    public static SentencePieceTokenizer Tok512Tokenizer { get; } = new(Tok512);
    public static SentencePieceTokenizer Llama2Tokenizer => _llama2Tokenizer.Value;
    static readonly Lazy<SentencePieceTokenizer> _llama2Tokenizer = new(() => new SentencePieceTokenizer(Llama2));

    public static Vocabulary FromGguf(string path)
    {
        using var f = GgufFile.Open(path);
        return Vocabulary.FromGguf(f);
    }
}

/// <summary>
/// SentencePiece BPE as llama2.c's run.c describes it, in the plainest O(n²) form: split into characters,
/// repeatedly merge the adjacent pair whose concatenation is the highest-scoring piece (leftmost on ties),
/// then emit each symbol's id or, if it is not a piece, its UTF-8 bytes as &lt;0xNN&gt; tokens.
/// Shares no code with <see cref="SentencePieceTokenizer"/>.
/// </summary>
static class ReferenceBpe
{
    static readonly System.Runtime.CompilerServices.ConditionalWeakTable<Vocabulary, Dictionary<string, int>> Ids = new();

    public static int[] Encode(Vocabulary v, string text)
    {
        var ids = Ids.GetValue(v, v =>
        {
            var d = new Dictionary<string, int>(StringComparer.Ordinal);
            for (int i = 0; i < v.Count; i++) d.TryAdd(v.Tokens[i], i);
            return d;
        });
        var output = new List<int> { v.BosId };
        if (text.Length == 0) return [.. output];

        string escaped = (" " + text).Replace(' ', '\u2581');
        var symbols = new List<string>();
        for (int i = 0; i < escaped.Length; i += char.IsSurrogatePair(escaped, i) ? 2 : 1)
            symbols.Add(char.IsSurrogatePair(escaped, i) ? escaped.Substring(i, 2) : escaped.Substring(i, 1));
        while (true)
        {
            int best = -1;
            float bestScore = float.NegativeInfinity;
            for (int i = 0; i + 1 < symbols.Count; i++)
                if (ids.TryGetValue(symbols[i] + symbols[i + 1], out int id) && v.Scores[id] > bestScore)
                    (best, bestScore) = (i, v.Scores[id]);
            if (best < 0) break;
            symbols[best] += symbols[best + 1];
            symbols.RemoveAt(best + 1);
        }
        foreach (var s in symbols)
        {
            if (ids.TryGetValue(s, out int id)) output.Add(id);
            else output.AddRange(System.Text.Encoding.UTF8.GetBytes(s).Select(b => ids[$"<0x{b:X2}>"]));
        }
        return [.. output];
    }
}
