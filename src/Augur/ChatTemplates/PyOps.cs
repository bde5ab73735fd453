using System.Globalization;
using System.Runtime.CompilerServices;
using System.Text;
using Dict = System.Collections.Generic.OrderedDictionary<string, object?>;

namespace Augur.ChatTemplates;

/// <summary>Python's operators and conversions on runtime values, with jinja's lookup rules.</summary>
internal static class PyOps
{
    public static string TypeName(object? value) => value switch
    {
        null => "NoneType",
        bool => "bool",
        long => "int",
        double => "float",
        string => "str",
        PyTuple => "tuple",
        List<object?> => "list",
        Dict => "dict",
        Undefined => "Undefined",
        Namespace => "Namespace",
        Callable => "function",
        LoopContext => "LoopContext",
        _ => value.GetType().Name,
    };

    public static bool Truthy(object? value) => value switch
    {
        null or Undefined => false,
        bool b => b,
        long l => l != 0,
        double d => d != 0,
        string s => s.Length > 0,
        List<object?> list => list.Count > 0,
        Dict dict => dict.Count > 0,
        _ => true,
    };

    /// <summary>The longest string one operation may build (what <c>'x' * n</c>, <c>join</c>, <c>replace</c>,
    /// <c>indent</c>, <c>tojson</c> and printing a container check before or while they build): a template from a
    /// model file must not exhaust memory in one step, before the render's memory budget sees the value.</summary>
    public const long MaxBuiltLength = 1 << 26;

    public static void CheckLength(long length, string what)
    {
        if (length > MaxBuiltLength)
            throw new TemplateError($"{what} would be {length:N0} characters, more than the sandbox allows ({MaxBuiltLength:N0})");
    }

    /// <summary>Python's <c>str()</c>, which is what <c>{{ }}</c> prints.</summary>
    public static string Str(object? value) => value switch
    {
        null => "None",
        string s => s,
        bool b => b ? "True" : "False",
        long l => l.ToString(CultureInfo.InvariantCulture),
        double d => PyText.FloatRepr(d),
        Undefined => "",
        Callable f => $"<function {f.Name}>",
        LoopContext loop => $"<LoopContext {loop.Index + 1}/{loop.Length}>",
        List<object?> or Dict or Namespace => AppendContainer(new StringBuilder(), value).ToString(),
        _ => value.ToString() ?? "",
    };

    /// <summary>Python's <c>repr()</c>, used for items inside printed lists and dicts.</summary>
    public static string Repr(object? value) => value switch
    {
        string s => PyText.Repr(s),
        Undefined => "Undefined",
        _ => Str(value),
    };

    // Containers print into one builder, checked as it grows: a list holding the same big list a thousand times
    // over would otherwise build its whole text first. A namespace may hold itself; the stack check ends that.
    static StringBuilder AppendContainer(StringBuilder text, object? value)
    {
        if (!RuntimeHelpers.TryEnsureSufficientExecutionStack()) throw new TemplateError("value is nested too deeply to print");
        void Item(object? item)
        {
            if (item is List<object?> or Dict or Namespace) AppendContainer(text, item);
            else text.Append(Repr(item));
            CheckLength(text.Length, "the printed value");
        }
        void Pairs(Dict dict)
        {
            bool first = true;
            foreach (var (key, item) in dict)
            {
                if (!first) text.Append(", ");
                text.Append(PyText.Repr(key)).Append(": ");
                Item(item);
                first = false;
            }
        }
        switch (value)
        {
            case PyTuple tuple:
                text.Append('(');
                for (int i = 0; i < tuple.Count; i++)
                {
                    if (i > 0) text.Append(", ");
                    Item(tuple[i]);
                }
                return text.Append(tuple.Count == 1 ? ",)" : ")");
            case List<object?> list:
                text.Append('[');
                for (int i = 0; i < list.Count; i++)
                {
                    if (i > 0) text.Append(", ");
                    Item(list[i]);
                }
                return text.Append(']');
            case Dict dict:
                text.Append('{');
                Pairs(dict);
                return text.Append('}');
            default:
                text.Append("<Namespace {");
                Pairs(((Namespace)value!).Attributes);
                return text.Append("}>");
        }
    }

