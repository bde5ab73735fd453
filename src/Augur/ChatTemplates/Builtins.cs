using System.Globalization;
using Dict = System.Collections.Generic.OrderedDictionary<string, object?>;

namespace Augur.ChatTemplates;

/// <summary>
/// The filters, tests, globals and Python methods templates can use. The set is jinja2's built-ins that chat
/// templates use, Hugging Face's additions (<c>tojson</c> with json.dumps arguments, <c>raise_exception</c>,
/// <c>strftime_now</c>), and the str/dict methods jinja's sandbox lets templates call. Each follows the
/// jinja 3.1 / Python behaviour, including its quirks, because templates were written against that.
/// </summary>
internal static class Builtins
{
    delegate object? Filter(object? value, CallArgs args);

    delegate bool Test(object? value, CallArgs args);

    public static object? ApplyFilter(string name, object? value, CallArgs args) =>
        Filters.TryGetValue(name, out var filter) ? filter(value, args) : throw new TemplateError($"no filter named '{name}'");

    public static bool ApplyTest(string name, object? value, CallArgs args) =>
        Tests.TryGetValue(name, out var test) ? test(value, args) : throw new TemplateError($"no test named '{name}'");

    // ---- filters ----

    static readonly Dictionary<string, Filter> Filters = new()
    {
        ["capitalize"] = (v, a) => NoArguments(a, "capitalize", PyText.Capitalize(PyOps.Str(v))),
        ["default"] = Default,
        ["d"] = Default,
        ["escape"] = (v, a) => NoArguments(a, "escape", Escape(PyOps.Str(v))),
        ["e"] = (v, a) => NoArguments(a, "e", Escape(PyOps.Str(v))),
        ["first"] = (v, a) => NoArguments(a, "first", PyOps.Iterate(v) is { Count: > 0 } items
            ? items[0] : new Undefined("No first item, sequence was empty.")),
        ["last"] = (v, a) => NoArguments(a, "last", PyOps.Iterate(v) is { Count: > 0 } items
            ? items[^1] : new Undefined("No last item, sequence was empty.")),
        ["float"] = ToFloat,
        ["int"] = ToInt,
        ["indent"] = Indent,
        ["items"] = (v, a) => NoArguments(a, "items", v switch
        {
            Undefined => new List<object?>(),
            Dict dict => Pairs(dict),
            _ => throw new TemplateError("Can only get item pairs from a mapping."),
        }),
        ["join"] = (v, a) =>
        {
            var b = a.Bind("join", "d", "attribute");
            var items = PyOps.Iterate(v);
            if (b.Has(1)) items = items.Select(AttributeGetter(b[1])).ToList();
            return Join(PyOps.Str(b.Or(0, "")), items.Select(PyOps.Str).ToList());
        },
        ["length"] = (v, a) => NoArguments(a, "length", PyOps.Length(v)),
        ["count"] = (v, a) => NoArguments(a, "count", PyOps.Length(v)),
        ["list"] = (v, a) => NoArguments(a, "list", PyOps.Iterate(v).ToList()),
        ["lower"] = (v, a) => NoArguments(a, "lower", PyOps.Str(v).ToLowerInvariant()),
        ["upper"] = (v, a) => NoArguments(a, "upper", PyOps.Str(v).ToUpperInvariant()),
        ["title"] = (v, a) => NoArguments(a, "title", PyText.TitleFilter(PyOps.Str(v))),
        ["map"] = Map,
        ["select"] = SelectOrReject(keep: true, byAttribute: false),
        ["reject"] = SelectOrReject(keep: false, byAttribute: false),
        ["selectattr"] = SelectOrReject(keep: true, byAttribute: true),
        ["rejectattr"] = SelectOrReject(keep: false, byAttribute: true),
        ["replace"] = (v, a) =>
        {
            var b = a.Bind("replace", "old", "new", "count");
            if (!b.Has(0) || !b.Has(1)) throw new TemplateError("replace() needs the old and new strings");
            return PyText.Replace(PyOps.Str(v), PyOps.Str(b[0]), PyOps.Str(b[1]), b[2] is long count ? count : -1);
        },
        ["reverse"] = (v, a) => NoArguments(a, "reverse", v is string s
            ? PyText.Slice(s, null, null, -1)
            : Enumerable.Reverse(PyOps.Iterate(v)).ToList()),
        // No autoescaping here, so marking a value safe changes nothing.
        ["safe"] = (v, a) => NoArguments(a, "safe", v),
        ["string"] = (v, a) => NoArguments(a, "string", PyOps.Str(v)),
        ["trim"] = (v, a) => PyText.Strip(PyOps.Str(v), OptionalString(a.Bind("trim", "chars").Or(0, null), "trim"), true, true),
        ["tojson"] = ToJson,
    };

