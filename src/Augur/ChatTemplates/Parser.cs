using System.Globalization;
using System.Runtime.CompilerServices;

namespace Augur.ChatTemplates;

/// <summary>
/// Recursive-descent parser following jinja2's grammar and operator precedence, loosest first:
/// <c>x if c else y</c>, <c>or</c>, <c>and</c>, <c>not</c>, comparisons and <c>in</c>, <c>+ -</c>, <c>~</c>,
/// <c>* / // %</c>, <c>**</c>, unary <c>- +</c>, then postfix <c>.a [i] (args)</c> and filters/tests.
/// Filters bind tighter than <c>+</c>, so <c>'a' + x | trim</c> is <c>'a' + (x | trim)</c>.
/// </summary>
internal sealed class Parser
{
    readonly List<Token> tokens;
    readonly SourceMap map;
    int index;
    int loopDepth; // break/continue are only valid inside a for body

    Parser(List<Token> tokens, SourceMap map)
    {
        this.tokens = tokens;
        this.map = map;
    }

    public static IReadOnlyList<Stmt> Parse(List<Token> tokens, SourceMap map) => new Parser(tokens, map).ParseBody([], out _);

    Token Current => tokens[index];

    Token Peek => tokens[Math.Min(index + 1, tokens.Count - 1)];

    SourcePos PosOf(Token token) => map.Locate(token.Offset);

    ChatTemplateException Error(Token token, string reason) => map.Error(token.Offset, reason);

    static string Describe(Token token) => token.Kind switch
    {
        TokenKind.End => "end of template",
        TokenKind.BlockEnd => "'%}'",
        TokenKind.VariableEnd => "'}}'",
        TokenKind.Text => "template text",
        TokenKind.String => "a string",
        _ => $"'{token.Value}'",
    };

    bool IsName(string name) => Current.Kind == TokenKind.Name && Current.Value == name;

    bool IsOperator(string op) => Current.Kind == TokenKind.Operator && Current.Value == op;

    bool SkipName(string name)
    {
        if (!IsName(name)) return false;
        index++;
        return true;
    }

    bool SkipOperator(string op)
    {
        if (!IsOperator(op)) return false;
        index++;
        return true;
    }

    Token ExpectOperator(string op)
    {
        if (!IsOperator(op)) throw Error(Current, $"expected '{op}', got {Describe(Current)}");
        return tokens[index++];
    }

    string ExpectName(string what)
    {
        if (Current.Kind != TokenKind.Name) throw Error(Current, $"expected {what}, got {Describe(Current)}");
        return tokens[index++].Value;
    }

    void ExpectBlockEnd()
    {
        if (Current.Kind != TokenKind.BlockEnd) throw Error(Current, $"expected end of tag '%}}', got {Describe(Current)}");
        index++;
    }

    // Templates come from model files, so deep nesting must fail cleanly instead of overflowing the stack.
    void EnsureStack()
    {
        if (!RuntimeHelpers.TryEnsureSufficientExecutionStack()) throw Error(Current, "template is nested too deeply");
    }

    /// <summary>Statements up to a block tag named in <paramref name="endTags"/>; consumes that tag's name.</summary>
    List<Stmt> ParseBody(string[] endTags, out string endTag)
    {
        EnsureStack();
        var body = new List<Stmt>();
        while (true)
        {
            Token token = Current;
            switch (token.Kind)
            {
                case TokenKind.End:
                    if (endTags.Length > 0)
                        throw Error(token, $"unexpected end of template, expected {string.Join(" or ", endTags.Select(t => $"'{t}'"))}");
                    endTag = "";
                    return body;
                case TokenKind.Text:
                    body.Add(new TextStmt(PosOf(token), token.Value));
                    index++;
                    break;
                case TokenKind.VariableBegin:
                    index++;
                    Expr value = ParseTuple();
                    if (Current.Kind != TokenKind.VariableEnd) throw Error(Current, $"expected '}}}}', got {Describe(Current)}");
                    index++;
                    body.Add(new OutputStmt(PosOf(token), value));
                    break;
                default: // BlockBegin: the lexer emits nothing else at this level
                    index++;
                    Token name = Current;
                    if (name.Kind != TokenKind.Name) throw Error(name, $"expected a tag name, got {Describe(name)}");
                    if (endTags.Contains(name.Value))
                    {
                        index++;
                        endTag = name.Value;
                        return body;
                    }
                    body.Add(ParseStatement(endTags));
                    break;
            }
        }
    }

