using System.Text.Json;
using System.Text.Json.Nodes;
using Augur.ChatTemplates;

namespace Augur.Tests.ChatTemplates;

/// <summary>
/// The Jinja features one at a time. Every expected string here is what jinja2 3.1.6 renders with Hugging Face's
/// settings (trim_blocks, lstrip_blocks, its tojson/raise_exception/strftime_now), checked against it when the
/// test was written.
/// </summary>
public sealed class LanguageTests
{
    // The variables every snippet below can use, as JSON, the way chat messages arrive.
    const string VariablesJson = """
        {
          "user": {"name": "Ada", "role": "admin", "tags": ["x", "y"]},
          "people": [{"name": "Ann", "age": 31}, {"name": "Bob", "age": 17}, {"name": "Cy"}],
          "text": "  Hello World  ",
          "nothing": null,
          "numbers": [3, 1, 2]
        }
        """;

    static Dictionary<string, object?> Variables() =>
        JsonDocument.Parse(VariablesJson).RootElement.EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value.Clone());

    static string Render(string template, IReadOnlyDictionary<string, object?>? variables = null) =>
        ChatTemplate.Parse(template).Render(variables ?? Variables(), FixedClock.ReferenceDate);

    static void AssertRenders(string template, string expected) => Assert.Equal(expected, Render(template));

    static ChatTemplateException RenderFails(string template) =>
        Assert.Throws<ChatTemplateException>(() => Render(template));

    // trim_blocks, lstrip_blocks, '-' and '+' markers, comments, newline normalization
    [Theory]
    [InlineData("{% if true %}\nyes\n{% endif %}\ndone",
                "yes\ndone")]
    [InlineData("  {% if true %}\n  x\n  {% endif %}\nend",
                "  x\nend")]
    [InlineData("a  \n  {{- 'b' -}}  \n  c",
                "abc")]
    [InlineData("  {%+ if true %}x{% endif %}",
                "  x")]
    [InlineData("{% if true +%}\nx{% endif %}",
                "\nx")]
    [InlineData("  {{ 'x' }}\n  {% if true %}y{% endif %}",
                "  x\ny")]
    [InlineData("a\n  {# note #}\nb {#- tight -#}   c",
                "a\nbc")]
    [InlineData("<ul>\n{% for m in people %}\n    <li>{{ m.name }}</li>\n{% endfor %}\n</ul>",
                "<ul>\n    <li>Ann</li>\n    <li>Bob</li>\n    <li>Cy</li>\n</ul>")]
    [InlineData("x {%- if true %} y {% endif -%} z",
                "x y z")]
    [InlineData("line1\n    {%- if true -%}\n        inner\n    {%- endif -%}\nline2",
                "line1innerline2")]
    [InlineData("ends with one newline dropped\n\n",
                "ends with one newline dropped\n")]
    [InlineData("crlf\r\n{% if true %}\r\nnormalized{% endif %}",
                "crlf\nnormalized")]
    public void Whitespace_control_matches_trim_blocks_and_lstrip_blocks(string template, string expected) => AssertRenders(template, expected);

    // loop variables, else, loop filter, unpacking, break/continue, nesting
    [Theory]
    [InlineData("{% for x in ['a','b','c'] %}{{ loop.index }}{{ loop.index0 }}{{ loop.first }}{{ loop.last }}{{ loop.length }}{{ loop.revindex }}{{ loop.revindex0 }} {% endfor %}",
                "10TrueFalse332 21FalseFalse321 32FalseTrue310 ")]
    [InlineData("{% for x in [1,2,3] %}{{ loop.previtem is defined }}/{{ loop.nextitem|default('-') }} {% endfor %}",
                "False/2 True/3 True/- ")]
    [InlineData("{% for x in [] %}x{% else %}empty{% endfor %}",
                "empty")]
    [InlineData("{% for x in range(10) if x is odd %}{{ x }}{{ ',' if not loop.last }}{% endfor %}",
                "1,3,5,7,9")]
    [InlineData("{% for k, v in {'a': 1, 'b': 2}|items %}{{ k }}={{ v }};{% endfor %}{% for k in user %}{{ k }} {% endfor %}",
                "a=1;b=2;name role tags ")]
    [InlineData("{% for c in 'a🚀b' %}[{{ c }}]{% endfor %}",
                "[a][🚀][b]")]
    [InlineData("{% for i in range(10) %}{% if i == 2 %}{% continue %}{% endif %}{% if i == 4 %}{% break %}{% endif %}{{ i }}{% endfor %}",
                "013")]
    [InlineData("{% for i in [1, 2] %}{% for j in [] %}{% else %}{% break %}{% endfor %}{{ i }}{% endfor %}after",
                "after")]
    [InlineData("{% for i in range(5) %}{{ loop.cycle('a', 'b') }}{% endfor %}",
                "ababa")]
    [InlineData("{% for a in [1,2] %}{% for b in 'xy' %}{{ a }}{{ b }}{{ loop.index }} {% endfor %}{{ loop.index }}|{% endfor %}",
                "1x1 1y2 1|2x1 2y2 2|")]
    [InlineData("{% for a, b in [(1, 2), [3, 4]] %}{{ a + b }}{% endfor %}",
                "37")]
    public void For_loops(string template, string expected) => AssertRenders(template, expected);

    // set inside a loop does not leak; namespace() carries state; if does not scope
    [Theory]
    [InlineData("{% set x = 1 %}{% for i in [1,2] %}{% set x = x + i %}{{ x }}{% endfor %}{{ x }}",
                "231")]
    [InlineData("{% set ns = namespace(total=0) %}{% for i in [1,2,3] %}{% set ns.total = ns.total + i %}{% endfor %}{{ ns.total }}",
                "6")]
    [InlineData("{% set ns = namespace() %}{% set ns.a = 1 %}{{ ns.a }} {{ ns.b is defined }} {{ namespace(x=1, y='z').y }}",
                "1 False z")]
    [InlineData("{% if true %}{% set leaked = 'yes' %}{% endif %}{{ leaked }}",
                "yes")]
    [InlineData("{% set numbers = numbers[1:] %}{{ numbers }}",
                "[1, 2]")]
    [InlineData("{% for x in [1] %}{{ loop.index }}{% endfor %}{{ loop is defined }}",
                "1False")]
    [InlineData("{% set x = 'top' %}{% macro show() %}{{ x }}{% endmacro %}{% set x = 'changed' %}{{ show() }}",
                "changed")]
    public void Scoping(string template, string expected) => AssertRenders(template, expected);

    // if/elif/else, block set, tuple set, macros with defaults, keywords and recursion
    [Theory]
    [InlineData("{% if false %}a{% elif nothing is none %}b{% else %}c{% endif %}",
                "b")]
    [InlineData("{% set x %}a{{ 1 + 1 }}b{% endset %}[{{ x }}]",
                "[a2b]")]
    [InlineData("{% set a, b = 'xy' %}{{ b }}{{ a }}",
                "yx")]
    [InlineData("{% macro greet(name, greeting='Hello') %}{{ greeting }}, {{ name }}!{% endmacro %}{{ greet('Ann') }} {{ greet('Bob', greeting='Hi') }} {{ greet() }}",
                "Hello, Ann! Hi, Bob! Hello, !")]
    [InlineData("{% macro fact(n) %}{{ 1 if n <= 1 else n * fact(n - 1)|int }}{% endmacro %}{{ fact(5) }}",
                "120")]
    [InlineData("{% macro outer(x) %}[{% for i in range(x) %}{{ inner(i) }}{% endfor %}]{% endmacro %}{% macro inner(i) %}<{{ i }}>{% endmacro %}{{ outer(3) }}",
                "[<0><1><2>]")]
    public void Statements(string template, string expected) => AssertRenders(template, expected);

    // precedence, Python arithmetic, and/or values, in, chained comparisons, slicing, lookups, printing
    [Theory]
    [InlineData("{{ 'a' + ' b '|trim + 'c' }} {{ numbers|length - 1 }} {{ not nothing is defined }} {{ 2 + 3 * 4 ** 2 }}",
                "abc 2 False 50")]
    [InlineData("{{ 10 - 2 - 3 }} {{ 2 ** 3 ** 2 }} {{ 'a' ~ 1 + 2 ~ 'b' }} {{ 6 / 4 * 2 }} {{ -2 ** 2 }} {{ not true or true }} {{ not (true or true) }}",
                "5 64 a12b 3.0 4 True False")]
    [InlineData("{{ 7 // 2 }} {{ -7 // 2 }} {{ -7 % 3 }} {{ 7 / 2 }} {{ 2 ** -1 }} {{ 7.5 // 2 }} {{ -7.5 % 2 }} {{ 10 / 5 }}",
                "3 -4 2 3.5 0.5 3.0 0.5 2.0")]
    [InlineData("{{ 0.5 + 1 }} {{ 1 - true }} {{ true + true }} {{ 3 * 1.0 }} {{ 1e300 * 1e300 }} {{ 2 ** 62 }} {{ 7 % -3 }} {{ -7 // 2.0 }}",
                "1.5 0 2 3.0 inf 4611686018427387904 -2 -4.0")]
    [InlineData("{{ 1 ~ 2 ~ nothing ~ missing }}",
                "12None")]
    [InlineData("{{ true and 'x' }} {{ false or 'y' }} {{ 0 or [] or 'z' }} {{ '' and 1 }}|{{ none or none }}",
                "x y z |None")]
    [InlineData("{{ 'y' if user else 'n' }}[{{ 'y' if nothing }}] {{ 'x' if false else 'y' if false else 'z' }}",
                "y[] z")]
    [InlineData("{{ 'ell' in 'hello' }} {{ 'name' in user }} {{ 2 in [1, 2] }} {{ 'z' not in 'abc' }} {{ 'x' in missing }}",
                "True True True True False")]
    [InlineData("{{ 1 < 2 < 3 }} {{ 1 < 3 < 2 }} {{ 'a' < 'b' }} {{ [1, 2] < [1, 3] }} {{ 2 >= 2.0 }}",
                "True False True True True")]
    [InlineData("{{ {'a': 1, 'b': [1, 2]} == {'b': [1, 2], 'a': 1} }} {{ 1 == 1.0 }} {{ [1] == [1.0] }} {{ none == missing }} {{ missing == missing2 }} {{ (1, 2) == [1, 2] }}",
                "True True True False True False")]
    [InlineData("{{ 'hello'[1:] }} {{ 'hello'[:-1] }} {{ 'hello'[::-1] }} {{ [1,2,3][::-1] }} {{ 'hello'[-1] }} {{ [1,2,3,4,5][1:4:2] }} {{ [1,2,3][5:] }} {{ [1,2,3][-10:2] }}",
                "ello hell olleh [3, 2, 1] o [2, 4] [] [1, 2]")]
    [InlineData("{{ 'a🚀b'|length }} {{ 'a🚀b'[1] }} {{ 'a🚀b'[::-1] }} {{ 'abcdef'[-2::-2] }}",
                "3 🚀 b🚀a eca")]
    [InlineData("{{ user.name }} {{ user['name'] }} {{ user.tags.1 }} {{ user.tags[-1] }} {{ people[0].name }} {{ people.0.name }} {{ user.name[0] }}",
                "Ada Ada y y Ann Ann A")]
    [InlineData("{{ user.missing is defined }} {{ 'abc'.foo is defined }} {{ user['tags'][5] is defined }} {{ user.items is callable }}",
                "False False False True")]
    [InlineData("{{ [1, 'a', nothing, true, 1.5, \"it's\"] }} {{ {'k': 'v', 'n': [none]} }} {{ (1, 2) }} {{ () }} {{ (1,) }} {{ user|items|first }}",
                "[1, 'a', None, True, 1.5, \"it's\"] {'k': 'v', 'n': [None]} (1, 2) () (1,) ('name', 'Ada')")]
    [InlineData("{{ 1e20 }} {{ 0.1 + 0.2 }} {{ 1.0 }} {{ 1e-5 }} {{ 123456789.0 * 10 }} {{ 1e16 }} {{ 1e15 }} {{ 0.0001 }}",
                "1e+20 0.30000000000000004 1.0 1e-05 1234567890.0 1e+16 1000000000000000.0 0.0001")]
    [InlineData("{{ none }} {{ true }} {{ False }} {{ 'ab' * 2 }} {{ [0] * 3 }} {{ 2 * 'x' }} {{ [1, 2,] }} {{ {'a': 1,} }}",
                "None True False abab [0, 0, 0] xx [1, 2] {'a': 1}")]
    [InlineData("{{ 'a' 'b' \"c\" }} {{ '\\u00e9\\x41\\t|' }} {{ 'line\\\ncont' }} {{ \"multi\nline\" }} {{ '\\d' }}",
                "abc éA\t| linecont multi\nline \\d")]
    [InlineData("{{ [\"it's\", 'say \"hi\"', 'both \\' \"', '\\n\\t\\\\', 'é🚀', '\\x7f'] }}",
                "[\"it's\", 'say \"hi\"', 'both \\' \"', '\\n\\t\\\\', 'é🚀', '\\x7f']")]
    public void Expressions(string template, string expected) => AssertRenders(template, expected);

    // tojson as Hugging Face calls json.dumps, and the string and sequence filters
    [Theory]
    [InlineData("{{ {'a': [1, 2.5, none, true], 'b': 'é\"\\n\\u0001<'}|tojson }}",
                "{\"a\": [1, 2.5, null, true], \"b\": \"é\\\"\\n\\u0001<\"}")]
    [InlineData("{{ user|tojson(indent=2) }}",
                "{\n  \"name\": \"Ada\",\n  \"role\": \"admin\",\n  \"tags\": [\n    \"x\",\n    \"y\"\n  ]\n}")]
    [InlineData("{{ {'a': [], 'b': {}, 'c': [1]}|tojson(indent=4) }}",
                "{\n    \"a\": [],\n    \"b\": {},\n    \"c\": [\n        1\n    ]\n}")]
    [InlineData("{{ 'é🚀'|tojson(ensure_ascii=true) }} {{ {'b': 1, 'a': 2}|tojson(sort_keys=true) }} {{ [1, {'a': 2}]|tojson(separators=[',', ':']) }} {{ 1e20|tojson }}",
                "\"\\u00e9\\ud83d\\ude80\" {\"a\": 2, \"b\": 1} [1,{\"a\":2}] 1e+20")]
    [InlineData("{{ text|trim }}|{{ 'xxhixx'|trim('x') }}|{{ 'ab'|upper }}{{ 'AB'|lower }}|{{ 'hELLO wORLD'|capitalize }}|{{ 'hello big-world (x)'|title }}|{{ 'aaa'|replace('a', 'b', 2) }}",
                "Hello World|hi|ABab|Hello world|Hello Big-World (X)|bba")]
    [InlineData("{{ numbers|join(', ') }}|{{ people|join('/', attribute='name') }}|{{ ''|default('e', true) }}|{{ numbers|first }}{{ numbers|last }}|{{ 'abc'|list }}|{{ 'abc'|first }}",
                "3, 1, 2|Ann/Bob/Cy|e|32|['a', 'b', 'c']|a")]
    [InlineData("[{{ missing|default('fallback') }}][{{ user.nope|default('d') }}][{{ nothing|default('kept') }}][{{ nothing|d('x', boolean=true) }}]",
                "[fallback][d][None][x]")]
    [InlineData("{{ people|selectattr('age', 'defined')|map(attribute='name')|join(',') }}|{{ people|rejectattr('age')|map(attribute='name')|list }}|{{ people|selectattr('name', 'equalto', 'Bob')|list|length }}|{{ people|map(attribute='age', default=0)|list }}",
                "Ann,Bob|['Cy']|1|[31, 17, 0]")]
    [InlineData("{{ numbers|select('odd')|list }}|{{ numbers|reject('equalto', 2)|list }}|{{ ['a','b']|map('upper')|join }}|{{ numbers|select|list }}|{{ numbers|map('string')|join('-') }}",
                "[3, 1]|[3, 1]|AB|[3, 1, 2]|3-1-2")]
    [InlineData("{{ \"a\\nb\\n\\nc\"|indent(2) }}|{{ \"a\\nb\"|indent(2, true) }}|{{ \"a\\n\\nb\"|indent('--', blank=true) }}|{{ 'abc'|indent }}",
                "a\n  b\n\n  c|  a\n  b|a\n--\n--b|abc")]
    [InlineData("{{ '42'|int + 1 }} {{ '4.7'|int }} {{ 'x'|int }} {{ 'x'|int(7) }} {{ 'ff'|int(base=16) }} {{ 3.9|int }} {{ '2.5'|float }} {{ 'nope'|float }} {{ 5|float }} {{ ' 12 '|int }} {{ '1_000'|int }}",
                "43 4 0 7 255 3 2.5 0.0 5.0 12 1000")]
    [InlineData("{{ 5|string ~ 'x' }} {{ user|items|list }} {{ numbers|reverse|list }} {{ 'abc'|reverse }} {{ '<a href=\"x\">&\\''|escape }} {{ text|length }} {{ user|length }}",
                "5x [('name', 'Ada'), ('role', 'admin'), ('tags', ['x', 'y'])] [2, 1, 3] cba &lt;a href=&#34;x&#34;&gt;&amp;&#39; 15 3")]
    public void Filters(string template, string expected) => AssertRenders(template, expected);

    // is-tests, including jinja's view that undefined is iterable
    [Theory]
    [InlineData("{{ 'a' is string }} {{ user is mapping }} {{ 'a' is iterable }} {{ 5 is iterable }} {{ 5 is number }} {{ true is number }} {{ nothing is none }} {{ missing is iterable }} {{ user is sequence }}",
                "True True True False True True True True True")]
    [InlineData("{{ 6 is divisibleby 3 }} {{ 5 is divisibleby(5) }} {{ 2 is in [1, 2] }} {{ 'abc' is lower }} {{ 'Abc' is upper }} {{ true is sameas true }} {{ 1 is integer }} {{ 1.0 is float }} {{ true is boolean }} {{ false is false }} {{ none is true }}",
                "True True True True False True True True True True False")]
    [InlineData("{{ 3 is odd }} {{ 3 is even }} {{ 3 is gt 2 }} {{ 3 is lessthan 2 }} {{ 'x' is ne 'y' }} {{ user.name is string and user.name is not none }} {{ missing is undefined }}",
                "True False True False True True True")]
    public void Tests(string template, string expected) => AssertRenders(template, expected);

    // str and dict methods the sandbox allows
    [Theory]
    [InlineData("[{{ '  a b  '.strip() }}][{{ 'xxaxx'.lstrip('x') }}][{{ 'xxaxx'.rstrip('x') }}][{{ '\\n\\nhi\\n'.strip('\\n') }}]",
                "[a b][axx][xxa][hi]")]
    [InlineData("{{ ' a  b c '.split() }} {{ 'a,b,,c'.split(',') }} {{ 'a,b,c'.split(',', 1) }} {{ ' a b c '.split(none, 1) }} {{ 'x</think>y'.split('</think>')[-1] }}",
                "['a', 'b', 'c'] ['a', 'b', '', 'c'] ['a', 'b,c'] ['a', 'b c '] y")]
    [InlineData("{{ 'hello'.startswith('he') }} {{ 'hello'.startswith(('x', 'h')) }} {{ 'hello'.endswith('lo') }} {{ 'a-b'.replace('-', '+') }} {{ 'hello world'.title() }} {{ ', '.join(['a', 'b']) }} {{ 'aB'.upper() }}{{ 'aB'.lower() }} {{ 'hI'.capitalize() }}",
                "True True True a+b Hello World a, b ABab Hi")]
    [InlineData("{{ user.get('name') }} {{ user.get('nope') }} {{ user.get('nope', 'd') }} {{ user.keys()|list }} {{ user.values()|list|length }} {% for k, v in user.items() %}{{ k }}{% endfor %}",
                "Ada None d ['name', 'role', 'tags'] 3 nameroletags")]
    public void Python_methods(string template, string expected) => AssertRenders(template, expected);

    // range, dict, strftime_now on the fixed clock
    [Theory]
    [InlineData("{{ range(3)|list }} {{ range(1, 7, 2)|list }} {{ range(5, 0, -2)|list }} {{ dict(a=1)|tojson }}",
                "[0, 1, 2] [1, 3, 5] [5, 3, 1] {\"a\": 1}")]
    [InlineData("{{ strftime_now('%d %b %Y') }} {{ strftime_now('%Y-%m-%d %H:%M:%S %a %A %B %j %y %p %I') }} {{ strftime_now('%-d/%-m|%%') }}",
                "15 Jan 2026 2026-01-15 00:00:00 Thu Thursday January 015 26 AM 12 15/1|%")]
    public void Globals(string template, string expected) => AssertRenders(template, expected);

    // ---- undefined values

    [Fact]
    public void Undefined_values_print_empty_and_are_false_but_fail_when_used()
    {
        AssertRenders("[{{ missing }}][{{ missing|length }}][{{ missing is defined }}][{% for x in missing %}x{% endfor %}][{{ 'y' if missing else 'n' }}]",
            "[][0][False][][n]");

        var attributeOfMissing = RenderFails("{{ missing.attr }}");
        Assert.Equal("'missing' is undefined", attributeOfMissing.Reason);

        var chained = RenderFails("{{ user.nope.deeper }}");
        Assert.Equal("'dict object' has no attribute 'nope'", chained.Reason);

        Assert.Equal("'missing' is undefined", RenderFails("{{ missing + 1 }}").Reason);
        Assert.Equal("'missing' is undefined", RenderFails("{{ missing() }}").Reason);
    }

    // ---- errors

    [Fact]
    public void Syntax_errors_give_line_and_column()
    {
        var error = Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse("line one\n{{ 1 + }}"));
        Assert.Equal((2, 8), (error.Line, error.Column));
        Assert.Equal("chat template, line 2, column 8: unexpected '}}'", error.Message);
        Assert.False(error.RaisedByTemplate);

        Assert.Equal((1, 20), Position(() => ChatTemplate.Parse("{% for x in y %}{% endif %}")));
        Assert.Contains("unexpected end of template, expected 'elif' or 'else' or 'endif'",
            Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse("{% if x %}unterminated")).Message);
        Assert.Equal((1, 4), Position(() => ChatTemplate.Parse("{{ 'not closed }}")));
        Assert.Equal((2, 1), Position(() => ChatTemplate.Parse("ok\n{# not closed")));
        Assert.Equal((1, 4), Position(() => ChatTemplate.Parse("{% break %}")));
        Assert.Equal((1, 4), Position(() => ChatTemplate.Parse("{% include 'x' %}")));
    }

    static (int, int) Position(Action action)
    {
        var error = Assert.Throws<ChatTemplateException>(action);
        return (error.Line, error.Column);
    }

    [Fact]
    public void Runtime_errors_point_at_the_failing_expression()
    {
        var error = RenderFails("line1\nline2 {{ nothing + 1 }}");
        Assert.Equal((2, 18), (error.Line, error.Column));
        Assert.Equal("chat template, line 2, column 18: unsupported operand type(s) for +: 'NoneType' and 'int'", error.Message);

        var notIterable = RenderFails("{% for x in nothing %}{% endfor %}");
        Assert.Equal((1, 13), (notIterable.Line, notIterable.Column));
        Assert.Equal("'NoneType' object is not iterable", notIterable.Reason);

        Assert.Equal("no filter named 'nosuch'", RenderFails("{{ 1|nosuch }}").Reason);
        Assert.Equal("division by zero", RenderFails("{{ 1 / 0 }}").Reason);
        Assert.Equal("cannot assign attribute on non-namespace object 'nothing'", RenderFails("{% set nothing.x = 1 %}").Reason);
        Assert.Equal("macro 'f' takes not more than 1 argument(s)", RenderFails("{% macro f(a) %}{% endmacro %}{{ f(1, 2) }}").Reason);
    }

    [Fact]
    public void Unknown_filters_only_fail_when_reached()
    {
        // As in jinja 3, so a template that uses an exotic filter only for tools still renders plain chats.
        AssertRenders("{% if false %}{{ x|nosuch }}{% endif %}ok", "ok");
    }

    [Fact]
    public void Raise_exception_keeps_the_templates_message()
    {
        var error = RenderFails("{% if true %}\n  {{ raise_exception('System role not supported') }}\n{% endif %}");
        Assert.True(error.RaisedByTemplate);
        Assert.Equal("System role not supported", error.Message);
        Assert.Equal((2, 6), (error.Line, error.Column));
    }

    [Fact]
    public void Runaway_recursion_and_deep_nesting_fail_cleanly()
    {
        // Templates come from model files: a hostile one must not crash the process with a stack overflow.
        Assert.Equal("recursion is too deep", RenderFails("{% macro r(n) %}{{ r(n + 1) }}{% endmacro %}{{ r(0) }}").Reason);
        string nested = "{{ " + new string('(', 100_000) + "1" + new string(')', 100_000) + " }}";
        Assert.Equal("template is nested too deeply", Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(nested)).Reason);
        Assert.Equal("repeated string is too long", RenderFails("{{ 'x' * 100000000000 }}").Reason);
        Assert.StartsWith("Range too big", RenderFails("{{ range(200000)|length }}").Reason);
    }

    // ---- inputs and API

    [Fact]
    public void Plain_objects_and_json_nodes_are_accepted_in_order()
    {
        var variables = new Dictionary<string, object?>
        {
            ["data"] = new Dictionary<string, object?>
            {
                ["z"] = 1,
                ["list"] = new List<object?> { 1, 2.5, "x", null, true },
                ["array"] = new[] { 1L, 2L },
                ["single"] = 2.0f,
                ["node"] = JsonNode.Parse("""{"k": [1, 2.0, "s"], "b": false}"""),
            },
        };
        Assert.Equal("""{"z": 1, "list": [1, 2.5, "x", null, true], "array": [1, 2], "single": 2.0, "node": {"k": [1, 2.0, "s"], "b": false}} 3""",
            Render("{{ data|tojson }} {{ data.array[1] + 1 }}", variables));
    }

    [Fact]
    public void Unsupported_variable_types_are_rejected_by_name()
    {
        var error = Assert.Throws<ArgumentException>(() => Render("{{ x }}", new Dictionary<string, object?> { ["x"] = new { A = 1 } }));
        Assert.Contains("variable x", error.Message);
    }

    [Fact]
    public void Strftime_now_reads_the_given_clock()
    {
        var template = ChatTemplate.Parse("{{ strftime_now('%d %B %Y, %H:%M') }}");
        var clock = new FixedClock(new DateTime(2024, 7, 26, 15, 4, 0));
        Assert.Equal("26 July 2024, 15:04", template.Render(new Dictionary<string, object?>(), clock));
    }

    [Fact]
    public void Default_template_is_chatml()
    {
        var variables = new Dictionary<string, object?>
        {
            ["messages"] = JsonDocument.Parse("""[{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi"}]""").RootElement,
            ["add_generation_prompt"] = true,
        };
        Assert.Equal("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n",
            ChatTemplate.Default.Render(variables));
        Assert.Equal(ChatTemplate.DefaultSource, ChatTemplate.Default.Source);
    }
}
