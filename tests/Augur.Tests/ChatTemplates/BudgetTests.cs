using System.Text.Json;
using Augur.ChatTemplates;
using Xunit.Abstractions;

namespace Augur.Tests.ChatTemplates;

/// <summary>
/// The render budget (<see cref="ChatTemplateLimits"/>): hostile templates end with a budget error after a bounded
/// number of steps, never by a clock; real templates stay far below the defaults; cancellation reaches the interpreter.
/// </summary>
public sealed class BudgetTests(ITestOutputHelper output)
{
    static readonly Dictionary<string, object?> NoVariables = [];

    static ChatTemplateException Fails(string template, ChatTemplateLimits limits) =>
        Assert.Throws<ChatTemplateException>(() => ChatTemplate.Parse(template).Render(NoVariables, FixedClock.ReferenceDate, limits));

    const string ExponentialMacro =
        "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}{{ f(64) }}";

    const string SilentLoopBomb =
        "{% for i in range(100000) %}{% for j in range(100000) %}{% for k in range(100000) %}{% endfor %}{% endfor %}{% endfor %}";

    [Theory]
    [InlineData(ExponentialMacro)]
    [InlineData(SilentLoopBomb)]
    [InlineData("{% for i in range(100000) %}{% for j in range(100000) %}{{ '' }}{% endfor %}{% endfor %}")]
    public void Runaway_templates_stop_at_exactly_the_step_budget(string template)
    {
        var e = Fails(template, new ChatTemplateLimits { MaxSteps = 50_000 });
        Assert.Contains("step budget (50,000 steps)", e.Message);
    }

    [Fact]
    public void The_exponential_macro_stops_under_the_default_budget()
    {
        var e = Fails(ExponentialMacro, ChatTemplateLimits.Default);
        Assert.Contains($"step budget ({ChatTemplateLimits.Default.MaxSteps:N0} steps)", e.Message);
    }

    [Theory]
    [InlineData("{% set ns = namespace(s='x') %}{% for i in range(64) %}{% set ns.s = ns.s ~ ns.s %}{% endfor %}")]
    [InlineData("{% set ns = namespace(l=[1]) %}{% for i in range(64) %}{% set ns.l = ns.l + ns.l %}{% endfor %}")]
    [InlineData("{% set ns = namespace(l=[]) %}{% for i in range(100000) %}{% set ns.l = ns.l + [i] %}{% endfor %}")]
    public void Values_doubled_or_grown_in_a_loop_stop_at_the_memory_budget(string template)
    {
        var e = Fails(template, new ChatTemplateLimits { MaxBuiltSize = 1_000_000 });
        Assert.Contains("memory budget (1,000,000 characters and items built)", e.Message);
    }

    [Fact]
    public void Output_stops_at_the_output_budget()
    {
        var e = Fails("{% for i in range(100000) %}{{ 'abcdefghij' }}{% endfor %}", new ChatTemplateLimits { MaxOutputChars = 10_000 });
        Assert.Contains("output budget (10,000 characters)", e.Message);
    }

    [Theory]
    // A list holding the same list a thousand times over, printed, joined or dumped: each would build billions of
    // characters in one operation before any budget saw the result.
    [InlineData("{% set a = ['xxxxxxxxxx'] * 10000 %}{% set b = [a] * 10000 %}{{ b }}", "the printed value")]
    [InlineData("{% set a = ['xxxxxxxxxx'] * 10000 %}{% set b = [a] * 10000 %}{{ b | tojson }}", "the JSON text")]
    [InlineData("{% set a = ['x' * 100000] * 10000 %}{{ a | join }}", "the joined string")]
    [InlineData("{{ ('x' * 1000000).replace('x', 'yyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyyy') }}", "the replaced string")]
    [InlineData("{{ ('x\\n' * 1000000) | indent(1000) }}", "the indented string")]
    public void One_operation_cannot_build_a_giant_string(string template, string what)
    {
        var e = Fails(template, ChatTemplateLimits.Default);
        Assert.Contains(what, e.Message);
        Assert.Contains("more than the sandbox allows", e.Message);
    }

    [Fact]
    public void A_namespace_that_holds_itself_prints_as_an_error_not_a_stack_overflow()
    {
        var e = Fails("{% set ns = namespace() %}{% set ns.me = ns %}{{ ns }}", ChatTemplateLimits.Default);
        Assert.Contains("nested too deeply", e.Message);
    }

