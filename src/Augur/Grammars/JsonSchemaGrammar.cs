using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Augur.Grammars;

/// <summary>
/// JSON Schema → GBNF, for structured output. Hand-written (as llama.cpp's json-schema-to-grammar is) because a
/// grammar is generated, not validated: the JSON Schema libraries for .NET validate documents and would bring a
/// dependency into the engine for nothing they can do here. The subset: OpenAI strict mode (<c>type</c>, also as
/// a list; <c>properties</c> / <c>required</c> / <c>additionalProperties: false</c>; <c>items</c>; <c>enum</c>;
/// <c>anyOf</c>; <c>$ref</c> into <c>$defs</c> / <c>definitions</c>, recursion included) plus <c>const</c>, a single
/// <c>allOf</c>, <c>minItems</c> / <c>maxItems</c>, <c>minLength</c> / <c>maxLength</c>, string <c>format</c>s date,
/// time, date-time and uuid, integer <c>minimum</c> / <c>maximum</c> (exclusive too, up to 15 digits), and a
/// non-negative bound on numbers. Properties come out in declaration order; optional ones may be left out.
/// Anything else (<c>pattern</c>, <c>oneOf</c>, <c>not</c>, …) is refused by name rather than silently ignored,
/// since the output would not be guaranteed to validate.
/// </summary>
public static class JsonSchemaGrammar
{
    /// <summary>The grammar for any JSON object (OpenAI's <c>response_format: json_object</c>).</summary>
    public static Grammar AnyObject { get; } = Grammar.Parse(Primitives + "root ::= object\n");

    public static Grammar Compile(string schema)
    {
        JsonDocument doc;
        try { doc = JsonDocument.Parse(schema); }
        catch (JsonException e) { throw new InvalidRequestException($"the JSON schema is not valid JSON: {e.Message}"); }
        using (doc) return Compile(doc.RootElement);
    }

    public static Grammar Compile(JsonElement schema) => Grammar.Parse(ToGbnf(schema));

    /// <summary>The GBNF text of <paramref name="schema"/> (for inspection; <see cref="Compile(JsonElement)"/> parses it).</summary>
    public static string ToGbnf(JsonElement schema) => ToGbnf(schema, "root", "");

    /// <summary>
    /// The rules of <paramref name="schema"/> with its value rule named <paramref name="rootName"/>, and then
    /// <paramref name="extraRules"/> (which may use it): how a schema is embedded in a larger grammar (tool calls).
    /// </summary>
    public static string ToGbnf(JsonElement schema, string rootName, string extraRules)
    {
        var c = new Compiler(schema);
        string value = c.Visit(schema, rootName, "#");
        var sb = new StringBuilder(Primitives);
        if (value != rootName) sb.Append(rootName).Append(" ::= ").Append(value).Append('\n');
        sb.Append(c.Rules).Append(extraRules);
        return sb.ToString();
    }

    // Whitespace is at most one space: a schema-constrained model gains nothing from layout, and a small one
    // would otherwise pad forever.
    const string Primitives = """
        ws ::= " "?
        char ::= [^"\\\x00-\x1F\x7F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})
        string ::= "\"" char* "\""
        int ::= "-"? ("0" | [1-9] [0-9]{0,15})
        number ::= int ("." [0-9]{1,15})? ([eE] [-+]? [0-9]{1,3})?
        boolean ::= "true" | "false"
        null ::= "null"
        value ::= object | array | string | number | boolean | null
        object ::= "{" ws ( string ws ":" ws value ws ("," ws string ws ":" ws value ws)* )? "}"
        array ::= "[" ws ( value ws ("," ws value ws)* )? "]"
        year ::= "000" [1-9] | "00" [1-9] [0-9] | "0" [1-9] [0-9]{2} | [1-9] [0-9]{3}
        date ::= year "-" ( ("0" [13578] | "1" [02]) "-" ("0" [1-9] | [12] [0-9] | "3" [01]) | ("0" [469] | "11") "-" ("0" [1-9] | [12] [0-9] | "30") | "02-" ("0" [1-9] | "1" [0-9] | "2" [0-8]) )
        time ::= ([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ("." [0-9]{1,6})? ("Z" | [+-] ([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9])
        date-time ::= date "T" time
        hex ::= [0-9a-f]
        uuid ::= hex{8} "-" hex{4} "-" hex{4} "-" hex{4} "-" hex{12}

        """;