    static string Join(string separator, List<string> items)
    {
        PyOps.CheckLength(items.Sum(item => (long)item.Length) + (long)separator.Length * Math.Max(0, items.Count - 1), "the joined string");
        return string.Join(separator, items);
    }

    static object? NoArguments(CallArgs args, string name, object? result)
    {
        args.Bind(name);
        return result;
    }

    // markupsafe's escape, which only touches these five characters.
    static string Escape(string s) =>
        s.Replace("&", "&amp;").Replace("<", "&lt;").Replace(">", "&gt;").Replace("\"", "&#34;").Replace("'", "&#39;");

    static object? Default(object? value, CallArgs args)
    {
        var b = args.Bind("default", "default_value", "boolean");
        bool boolean = PyOps.Truthy(b.Or(1, false));
        return value is Undefined || (boolean && !PyOps.Truthy(value)) ? b.Or(0, "") : value;
    }

    static List<object?> Pairs(Dict dict) => dict.Select(p => (object?)new PyTuple([p.Key, p.Value])).ToList();

    // Hugging Face's tojson: json.dumps(x, ensure_ascii=False, indent=None, separators=None, sort_keys=False).
    static object? ToJson(object? value, CallArgs args)
    {
        var b = args.Bind("tojson", "ensure_ascii", "indent", "separators", "sort_keys");
        string? indent = b.Or(1, null) switch
        {
            null => null,
            string s => s,
            long or bool => new string(' ', (int)Math.Clamp(AsInteger(b[1], "indent"), 0, 64)),
            _ => throw new TemplateError("tojson indent must be an integer or a string"),
        };
        (string item, string key) separators = b.Or(2, null) switch
        {
            null => (indent is null ? ", " : ",", ": "),
            List<object?> { Count: 2 } pair when pair[0] is string item && pair[1] is string key => (item, key),
            _ => throw new TemplateError("tojson separators must be a pair of strings"),
        };
        return PyJson.Dumps(value, PyOps.Truthy(b.Or(0, false)), indent, separators.item, separators.key, PyOps.Truthy(b.Or(3, false)));
    }

    // jinja's indent: the first line stays as it is unless first=True; blank lines get no indentation unless blank=True.
    static object? Indent(object? value, CallArgs args)
    {
        var b = args.Bind("indent", "width", "first", "blank");
        object? width = b.Or(0, 4L);
        string indention = width is string text ? text : new string(' ', (int)Math.Clamp(AsInteger(width, "indent width"), 0, 1024));
        var lines = PyText.SplitLines(PyOps.Str(value) + "\n");
        PyOps.CheckLength(lines.Sum(line => (long)line.Length + 1) + (long)indention.Length * (lines.Count + 1), "the indented string");
        string result = PyOps.Truthy(b.Or(2, false))
            ? string.Join("\n" + indention, lines)
            : lines[0] + string.Concat(lines.Skip(1).Select(line => "\n" + (line.Length > 0 ? indention + line : line)));
        return PyOps.Truthy(b.Or(1, false)) ? indention + result : result;
    }

