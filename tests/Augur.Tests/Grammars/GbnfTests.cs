using CsCheck;
using System.Text.Json;
using System.Text.RegularExpressions;
using Augur.Generation;
using Augur.Grammars;
using Augur.Model;
using Augur.Sampling;
using Augur.Tests.Support;

namespace Augur.Tests.Grammars;

/// <summary>
/// GBNF parsing and the automaton against hand-written sentences, and constrained sampling on stories260K, whose
/// outputs are checked by independent readers (System.Text.Json, regular expressions, an expression parser).
/// </summary>
public sealed class GbnfTests : IDisposable
{
    readonly LoadedModel _model = LoadedModel.Open(Reference.Stories260KGguf);

    public void Dispose() => _model.Dispose();

    [Theory]
    [InlineData("json", """{"a": [1, 2.5, -3e2, null], "b": {"c": "d\u00e9\n"}}""", true)]
    [InlineData("json", """{"a": }""", false)]
    [InlineData("json", """{"a": 01}""", false)]
    [InlineData("json", "[1]", false)]
    [InlineData("arithmetic", "x1 +(2*y) = 3\n", true)]
    [InlineData("arithmetic", "x1 + = 3\n", false)]
    [InlineData("list", "- one\n- two\n", true)]
    [InlineData("list", "- one\n-two\n", false)]
    [InlineData("chess", "1. e4 e5\n2. Nf3 Nc6\n3. O-O-O exd5+\n", true)]
    [InlineData("chess", "1. e9 e5\n", false)]
    [InlineData("japanese", "こんにちは 世界、カタカナ", true)]
    [InlineData("japanese", "こんにちは world", false)]
    public void The_automaton_accepts_exactly_the_sentences(string grammar, string text, bool expected) =>
        Assert.Equal(expected, Grammar.Parse(GbnfExamples.All[grammar]).Matches(text));

    [Theory]
    [InlineData("root ::= \"a\" b", "rule 'b' is used but not defined")]
    [InlineData("root ::= root \"a\"", "left-recursive")]
    [InlineData("root ::= x\nx ::= y? x \"a\"\ny ::= \"b\"", "rule 'x' is left-recursive")]
    [InlineData("root ::= \"a", "unterminated string literal")]
    [InlineData("root ::= [a-", "unterminated character class")]
    [InlineData("root = \"a\"", "expected '::='")]
    [InlineData("start ::= \"a\"", "no 'root' rule")]
    [InlineData("root ::= \"a\"{3,1}", "max < min")]
    [InlineData("root ::= (\"a\"", "expected ')'")]
    public void Bad_grammars_are_refused_with_the_problem_named(string gbnf, string message)
    {
        var e = Assert.Throws<InvalidRequestException>(() => Grammar.Parse(gbnf));
        Assert.Contains(message, e.Message);
    }

    [Fact]
    public void Bounded_repetition_counts_exactly()
    {
        var g = Grammar.Parse("root ::= \"ab\"{2,3} [x]{1} \"c\"{2,}");
        Assert.True(g.Matches("ababxcc"));
        Assert.True(g.Matches("abababxccccc"));
        Assert.False(g.Matches("abxcc"));
        Assert.False(g.Matches("ababababxcc"));
        Assert.False(g.Matches("ababxc"));
    }

    /// <summary>
    /// Counted repetition (a count in the automaton's frame) against .NET's regex engine: symbols that take one or
    /// more bytes, that may be empty, or that contain a counted repeat themselves, with any bounds.
    /// </summary>
    [Fact]
    public void Counted_repetition_matches_what_the_regex_engine_matches()
    {
        (string Gbnf, string Regex)[] symbols = [("\"ab\"", "ab"), ("(\"b\"?)", "(?:b?)"), ("(\"a\" | \"bb\")", "(?:a|bb)"), ("(\"a\"{1,2} \"b\")", "(?:a{1,2}b)")];
        var gen = Gen.Select(Gen.Int[0, symbols.Length - 1], Gen.Int[0, 6], Gen.Int[-1, 6], Gen.String[Gen.Char["ab"], 0, 16]);
        gen.Sample((symbol, min, span, text) =>
        {
            var (gbnf, regex) = symbols[symbol];
            string bounds = span < 0 ? $"{{{min},}}" : $"{{{min},{min + span}}}";
            var grammar = Grammar.Parse($"root ::= {gbnf}{bounds} \"!\"");
            bool expected = Regex.IsMatch(text + "!", $"^(?:{regex}){bounds}!$");
            Assert.True(expected == grammar.Matches(text + "!"), $"{gbnf}{bounds} on '{text}!': regex says {expected}");
        }, iter: 2000);
    }