    Stmt ParseStatement(string[] openEndTags)
    {
        Token tag = tokens[index++];
        var pos = PosOf(tag);
        switch (tag.Value)
        {
            case "if": return ParseIf(pos);
            case "for": return ParseFor(pos);
            case "set": return ParseSet(pos);
            case "macro": return ParseMacro(pos);
            case "generation":
                ExpectBlockEnd();
                return new GenerationStmt(pos, ParseIsolatedBody("endgeneration"));
            case "break" or "continue":
                if (loopDepth == 0) throw Error(tag, $"'{tag.Value}' outside of a for loop");
                ExpectBlockEnd();
                return new LoopControlStmt(pos, tag.Value == "break");
            default:
                string expected = openEndTags.Length == 0 ? "" : $" (expected {string.Join(" or ", openEndTags.Select(t => $"'{t}'"))})";
                throw Error(tag, $"unknown or unexpected tag '{tag.Value}'{expected}");
        }
    }

    IfStmt ParseIf(SourcePos pos)
    {
        var branches = new List<IfBranch>();
        Expr test = ParseTuple(withCondition: false);
        ExpectBlockEnd();
        while (true)
        {
            var body = ParseBody(["elif", "else", "endif"], out string end);
            branches.Add(new IfBranch(test, body));
            if (end == "elif")
            {
                test = ParseTuple(withCondition: false);
                ExpectBlockEnd();
                continue;
            }
            List<Stmt> otherwise = [];
            if (end == "else")
            {
                ExpectBlockEnd();
                otherwise = ParseBody(["endif"], out _);
            }
            ExpectBlockEnd();
            return new IfStmt(pos, branches, otherwise);
        }
    }

    ForStmt ParseFor(SourcePos pos)
    {
        var targets = ParseTargets();
        if (!SkipName("in")) throw Error(Current, $"expected 'in', got {Describe(Current)}");
        // Without the conditional expression, so that a trailing 'if' is the loop filter.
        Expr items = ParseTuple(withCondition: false, extraEnd: "recursive");
        Expr? filter = SkipName("if") ? ParseExpression() : null;
        if (IsName("recursive")) throw Error(Current, "recursive for loops are not supported");
        ExpectBlockEnd();
        loopDepth++;
        var body = ParseBody(["endfor", "else"], out string end);
        loopDepth--;
        List<Stmt> otherwise = [];
        if (end == "else")
        {
            ExpectBlockEnd();
            otherwise = ParseBody(["endfor"], out _);
        }
        ExpectBlockEnd();
        return new ForStmt(pos, targets, items, filter, body, otherwise);
    }

    /// <summary>Assignment targets: <c>a</c>, <c>a, b</c> or <c>(a, b)</c>.</summary>
    List<string> ParseTargets()
    {
        bool parenthesized = SkipOperator("(");
        var names = new List<string> { ExpectName("a variable name") };
        while (SkipOperator(","))
        {
            if (Current.Kind != TokenKind.Name) break; // trailing comma, as Python allows
            names.Add(ExpectName("a variable name"));
        }
        if (parenthesized) ExpectOperator(")");
        return names;
    }