    // jinja's int: int(value, base), else int(float(value)) so "42.5" gives 42, else the default.
    static object? ToInt(object? value, CallArgs args)
    {
        var b = args.Bind("int", "default", "base");
        object? fallback = b.Or(0, 0L);
        long numberBase = b.Has(1) ? AsInteger(b[1], "base") : 10;
        return value switch
        {
            long => value,
            bool flag => flag ? 1L : 0L,
            double d => double.IsFinite(d) ? (long)Math.Truncate(d) : fallback,
            string s => ParseInteger(s, numberBase) ?? (ParseFloat(s) is double f && double.IsFinite(f) ? (long)Math.Truncate(f) : fallback),
            _ => fallback,
        };
    }

    static object? ToFloat(object? value, CallArgs args)
    {
        object? fallback = args.Bind("float", "default").Or(0, 0.0);
        return value switch
        {
            double => value,
            long l => (double)l,
            bool flag => flag ? 1.0 : 0.0,
            string s => ParseFloat(s) ?? fallback,
            _ => fallback,
        };
    }

    // Python's int(text, base): surrounding whitespace, a sign, an optional 0x/0o/0b prefix matching the base, and
    // single underscores between digits.
    static long? ParseInteger(string text, long numberBase)
    {
        if (numberBase is < 2 or > 36) throw new TemplateError("int() base must be >= 2 and <= 36");
        string s = PyText.Strip(text, null, true, true);
        bool negative = s.StartsWith('-');
        if (s.StartsWith('-') || s.StartsWith('+')) s = s[1..];
        string prefix = numberBase switch { 16 => "0x", 8 => "0o", 2 => "0b", _ => "" };
        if (prefix.Length > 0 && s.StartsWith(prefix, StringComparison.OrdinalIgnoreCase)) s = s[2..].TrimStart('_');
        if (s.Length == 0 || s.StartsWith('_') || s.EndsWith('_') || s.Contains("__")) return null;
        long result = 0;
        foreach (char c in s.Replace("_", ""))
        {
            int digit = char.IsAsciiDigit(c) ? c - '0' : char.IsAsciiLetter(c) ? char.ToLowerInvariant(c) - 'a' + 10 : 99;
            if (digit >= numberBase) return null;
            try
            {
                result = checked(result * numberBase + digit);
            }
            catch (OverflowException)
            {
                return null;
            }
        }
        return negative ? -result : result;
    }

    // Python's float(text): also "inf", "infinity" and "nan" in any case.
    static double? ParseFloat(string text)
    {
        string s = PyText.Strip(text, null, true, true).ToLowerInvariant();
        string unsigned = s.TrimStart('+', '-');
        double sign = s.StartsWith('-') ? -1 : 1;
        if (unsigned is "inf" or "infinity") return sign * double.PositiveInfinity;
        if (unsigned == "nan") return double.NaN;
        if (s.Contains("__") || s.StartsWith('_') || s.EndsWith('_')) return null;
        return double.TryParse(s.Replace("_", ""), NumberStyles.Float, CultureInfo.InvariantCulture, out double d) ? d : null;
    }

    static object? Map(object? value, CallArgs args)
    {
        Func<object?, object?> transform;
        if (args.Positional.Count == 0 && args.Keywords.Any(k => k.Key == "attribute"))
        {
            var b = args.Bind("map", "attribute", "default");
            transform = AttributeGetter(b[0], b.Or(1, null));
        }
        else
        {
            if (args.Positional.Count == 0) throw new TemplateError("map requires a filter argument");
            string filter = PyOps.Str(args.Positional[0]);
            var rest = new CallArgs(args.Positional[1..], args.Keywords);
            transform = item => ApplyFilter(filter, item, rest);
        }
        return PyOps.Truthy(value) ? PyOps.Iterate(value).Select(transform).ToList() : [];
    }

    // select/reject(test, *args) and selectattr/rejectattr(attribute, test, *args); without a test the value's
    // truth decides.
    static Filter SelectOrReject(bool keep, bool byAttribute) => (value, args) =>
    {
        int testAt = 0;
        Func<object?, object?> transform = item => item;
        if (byAttribute)
        {
            if (args.Positional.Count == 0) throw new TemplateError("Missing parameter for attribute name");
            transform = AttributeGetter(args.Positional[0]);
            testAt = 1;
        }
        Func<object?, bool> check = PyOps.Truthy;
        if (args.Positional.Count > testAt)
        {
            string test = PyOps.Str(args.Positional[testAt]);
            var rest = new CallArgs(args.Positional[(testAt + 1)..], args.Keywords);
            check = item => ApplyTest(test, item, rest);
        }
        return PyOps.Truthy(value) ? PyOps.Iterate(value).Where(item => check(transform(item)) == keep).ToList() : [];
    };

