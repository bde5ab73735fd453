using System.Runtime.CompilerServices;
using System.Text;
using Dict = System.Collections.Generic.OrderedDictionary<string, object?>;

namespace Augur.ChatTemplates;

/// <summary>Variables visible at one point. Jinja scoping: a for-loop iteration, a macro call and a capture
/// block each get a child scope, so their <c>set</c> does not leak out; <c>if</c> does not make one.</summary>
internal sealed class Scope(Scope? parent)
{
    readonly Scope? parent = parent;
    readonly Dictionary<string, object?> variables = [];

    public bool TryGet(string name, out object? value)
    {
        for (Scope? scope = this; scope is not null; scope = scope.parent)
            if (scope.variables.TryGetValue(name, out value)) return true;
        value = null;
        return false;
    }

    public void Set(string name, object? value) => variables[name] = value;
}

/// <summary>Walks the syntax tree and writes the output. One instance serves one render, under one budget.</summary>
internal sealed class Interpreter
{
    enum Flow { Normal, Break, Continue }

    // Steps between two looks at the cancellation token: cheap, and a render stops within microseconds.
    const int CancelCheckInterval = 1024;

    readonly Scope globals = new(null);
    readonly ChatTemplateLimits limits;
    readonly CancellationToken cancel;
    long steps, built;

    Interpreter(TimeProvider clock, ChatTemplateLimits limits, CancellationToken cancel)
    {
        this.limits = limits;
        this.cancel = cancel;
        foreach (var (name, value) in Builtins.Globals(clock)) globals.Set(name, value);
    }

    /// <summary>Steps and built size of the last render on this thread (what the limits are measured against).</summary>
    [ThreadStatic] internal static (long Steps, long Built, long Output) LastUsage;

    public static string Render(IReadOnlyList<Stmt> body, IReadOnlyDictionary<string, object?> variables, TimeProvider clock,
        ChatTemplateLimits limits, CancellationToken cancel)
    {
        cancel.ThrowIfCancellationRequested();
        var interpreter = new Interpreter(clock, limits, cancel);
        // The caller's variables shadow the globals, and a top-level set may shadow both.
        var root = new Scope(interpreter.globals);
        foreach (var (name, value) in variables) root.Set(name, ValueConverter.FromClr(value, name));
        var output = new StringBuilder();
        try
        {
            interpreter.ExecBody(body, root, output);
        }
        finally
        {
            LastUsage = (interpreter.steps, interpreter.built, output.Length);
        }
        return output.ToString();
    }

    void Step(long count = 1)
    {
        long before = steps;
        steps += count;
        if (steps > limits.MaxSteps)
            throw new TemplateError($"the template ran past its step budget ({limits.MaxSteps:N0} steps)");
        if (before / CancelCheckInterval != steps / CancelCheckInterval) cancel.ThrowIfCancellationRequested();
    }

    /// <summary>Counts a value the template just built against the memory budget; returns it.</summary>
    object? Built(object? value)
    {
        built += SizeOf(value);
        if (built > limits.MaxBuiltSize)
            throw new TemplateError($"the template ran past its memory budget ({limits.MaxBuiltSize:N0} characters and items built)");
        return value;
    }

    static long SizeOf(object? value) => value switch
    {
        string s => s.Length,
        List<object?> list => list.Count,
        Dict dict => dict.Count,
        _ => 1,
    };

    void Write(StringBuilder output, string text)
    {
        if (output.Length + (long)text.Length > limits.MaxOutputChars)
            throw new TemplateError($"the template ran past its output budget ({limits.MaxOutputChars:N0} characters)");
        output.Append(text);
    }

    static ChatTemplateException At(SourcePos pos, TemplateError error) =>
        new(error.Message, pos.Line, pos.Column, error.RaisedByTemplate);

    Flow ExecBody(IReadOnlyList<Stmt> body, Scope scope, StringBuilder output)
    {
        foreach (Stmt stmt in body)
        {
            Flow flow = Exec(stmt, scope, output);
            if (flow != Flow.Normal) return flow;
        }
        return Flow.Normal;
    }

    Flow Exec(Stmt stmt, Scope scope, StringBuilder output)
    {
        try
        {
            Step();
            switch (stmt)
            {
                case TextStmt text:
                    Write(output, text.Text);
                    return Flow.Normal;
                case OutputStmt print:
                    Write(output, PyOps.Str(Eval(print.Value, scope)));
                    return Flow.Normal;
                case IfStmt branches:
                    foreach (var branch in branches.Branches)
                        if (PyOps.Truthy(Eval(branch.Test, scope))) return ExecBody(branch.Body, scope, output);
                    return ExecBody(branches.Else, scope, output);
                case ForStmt loop:
                    return ExecFor(loop, scope, output);
                case SetStmt set:
                    Assign(set.Targets, Eval(set.Value, scope), scope);
                    return Flow.Normal;
                case SetAttributeStmt set:
                    object? value = Eval(set.Value, scope);
                    if (!scope.TryGet(set.Namespace, out object? target) || target is not Namespace ns)
                        throw new TemplateError($"cannot assign attribute on non-namespace object '{set.Namespace}'");
                    ns.Attributes[set.Attribute] = value;
                    return Flow.Normal;
                case SetBlockStmt capture:
                    var captured = new StringBuilder();
                    ExecBody(capture.Body, new Scope(scope), captured);
                    scope.Set(capture.Target, Built(captured.ToString()));
                    return Flow.Normal;
                case MacroStmt macro:
                    scope.Set(macro.Name, MakeMacro(macro, scope));
                    return Flow.Normal;
                case GenerationStmt generation:
                    ExecBody(generation.Body, new Scope(scope), output);
                    return Flow.Normal;
                case LoopControlStmt control:
                    return control.IsBreak ? Flow.Break : Flow.Continue;
                default:
                    throw new InvalidOperationException($"unhandled statement {stmt.GetType().Name}");
            }
        }
        catch (TemplateError error)
        {
            throw At(stmt.Pos, error);
        }
    }