    [Fact]
    public void A_cancelled_token_stops_the_render_within_the_check_interval()
    {
        // The clock cancels the token the first time strftime_now reads it, inside a loop bomb: the render must
        // stop at the interpreter's next look at the token, a thousand steps later at most.
        using var cancel = new CancellationTokenSource();
        var clock = new CancellingClock(cancel);
        const string template = "{% for i in range(100000) %}{% for j in range(100000) %}{% if i == 0 and j == 0 %}{{ strftime_now('%Y') }}{% endif %}{% endfor %}{% endfor %}";
        Assert.Throws<OperationCanceledException>(() => ChatTemplate.Parse(template).Render(NoVariables, clock, ChatTemplateLimits.Default, cancel.Token));
        Assert.True(clock.Read);
        Assert.InRange(Interpreter.LastUsage.Steps, 1, 1024 * 16);
    }

    [Fact]
    public void A_token_cancelled_before_the_render_stops_it_before_the_first_step()
    {
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        Assert.Throws<OperationCanceledException>(() => ChatTemplate.Parse(SilentLoopBomb).Render(NoVariables, null, null, cancel.Token));
    }

    [Fact]
    public void Limits_must_be_positive()
    {
        Assert.Throws<InvalidRequestException>(() => new ChatTemplateLimits { MaxSteps = 0 }.Validate());
        Assert.Throws<InvalidRequestException>(() => new ChatTemplateLimits { MaxOutputChars = -1 }.Validate());
        Assert.Throws<InvalidRequestException>(() => new ChatTemplateLimits { MaxBuiltSize = 0 }.Validate());
    }

    static IEnumerable<JsonElement> AllCases() =>
        new[] { "cases.json", "cases-gemma3.json" }.SelectMany(file =>
        {
            using var document = JsonDocument.Parse(File.ReadAllText(SharedAssets.Data("chat-templates/" + file)));
            return document.RootElement.EnumerateArray().Select(e => e.Clone()).ToList();
        });

    static string TemplateText(JsonElement entry) =>
        File.ReadAllText(SharedAssets.Data("chat-templates/" + entry.GetProperty("template").GetString()));

    /// <summary>The defaults are sized from this: the most any real case uses, and the margin left.</summary>
    [Fact]
    public void Real_templates_use_under_a_twentieth_of_each_default_even_with_a_one_megabyte_conversation()
    {
        (long Steps, long Built, long Output) most = (0, 0, 0);
        foreach (var entry in AllCases())
        {
            if (entry.GetProperty("expected_error").GetString() is not null) continue;
            var variables = entry.GetProperty("variables").EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value);
            string rendered = ChatTemplate.Parse(TemplateText(entry)).Render(variables, FixedClock.ReferenceDate);
            Assert.Equal(entry.GetProperty("expected").GetString(), rendered);
            var used = Interpreter.LastUsage;
            most = (Math.Max(most.Steps, used.Steps), Math.Max(most.Built, used.Built), Math.Max(most.Output, used.Output));
        }
        output.WriteLine($"largest real case: {most.Steps:N0} steps, {most.Built:N0} built, {most.Output:N0} output characters");

        // Each template again with a conversation of 1 MB: 100 turns of 10,000 characters.
        var turns = Enumerable.Range(0, 100).Select(i => (object?)new Dictionary<string, object?>
        {
            ["role"] = i % 2 == 0 ? "user" : "assistant",
            ["content"] = new string((char)('a' + i % 26), 10_000),
        }).ToList();
        var limits = ChatTemplateLimits.Default;
        foreach (var entry in AllCases().DistinctBy(e => e.GetProperty("template").GetString()))
        {
            // The tool-use template is only ever used with tools.
            bool needsTools = entry.GetProperty("template").GetString()!.Contains("tool_use");
            ChatTemplate.Parse(TemplateText(entry)).Render(new Dictionary<string, object?>
            {
                ["messages"] = turns, ["add_generation_prompt"] = true, ["bos_token"] = "<s>", ["eos_token"] = "</s>",
                ["tools"] = needsTools ? new List<object?>() : null,
            }, FixedClock.ReferenceDate);
            var used = Interpreter.LastUsage;
            output.WriteLine($"1 MB conversation: {used.Steps:N0} steps, {used.Built:N0} built, {used.Output:N0} output characters");
            Assert.True(used.Steps * 20 <= limits.MaxSteps, $"{used.Steps:N0} steps");
            Assert.True(used.Built * 20 <= limits.MaxBuiltSize, $"{used.Built:N0} built");
            Assert.True(used.Output * 16 <= limits.MaxOutputChars, $"{used.Output:N0} output");
        }
    }

    sealed class CancellingClock(CancellationTokenSource cancel) : TimeProvider
    {
        public bool Read { get; private set; }

        public override TimeZoneInfo LocalTimeZone => TimeZoneInfo.Utc;

        public override DateTimeOffset GetUtcNow()
        {
            Read = true;
            cancel.Cancel();
            return new DateTimeOffset(2026, 1, 15, 0, 0, 0, TimeSpan.Zero);
        }
    }
}
