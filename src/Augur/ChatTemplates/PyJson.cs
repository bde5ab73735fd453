using System.Runtime.CompilerServices;
using System.Text;
using Dict = System.Collections.Generic.OrderedDictionary<string, object?>;

namespace Augur.ChatTemplates;

/// <summary>
/// Python's <c>json.dumps</c>, which Hugging Face's <c>tojson</c> filter calls: keys in insertion order, ", " and
/// ": " separators (or "," before a newline when indenting), empty containers on one line, and floats printed as
/// Python prints them. System.Text.Json formats differently, and the model was trained on this exact text.
/// </summary>
internal static class PyJson
{
    /// <param name="indent">null for one line; otherwise the text of one indentation level.</param>
    public static string Dumps(object? value, bool ensureAscii, string? indent, string itemSeparator, string keySeparator, bool sortKeys)
    {
        var writer = new Writer(ensureAscii, indent, itemSeparator, keySeparator, sortKeys);
        writer.Write(value, 0);
        return writer.Text.ToString();
    }

    sealed class Writer(bool ensureAscii, string? indent, string itemSeparator, string keySeparator, bool sortKeys)
    {
        public StringBuilder Text { get; } = new();

        public void Write(object? value, int depth)
        {
            if (!RuntimeHelpers.TryEnsureSufficientExecutionStack()) throw new TemplateError("value is nested too deeply for tojson");
            PyOps.CheckLength(Text.Length, "the JSON text");
            switch (value)
            {
                case null: Text.Append("null"); break;
                case bool b: Text.Append(b ? "true" : "false"); break;
                case long l: Text.Append(PyOps.Str(l)); break;
                case double d:
                    Text.Append(double.IsNaN(d) ? "NaN" : double.IsInfinity(d) ? (d > 0 ? "Infinity" : "-Infinity") : PyText.FloatRepr(d));
                    break;
                case string s: WriteString(s); break;
                case List<object?> list:
                    WriteContainer('[', ']', list.Count, depth, list, (item, level) => Write(item, level));
                    break;
                case Dict dict:
                    IEnumerable<KeyValuePair<string, object?>> pairs = sortKeys ? dict.OrderBy(p => p.Key, StringComparer.Ordinal) : dict;
                    WriteContainer('{', '}', dict.Count, depth, pairs, (pair, level) =>
                    {
                        WriteString(pair.Key);
                        Text.Append(keySeparator);
                        Write(pair.Value, level);
                    });
                    break;
                default:
                    throw new TemplateError($"Object of type {PyOps.TypeName(value)} is not JSON serializable");
            }
        }

        void WriteContainer<T>(char open, char close, int count, int depth, IEnumerable<T> items, Action<T, int> writeItem)
        {
            Text.Append(open);
            if (count == 0)
            {
                Text.Append(close);
                return;
            }
            string newline = indent is null ? "" : "\n" + string.Concat(Enumerable.Repeat(indent, depth + 1));
            bool first = true;
            foreach (T item in items)
            {
                if (!first) Text.Append(itemSeparator);
                Text.Append(newline);
                writeItem(item, depth + 1);
                first = false;
            }
            if (indent is not null) Text.Append('\n').Append(string.Concat(Enumerable.Repeat(indent, depth)));
            Text.Append(close);
        }

        void WriteString(string s)
        {
            Text.Append('"');
            foreach (char c in s)
            {
                switch (c)
                {
                    case '"': Text.Append("\\\""); break;
                    case '\\': Text.Append("\\\\"); break;
                    case '\n': Text.Append("\\n"); break;
                    case '\r': Text.Append("\\r"); break;
                    case '\t': Text.Append("\\t"); break;
                    case '\b': Text.Append("\\b"); break;
                    case '\f': Text.Append("\\f"); break;
                    // ensure_ascii escapes everything outside ' '..'~'; astral characters come out as their two
                    // UTF-16 halves, as Python writes them.
                    case < ' ' or > '~' when c < ' ' || ensureAscii: Text.Append($"\\u{(int)c:x4}"); break;
                    default: Text.Append(c); break;
                }
            }
            Text.Append('"');
        }
    }
}