    Flow ExecFor(ForStmt loop, Scope scope, StringBuilder output)
    {
        List<object?> items;
        try
        {
            items = PyOps.Iterate(Eval(loop.Items, scope));
        }
        catch (TemplateError error)
        {
            throw At(loop.Items.Pos, error);
        }
        if (loop.Filter is not null)
        {
            // The filter runs before the loop, so loop.length, loop.last etc. count only the kept items.
            var kept = new List<object?>();
            foreach (object? item in items)
            {
                Step();
                var itemScope = new Scope(scope);
                Assign(loop.Targets, item, itemScope);
                if (PyOps.Truthy(Eval(loop.Filter, itemScope))) kept.Add(item);
            }
            items = kept;
        }
        // The else branch runs when nothing was iterated; a break there belongs to an enclosing loop.
        if (items.Count == 0) return ExecBody(loop.Else, new Scope(scope), output);
        for (int i = 0; i < items.Count; i++)
        {
            Step(); // an empty body still costs its iterations
            var iteration = new Scope(scope);
            Assign(loop.Targets, items[i], iteration);
            iteration.Set("loop", new LoopContext(items, i));
            if (ExecBody(loop.Body, iteration, output) == Flow.Break) break;
        }
        return Flow.Normal;
    }

    static void Assign(IReadOnlyList<string> targets, object? value, Scope scope)
    {
        if (targets.Count == 1)
        {
            scope.Set(targets[0], value);
            return;
        }
        var parts = value is string or List<object?> or Dict or Undefined
            ? PyOps.Iterate(value)
            : throw new TemplateError($"cannot unpack non-iterable {PyOps.TypeName(value)} object");
        if (parts.Count > targets.Count) throw new TemplateError($"too many values to unpack (expected {targets.Count})");
        if (parts.Count < targets.Count) throw new TemplateError($"not enough values to unpack (expected {targets.Count}, got {parts.Count})");
        for (int i = 0; i < targets.Count; i++) scope.Set(targets[i], parts[i]);
    }

    Callable MakeMacro(MacroStmt macro, Scope definition) => new(macro.Name, args =>
    {
        var parameters = macro.Parameters;
        if (args.Positional.Count > parameters.Count)
            throw new TemplateError($"macro '{macro.Name}' takes not more than {parameters.Count} argument(s)");
        // Macros are closures: they see the scope they were defined in, which also makes recursion work.
        var scope = new Scope(definition);
        var given = new bool[parameters.Count];
        for (int i = 0; i < args.Positional.Count; i++)
        {
            scope.Set(parameters[i].Name, args.Positional[i]);
            given[i] = true;
        }
        foreach (var (key, value) in args.Keywords)
        {
            int at = -1;
            for (int i = 0; i < parameters.Count && at < 0; i++)
                if (parameters[i].Name == key) at = i;
            if (at < 0) throw new TemplateError($"macro '{macro.Name}' takes no keyword argument '{key}'");
            if (given[at]) throw new TemplateError($"macro '{macro.Name}' got multiple values for argument '{key}'");
            scope.Set(key, value);
            given[at] = true;
        }
        for (int i = 0; i < parameters.Count; i++)
        {
            if (given[i]) continue;
            scope.Set(parameters[i].Name, parameters[i].Default is { } fallback
                ? Eval(fallback, scope)
                : new Undefined($"parameter '{parameters[i].Name}' was not provided"));
        }
        var output = new StringBuilder();
        ExecBody(macro.Body, scope, output);
        return Built(output.ToString());
    });