    // jinja's object_type_repr, used in undefined hints: "'dict object' has no attribute 'x'".
    static string ObjectTypeRepr(object? value) => value is null ? "None" : $"{TypeName(value)} object";

    static Undefined NoAttribute(object? owner, string name) => new($"'{ObjectTypeRepr(owner)}' has no attribute '{name}'");

    static Undefined NoElement(object? owner, object? key) =>
        key is string name ? NoAttribute(owner, name) : new($"{ObjectTypeRepr(owner)} has no element {Repr(key)}");

    /// <summary><c>target.name</c>: like jinja, a Python attribute (a method such as <c>dict.items</c>) first,
    /// then the key of that name; whatever is missing is undefined, except that anything on undefined fails.</summary>
    public static object? GetAttribute(object? target, string name) => target switch
    {
        Undefined u => throw new TemplateError(u.Hint),
        Dict dict => (object?)Builtins.Method(dict, name) ?? (dict.TryGetValue(name, out object? value) ? value : NoAttribute(dict, name)),
        string s => (object?)Builtins.Method(s, name) ?? NoAttribute(s, name),
        Namespace ns => ns.Attributes.TryGetValue(name, out object? value) ? value : NoAttribute(ns, name),
        LoopContext loop => loop.Get(name) ?? NoAttribute(loop, name),
        _ => NoAttribute(target, name),
    };

    /// <summary><c>target[key]</c>: the key or index first, then (for a string key) the attribute of that name.</summary>
    public static object? GetItem(object? target, object? key)
    {
        switch (target)
        {
            case Undefined u:
                throw new TemplateError(u.Hint);
            case Dict dict:
                if (key is not string name) return NoElement(dict, key);
                return dict.TryGetValue(name, out object? value) ? value : (object?)Builtins.Method(dict, name) ?? NoElement(dict, key);
            case List<object?> list:
                return AsIndex(key) is long i && Normalize(i, list.Count) is int at ? list[at] : NoElement(list, key);
            case string s:
                if (AsIndex(key) is long j)
                {
                    var characters = PyText.Characters(s);
                    return Normalize(j, characters.Count) is int position ? characters[position] : NoElement(s, key);
                }
                return key is string method ? (object?)Builtins.Method(s, method) ?? NoElement(s, key) : NoElement(s, key);
            case Namespace or LoopContext when key is string attribute:
                return GetAttribute(target, attribute);
            default:
                return NoElement(target, key);
        }
    }

    // Python indexes with ints, and bool is an int there.
    static long? AsIndex(object? key) => key switch { long l => l, bool b => b ? 1 : 0, _ => null };

    static int? Normalize(long index, int count)
    {
        if (index < 0) index += count;
        return index >= 0 && index < count ? (int)index : null;
    }

    /// <summary><c>target[start:stop:step]</c> on a string or list. Bounds that are not integers give undefined, as
    /// jinja turns Python's TypeError into undefined.</summary>
    public static object? Slice(object? target, object? start, object? stop, object? step)
    {
        if (target is Undefined u) throw new TemplateError(u.Hint);
        long? from = start is null ? null : AsIndex(start), to = stop is null ? null : AsIndex(stop), by = step is null ? null : AsIndex(step);
        if ((start is not null && from is null) || (stop is not null && to is null) || (step is not null && by is null))
            return new Undefined("slice indices must be integers or None");
        return target switch
        {
            string s => PyText.Slice(s, from, to, by),
            List<object?> list => PyText.SliceList(list, from, to, by),
            _ => new Undefined($"'{TypeName(target)}' object is not subscriptable"),
        };
    }

    /// <summary>What a for loop visits: list items, dict keys, string characters; undefined is empty.</summary>
    public static List<object?> Iterate(object? value) => value switch
    {
        Undefined => [],
        List<object?> list => list,
        Dict dict => dict.Keys.Cast<object?>().ToList(),
        string s => PyText.Characters(s),
        _ => throw new TemplateError($"'{TypeName(value)}' object is not iterable"),
    };