    sealed class Compiler(JsonElement document)
    {
        public readonly StringBuilder Rules = new();
        readonly HashSet<string> _names = ["ws", "char", "string", "int", "number", "boolean", "null", "value", "object", "array", "year", "date", "time", "date-time", "hex", "uuid"];
        readonly Dictionary<string, string> _refs = [];

        static readonly HashSet<string> Annotations = ["title", "description", "$schema", "$id", "$comment", "default", "examples", "deprecated", "readOnly", "writeOnly", "$defs", "definitions", "strict", "name"];
        static readonly HashSet<string> Handled = ["type", "properties", "required", "additionalProperties", "items", "enum", "const", "anyOf", "allOf", "$ref", "minItems", "maxItems", "minLength", "maxLength", "format", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"];

        static Exception Error(string path, string what) => new InvalidRequestException($"JSON schema at {path}: {what}");

        string Define(string name, string body)
        {
            string unique = name;
            for (int i = 2; !_names.Add(unique); i++) unique = $"{name}-{i}";
            Rules.Append(unique).Append(" ::= ").Append(body).Append('\n');
            return unique;
        }

        static string RuleName(string s)
        {
            var sb = new StringBuilder();
            foreach (char ch in s) sb.Append(char.IsAsciiLetterOrDigit(ch) ? ch : '-');
            return sb.Length == 0 ? "p" : sb.ToString();
        }

        /// <summary>A GBNF literal matching exactly the JSON text of <paramref name="value"/>.</summary>
        static string Literal(JsonElement value) => Quote(JsonSerializer.Serialize(value));

        static string Quote(string text)
        {
            var sb = new StringBuilder("\"");
            foreach (char ch in text)
                sb.Append(ch switch { '"' => "\\\"", '\\' => "\\\\", '\n' => "\\n", '\r' => "\\r", '\t' => "\\t", _ => ch.ToString() });
            return sb.Append('"').ToString();
        }

        public string Visit(JsonElement s, string name, string path)
        {
            if (s.ValueKind == JsonValueKind.True) return Define(name, "value");
            if (s.ValueKind != JsonValueKind.Object) throw Error(path, $"a schema must be an object or true (got {s.ValueKind.ToString().ToLowerInvariant()})");
            var unsupported = s.EnumerateObject().Select(p => p.Name).Where(k => !Annotations.Contains(k) && !Handled.Contains(k)).ToList();
            if (unsupported.Count > 0) throw Error(path, $"unsupported keyword{(unsupported.Count > 1 ? "s" : "")}: {string.Join(", ", unsupported)}");

            if (s.TryGetProperty("$ref", out var r)) return Define(name, Ref(r.GetString() ?? "", path));
            if (s.TryGetProperty("const", out var constant)) return Define(name, Literal(constant));
            if (s.TryGetProperty("enum", out var e))
            {
                if (e.ValueKind != JsonValueKind.Array || e.GetArrayLength() == 0) throw Error(path, "enum must be a non-empty array");
                return Define(name, string.Join(" | ", e.EnumerateArray().Select(Literal)));
            }
            if (s.TryGetProperty("anyOf", out var anyOf))
            {
                if (anyOf.ValueKind != JsonValueKind.Array || anyOf.GetArrayLength() == 0) throw Error(path, "anyOf must be a non-empty array");
                var alts = anyOf.EnumerateArray().Select((a, i) => Visit(a, $"{name}-{i}", $"{path}/anyOf/{i}")).ToList();
                return Define(name, string.Join(" | ", alts));
            }
            if (s.TryGetProperty("allOf", out var allOf))
            {
                if (allOf.ValueKind != JsonValueKind.Array || allOf.GetArrayLength() != 1) throw Error(path, "allOf is supported with exactly one schema");
                return Visit(allOf[0], name, $"{path}/allOf/0");
            }
            if (!s.TryGetProperty("type", out var type))
                return Define(name, s.TryGetProperty("properties", out _) ? Object(s, name, path) : "value");
            if (type.ValueKind == JsonValueKind.Array)
            {
                var alts = type.EnumerateArray().Select(t => Typed(s, t.GetString() ?? "", name, path)).ToList();
                if (alts.Count == 0) throw Error(path, "type must not be an empty list");
                return Define(name, string.Join(" | ", alts.Select(a => $"({a})")));
            }
            return Define(name, Typed(s, type.GetString() ?? "", name, path));
        }

        string Typed(JsonElement s, string type, string name, string path) => type switch
        {
            "object" => Object(s, name, path),
            "array" => Array(s, name, path),
            "string" => String(s, path),
            "integer" => Integer(s, path),
            "number" => Number(s, path),
            "boolean" => "boolean",
            "null" => "null",
            _ => throw Error(path, $"unknown type '{type}'"),
        };

        string Ref(string reference, string path)
        {
            if (_refs.TryGetValue(reference, out var rule)) return rule;
            JsonElement target = document;
            if (reference != "#")
            {
                if (!reference.StartsWith("#/", StringComparison.Ordinal)) throw Error(path, $"$ref '{reference}' is not a local reference (#/$defs/…)");
                foreach (var part in reference[2..].Split('/'))
                {
                    string key = part.Replace("~1", "/").Replace("~0", "~");
                    if (target.ValueKind != JsonValueKind.Object || !target.TryGetProperty(key, out target))
                        throw Error(path, $"$ref '{reference}' points at nothing");
                }
            }
            // Named before it is compiled, so a recursive schema refers to the rule being defined.
            string baseName = RuleName("ref-" + reference.Split('/')[^1]), ruleName = baseName;
            for (int i = 2; !_names.Add(ruleName); i++) ruleName = $"{baseName}-{i}";
            _refs[reference] = ruleName;
            string body = Visit(target, ruleName + "-body", reference);
            Rules.Append(ruleName).Append(" ::= ").Append(body).Append('\n');
            return ruleName;
        }

        string Object(JsonElement s, string name, string path)
        {
            if (s.TryGetProperty("additionalProperties", out var extra) && extra.ValueKind is not (JsonValueKind.False or JsonValueKind.True))
                throw Error(path, "additionalProperties is supported only as true or false");
            if (!s.TryGetProperty("properties", out var props)) return "object";
            var required = s.TryGetProperty("required", out var req)
                ? req.EnumerateArray().Select(x => x.GetString() ?? "").ToHashSet() : [];
            var members = props.EnumerateObject()
                .Select(p => (Key: p.Name, Rule: Visit(p.Value, $"{name}-{RuleName(p.Name)}", $"{path}/properties/{p.Name}"), Required: required.Contains(p.Name)))
                .ToList();
            foreach (var k in required)
                if (!members.Any(m => m.Key == k)) throw Error(path, $"required property '{k}' is not in properties");
            // rest(i, emitted): members i.. given whether one was written already (which decides the comma).
            string Rest(int i, bool emitted)
            {
                if (i == members.Count) return "";
                var (key, rule, isRequired) = members[i];
                string kv = $"{(emitted ? "\",\" ws " : "")}{Quote(JsonSerializer.Serialize(key))} ws \":\" ws {rule} ws";
                string take = kv + " " + RestRule(i + 1, true);
                string skip = RestRule(i + 1, emitted);
                return isRequired ? take : $"{take} | {(skip.Length > 0 ? skip : "\"\"")}";
            }
            var restRules = new Dictionary<(int, bool), string>();
            string RestRule(int i, bool emitted)
            {
                if (i == members.Count) return "";
                if (!restRules.TryGetValue((i, emitted), out var rule))
                {
                    string body = Rest(i, emitted);
                    restRules[(i, emitted)] = rule = Define($"{name}-m{i}{(emitted ? "c" : "")}", body);
                }
                return rule;
            }
            // With every member optional the first rest rule can be empty already.
            return members.Count == 0 ? "\"{\" ws \"}\"" : $"\"{{\" ws {RestRule(0, false)} \"}}\"";
        }

        string Array(JsonElement s, string name, string path)
        {
            int min = s.TryGetProperty("minItems", out var mi) ? mi.GetInt32() : 0;
            int max = s.TryGetProperty("maxItems", out var ma) ? ma.GetInt32() : -1;
            if (min < 0 || (max >= 0 && max < min)) throw Error(path, $"minItems {min} / maxItems {max} admit no array");
            string item = s.TryGetProperty("items", out var items) ? Visit(items, $"{name}-item", $"{path}/items") : "value";
            if (max == 0) return "\"[\" ws \"]\"";
            string more = max < 0 ? $"(\",\" ws {item} ws){{{Math.Max(min - 1, 0)},}}" : $"(\",\" ws {item} ws){{{Math.Max(min - 1, 0)},{max - 1}}}";
            string body = $"{item} ws {more}";
            return min == 0 ? $"\"[\" ws ({body})? \"]\"" : $"\"[\" ws {body} \"]\"";
        }

        static string String(JsonElement s, string path)
        {
            if (s.TryGetProperty("format", out var f))
            {
                string format = f.GetString() ?? "";
                return format switch
                {
                    "date" or "time" or "date-time" or "uuid" => $"\"\\\"\" {format} \"\\\"\"",
                    _ => throw Error(path, $"unsupported string format '{format}' (supported: date, time, date-time, uuid)"),
                };
            }
            int min = s.TryGetProperty("minLength", out var mi) ? mi.GetInt32() : 0;
            int max = s.TryGetProperty("maxLength", out var ma) ? ma.GetInt32() : -1;
            if (min < 0 || (max >= 0 && max < min)) throw Error(path, $"minLength {min} / maxLength {max} admit no string");
            if (min == 0 && max < 0) return "string";
            return $"\"\\\"\" char{{{min},{(max < 0 ? "" : max.ToString(CultureInfo.InvariantCulture))}}} \"\\\"\"";
        }

        static string Integer(JsonElement s, string path)
        {
            long? lo = null, hi = null;
            if (s.TryGetProperty("minimum", out var v)) lo = (long)Math.Ceiling(v.GetDecimal());
            if (s.TryGetProperty("exclusiveMinimum", out v)) lo = Math.Max(lo ?? long.MinValue, (long)Math.Floor(v.GetDecimal()) + 1);
            if (s.TryGetProperty("maximum", out v)) hi = (long)Math.Floor(v.GetDecimal());
            if (s.TryGetProperty("exclusiveMaximum", out v)) hi = Math.Min(hi ?? long.MaxValue, (long)Math.Ceiling(v.GetDecimal()) - 1);
            if (lo is null && hi is null) return "int";
            if (lo > hi) throw Error(path, $"minimum {lo} > maximum {hi}: no integer fits");
            return IntegerRange.Gbnf(lo, hi);
        }

        static string Number(JsonElement s, string path)
        {
            if (s.TryGetProperty("maximum", out _) || s.TryGetProperty("exclusiveMaximum", out _) || s.TryGetProperty("exclusiveMinimum", out _))
                throw Error(path, "maximum, exclusiveMaximum and exclusiveMinimum on a non-integer number are not supported (use type integer)");
            if (!s.TryGetProperty("minimum", out var min)) return "number";
            if (min.GetDecimal() != 0) throw Error(path, "on a non-integer number only minimum: 0 is supported (use type integer for other bounds)");
            return "(\"0\" | [1-9] [0-9]{0,15}) (\".\" [0-9]{1,15})? ([eE] [-+]? [0-9]{1,3})?";
        }
    }
}
