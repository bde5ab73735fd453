namespace Augur.Tests.Grammars;

/// <summary>Our own equivalents of llama.cpp's <c>grammars/</c> examples, in its GBNF syntax.</summary>
static class GbnfExamples
{
    public const string Json = """
        # a JSON object; strings, members, items and whitespace are bounded so that a model that does not
        # know JSON (stories260K) still reaches the end: the grammar alone decides when it must close
        root   ::= object
        value  ::= object | array | string | number | ("true" | "false" | "null") ws

        object ::=
          "{" ws (
                    string ":" ws value
            ("," ws string ":" ws value){0,3}
          )? "}" ws

        array  ::=
          "[" ws (
                    value
            ("," ws value){0,3}
          )? "]" ws

        string ::=
          "\"" (
            [^"\\\x7F\x00-\x1F] |
            "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})
          ){0,24} "\"" ws

        number ::= ("-"? ([0-9] | [1-9] [0-9]{0,15})) ("." [0-9]{1,15})? ([eE] [-+]? [0-9]{1,3})? ws

        ws ::= | " " | "\n" [ \t]{0,20}
        """;

    public const string Arithmetic = """
        root  ::= (expr "=" ws term "\n"){1,3}
        expr  ::= term ([-+*/] term){0,3}
        term  ::= ident | num | "(" ws expr ")" ws
        ident ::= [a-z] [a-z0-9_]{0,8} ws
        num   ::= [0-9]{1,6} ws
        ws    ::= [ \t]{0,2}
        """;

    public const string List = """
        root ::= item{1,4}
        # one "- " line per item
        item ::= "- " [^\r\n\x0b\x0c\x85\u2028\u2029]{1,40} "\n"
        """;

    public const string Chess = """
        # a numbered list of moves in algebraic notation
        root   ::= "1. " move " " move "\n" ([1-9] [0-9]? ". " move " " move "\n"){0,4}
        move   ::= (pawn | nonpawn | castle) [+#]?
        pawn   ::= ([a-h] "x")? [a-h] [1-8] ("=" [NBRQ])?
        nonpawn ::= [NBKQR] [a-h]? [1-8]? "x"? [a-h] [1-8]
        castle ::= "O-O" "-O"?
        """;

    public const string Japanese = """
        # hiragana, katakana and kanji with punctuation: every character is three UTF-8 bytes
        root ::= jp-char{1,12} ([ \t\n] jp-char{1,12}){0,3}
        jp-char ::= hiragana | katakana | punctuation | cjk
        hiragana ::= [ぁ-ゟ]
        katakana ::= [ァ-ヿ]
        punctuation ::= [、-〾]
        cjk ::= [一-鿿]
        """;

    public static readonly IReadOnlyDictionary<string, string> All = new Dictionary<string, string>
    {
        ["json"] = Json, ["arithmetic"] = Arithmetic, ["list"] = List, ["chess"] = Chess, ["japanese"] = Japanese,
    };
}