    public static long Length(object? value) => value switch
    {
        Undefined => 0,
        string s => PyText.Length(s),
        List<object?> list => list.Count,
        Dict dict => dict.Count,
        _ => throw new TemplateError($"object of type '{TypeName(value)}' has no len()"),
    };

    static bool IsNumber(object? value) => value is long or double or bool;

    static double ToDouble(object? value) => value switch { double d => d, long l => l, bool b => b ? 1 : 0, _ => 0 };

    static long ToLong(object? value) => value switch { long l => l, bool b => b ? 1 : 0, _ => 0 };

    /// <summary>Python's <c>==</c>: numbers by value (1 == 1.0), lists and dicts deeply, dicts ignoring key order.</summary>
    public static bool Equal(object? a, object? b)
    {
        if (a is Undefined || b is Undefined) return a is Undefined && b is Undefined;
        if (IsNumber(a) && IsNumber(b)) return a is double || b is double ? ToDouble(a) == ToDouble(b) : ToLong(a) == ToLong(b);
        return (a, b) switch
        {
            (null, null) => true,
            (string x, string y) => x == y,
            (List<object?> x, List<object?> y) => x is PyTuple == y is PyTuple && x.Count == y.Count && x.Zip(y).All(p => Equal(p.First, p.Second)),
            (Dict x, Dict y) => x.Count == y.Count && x.All(p => y.TryGetValue(p.Key, out object? v) && Equal(p.Value, v)),
            _ => ReferenceEquals(a, b),
        };
    }

    /// <summary>Python's ordering for <c>&lt; &lt;= &gt; &gt;=</c>: numbers, strings, and lists item by item.</summary>
    public static int Compare(object? a, object? b, string op)
    {
        if (a is Undefined ua) throw new TemplateError(ua.Hint);
        if (b is Undefined ub) throw new TemplateError(ub.Hint);
        if (IsNumber(a) && IsNumber(b))
            return a is double || b is double ? ToDouble(a).CompareTo(ToDouble(b)) : ToLong(a).CompareTo(ToLong(b));
        if (a is string x && b is string y) return string.CompareOrdinal(x, y);
        if (a is List<object?> p && b is List<object?> q)
        {
            for (int i = 0; i < Math.Min(p.Count, q.Count); i++)
                if (!Equal(p[i], q[i])) return Compare(p[i], q[i], op);
            return p.Count.CompareTo(q.Count);
        }
        throw new TemplateError($"'{op}' not supported between instances of '{TypeName(a)}' and '{TypeName(b)}'");
    }

    /// <summary>Python's <c>in</c>: substring, dict key or list item.</summary>
    public static bool Contains(object? container, object? item) => container switch
    {
        Undefined => false,
        string s => item is string part
            ? s.Contains(part, StringComparison.Ordinal)
            : throw new TemplateError($"'in <string>' requires string as left operand, not {TypeName(item)}"),
        List<object?> list => list.Any(x => Equal(x, item)),
        Dict dict => item switch
        {
            string key => dict.ContainsKey(key),
            List<object?> or Dict => throw new TemplateError($"unhashable type: '{TypeName(item)}'"),
            _ => false,
        },
        _ => throw new TemplateError($"argument of type '{TypeName(container)}' is not iterable"),
    };

