namespace Augur.ChatTemplates;

// The syntax tree. Every node keeps the position it came from so runtime errors can point at it.

internal abstract record Stmt(SourcePos Pos);

internal sealed record TextStmt(SourcePos Pos, string Text) : Stmt(Pos);

/// <summary><c>{{ value }}</c></summary>
internal sealed record OutputStmt(SourcePos Pos, Expr Value) : Stmt(Pos);

internal sealed record IfBranch(Expr Test, IReadOnlyList<Stmt> Body);

internal sealed record IfStmt(SourcePos Pos, IReadOnlyList<IfBranch> Branches, IReadOnlyList<Stmt> Else) : Stmt(Pos);

/// <summary><c>{% for a, b in items if filter %}body{% else %}empty{% endfor %}</c></summary>
internal sealed record ForStmt(SourcePos Pos, IReadOnlyList<string> Targets, Expr Items, Expr? Filter,
    IReadOnlyList<Stmt> Body, IReadOnlyList<Stmt> Else) : Stmt(Pos);

/// <summary><c>{% set a = value %}</c> or <c>{% set a, b = pair %}</c></summary>
internal sealed record SetStmt(SourcePos Pos, IReadOnlyList<string> Targets, Expr Value) : Stmt(Pos);

/// <summary><c>{% set ns.attribute = value %}</c>; only namespace objects accept it.</summary>
internal sealed record SetAttributeStmt(SourcePos Pos, string Namespace, string Attribute, Expr Value) : Stmt(Pos);

/// <summary><c>{% set name %}body{% endset %}</c>: the rendered body becomes a string variable.</summary>
internal sealed record SetBlockStmt(SourcePos Pos, string Target, IReadOnlyList<Stmt> Body) : Stmt(Pos);

internal sealed record MacroParameter(string Name, Expr? Default);

internal sealed record MacroStmt(SourcePos Pos, string Name, IReadOnlyList<MacroParameter> Parameters,
    IReadOnlyList<Stmt> Body) : Stmt(Pos);

/// <summary>Hugging Face's <c>{% generation %}</c> block: it only marks assistant text for training masks, so
/// rendering runs the body as it is, in its own scope like the call block it compiles to.</summary>
internal sealed record GenerationStmt(SourcePos Pos, IReadOnlyList<Stmt> Body) : Stmt(Pos);

/// <summary><c>{% break %}</c> or <c>{% continue %}</c> (jinja's loopcontrols, which Hugging Face enables).</summary>
internal sealed record LoopControlStmt(SourcePos Pos, bool IsBreak) : Stmt(Pos);

internal abstract record Expr(SourcePos Pos);

internal sealed record LiteralExpr(SourcePos Pos, object? Value) : Expr(Pos);

internal sealed record NameExpr(SourcePos Pos, string Name) : Expr(Pos);

/// <summary>A list literal, or a tuple such as <c>(a, b)</c>.</summary>
internal sealed record ListExpr(SourcePos Pos, IReadOnlyList<Expr> Items, bool IsTuple = false) : Expr(Pos);

internal sealed record DictExpr(SourcePos Pos, IReadOnlyList<(Expr Key, Expr Value)> Items) : Expr(Pos);

/// <summary><c>target.name</c></summary>
internal sealed record AttributeExpr(SourcePos Pos, Expr Target, string Name) : Expr(Pos);

/// <summary><c>target[index]</c></summary>
internal sealed record IndexExpr(SourcePos Pos, Expr Target, Expr Index) : Expr(Pos);

/// <summary><c>target[start:stop:step]</c>, any part optional.</summary>
internal sealed record SliceExpr(SourcePos Pos, Expr Target, Expr? Start, Expr? Stop, Expr? Step) : Expr(Pos);

internal sealed record Arguments(IReadOnlyList<Expr> Positional, IReadOnlyList<(string Name, Expr Value)> Keywords)
{
    public static readonly Arguments None = new([], []);
}

internal sealed record CallExpr(SourcePos Pos, Expr Callee, Arguments Arguments) : Expr(Pos);

/// <summary><c>value | name(arguments)</c></summary>
internal sealed record FilterExpr(SourcePos Pos, Expr Value, string Name, Arguments Arguments) : Expr(Pos);

/// <summary><c>value is [not] name(arguments)</c></summary>
internal sealed record TestExpr(SourcePos Pos, Expr Value, string Name, Arguments Arguments, bool Negated) : Expr(Pos);

/// <summary><c>not x</c>, <c>-x</c>, <c>+x</c></summary>
internal sealed record UnaryExpr(SourcePos Pos, string Operator, Expr Operand) : Expr(Pos);

/// <summary>Arithmetic, <c>~</c>, and the short-circuit <c>and</c> / <c>or</c>.</summary>
internal sealed record BinaryExpr(SourcePos Pos, string Operator, Expr Left, Expr Right) : Expr(Pos);

/// <summary>A comparison chain as in Python: <c>a &lt; b &lt;= c</c> means <c>a &lt; b and b &lt;= c</c>.</summary>
internal sealed record CompareExpr(SourcePos Pos, Expr First, IReadOnlyList<(string Operator, Expr Operand)> Rest) : Expr(Pos);

/// <summary><c>then if test else otherwise</c>; without <c>else</c> a false test gives undefined.</summary>
internal sealed record ConditionalExpr(SourcePos Pos, Expr Test, Expr Then, Expr? Otherwise) : Expr(Pos);
