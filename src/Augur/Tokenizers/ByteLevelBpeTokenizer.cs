using System.Collections.Concurrent;
using System.Text;

namespace Augur.Tokenizers;

/// <summary>
/// GPT-2-style byte-level BPE (GGUF <c>tokenizer.ggml.model = "gpt2"</c>: Llama 3, Qwen 2/2.5/3, SmolLM, …).
/// Added tokens are split out first; the rest is split into words by the vocabulary's <see cref="PreTokenizer"/>;
/// each word's UTF-8 bytes become symbols (one printable character per byte: GPT-2's byte↔unicode table, so a
/// space is <c>Ġ</c>), and the adjacent pair with the best merge rank is merged (leftmost on ties) until no
/// pair has a merge. Every byte is a piece, so nothing is ever unknown.
/// </summary>
public sealed class ByteLevelBpeTokenizer : ITokenizer
{
    /// <summary>GPT-2's table: printable Latin-1 bytes stand for themselves, the other 68 map to U+0100….</summary>
    static readonly char[] ByteToChar = new char[256];
    static readonly int[] CharToByte = new int[324];

    static ByteLevelBpeTokenizer()
    {
        Array.Fill(CharToByte, -1);
        int extra = 0;
        for (int b = 0; b < 256; b++)
        {
            bool printable = b is >= '!' and <= '~' or >= 0xA1 and <= 0xAC or >= 0xAE and <= 0xFF;
            ByteToChar[b] = (char)(printable ? b : 256 + extra++);
            CharToByte[ByteToChar[b]] = b;
        }
    }

    readonly Dictionary<string, int>.AlternateLookup<ReadOnlySpan<char>> _pieces; // model pieces only (normal types)
    readonly Dictionary<long, (int Rank, int Id)> _merges;
    readonly int[] _byteToken = new int[256];
    readonly byte[][] _pieceBytes;
    readonly PreTokenizer _pre;
    readonly AddedTokens _added;
    /// <summary>Words seen before and their ids: most text is made of few distinct words.</summary>
    readonly ConcurrentDictionary<string, int[]> _wordCache = new(StringComparer.Ordinal);
    readonly ConcurrentDictionary<string, int[]>.AlternateLookup<ReadOnlySpan<char>> _wordLookup;
    const int MaxCachedWords = 1 << 16, MaxCachedWordLength = 64;

    public Vocabulary Vocabulary { get; }
    public int BosId => Vocabulary.BosId;
    public int EosId => Vocabulary.EosId;
    public PreTokenizer PreTokenizer => _pre;

    public ByteLevelBpeTokenizer(Vocabulary vocabulary)
    {
        Vocabulary = vocabulary;
        string source = vocabulary.Source;
        _pre = PreTokenizer.For(vocabulary.Pre ?? throw new ModelFormatException($"{source}: a gpt2 vocabulary needs 'tokenizer.ggml.pre'"), source);
        var all = new Dictionary<string, int>(vocabulary.Count, StringComparer.Ordinal);
        var pieces = new Dictionary<string, int>(vocabulary.Count, StringComparer.Ordinal);
        for (int i = 0; i < vocabulary.Count; i++)
        {
            all.TryAdd(vocabulary.Tokens[i], i);
            if (vocabulary.Types[i] is TokenType.Normal or TokenType.Byte) pieces.TryAdd(vocabulary.Tokens[i], i);
        }
        _pieces = pieces.GetAlternateLookup<ReadOnlySpan<char>>();
        for (int b = 0; b < 256; b++)
            _byteToken[b] = pieces.TryGetValue(ByteToChar[b].ToString(), out int id) ? id
                : throw new ModelFormatException($"{source}: the byte-level vocabulary has no piece for byte 0x{b:X2} ('{ByteToChar[b]}')");

        var merges = vocabulary.Merges;
        _merges = new Dictionary<long, (int, int)>(merges.Length);
        for (int rank = 0; rank < merges.Length; rank++)
        {
            string m = merges[rank];
            int space = m.IndexOf(' ', 1);
            if (space < 0) throw new ModelFormatException($"{source}: tokenizer.ggml.merges[{rank}] = '{m}' is not two pieces separated by a space");
            string left = m[..space], right = m[(space + 1)..];
            int Piece(string p) => all.TryGetValue(p, out int id) ? id
                : throw new ModelFormatException($"{source}: tokenizer.ggml.merges[{rank}] = '{m}' names '{p}', which is not in the vocabulary");
            int l = Piece(left), r = Piece(right), merged = Piece(left + right);
            _merges.TryAdd((long)l << 32 | (uint)r, (rank, merged));
        }
        _added = new AddedTokens(vocabulary);
        _wordLookup = _wordCache.GetAlternateLookup<ReadOnlySpan<char>>();

        _pieceBytes = new byte[vocabulary.Count][];
        for (int i = 0; i < vocabulary.Count; i++) _pieceBytes[i] = RenderPiece(i);
    }

