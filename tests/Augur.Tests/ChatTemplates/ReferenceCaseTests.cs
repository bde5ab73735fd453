using System.Text.Json;
using System.Text.RegularExpressions;
using Augur.ChatTemplates;

namespace Augur.Tests.ChatTemplates;

/// <summary>
/// The shared reference suite (shared/data/chat-templates): ten real templates and what Hugging Face's renderer
/// (jinja2 3.1.6, transformers' settings) printed for each conversation, or the error it raised.
/// </summary>
public sealed class ReferenceCaseTests
{
    static string CasesPath => SharedAssets.Data("chat-templates/cases.json");

    static IEnumerable<JsonElement> Entries()
    {
        using var document = JsonDocument.Parse(File.ReadAllText(CasesPath));
        return document.RootElement.EnumerateArray().Select(e => e.Clone()).ToList();
    }

    public static TheoryData<string, string> Cases()
    {
        var cases = new TheoryData<string, string>();
        foreach (var entry in Entries()) cases.Add(entry.GetProperty("template").GetString()!, entry.GetProperty("case").GetString()!);
        return cases;
    }

    [Fact]
    public void Suite_has_all_67_cases() => Assert.Equal(67, Cases().Count);

    [Theory]
    [MemberData(nameof(Cases))]
    public void Renders_like_transformers(string templateFile, string caseName)
    {
        var entry = Entries().Single(e => e.GetProperty("template").GetString() == templateFile && e.GetProperty("case").GetString() == caseName);
        var template = ChatTemplate.Parse(File.ReadAllText(Path.Combine(Path.GetDirectoryName(CasesPath)!, templateFile)));
        var variables = entry.GetProperty("variables").EnumerateObject().ToDictionary(p => p.Name, p => (object?)p.Value);

        if (entry.GetProperty("expected_error").GetString() is { } expectedError)
        {
            var error = Assert.Throws<ChatTemplateException>(() => template.Render(variables, FixedClock.ReferenceDate));
            // "TypeError: ..." is Python's wording for a runtime failure, which only has to fail here; any other
            // text came from raise_exception and must come through unchanged.
            if (!Regex.IsMatch(expectedError, @"^\w+(Error|Exception): "))
            {
                Assert.True(error.RaisedByTemplate);
                Assert.Equal(expectedError, error.Message);
            }
            return;
        }
        Assert.Equal(entry.GetProperty("expected").GetString(), template.Render(variables, FixedClock.ReferenceDate));
    }
}
