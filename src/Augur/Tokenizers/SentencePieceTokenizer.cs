using System.Text;

namespace Augur.Tokenizers;

/// <summary>
/// SentencePiece-style BPE as llama.cpp and llama2.c run it: the text (a space put in front, spaces
/// written as U+2581) is split into characters; the adjacent pair whose concatenation is a piece with
/// the highest score is merged (leftmost on ties) until none merges; a symbol that is not a piece falls
/// back to its UTF-8 bytes as <c>&lt;0xNN&gt;</c> tokens. No other normalisation: runs of spaces are kept.
/// Added pieces (user-defined always, control ones when parsing specials) are split out of the raw text first;
/// the space goes in front of each text fragment that follows a special piece or starts the text, when the
/// vocabulary asks for it (<c>tokenizer.ggml.add_space_prefix</c>; Gemma 3 does not).
/// </summary>
public sealed class SentencePieceTokenizer : ITokenizer
{
    const char SpaceMarker = '\u2581';
    readonly Dictionary<string, int> _ids;
    readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    readonly int[] _byteTokens = new int[256];
    readonly byte[][] _pieceBytes;
    readonly AddedTokens _added;

    public Vocabulary Vocabulary { get; }
    public int BosId => Vocabulary.BosId;
    public int EosId => Vocabulary.EosId;

    public SentencePieceTokenizer(Vocabulary vocabulary)
    {
        Vocabulary = vocabulary;
        _ids = new Dictionary<string, int>(vocabulary.Count, StringComparer.Ordinal);
        for (int i = 0; i < vocabulary.Count; i++) _ids.TryAdd(vocabulary.Tokens[i], i);
        // User-defined pieces are stored with real spaces (llama.cpp's converter does so); merging meets them as U+2581.
        for (int i = 0; i < vocabulary.Count; i++)
            if (vocabulary.Types[i] == TokenType.UserDefined && vocabulary.Tokens[i].Contains(' ')) _ids.TryAdd(vocabulary.Tokens[i].Replace(' ', SpaceMarker), i);
        _lookup = _ids.GetAlternateLookup<ReadOnlySpan<char>>();
        for (int b = 0; b < 256; b++)
            _byteTokens[b] = _ids.TryGetValue($"<0x{b:X2}>", out int id) ? id : vocabulary.UnknownId;
        _pieceBytes = new byte[vocabulary.Count][];
        for (int i = 0; i < vocabulary.Count; i++) _pieceBytes[i] = RenderPiece(i);
        _added = new AddedTokens(vocabulary);
    }

    byte[] RenderPiece(int id)
    {
        string piece = Vocabulary.Tokens[id];
        return Vocabulary.Types[id] switch
        {
            TokenType.Control or TokenType.Unused => [],
            // A byte piece that is not <0xHH> (a corrupt vocabulary) is rendered as its text rather than failing.
            TokenType.Byte when piece.Length == 6 && byte.TryParse(piece.AsSpan(3, 2), System.Globalization.NumberStyles.AllowHexSpecifier, null, out byte b) => [b],
            _ => Encoding.UTF8.GetBytes(piece.Replace(SpaceMarker, ' ')),
        };
    }

    public ReadOnlySpan<byte> PieceBytes(int token, int previous)
    {
        if ((uint)token >= (uint)_pieceBytes.Length) return [];
        var bytes = _pieceBytes[token];
        return Vocabulary.AddSpacePrefix && previous == BosId && bytes.Length > 0 && bytes[0] == (byte)' ' ? bytes.AsSpan(1) : bytes;
    }

    public string Decode(ReadOnlySpan<int> tokens, int previous = -1, bool renderSpecial = false)
    {
        var bytes = new List<byte>();
        foreach (int t in tokens)
        {
            if (renderSpecial && (uint)t < (uint)Vocabulary.Count && Vocabulary.Types[t] == TokenType.Control)
                bytes.AddRange(Encoding.UTF8.GetBytes(Vocabulary.Tokens[t]));
            else foreach (byte b in PieceBytes(t, previous)) bytes.Add(b);
            previous = t;
        }
        return Encoding.UTF8.GetString(bytes.ToArray());
    }

