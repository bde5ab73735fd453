using System.Text.Json;
using Augur.Chat;
using Augur.ChatTemplates;
using Augur.Tests.ChatTemplates;
using Augur.Tests.Tokenizers;
using Augur.Tokenizers;

namespace Augur.Tests.Chat;

/// <summary>
/// Templates that handle tools get them natively. The shared reference suite's <c>tool_call</c> conversation (a tool,
/// an assistant call, the tool's result), given to <see cref="ChatPrompt"/> as turns and tool definitions, must render
/// exactly as transformers rendered it, and the probe must find the syntax each template writes calls in. Templates
/// without tool support (or with a call syntax Augur does not read) get the default Hermes prompt instead.
/// </summary>
public sealed class NativeToolTemplateTests
{
    static readonly string Folder = SharedAssets.Data("chat-templates");

    /// <summary>A tokenizer whose BOS and EOS are the reference case's bos_token and eos_token.</summary>
    static ITokenizer TokenizerFor(string bos) => bos switch
    {
        "<|begin_of_text|>" => ConvertedVocabularies.Tokenizer("llama3"),
        "<s>" => Vocabularies.Tok512Tokenizer,
        _ => ConvertedVocabularies.Tokenizer("qwen3"),
    };

    static JsonElement Case(string template, string name)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(Path.Combine(Folder, "cases.json")));
        return doc.RootElement.EnumerateArray().Single(e => e.GetProperty("template").GetString() == template && e.GetProperty("case").GetString() == name).Clone();
    }

    static ChatPrompt Prompt(string template, ITokenizer tokenizer) =>
        new(ChatTemplate.Parse(File.ReadAllText(Path.Combine(Folder, template))), tokenizer, clock: FixedClock.ReferenceDate);

    /// <summary>The case's messages as turns: tool_calls (arguments as compact JSON text) and tool results by tool_call_id.</summary>
    static List<ChatTurn> Turns(JsonElement messages) => messages.EnumerateArray().Select(m => new ChatTurn(m.GetProperty("role").GetString()!, m.GetProperty("content").GetString()!)
    {
        ToolCalls = m.TryGetProperty("tool_calls", out var calls)
            ? calls.EnumerateArray().Select(c => new ToolCall(c.GetProperty("id").GetString()!, c.GetProperty("function").GetProperty("name").GetString()!,
                System.Text.Json.Nodes.JsonNode.Parse(c.GetProperty("function").GetProperty("arguments").GetRawText())!.ToJsonString())).ToList()
            : null,
        ToolCallId = m.TryGetProperty("tool_call_id", out var id) ? id.GetString() : null,
    }).ToList();

    static List<ToolDefinition> Tools(JsonElement tools) => tools.EnumerateArray().Select(t => t.GetProperty("function"))
        .Select(f => new ToolDefinition(f.GetProperty("name").GetString()!, f.GetProperty("description").GetString(), f.GetProperty("parameters").Clone())).ToList();

    public static TheoryData<string, string> Native => new()
    {
        { "meta-llama-Llama-3.1-8B-Instruct.jinja", "llama3-json" },
        { "meta-llama-Llama-3.2-3B-Instruct.jinja", "llama3-json" },
        { "Qwen-Qwen2.5-7B-Instruct.jinja", "hermes" },
        { "Qwen-Qwen3-0.6B.jinja", "hermes" },
        { "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", "hermes" },
        { "mistralai-Mistral-Nemo-Instruct-2407.jinja", "mistral" },
    };

    [Theory]
    [MemberData(nameof(Native))]
    public void The_reference_tool_conversation_renders_as_transformers_renders_it(string template, string syntax)
    {
        var entry = Case(template, "tool_call");
        var variables = entry.GetProperty("variables");
        var prompt = Prompt(template, TokenizerFor(variables.GetProperty("bos_token").GetString()!));
        Assert.Equal(syntax, prompt.NativeTools?.Name);
        Assert.Equal(entry.GetProperty("expected").GetString(), prompt.Render(Turns(variables.GetProperty("messages")), Tools(variables.GetProperty("tools"))));
    }

    /// <summary>Hermes GGUFs carry their tool template apart (<c>tokenizer.chat_template.tool_use</c>): requests with tools
    /// use it, others the main template.</summary>
    [Fact]
    public void A_separate_tool_template_serves_requests_with_tools()
    {
        var variables = Case("NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", "tool_call").GetProperty("variables");
        var prompt = new ChatPrompt(ChatTemplate.Default, ConvertedVocabularies.Tokenizer("llama3"),
            toolTemplate: ChatTemplate.Parse(File.ReadAllText(Path.Combine(Folder, "NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja"))));
        Assert.Same(ToolCallSyntaxes.Hermes, prompt.NativeTools);
        Assert.Equal(Case("NousResearch-Hermes-3-Llama-3.1-8B-tool_use.jinja", "tool_call").GetProperty("expected").GetString(),
            prompt.Render(Turns(variables.GetProperty("messages")), Tools(variables.GetProperty("tools"))));
        Assert.Equal("<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n", prompt.Render([new ChatTurn("user", "Hi")]));
    }

    /// <summary>No tool support (Phi, Gemma, DeepSeek) or a call syntax Augur does not read (Mistral Small 3.2's
    /// <c>[TOOL_CALLS]name[ARGS]{…}</c>): the tools go into the system turn Hermes-style, calls and results into the text.</summary>
    [Theory]
    [InlineData("microsoft-Phi-3.5-mini-instruct.jinja")]
    [InlineData("google-gemma-3-it.jinja")]
    [InlineData("deepseek-ai-DeepSeek-R1-Distill-Qwen-32B.jinja")]
    [InlineData("Mistral-Small-3.2-24B-Instruct-2506.jinja")]
    public void Other_templates_get_the_default_tool_prompt(string template)
    {
        var reference = Case("Qwen-Qwen3-0.6B.jinja", "tool_call").GetProperty("variables");
        var prompt = Prompt(template, Vocabularies.Tok512Tokenizer);
        Assert.Null(prompt.NativeTools);
        Assert.Same(ToolCallSyntaxes.Hermes, prompt.ToolSyntax);
        var tools = Tools(reference.GetProperty("tools"));
        string rendered = prompt.Render(Turns(reference.GetProperty("messages")), tools);
        Assert.Contains(ToolCalls.SystemPrompt(tools), rendered);
        Assert.Contains("<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"location\":\"Paris\",\"unit\":\"celsius\"}}\n</tool_call>", rendered);
        Assert.Contains("<tool_response>\n{\"temperature\": 18, \"condition\": \"sunny\"}\n</tool_response>", rendered);
    }

    /// <summary>What each syntax's call grammar admits is what that syntax reads back, and what the family's template writes.</summary>
    [Fact]
    public void Each_family_call_grammar_forces_its_own_syntax()
    {
        var schema = JsonDocument.Parse("""{"type":"object","properties":{"city":{"enum":["Paris","Rome"]}},"required":["city"],"additionalProperties":false}""").RootElement;
        ToolDefinition[] tools = [new("get_weather", null, schema)];
        (IToolCallSyntax Syntax, string Call, string Other)[] cases =
        [
            (ToolCallSyntaxes.Hermes, "<tool_call>\n{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}\n</tool_call>", "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Rome\"}}"),
            (ToolCallSyntaxes.LlamaJson, "{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Rome\"}}", "{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}"),
            (ToolCallSyntaxes.Mistral, "[TOOL_CALLS][{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}, {\"name\": \"get_weather\", \"arguments\": {\"city\": \"Paris\"}}]",
                "<tool_call>{\"name\": \"get_weather\", \"arguments\": {\"city\": \"Rome\"}}</tool_call>"),
        ];
        foreach (var (syntax, call, other) in cases)
        {
            var grammar = ToolCalls.CallGrammar(tools, parallel: true, syntax);
            Assert.True(grammar.Matches(call), $"{syntax.Name}: {call}");
            Assert.False(grammar.Matches(other), $"{syntax.Name}: {other}");
            Assert.False(grammar.Matches(call.Replace("Rome", "Oslo")), syntax.Name);
            var read = ToolCalls.Parse(call, tools, syntax);
            Assert.NotEmpty(read);
            Assert.All(read, c => Assert.Equal("get_weather", c.Name));
        }
        // The Llama 3.1 template refuses two calls in one turn: its grammar holds one even when parallel calls are allowed.
        Assert.False(ToolCalls.CallGrammar(tools, parallel: true, ToolCallSyntaxes.LlamaJson)
            .Matches("{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Rome\"}}{\"name\": \"get_weather\", \"parameters\": {\"city\": \"Rome\"}}"));
    }

    [Fact]
    public void Mistral_call_ids_are_the_nine_letters_its_template_accepts()
    {
        var call = Assert.Single(ToolCalls.Parse("[TOOL_CALLS][{\"name\": \"f\", \"arguments\": {}}]", [new ToolDefinition("f", null, null)], ToolCallSyntaxes.Mistral));
        Assert.Matches("^[A-Za-z0-9]{9}$", call.Id);
        // A bare array reads the same: [TOOL_CALLS] is a control token the detokenizer does not spell.
        Assert.Single(ToolCalls.Parse("[{\"name\": \"f\", \"arguments\": {}}]", [new ToolDefinition("f", null, null)], ToolCallSyntaxes.Mistral));
    }
}