    /// <summary>The arithmetic operators <c>+ - * / // % **</c>.</summary>
    public static object? Arithmetic(string op, object? a, object? b)
    {
        if (a is Undefined ua) throw new TemplateError(ua.Hint);
        if (b is Undefined ub) throw new TemplateError(ub.Hint);
        if (IsNumber(a) && IsNumber(b)) return Numeric(op, a, b);
        switch (op, a, b)
        {
            case ("+", string x, string y): return x + y;
            case ("+", List<object?> x, List<object?> y): return (List<object?>)[.. x, .. y];
            case ("*", string s, long or bool): return Repeat(s, ToLong(b));
            case ("*", long or bool, string s): return Repeat(s, ToLong(a));
            case ("*", List<object?> list, long or bool): return RepeatList(list, ToLong(b));
            case ("*", long or bool, List<object?> list): return RepeatList(list, ToLong(a));
            case ("%", string, _): throw new TemplateError("printf-style formatting ('%' on a string) is not supported");
            case ("+", string, _): throw new TemplateError($"can only concatenate str (not \"{TypeName(b)}\") to str");
            case ("+", List<object?>, _): throw new TemplateError($"can only concatenate list (not \"{TypeName(b)}\") to list");
        }
        throw new TemplateError($"unsupported operand type(s) for {op}: '{TypeName(a)}' and '{TypeName(b)}'");
    }

    static string Repeat(string s, long count)
    {
        if (count <= 0 || s.Length == 0) return "";
        if (count > MaxBuiltLength / s.Length) throw new TemplateError("repeated string is too long");
        return string.Concat(Enumerable.Repeat(s, (int)count));
    }

    static List<object?> RepeatList(List<object?> list, long count)
    {
        if (count <= 0 || list.Count == 0) return [];
        if (count > MaxBuiltLength / list.Count) throw new TemplateError("repeated list is too long");
        return Enumerable.Repeat(list, (int)count).SelectMany(x => x).ToList();
    }

    static object Numeric(string op, object? a, object? b)
    {
        if (a is double || b is double || op == "/")
        {
            double x = ToDouble(a), y = ToDouble(b);
            if (y == 0 && op is "/" or "//" or "%") throw new TemplateError("division by zero");
            return op switch
            {
                "+" => x + y,
                "-" => x - y,
                "*" => x * y,
                "/" => x / y,
                "//" => Math.Floor(x / y),
                "%" => FloatModulo(x, y),
                _ => Math.Pow(x, y),
            };
        }
        long i = ToLong(a), j = ToLong(b);
        if (j == 0 && op is "//" or "%") throw new TemplateError("integer division or modulo by zero");
        try
        {
            return op switch
            {
                "+" => checked(i + j),
                "-" => checked(i - j),
                "*" => checked(i * j),
                "//" => FloorDivide(i, j),
                "%" => IntModulo(i, j),
                // (object) keeps the switch from widening every arm to double.
                _ => j < 0 ? Math.Pow(i, j) : (object)IntPower(i, j),
            };
        }
        catch (OverflowException)
        {
            throw new TemplateError("integer result is too large");
        }
    }

    // Python rounds integer division down and gives the remainder the sign of the divisor.
    static long FloorDivide(long i, long j)
    {
        long q = checked(i / j);
        return i % j != 0 && (i < 0) != (j < 0) ? q - 1 : q;
    }

    static long IntModulo(long i, long j)
    {
        long r = i % j;
        return r != 0 && (r < 0) != (j < 0) ? r + j : r;
    }

    static double FloatModulo(double x, double y)
    {
        double r = x % y;
        return r != 0 && (r < 0) != (y < 0) ? r + y : r;
    }

    static long IntPower(long x, long n)
    {
        long result = 1;
        while (true)
        {
            if ((n & 1) == 1) result = checked(result * x);
            n >>= 1;
            if (n == 0) return result;
            x = checked(x * x);
        }
    }

    public static object? Negate(object? value) => value switch
    {
        Undefined u => throw new TemplateError(u.Hint),
        long l => l == long.MinValue ? throw new TemplateError("integer result is too large") : (object)(-l),
        double d => -d,
        bool b => b ? -1L : 0L,
        _ => throw new TemplateError($"bad operand type for unary -: '{TypeName(value)}'"),
    };

    public static object? Plus(object? value) => value switch
    {
        Undefined u => throw new TemplateError(u.Hint),
        long or double => value,
        bool b => b ? 1L : 0L,
        _ => throw new TemplateError($"bad operand type for unary +: '{TypeName(value)}'"),
    };
}