    // jinja's make_attrgetter: "a.b.0" looks up a, then b, then index 0, each as a subscript.
    static Func<object?, object?> AttributeGetter(object? attribute, object? fallback = null)
    {
        object?[] parts = attribute is string path
            ? path.Split('.').Select(p => p.Length > 0 && p.All(char.IsAsciiDigit) ? long.Parse(p, CultureInfo.InvariantCulture) : (object?)p).ToArray()
            : [attribute];
        return item =>
        {
            foreach (object? part in parts) item = PyOps.GetItem(item, part);
            return fallback is not null && item is Undefined ? fallback : item;
        };
    }

    static long AsInteger(object? value, string what) => value switch
    {
        long l => l,
        bool b => b ? 1 : 0,
        _ => throw new TemplateError($"{what} must be an integer, not {PyOps.TypeName(value)}"),
    };

    static string? OptionalString(object? value, string function) => value switch
    {
        null => null,
        string s => s,
        _ => throw new TemplateError($"{function} arg must be None or str"),
    };

    // ---- tests ----

    static readonly Dictionary<string, Test> Tests = new()
    {
        ["defined"] = (v, a) => NoArguments(a, "defined", v is not Undefined),
        ["undefined"] = (v, a) => NoArguments(a, "undefined", v is Undefined),
        ["none"] = (v, a) => NoArguments(a, "none", v is null),
        ["boolean"] = (v, a) => NoArguments(a, "boolean", v is bool),
        ["true"] = (v, a) => NoArguments(a, "true", v is true),
        ["false"] = (v, a) => NoArguments(a, "false", v is false),
        ["integer"] = (v, a) => NoArguments(a, "integer", v is long),
        ["float"] = (v, a) => NoArguments(a, "float", v is double),
        ["number"] = (v, a) => NoArguments(a, "number", v is long or double or bool),
        ["string"] = (v, a) => NoArguments(a, "string", v is string),
        ["mapping"] = (v, a) => NoArguments(a, "mapping", v is Dict),
        // Undefined counts as iterable and as a sequence in jinja (it has __iter__, __len__ and __getitem__).
        ["iterable"] = (v, a) => NoArguments(a, "iterable", v is string or List<object?> or Dict or Undefined),
        ["sequence"] = (v, a) => NoArguments(a, "sequence", v is string or List<object?> or Dict or Undefined),
        ["callable"] = (v, a) => NoArguments(a, "callable", v is Callable),
        ["lower"] = (v, a) => NoArguments(a, "lower", IsCase(PyOps.Str(v), upper: false)),
        ["upper"] = (v, a) => NoArguments(a, "upper", IsCase(PyOps.Str(v), upper: true)),
        ["odd"] = (v, a) => NoArguments(a, "odd", PyOps.Equal(PyOps.Arithmetic("%", v, 2L), 1L)),
        ["even"] = (v, a) => NoArguments(a, "even", PyOps.Equal(PyOps.Arithmetic("%", v, 2L), 0L)),
        ["divisibleby"] = (v, a) => PyOps.Equal(PyOps.Arithmetic("%", v, Other(a, "divisibleby")), 0L),
        ["sameas"] = (v, a) => SameAs(v, Other(a, "sameas")),
        ["in"] = (v, a) => PyOps.Contains(Other(a, "in"), v),
        ["eq"] = (v, a) => PyOps.Equal(v, Other(a, "eq")),
        ["equalto"] = (v, a) => PyOps.Equal(v, Other(a, "equalto")),
        ["=="] = (v, a) => PyOps.Equal(v, Other(a, "==")),
        ["ne"] = (v, a) => !PyOps.Equal(v, Other(a, "ne")),
        ["!="] = (v, a) => !PyOps.Equal(v, Other(a, "!=")),
        ["lt"] = (v, a) => PyOps.Compare(v, Other(a, "lt"), "<") < 0,
        ["lessthan"] = (v, a) => PyOps.Compare(v, Other(a, "lessthan"), "<") < 0,
        ["<"] = (v, a) => PyOps.Compare(v, Other(a, "<"), "<") < 0,
        ["le"] = (v, a) => PyOps.Compare(v, Other(a, "le"), "<=") <= 0,
        ["<="] = (v, a) => PyOps.Compare(v, Other(a, "<="), "<=") <= 0,
        ["gt"] = (v, a) => PyOps.Compare(v, Other(a, "gt"), ">") > 0,
        ["greaterthan"] = (v, a) => PyOps.Compare(v, Other(a, "greaterthan"), ">") > 0,
        [">"] = (v, a) => PyOps.Compare(v, Other(a, ">"), ">") > 0,
        ["ge"] = (v, a) => PyOps.Compare(v, Other(a, "ge"), ">=") >= 0,
        [">="] = (v, a) => PyOps.Compare(v, Other(a, ">="), ">=") >= 0,
    };

