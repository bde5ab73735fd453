using System.Collections;
using System.Text.Json;
using System.Text.Json.Nodes;
using Dict = System.Collections.Generic.OrderedDictionary<string, object?>;

namespace Augur.ChatTemplates;

// Runtime values are Python's, held in plain CLR types: null (None), bool, long (int), double (float), string,
// List<object?> (list; PyTuple for tuples), OrderedDictionary<string, object?> (dict, which keeps insertion order), plus
// the few jinja objects below.

/// <summary>
/// jinja's default undefined value: what a missing variable, key or attribute gives. It prints as "", is false,
/// iterates as empty and has length 0; using it any other way (an attribute of it, arithmetic, a call) fails with
/// <see cref="Hint"/>, which says what was missing.
/// </summary>
internal sealed class Undefined(string hint)
{
    public string Hint { get; } = hint;
}

/// <summary>A Python tuple: a list that prints in parentheses. Tuple literals and <c>items()</c> pairs make them.</summary>
internal sealed class PyTuple(IEnumerable<object?> items) : List<object?>(items);

/// <summary>The object <c>namespace()</c> creates: the only thing <c>{% set ns.attr = v %}</c> may change, which
/// is how templates carry state out of a loop body (plain <c>set</c> inside a loop does not leak).</summary>
internal sealed class Namespace
{
    public Dict Attributes { get; } = new();
}

/// <summary>A function value: a global such as <c>range</c>, a macro, or a method bound to its object.</summary>
internal sealed class Callable(string name, Func<CallArgs, object?> invoke)
{
    public string Name { get; } = name;

    public object? Invoke(CallArgs arguments) => invoke(arguments);
}

/// <summary>The <c>loop</c> variable of one iteration of a for loop.</summary>
internal sealed class LoopContext(IReadOnlyList<object?> items, int index)
{
    public int Index => index;

    public int Length => items.Count;

    /// <summary>The attribute, or null when loop has no such attribute.</summary>
    public object? Get(string name) => name switch
    {
        "index" => index + 1L,
        "index0" => (long)index,
        "revindex" => (long)(items.Count - index),
        "revindex0" => items.Count - index - 1L,
        "first" => index == 0,
        "last" => index == items.Count - 1,
        "length" => (long)items.Count,
        "previtem" => index > 0 ? items[index - 1] : new Undefined("there is no previous item"),
        "nextitem" => index < items.Count - 1 ? items[index + 1] : new Undefined("there is no next item"),
        "depth" => 1L,
        "depth0" => 0L,
        "cycle" => new Callable("cycle", arguments => arguments.Positional.Count == 0
            ? throw new TemplateError("no items for cycling given")
            : arguments.Positional[index % arguments.Positional.Count]),
        _ => null,
    };
}

/// <summary>The evaluated arguments of a call, filter or test.</summary>
internal sealed class CallArgs(List<object?> positional, List<KeyValuePair<string, object?>> keywords)
{
    public static readonly CallArgs Empty = new([], []);

    public List<object?> Positional { get; } = positional;

    public List<KeyValuePair<string, object?>> Keywords { get; } = keywords;

    /// <summary>Binds the arguments to Python-style parameters; a parameter not given is <see cref="Missing"/>.</summary>
    public Bound Bind(string function, params string[] names)
    {
        if (Positional.Count > names.Length)
            throw new TemplateError($"{function}() takes at most {names.Length} argument(s) ({Positional.Count} given)");
        var values = new object?[names.Length];
        Array.Fill(values, Missing);
        for (int i = 0; i < Positional.Count; i++) values[i] = Positional[i];
        foreach (var (key, value) in Keywords)
        {
            int at = Array.IndexOf(names, key);
            if (at < 0) throw new TemplateError($"{function}() got an unexpected keyword argument '{key}'");
            if (values[at] != Missing) throw new TemplateError($"{function}() got multiple values for argument '{key}'");
            values[at] = value;
        }
        return new Bound(values);
    }

    public static readonly object Missing = new();

    public readonly struct Bound(object?[] values)
    {
        public object? this[int i] => values[i];

        public bool Has(int i) => values[i] != Missing;

        public object? Or(int i, object? fallback) => Has(i) ? values[i] : fallback;
    }
}

/// <summary>A runtime error without a position yet; the interpreter adds the position of the node that failed.
/// <see cref="RaisedByTemplate"/> marks errors from <c>raise_exception</c>.</summary>
internal sealed class TemplateError(string message, bool raisedByTemplate = false) : Exception(message)
{
    public bool RaisedByTemplate { get; } = raisedByTemplate;
}

/// <summary>Converts the caller's variables (JSON or plain CLR objects) into runtime values.</summary>
internal static class ValueConverter
{
    public static object? FromClr(object? value, string path) => value switch
    {
        null => null,
        string or bool or long or double => value,
        int or short or sbyte or byte or ushort or uint => System.Convert.ToInt64(value),
        ulong u => u <= long.MaxValue ? (long)u : (object)(double)u,
        float or decimal => System.Convert.ToDouble(value),
        char c => c.ToString(),
        JsonElement element => FromJson(element, path),
        JsonNode node => FromJsonNode(node, path),
        IDictionary map => FromDictionary(map, path),
        IEnumerable sequence => sequence.Cast<object?>().Select((item, i) => FromClr(item, $"{path}[{i}]")).ToList(),
        _ => throw new ArgumentException($"chat template variable {path} has type {value.GetType()}, which has no template equivalent " +
                                         "(use JSON, strings, numbers, booleans, lists and string-keyed dictionaries)"),
    };

    static Dict FromDictionary(IDictionary map, string path)
    {
        var dict = new Dict();
        foreach (DictionaryEntry entry in map)
        {
            if (entry.Key is not string key)
                throw new ArgumentException($"chat template variable {path} has a key of type {entry.Key.GetType()}; keys must be strings");
            dict[key] = FromClr(entry.Value, $"{path}.{key}");
        }
        return dict;
    }

    static object? FromJson(JsonElement element, string path)
    {
        switch (element.ValueKind)
        {
            case JsonValueKind.Object:
                var dict = new Dict();
                foreach (var property in element.EnumerateObject()) dict[property.Name] = FromJson(property.Value, $"{path}.{property.Name}");
                return dict;
            case JsonValueKind.Array:
                return element.EnumerateArray().Select((item, i) => FromJson(item, $"{path}[{i}]")).ToList();
            case JsonValueKind.String:
                return element.GetString();
            case JsonValueKind.Number:
                // Python's json module reads 18 as int and 18.0 as float; keep that difference.
                string raw = element.GetRawText();
                return raw.AsSpan().IndexOfAny('.', 'e', 'E') < 0 && element.TryGetInt64(out long integer) ? integer : (object)element.GetDouble();
            case JsonValueKind.True:
                return true;
            case JsonValueKind.False:
                return false;
            default:
                return null;
        }
    }

    static object? FromJsonNode(JsonNode node, string path) => node switch
    {
        JsonObject obj => FromDictionaryEntries(obj, path),
        JsonArray array => array.Select((item, i) => item is null ? null : FromJsonNode(item, $"{path}[{i}]")).ToList(),
        JsonValue value when value.TryGetValue(out JsonElement element) => FromJson(element, path),
        JsonValue value => FromClr(value.GetValue<object>(), path),
        _ => null,
    };

    static Dict FromDictionaryEntries(JsonObject obj, string path)
    {
        var dict = new Dict();
        foreach (var (key, item) in obj) dict[key] = item is null ? null : FromJsonNode(item, $"{path}.{key}");
        return dict;
    }
}