    string Generate(Grammar grammar, int seed, int maxTokens = 200)
    {
        var request = new GenerationRequest
        {
            Prompt = "Once upon a time",
            MaxTokens = maxTokens,
            Sampling = new SamplingOptions { Seed = seed, Temperature = 1.0f },
            Grammar = grammar,
        };
        var result = new Generator(_model.Model, _model.Tokenizer).Generate(request);
        Assert.True(result.FinishReason == FinishReason.EndOfSequence, $"{result.FinishReason}: {result.Text}");
        return result.Text;
    }

    [Fact]
    public void Sampled_json_is_json()
    {
        var grammar = Grammar.Parse(GbnfExamples.Json);
        for (int seed = 0; seed < 5; seed++)
        {
            string text = Generate(grammar, seed, 400);
            using var doc = JsonDocument.Parse(text);
            Assert.Equal(JsonValueKind.Object, doc.RootElement.ValueKind);
        }
    }

    [Theory]
    [InlineData("list", @"^(- [^\r\n]{1,40}\n)+$")]
    [InlineData("chess", @"^(\d{1,2}\. ([a-hNBKQRO][a-h1-8xO=NBRQ\-]*[+#]? ?){2}\n)+$")]
    [InlineData("japanese", @"^[\u3041-\u309F\u30A1-\u30FF\u3001-\u303E\u4E00-\u9FFF]+([ \t\n][\u3041-\u309F\u30A1-\u30FF\u3001-\u303E\u4E00-\u9FFF]+)*$")]
    public void Sampled_text_matches_an_independent_pattern(string name, string pattern)
    {
        var grammar = Grammar.Parse(GbnfExamples.All[name]);
        for (int seed = 0; seed < 3; seed++)
        {
            string text = Generate(grammar, seed, 300);
            Assert.Matches(new Regex(pattern), text);
        }
    }

    [Fact]
    public void Sampled_arithmetic_parses_as_equations()
    {
        var grammar = Grammar.Parse(GbnfExamples.Arithmetic);
        for (int seed = 0; seed < 3; seed++)
        {
            string text = Generate(grammar, seed, 300);
            foreach (var line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries))
            {
                var sides = line.Split('=');
                Assert.Equal(2, sides.Length);
                Assert.True(Expression.Parses(sides[0]) && Expression.Parses(sides[1]), line);
            }
        }
    }

    /// <summary>A recursive-descent reader of the arithmetic language, independent of the grammar engine.</summary>
    static class Expression
    {
        public static bool Parses(string s)
        {
            int i = 0;
            bool ok = Expr(s, ref i);
            Skip(s, ref i);
            return ok && i == s.Length;
        }

        static void Skip(string s, ref int i) { while (i < s.Length && (s[i] == ' ' || s[i] == '\t')) i++; }

        static bool Expr(string s, ref int i)
        {
            if (!Term(s, ref i)) return false;
            while (i < s.Length && "+-*/".Contains(s[i])) { i++; if (!Term(s, ref i)) return false; }
            return true;
        }

        static bool Term(string s, ref int i)
        {
            Skip(s, ref i);
            if (i < s.Length && s[i] == '(')
            {
                i++;
                if (!Expr(s, ref i)) return false;
                Skip(s, ref i);
                if (i >= s.Length || s[i] != ')') return false;
                i++;
            }
            else if (i < s.Length && char.IsAsciiLetterLower(s[i])) { while (i < s.Length && (char.IsAsciiLetterLower(s[i]) || char.IsAsciiDigit(s[i]) || s[i] == '_')) i++; }
            else if (i < s.Length && char.IsAsciiDigit(s[i])) { while (i < s.Length && char.IsAsciiDigit(s[i])) i++; }
            else return false;
            Skip(s, ref i);
            return true;
        }
    }
}