    object? Eval(Expr expr, Scope scope)
    {
        // Recursive macros in a template from a model file must fail cleanly, not overflow the stack.
        if (!RuntimeHelpers.TryEnsureSufficientExecutionStack())
            throw At(expr.Pos, new TemplateError("recursion is too deep"));
        try
        {
            Step();
            // Lookups return values that already exist; everything else builds one, which the memory budget counts.
            return expr switch
            {
                LiteralExpr literal => literal.Value,
                NameExpr name => scope.TryGet(name.Name, out object? value) ? value : new Undefined($"'{name.Name}' is undefined"),
                ListExpr { IsTuple: true } tuple => Built(new PyTuple(tuple.Items.Select(item => Eval(item, scope)))),
                ListExpr list => Built(list.Items.Select(item => Eval(item, scope)).ToList()),
                DictExpr dict => Built(EvalDict(dict, scope)),
                AttributeExpr attribute => PyOps.GetAttribute(Eval(attribute.Target, scope), attribute.Name),
                IndexExpr index => PyOps.GetItem(Eval(index.Target, scope), Eval(index.Index, scope)),
                SliceExpr slice => Built(PyOps.Slice(Eval(slice.Target, scope), EvalOptional(slice.Start, scope),
                    EvalOptional(slice.Stop, scope), EvalOptional(slice.Step, scope))),
                CallExpr call => Built(Call(Eval(call.Callee, scope), EvalArguments(call.Arguments, scope))),
                FilterExpr filter => Built(Builtins.ApplyFilter(filter.Name, Visited(Eval(filter.Value, scope)), EvalArguments(filter.Arguments, scope))),
                TestExpr test => Builtins.ApplyTest(test.Name, Visited(Eval(test.Value, scope)), EvalArguments(test.Arguments, scope)) != test.Negated,
                UnaryExpr unary => unary.Operator switch
                {
                    "not" => !PyOps.Truthy(Eval(unary.Operand, scope)),
                    "-" => PyOps.Negate(Eval(unary.Operand, scope)),
                    _ => PyOps.Plus(Eval(unary.Operand, scope)),
                },
                BinaryExpr binary => EvalBinary(binary, scope),
                CompareExpr compare => EvalCompare(compare, scope),
                ConditionalExpr conditional => PyOps.Truthy(Eval(conditional.Test, scope))
                    ? Eval(conditional.Then, scope)
                    : conditional.Otherwise is { } otherwise
                        ? Eval(otherwise, scope)
                        : new Undefined("the inline if-expression evaluated to false and no else section was defined."),
                _ => throw new InvalidOperationException($"unhandled expression {expr.GetType().Name}"),
            };
        }
        catch (TemplateError error)
        {
            throw At(expr.Pos, error);
        }
    }

    object? EvalOptional(Expr? expr, Scope scope) => expr is null ? null : Eval(expr, scope);

    /// <summary>A filter, test or <c>in</c> visits its operand's items: one step per item (per 64 characters of a
    /// string), so a loop over a huge shared list costs what it does.</summary>
    object? Visited(object? value)
    {
        long size = SizeOf(value);
        if (size > 1) Step(value is string ? size / 64 : size);
        return value;
    }

    Dict EvalDict(DictExpr dict, Scope scope)
    {
        var result = new Dict();
        foreach (var (key, value) in dict.Items)
        {
            // JSON-shaped values only: dict keys are strings, as in everything tojson can write.
            if (Eval(key, scope) is not string name) throw new TemplateError("dict literal keys must be strings");
            result[name] = Eval(value, scope);
        }
        return result;
    }

    CallArgs EvalArguments(Arguments arguments, Scope scope)
    {
        if (arguments.Positional.Count == 0 && arguments.Keywords.Count == 0) return CallArgs.Empty;
        return new CallArgs(
            arguments.Positional.Select(a => Eval(a, scope)).ToList(),
            arguments.Keywords.Select(k => new KeyValuePair<string, object?>(k.Name, Eval(k.Value, scope))).ToList());
    }

    static object? Call(object? callee, CallArgs arguments) => callee switch
    {
        Callable function => function.Invoke(arguments),
        Undefined u => throw new TemplateError(u.Hint),
        _ => throw new TemplateError($"'{PyOps.TypeName(callee)}' object is not callable"),
    };

    object? EvalBinary(BinaryExpr binary, Scope scope)
    {
        object? left = Eval(binary.Left, scope);
        // and/or return one of their operands, as in Python, and skip the right one when they can.
        switch (binary.Operator)
        {
            case "and": return PyOps.Truthy(left) ? Eval(binary.Right, scope) : left;
            case "or": return PyOps.Truthy(left) ? left : Eval(binary.Right, scope);
        }
        object? right = Eval(binary.Right, scope);
        return Built(binary.Operator == "~" ? PyOps.Str(left) + PyOps.Str(right) : PyOps.Arithmetic(binary.Operator, left, right));
    }

    bool EvalCompare(CompareExpr compare, Scope scope)
    {
        object? left = Eval(compare.First, scope);
        foreach (var (op, operand) in compare.Rest)
        {
            object? right = Eval(operand, scope);
            bool holds = op switch
            {
                "==" => PyOps.Equal(left, right),
                "!=" => !PyOps.Equal(left, right),
                "in" => PyOps.Contains(Visited(right), left),
                "not in" => !PyOps.Contains(Visited(right), left),
                "<" => PyOps.Compare(left, right, op) < 0,
                "<=" => PyOps.Compare(left, right, op) <= 0,
                ">" => PyOps.Compare(left, right, op) > 0,
                _ => PyOps.Compare(left, right, op) >= 0,
            };
            if (!holds) return false;
            left = right;
        }
        return true;
    }
}
