using Augur.Tests.Support;
using Augur.Gguf;
using Augur.Tokenizers;

namespace Augur.PeerTests;

/// <summary>Augur's SentencePiece tokenizer against llama.cpp's on the same GGUF vocabulary, id for id.</summary>
public class TokenizerParityTests
{
    /// <summary>Text that exercises every rule: dummy prefix, space runs, byte fallback, merges across scripts.</summary>
    public static readonly string[] Corpus =
    [
        "",
        " ",
        "   ",
        "Hello world",
        " Hello world",
        "Hello world ",
        "  two leading, two trailing  ",
        "Once upon a time, there was a little girl named Lily. She loved to play outside.",
        "Hello, world! How's it going? (Fine.) \"Quotes\", 'single'; colons: dashes - — – ... ?!",
        "1234567890 3.14159 1,000,000 -42 +7 2024-01-01 0x1F 1e-5 100%",
        "multiple    spaces   between     words",
        "\n",
        "line one\nline two\n\nline four\n",
        "\ttab\tseparated\tvalues\t",
        "mixed \t\n \r\n whitespace\r",
        "café naïve résumé façade Ångström coöperate",
        "Übermäßig große Straße; æøå ÆØÅ; ñ ç ß",
        "e\u0301 combining acute, A\u030a ring",
        "日本語のテキストです。",
        "中文测试，你好世界！",
        "한국어 텍스트",
        "Привет, мир! Γειά σου Κόσμε. مرحبا بالعالم. שלום",
        "emoji 😀🎉👍🏽 and 🤖🧠 family 👨‍👩‍👧",
        "𝔘𝔫𝔦𝔠𝔬𝔡𝔢 𝕞𝕒𝕥𝕙 and ｆｕｌｌｗｉｄｔｈ",
        "zero\u200bwidth\u200djoiner\u00a0nbsp\u3000ideographic space",
        "<s> </s> <unk> look like special tokens",
        "<0x41> looks like a byte token",
        "\u2581 is SentencePiece's space marker",
        "nul \0 and controls \u0001\u001f\u007f",
        "a",
        "ab",
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        "                        twenty-four spaces, then seventeen                 end",
        "\r\r\n\n\n\n",
        "lone surrogate \ud800 here",
        "The quick brown fox jumps over the lazy dog. The quick brown fox jumps over the lazy dog again and again.",
    ];

    public static IEnumerable<object[]> Cases =>
        from file in PeerFiles.All
        from i in Enumerable.Range(0, Corpus.Length)
        select new object[] { file, i };

    static readonly Dictionary<string, (ITokenizer Augur, LlamaCpp Peer)> Loaded = [];

    static (ITokenizer Augur, LlamaCpp Peer) Load(string file)
    {
        if (!Loaded.TryGetValue(file, out var pair))
        {
            string path = PeerFiles.PathOf(file);
            using var gguf = GgufFile.Open(path);
            Loaded[file] = pair = (TokenizerFactory.Create(Vocabulary.FromGguf(gguf)), LlamaCpp.Vocabulary(path));
        }
        return pair;
    }

    /// <summary>
    /// Random strings over a pool that mixes common and rare characters (rare ones go through byte
    /// fallback), so merges meet in combinations no hand-written case thought of. Fixed seed.
    /// </summary>
    [Theory]
    [MemberData(nameof(Files))]
    public void Random_text_tokenizes_the_same(string file)
    {
        const string pool = "  \t\n\raeiouAEIOUthnsrldgkmbcpwyfvzxqj0123456789.,;:!?'\"-()[]<>/\\_@#%&*+=~`|éèàüöñçßøÅœ€£¥©°±½²µ·–—‘’“”…•中文日本語한국어Привет😀🎉👍🏽🤖\u200b\u00a0\u2581\u3000";
        var chars = pool.EnumerateRunes().ToArray();
        var random = TestSeed.Random(1234);
        var (augur, peer) = Load(file);
        var failures = new List<string>();
        for (int n = 0; n < 300; n++)
        {
            var sb = new System.Text.StringBuilder();
            int length = random.Next(1, 40);
            for (int i = 0; i < length; i++) sb.Append(chars[random.Next(chars.Length)].ToString());
            string text = sb.ToString();
            var expected = peer.Tokenize(text);
            var actual = augur.Encode(text);
            if (!expected.SequenceEqual(actual))
                failures.Add($"{System.Text.Json.JsonSerializer.Serialize(text)}: llama.cpp [{string.Join(' ', expected)}], Augur [{string.Join(' ', actual)}]");
        }
        Assert.True(failures.Count == 0, $"{failures.Count} of 300 differ:\n{string.Join('\n', failures.Take(10))}");
    }

    public static IEnumerable<object[]> Files => PeerFiles.All.Select(f => new object[] { f });

    [Theory]
    [MemberData(nameof(Cases))]
    public void Tokenization_matches_llama_cpp(string file, int corpusIndex)
    {
        string text = Corpus[corpusIndex];
        var (augur, peer) = Load(file);
        Assert.Equal(peer.Tokenize(text), augur.Encode(text));
        Assert.Equal(peer.Tokenize(text, addBos: false), augur.Encode(text, addBos: false));
    }
}