    Stmt ParseSet(SourcePos pos)
    {
        if (Current.Kind == TokenKind.Name && Peek.Kind == TokenKind.Operator && Peek.Value == ".")
        {
            string ns = ExpectName("a namespace name");
            index++;
            string attribute = ExpectName("an attribute name");
            ExpectOperator("=");
            Expr value = ParseTuple();
            ExpectBlockEnd();
            return new SetAttributeStmt(pos, ns, attribute, value);
        }
        var targets = ParseTargets();
        if (SkipOperator("="))
        {
            Expr value = ParseTuple();
            ExpectBlockEnd();
            return new SetStmt(pos, targets, value);
        }
        if (targets.Count != 1) throw Error(Current, $"expected '=', got {Describe(Current)}");
        if (IsOperator("|")) throw Error(Current, "filters on a block set are not supported");
        ExpectBlockEnd();
        return new SetBlockStmt(pos, targets[0], ParseIsolatedBody("endset"));
    }

    MacroStmt ParseMacro(SourcePos pos)
    {
        string name = ExpectName("a macro name");
        ExpectOperator("(");
        var parameters = new List<MacroParameter>();
        while (!IsOperator(")"))
        {
            if (parameters.Count > 0) ExpectOperator(",");
            Token at = Current;
            string parameter = ExpectName("a parameter name");
            Expr? fallback = SkipOperator("=") ? ParseExpression() : null;
            if (fallback is null && parameters.Count > 0 && parameters[^1].Default is not null)
                throw Error(at, "non-default argument follows default argument");
            parameters.Add(new MacroParameter(parameter, fallback));
        }
        index++;
        ExpectBlockEnd();
        return new MacroStmt(pos, name, parameters, ParseIsolatedBody("endmacro"));
    }

    /// <summary>The body of a macro or capture block, which a break/continue cannot leave.</summary>
    List<Stmt> ParseIsolatedBody(string endTag)
    {
        int outerLoops = loopDepth;
        loopDepth = 0;
        var body = ParseBody([endTag], out _);
        loopDepth = outerLoops;
        ExpectBlockEnd();
        return body;
    }

    // ---- expressions ----

    /// <summary>An expression, or a tuple when commas separate several.</summary>
    Expr ParseTuple(bool withCondition = true, string? extraEnd = null, bool parenthesized = false)
    {
        var pos = PosOf(Current);
        var items = new List<Expr>();
        bool isTuple = false;
        while (true)
        {
            if (items.Count > 0) ExpectOperator(",");
            if (Current.Kind is TokenKind.VariableEnd or TokenKind.BlockEnd || IsOperator(")")
                || (extraEnd is not null && IsName(extraEnd)))
                break;
            items.Add(withCondition ? ParseExpression() : ParseOr());
            if (IsOperator(",")) isTuple = true;
            else break;
        }
        if (!isTuple)
        {
            if (items.Count == 1) return items[0];
            if (!parenthesized) throw Error(Current, $"expected an expression, got {Describe(Current)}");
        }
        return new ListExpr(pos, items, IsTuple: true);
    }

    Expr ParseExpression()
    {
        Expr expr = ParseOr();
        while (IsName("if"))
        {
            var pos = PosOf(tokens[index++]);
            Expr test = ParseOr();
            Expr? otherwise = SkipName("else") ? ParseExpression() : null;
            expr = new ConditionalExpr(pos, test, expr, otherwise);
        }
        return expr;
    }

    Expr ParseOr()
    {
        Expr left = ParseAnd();
        while (IsName("or"))
        {
            var pos = PosOf(tokens[index++]);
            left = new BinaryExpr(pos, "or", left, ParseAnd());
        }
        return left;
    }

    Expr ParseAnd()
    {
        Expr left = ParseNot();
        while (IsName("and"))
        {
            var pos = PosOf(tokens[index++]);
            left = new BinaryExpr(pos, "and", left, ParseNot());
        }
        return left;
    }

    Expr ParseNot()
    {
        if (!IsName("not")) return ParseCompare();
        EnsureStack();
        var pos = PosOf(tokens[index++]);
        return new UnaryExpr(pos, "not", ParseNot());
    }

    static readonly string[] CompareOperators = ["==", "!=", "<", ">", "<=", ">="];