    byte[] RenderPiece(int id)
    {
        string piece = Vocabulary.Tokens[id];
        switch (Vocabulary.Types[id])
        {
            case TokenType.Control or TokenType.Unused: return [];
            case TokenType.UserDefined or TokenType.Unknown: return Encoding.UTF8.GetBytes(piece);
        }
        var bytes = new List<byte>(piece.Length);
        foreach (char c in piece)
        {
            if (c < CharToByte.Length && CharToByte[c] >= 0) bytes.Add((byte)CharToByte[c]);
            else bytes.AddRange(Encoding.UTF8.GetBytes(c.ToString())); // not a byte-level character: its own text
        }
        return [.. bytes];
    }

    public ReadOnlySpan<byte> PieceBytes(int token, int previous) =>
        (uint)token < (uint)_pieceBytes.Length ? _pieceBytes[token] : [];

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

    public string DecodeCleaned(ReadOnlySpan<int> tokens) =>
        _pre.CleansSpaces ? SpaceCleanup.Apply(Decode(tokens)) : Decode(tokens);

    public int[] Encode(string text, bool addBos = true, bool parseSpecial = false, IReadOnlyList<Range>? plainText = null)
    {
        var output = new List<int>(text.Length / 3 + 2);
        if (addBos && Vocabulary.AddBos && BosId >= 0) output.Add(BosId);
        var fragments = new List<AddedTokens.Fragment>();
        _added.Split(text, parseSpecial, fragments, plainText);
        var work = new Work();
        foreach (var f in fragments)
        {
            if (f.Id >= 0) output.Add(f.Id);
            else EncodeText(text.AsSpan(f.Start, f.Length), output, work);
        }
        if (addBos && Vocabulary.AddEos && EosId >= 0) output.Add(EosId);
        return output.ToArray();
    }

    /// <summary>Buffers of one Encode call.</summary>
    sealed class Work
    {
        public readonly PreTokenizer.Text Text = new();
        public readonly List<(int, int)> Words = [];
        public char[] Chars = new char[256];
        public int[] Ids = new int[256], Prev = new int[256], Next = new int[256];
        /// <summary>Candidate pairs by (rank, left position) packed into one long: fast to compare.</summary>
        public readonly PriorityQueue<(int Left, int LeftId, int RightId), long> Queue = new();
    }

    void EncodeText(ReadOnlySpan<char> text, List<int> output, Work w)
    {
        if (_pre.NormalizesNfc && !Nfc.IsTriviallyNormalized(text)) text = Nfc.Normalize(text.ToString());
        w.Text.Set(text);
        _pre.Split(w.Text, w.Words);
        Span<byte> utf8 = stackalloc byte[4];
        foreach (var (start, end) in w.Words)
        {
            // The word's bytes, each as its byte-level character.
            int n = 0;
            for (int i = start; i < end; i++)
            {
                int len = new Rune(w.Text.Codepoints[i]).EncodeToUtf8(utf8);
                if (n + len > w.Chars.Length) Array.Resize(ref w.Chars, w.Chars.Length * 2 + len);
                for (int b = 0; b < len; b++) w.Chars[n++] = ByteToChar[utf8[b]];
            }
            var word = w.Chars.AsSpan(0, n);
            if (_wordLookup.TryGetValue(word, out var cached)) { output.AddRange(cached); continue; }
            if (_pre.IgnoresMerges && _pieces.TryGetValue(word, out int whole)) { output.Add(whole); continue; }
            int before = output.Count;
            Merge(word, output, w);
            if (n <= MaxCachedWordLength && _wordCache.Count < MaxCachedWords)
                _wordLookup.TryAdd(word, [.. System.Runtime.InteropServices.CollectionsMarshal.AsSpan(output)[before..]]);
        }
    }

    /// <summary>Merges the byte symbols of one word by rank with a heap of candidate pairs (stale ones skipped).</summary>
    void Merge(ReadOnlySpan<char> word, List<int> output, Work w)
    {
        int n = word.Length;
        if (w.Ids.Length < n) { w.Ids = new int[n]; w.Prev = new int[n]; w.Next = new int[n]; }
        var ids = w.Ids; var prev = w.Prev; var next = w.Next;
        for (int i = 0; i < n; i++)
        {
            ids[i] = _byteToken[CharToByte[word[i]]];
            prev[i] = i - 1;
            next[i] = i + 1 < n ? i + 1 : -1;
        }
        var queue = w.Queue;
        queue.Clear();
        void TryAdd(int left, int right)
        {
            if (left < 0 || right < 0) return;
            if (_merges.TryGetValue((long)ids[left] << 32 | (uint)ids[right], out var m))
                queue.Enqueue((left, ids[left], ids[right]), (long)m.Rank << 32 | (uint)left);
        }
        for (int i = 0; i + 1 < n; i++) TryAdd(i, i + 1);
        while (queue.TryDequeue(out var pair, out _))
        {
            var (left, leftId, rightId) = pair;
            int right = next[left];
            // Stale: the left symbol changed, or its neighbour is no longer this pair's right piece (a neighbour with the
            // same piece is the same pair at the same priority, so merging it is right).
            if (ids[left] != leftId || right < 0 || ids[right] != rightId) continue;
            ids[left] = _merges[(long)leftId << 32 | (uint)rightId].Id;
            ids[right] = -1;
            next[left] = next[right];
            if (next[right] >= 0) prev[next[right]] = left;
            TryAdd(prev[left], left);
            TryAdd(left, next[left]);
        }
        for (int i = 0; i >= 0; i = next[i]) output.Add(ids[i]);
    }
}