    static bool NoArguments(CallArgs args, string name, bool result)
    {
        args.Bind(name);
        return result;
    }

    static object? Other(CallArgs args, string test)
    {
        var b = args.Bind(test, "other");
        return b.Has(0) ? b[0] : throw new TemplateError($"test '{test}' needs one argument");
    }

    // Python's 'is': scalars stand for Python's shared None/True/False/small ints; containers compare by identity.
    static bool SameAs(object? a, object? b) =>
        a is null or bool or long or double or string ? a?.GetType() == b?.GetType() && PyOps.Equal(a, b) : ReferenceEquals(a, b);

    // Python's str.islower / isupper: some cased letter, and none of the other case.
    static bool IsCase(string s, bool upper) =>
        s.Any(c => upper ? char.IsUpper(c) : char.IsLower(c)) && !s.Any(c => upper ? char.IsLower(c) : char.IsUpper(c));

    // ---- globals ----

    /// <summary>The global functions; <paramref name="clock"/> drives <c>strftime_now</c>.</summary>
    public static Dictionary<string, object?> Globals(TimeProvider clock) => new()
    {
        ["range"] = new Callable("range", Range),
        ["namespace"] = new Callable("namespace", args =>
        {
            var ns = new Namespace();
            foreach (var (key, value) in KeywordDict(args, "namespace")) ns.Attributes[key] = value;
            return ns;
        }),
        ["dict"] = new Callable("dict", args => KeywordDict(args, "dict")),
        ["raise_exception"] = new Callable("raise_exception", args =>
            throw new TemplateError(PyOps.Str(Required(args, "raise_exception", "message")), raisedByTemplate: true)),
        // transformers uses datetime.now(): local time.
        ["strftime_now"] = new Callable("strftime_now", args =>
            Strftime.Format(clock.GetLocalNow().DateTime, Required(args, "strftime_now", "format") as string
                ?? throw new TemplateError("strftime_now() format must be a string"))),
    };

    static object? Required(CallArgs args, string function, string parameter)
    {
        var b = args.Bind(function, parameter);
        return b.Has(0) ? b[0] : throw new TemplateError($"{function}() missing required argument '{parameter}'");
    }

    // dict(mapping, **kwargs) and namespace(mapping, **kwargs).
    static Dict KeywordDict(CallArgs args, string function)
    {
        if (args.Positional.Count > 1) throw new TemplateError($"{function}() takes at most one positional argument");
        var dict = new Dict();
        if (args.Positional.Count == 1)
        {
            if (args.Positional[0] is not Dict source) throw new TemplateError($"{function}() argument must be a mapping");
            foreach (var (key, value) in source) dict[key] = value;
        }
        foreach (var (key, value) in args.Keywords) dict[key] = value;
        return dict;
    }

    // The jinja sandbox caps range() at 100000 items.
    const long MaxRange = 100_000;