    Expr ParseCompare()
    {
        var pos = PosOf(Current);
        Expr first = ParseMath1();
        var rest = new List<(string, Expr)>();
        while (true)
        {
            if (Current.Kind == TokenKind.Operator && CompareOperators.Contains(Current.Value))
            {
                if (rest.Count == 0) pos = PosOf(Current);
                string op = tokens[index++].Value;
                rest.Add((op, ParseMath1()));
            }
            else if (IsName("in"))
            {
                if (rest.Count == 0) pos = PosOf(Current);
                index++;
                rest.Add(("in", ParseMath1()));
            }
            else if (IsName("not") && Peek.Kind == TokenKind.Name && Peek.Value == "in")
            {
                if (rest.Count == 0) pos = PosOf(Current);
                index += 2;
                rest.Add(("not in", ParseMath1()));
            }
            else break;
        }
        return rest.Count == 0 ? first : new CompareExpr(pos, first, rest);
    }

    Expr ParseBinary(Func<Expr> operand, params string[] operators)
    {
        Expr left = operand();
        while (Current.Kind == TokenKind.Operator && operators.Contains(Current.Value))
        {
            Token op = tokens[index++];
            left = new BinaryExpr(PosOf(op), op.Value, left, operand());
        }
        return left;
    }

    Expr ParseMath1() => ParseBinary(ParseConcat, "+", "-");

    Expr ParseConcat() => ParseBinary(ParseMath2, "~");

    Expr ParseMath2() => ParseBinary(ParsePower, "*", "/", "//", "%");

    Expr ParsePower() => ParseBinary(() => ParseUnary(withFilters: true), "**");

    Expr ParseUnary(bool withFilters)
    {
        EnsureStack();
        Expr expr;
        if (IsOperator("-") || IsOperator("+"))
        {
            Token op = tokens[index++];
            expr = new UnaryExpr(PosOf(op), op.Value, ParseUnary(withFilters: false));
        }
        else expr = ParsePrimary();
        expr = ParsePostfix(expr);
        return withFilters ? ParseFiltersAndTests(expr) : expr;
    }

    Expr ParsePrimary()
    {
        Token token = Current;
        var pos = PosOf(token);
        switch (token.Kind)
        {
            case TokenKind.Name:
                index++;
                return token.Value switch
                {
                    "true" or "True" => new LiteralExpr(pos, true),
                    "false" or "False" => new LiteralExpr(pos, false),
                    "none" or "None" => new LiteralExpr(pos, null),
                    _ => new NameExpr(pos, token.Value),
                };
            case TokenKind.String:
                // Adjacent string literals are joined, as in Python.
                string text = "";
                while (Current.Kind == TokenKind.String) text += tokens[index++].Value;
                return new LiteralExpr(pos, text);
            case TokenKind.Integer:
                index++;
                if (!long.TryParse(token.Value, NumberStyles.None, CultureInfo.InvariantCulture, out long integer))
                    throw Error(token, $"integer literal {token.Value} is too large");
                return new LiteralExpr(pos, integer);
            case TokenKind.Float:
                index++;
                return new LiteralExpr(pos, double.Parse(token.Value, NumberStyles.Float, CultureInfo.InvariantCulture));
            case TokenKind.Operator when token.Value == "(":
                index++;
                Expr inner = ParseTuple(parenthesized: true);
                ExpectOperator(")");
                return inner;
            case TokenKind.Operator when token.Value == "[":
                index++;
                var items = new List<Expr>();
                while (!IsOperator("]"))
                {
                    if (items.Count > 0) ExpectOperator(",");
                    if (IsOperator("]")) break;
                    items.Add(ParseExpression());
                }
                index++;
                return new ListExpr(pos, items);
            case TokenKind.Operator when token.Value == "{":
                index++;
                var pairs = new List<(Expr, Expr)>();
                while (!IsOperator("}"))
                {
                    if (pairs.Count > 0) ExpectOperator(",");
                    if (IsOperator("}")) break;
                    Expr key = ParseExpression();
                    ExpectOperator(":");
                    pairs.Add((key, ParseExpression()));
                }
                index++;
                return new DictExpr(pos, pairs);
            default:
                throw Error(token, $"unexpected {Describe(token)}");
        }
    }