    public int[] Encode(string text, bool addBos = true, bool parseSpecial = false, IReadOnlyList<Range>? plainText = null)
    {
        var output = new List<int>(text.Length / 2 + 2);
        if (addBos && Vocabulary.AddBos && BosId >= 0) output.Add(BosId);
        var fragments = new List<AddedTokens.Fragment>();
        _added.Split(text, parseSpecial, fragments, plainText);
        bool afterSpecial = true;
        foreach (var f in fragments)
        {
            if (f.Id >= 0) { output.Add(f.Id); afterSpecial = true; continue; }
            string fragment = ReplaceLoneSurrogates(text.Substring(f.Start, f.Length));
            string escaped = ((Vocabulary.AddSpacePrefix && afterSpecial ? " " : "") + fragment).Replace(' ', SpaceMarker);
            Tokenize(escaped, output);
            afterSpecial = false;
        }
        if (addBos && Vocabulary.AddEos && EosId >= 0) output.Add(EosId);
        return output.ToArray();
    }

    /// <summary>
    /// A lone surrogate is not text; it is read as U+FFFD, the character its UTF-8 encoding becomes, so the
    /// replacement character is looked up as a piece like any other (SentencePiece reads malformed UTF-8
    /// as U+FFFD too, and llama.cpp, given the UTF-8, agrees).
    /// </summary>
    static string ReplaceLoneSurrogates(string text)
    {
        char[]? chars = null;
        for (int i = 0; i < text.Length; i++)
        {
            if (!char.IsSurrogate(text[i])) continue;
            if (char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1])) { i++; continue; }
            (chars ??= text.ToCharArray())[i] = '\uFFFD';
        }
        return chars is null ? text : new string(chars);
    }

    struct Symbol
    {
        public int Start, Length, Prev, Next;
    }

    readonly record struct Bigram(int Left, int Right, float Score, int Length);

    /// <summary>Orders the merge queue: highest score first, then leftmost.</summary>
    sealed class BigramOrder : IComparer<Bigram>
    {
        public static readonly BigramOrder Instance = new();
        public int Compare(Bigram a, Bigram b) => a.Score != b.Score ? b.Score.CompareTo(a.Score) : a.Left.CompareTo(b.Left);
    }

    void Tokenize(string text, List<int> output)
    {
        var symbols = new List<Symbol>(text.Length);
        for (int i = 0; i < text.Length;)
        {
            int len = char.IsHighSurrogate(text[i]) && i + 1 < text.Length && char.IsLowSurrogate(text[i + 1]) ? 2 : 1;
            symbols.Add(new Symbol { Start = i, Length = len, Prev = symbols.Count - 1, Next = i + len < text.Length ? symbols.Count + 1 : -1 });
            i += len;
        }
        var queue = new PriorityQueue<Bigram, Bigram>(BigramOrder.Instance);
        var syms = System.Runtime.InteropServices.CollectionsMarshal.AsSpan(symbols);

        void TryAdd(Span<Symbol> s, int left, int right)
        {
            if (left < 0 || right < 0) return;
            var piece = text.AsSpan(s[left].Start, s[left].Length + s[right].Length);
            if (!_lookup.TryGetValue(piece, out int id)) return;
            var bigram = new Bigram(left, right, Vocabulary.Scores[id], piece.Length);
            queue.Enqueue(bigram, bigram);
        }

        for (int i = 1; i < syms.Length; i++) TryAdd(syms, i - 1, i);
        while (queue.TryDequeue(out var bigram, out _))
        {
            ref var left = ref syms[bigram.Left];
            ref var right = ref syms[bigram.Right];
            // Stale entry: one side was merged away or grew since this pair was queued.
            if (left.Length == 0 || right.Length == 0 || left.Length + right.Length != bigram.Length) continue;
            left.Length += right.Length;
            right.Length = 0;
            left.Next = right.Next;
            if (right.Next >= 0) syms[right.Next].Prev = bigram.Left;
            TryAdd(syms, left.Prev, bigram.Left);
            TryAdd(syms, bigram.Left, left.Next);
        }

        // Only pairs that form a piece are merged, so every merged symbol is a token; a single
        // character that is not a piece falls back to byte tokens.
        Span<byte> utf8 = stackalloc byte[4];
        for (int i = 0; i != -1 && syms.Length > 0; i = syms[i].Next)
        {
            var piece = text.AsSpan(syms[i].Start, syms[i].Length);
            if (_lookup.TryGetValue(piece, out int id)) { output.Add(id); continue; }
            int n = Encoding.UTF8.GetBytes(piece, utf8);
            for (int b = 0; b < n; b++) output.Add(_byteTokens[utf8[b]]);
        }
    }
}