    static object? Range(CallArgs args)
    {
        if (args.Keywords.Count > 0) throw new TemplateError("range() takes no keyword arguments");
        var numbers = args.Positional.Select(v => AsInteger(v, "range() argument")).ToList();
        var (start, stop, step) = numbers.Count switch
        {
            1 => (0L, numbers[0], 1L),
            2 => (numbers[0], numbers[1], 1L),
            3 => (numbers[0], numbers[1], numbers[2]),
            _ => throw new TemplateError($"range expected 1 to 3 arguments, got {numbers.Count}"),
        };
        if (step == 0) throw new TemplateError("range() arg 3 must not be zero");
        long count = step > 0 ? (stop - start + step - 1) / step : (start - stop - step - 1) / -step;
        if (count > MaxRange) throw new TemplateError($"Range too big. The sandbox blocks ranges larger than MAX_RANGE ({MaxRange}).");
        var result = new List<object?>();
        for (long i = 0; i < count; i++) result.Add(start + i * step);
        return result;
    }

    // ---- methods ----

    /// <summary>The Python method <paramref name="name"/> bound to <paramref name="target"/>, or null if it has none.</summary>
    public static Callable? Method(string target, string name) => name switch
    {
        "strip" or "lstrip" or "rstrip" => new Callable(name, a =>
            PyText.Strip(target, OptionalString(a.Bind(name, "chars").Or(0, null), name), name != "rstrip", name != "lstrip")),
        "split" => new Callable(name, a =>
        {
            var b = a.Bind(name, "sep", "maxsplit");
            return PyText.Split(target, OptionalString(b.Or(0, null), name), b.Has(1) ? AsInteger(b[1], "maxsplit") : -1);
        }),
        "startswith" or "endswith" => new Callable(name, a =>
        {
            object? affix = a.Bind(name, "prefix")[0];
            var candidates = affix switch
            {
                string s => [s],
                List<object?> list when list.All(x => x is string) => list.Cast<string>().ToList(),
                _ => throw new TemplateError($"{name} first arg must be str or a tuple of str, not {PyOps.TypeName(affix)}"),
            };
            return candidates.Any(c => name == "startswith" ? target.StartsWith(c, StringComparison.Ordinal) : target.EndsWith(c, StringComparison.Ordinal));
        }),
        "upper" => new Callable(name, a => NoArguments(a, name, target.ToUpperInvariant())),
        "lower" => new Callable(name, a => NoArguments(a, name, target.ToLowerInvariant())),
        "title" => new Callable(name, a => NoArguments(a, name, PyText.TitleMethod(target))),
        "capitalize" => new Callable(name, a => NoArguments(a, name, PyText.Capitalize(target))),
        "replace" => new Callable(name, a =>
        {
            var b = a.Bind(name, "old", "new", "count");
            if (b[0] is not string old || b[1] is not string replacement) throw new TemplateError("replace() arguments must be strings");
            return PyText.Replace(target, old, replacement, b.Has(2) ? AsInteger(b[2], "count") : -1);
        }),
        "join" => new Callable(name, a =>
        {
            var items = PyOps.Iterate(a.Bind(name, "iterable")[0]);
            for (int i = 0; i < items.Count; i++)
                if (items[i] is not string)
                    throw new TemplateError($"sequence item {i}: expected str instance, {PyOps.TypeName(items[i])} found");
            return Join(target, items.Cast<string>().ToList());
        }),
        _ => null,
    };

    /// <summary>The dict method <paramref name="name"/> bound to <paramref name="target"/>, or null.</summary>
    public static Callable? Method(Dict target, string name) => name switch
    {
        "items" => new Callable(name, a => NoArguments(a, name, Pairs(target))),
        "keys" => new Callable(name, a => NoArguments(a, name, target.Keys.Cast<object?>().ToList())),
        "values" => new Callable(name, a => NoArguments(a, name, target.Values.ToList())),
        "get" => new Callable(name, a =>
        {
            var b = a.Bind(name, "key", "default");
            return b[0] is string key && target.TryGetValue(key, out object? value) ? value : b.Or(1, null);
        }),
        _ => null,
    };
}