    Expr ParsePostfix(Expr expr)
    {
        while (true)
        {
            if (IsOperator(".")) expr = ParseDot(expr);
            else if (IsOperator("[")) expr = ParseSubscript(expr);
            else if (IsOperator("(")) expr = new CallExpr(expr.Pos, expr, ParseArguments());
            else return expr;
        }
    }

    Expr ParseFiltersAndTests(Expr expr)
    {
        while (true)
        {
            if (SkipOperator("|"))
            {
                var pos = PosOf(Current);
                string name = ParseDottedName("a filter name");
                expr = new FilterExpr(pos, expr, name, IsOperator("(") ? ParseArguments() : Arguments.None);
            }
            else if (SkipName("is")) expr = ParseTest(expr);
            else if (IsOperator("(")) expr = new CallExpr(expr.Pos, expr, ParseArguments());
            else return expr;
        }
    }

    string ParseDottedName(string what)
    {
        string name = ExpectName(what);
        while (SkipOperator(".")) name += "." + ExpectName(what);
        return name;
    }

    Expr ParseTest(Expr value)
    {
        bool negated = SkipName("not");
        var pos = PosOf(Current);
        string name = ParseDottedName("a test name");
        Arguments arguments = Arguments.None;
        if (IsOperator("(")) arguments = ParseArguments();
        else if ((Current.Kind is TokenKind.Name or TokenKind.String or TokenKind.Integer or TokenKind.Float
                  || IsOperator("[") || IsOperator("{"))
                 && !IsName("else") && !IsName("or") && !IsName("and"))
        {
            // One argument without parentheses: 'x is divisibleby 3', 'x is sameas none'.
            if (IsName("is")) throw Error(Current, "tests cannot be chained with 'is'");
            arguments = new Arguments([ParsePostfix(ParsePrimary())], []);
        }
        return new TestExpr(pos, value, name, arguments, negated);
    }

    Expr ParseDot(Expr target)
    {
        index++;
        Token token = Current;
        var pos = PosOf(token);
        if (token.Kind == TokenKind.Name)
        {
            index++;
            return new AttributeExpr(pos, target, token.Value);
        }
        if (token.Kind == TokenKind.Integer) // 'items.0' is items[0]
        {
            var number = ParsePrimary();
            return new IndexExpr(pos, target, number);
        }
        throw Error(token, $"expected an attribute name after '.', got {Describe(token)}");
    }

    Expr ParseSubscript(Expr target)
    {
        var pos = PosOf(tokens[index++]);
        Expr? start = null;
        if (!IsOperator(":"))
        {
            start = ParseExpression();
            if (!IsOperator(":"))
            {
                ExpectOperator("]");
                return new IndexExpr(pos, target, start);
            }
        }
        index++; // ':'
        Expr? stop = IsOperator(":") || IsOperator("]") ? null : ParseExpression();
        Expr? step = null;
        if (SkipOperator(":") && !IsOperator("]")) step = ParseExpression();
        ExpectOperator("]");
        return new SliceExpr(pos, target, start, stop, step);
    }

    Arguments ParseArguments()
    {
        ExpectOperator("(");
        var positional = new List<Expr>();
        var keywords = new List<(string, Expr)>();
        while (!IsOperator(")"))
        {
            if (positional.Count + keywords.Count > 0)
            {
                ExpectOperator(",");
                if (IsOperator(")")) break;
            }
            if (IsOperator("*") || IsOperator("**")) throw Error(Current, "*args and **kwargs in calls are not supported");
            if (Current.Kind == TokenKind.Name && Peek.Kind == TokenKind.Operator && Peek.Value == "=")
            {
                string key = tokens[index].Value;
                index += 2;
                keywords.Add((key, ParseExpression()));
            }
            else
            {
                if (keywords.Count > 0) throw Error(Current, "positional argument follows keyword argument");
                positional.Add(ParseExpression());
            }
        }
        index++;
        return new Arguments(positional, keywords);
    }
}
