using System.Text.Json;
using Augur.Chat;

namespace Augur.Tests.Chat;

/// <summary>The tool-call syntaxes models write, read into calls; anything malformed or unknown is not a call.</summary>
public sealed class ToolCallsTests
{
    static readonly ToolDefinition[] Tools = [new("get_weather", null, null), new("get_time", null, null)];

    [Theory]
    [InlineData("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Oslo\"}}\n</tool_call>", "get_weather", "{\"city\": \"Oslo\"}")]
    [InlineData("[TOOL_CALLS][{\"name\": \"get_time\", \"arguments\": {\"zone\": \"CET\"}}]", "get_time", "{\"zone\": \"CET\"}")]
    [InlineData("{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Rome\"}}", "get_weather", "{\"city\": \"Rome\"}")]
    public void Each_syntax_is_read(string text, string name, string arguments)
    {
        var call = Assert.Single(ToolCalls.Parse(text, Tools));
        Assert.Equal(name, call.Name);
        Assert.Equal(JsonDocument.Parse(arguments).RootElement.GetRawText(), call.Arguments);
        Assert.StartsWith("call_", call.Id);
    }

    [Fact]
    public void Parallel_hermes_calls_are_all_read()
    {
        var calls = ToolCalls.Parse("<tool_call>{\"name\":\"get_time\",\"arguments\":{}}</tool_call>\n<tool_call>{\"name\":\"get_weather\",\"arguments\":{\"c\":1}}</tool_call>", Tools);
        Assert.Equal(["get_time", "get_weather"], calls.Select(c => c.Name));
    }

    [Theory]
    [InlineData("Once upon a time")]
    [InlineData("<tool_call>{\"name\": \"launch\", \"arguments\": {}}</tool_call>")]
    [InlineData("<tool_call>{\"name\": \"get_time\", \"arguments\": {</tool_call>")]
    [InlineData("<tool_call>{\"name\": \"get_time\", \"arguments\": 3}</tool_call>")]
    [InlineData("{\"weather\": \"sunny\"}")]
    public void Text_and_malformed_or_unknown_calls_are_not_calls(string text) => Assert.Empty(ToolCalls.Parse(text, Tools));

    [Fact]
    public void The_call_grammar_admits_exactly_calls_to_the_tools()
    {
        var schema = JsonDocument.Parse("""{"type":"object","properties":{"n":{"type":"integer","minimum":1,"maximum":3}},"required":["n"]}""").RootElement;
        var g = ToolCalls.CallGrammar([new("pick", null, schema), new("none", null, null)], parallel: false);
        Assert.True(g.Matches("<tool_call>\n{\"name\": \"pick\", \"arguments\": {\"n\": 2}}\n</tool_call>"));
        Assert.True(g.Matches("<tool_call>{\"name\":\"none\",\"arguments\":{}}</tool_call>"));
        Assert.False(g.Matches("<tool_call>{\"name\":\"pick\",\"arguments\":{\"n\":4}}</tool_call>"));
        Assert.False(g.Matches("<tool_call>{\"name\":\"other\",\"arguments\":{}}</tool_call>"));
        Assert.False(g.Matches("<tool_call>{\"name\":\"none\",\"arguments\":{}}</tool_call>\n<tool_call>{\"name\":\"none\",\"arguments\":{}}</tool_call>"));
        Assert.Throws<InvalidRequestException>(() => ToolCalls.CallGrammar([], parallel: true));
    }

    [Fact]
    public void Refs_in_tool_parameters_resolve_within_their_tool()
    {
        var tree = JsonDocument.Parse("""{"$defs":{"leaf":{"type":"integer","minimum":0,"maximum":9}},"type":"object","properties":{"v":{"$ref":"#/$defs/leaf"},"kids":{"type":"array","items":{"$ref":"#"},"maxItems":2}},"required":["v"],"additionalProperties":false}""").RootElement;
        var flag = JsonDocument.Parse("""{"$defs":{"leaf":{"type":"boolean"}},"type":"object","properties":{"on":{"$ref":"#/$defs/leaf"}},"required":["on"],"additionalProperties":false}""").RootElement;
        var g = ToolCalls.CallGrammar([new("tree", null, tree), new("flag", null, flag)], parallel: false);
        Assert.True(g.Matches("<tool_call>{\"name\":\"tree\",\"arguments\":{\"v\":3,\"kids\":[{\"v\":1},{\"v\":2,\"kids\":[]}]}}</tool_call>"));
        Assert.True(g.Matches("<tool_call>{\"name\":\"flag\",\"arguments\":{\"on\":true}}</tool_call>"));
        // Each tool's "leaf" is its own: a boolean for flag, a digit for tree.
        Assert.False(g.Matches("<tool_call>{\"name\":\"flag\",\"arguments\":{\"on\":3}}</tool_call>"));
        Assert.False(g.Matches("<tool_call>{\"name\":\"tree\",\"arguments\":{\"v\":true}}</tool_call>"));
        Assert.False(g.Matches("<tool_call>{\"name\":\"tree\",\"arguments\":{\"v\":3,\"kids\":[{\"v\":10}]}}</tool_call>"));
    }
}
