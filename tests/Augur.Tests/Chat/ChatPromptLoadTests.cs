using Augur.Chat;
using Augur.ChatTemplates;
using Augur.Gguf;
using Augur.Model;
using Augur.Tests.Support;

namespace Augur.Tests.Chat;

/// <summary>A model's template is tried once at load: a broken one is reported, not fatal; chat refuses or uses ChatML.</summary>
public sealed class ChatPromptLoadTests : IDisposable
{
    readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    LoadedModel ModelWithTemplate(string template)
    {
        string path = _dir.File($"t{Guid.NewGuid():N}.gguf");
        using (var source = GgufFile.Open(Reference.Stories260KGguf))
        {
            var writer = new GgufWriter();
            foreach (string key in source.MetadataKeys) writer.Set(key, source.Metadata[key]);
            writer.Set("tokenizer.chat_template", GgufValue.Of(template));
            foreach (var t in source.Tensors) writer.AddTensor(t.Name, t.Type, t.Shape, source.TensorBytes(t).ToArray());
            writer.Write(path);
        }
        return LoadedModel.Open(path);
    }

    static readonly ChatTurn[] Hello = [new("user", "Hello")];

    [Theory]
    [InlineData("{% for m in messages %}{{ m.content }}", "unexpected end of template")]
    [InlineData("{% macro f(n) %}{{ f(n) }}{{ f(n) }}{% endmacro %}{{ f(1) }}", "recursion is too deep")]
    [InlineData("{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}", "step budget")]
    [InlineData("{{ messages.nope.deeper }}", "has no attribute")]
    public void A_template_that_fails_at_load_is_reported_and_chat_refused(string template, string reason)
    {
        using var model = ModelWithTemplate(template);
        var chat = ChatPrompt.ForModel(model);
        Assert.Contains("chat template cannot be used", chat.LoadProblem);
        Assert.Contains(reason, chat.LoadProblem);
        var e = Assert.Throws<InvalidRequestException>(() => chat.Render(Hello));
        Assert.Contains("chat is unavailable", e.Message);

        var fallback = ChatPrompt.ForModel(model, defaultOnFailure: true);
        Assert.Contains("using the default ChatML template", fallback.LoadProblem);
        Assert.Equal("<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n", fallback.Render(Hello));
    }

    [Fact]
    public void A_template_nested_too_deeply_to_parse_is_reported_not_fatal()
    {
        using var model = ModelWithTemplate("{{ " + new string('(', 100_000) + "1" + new string(')', 100_000) + " }}");
        var chat = ChatPrompt.ForModel(model);
        Assert.Contains("nested too deeply", chat.LoadProblem);
    }

    [Fact]
    public void A_template_refusing_the_probe_on_purpose_is_still_used()
    {
        using var model = ModelWithTemplate("{% if messages[0].role != 'system' %}{{ raise_exception('a system message is required') }}{% endif %}{{ messages[1].content }}");
        var chat = ChatPrompt.ForModel(model);
        Assert.Null(chat.LoadProblem);
        Assert.Equal("Hi", chat.Render([new("system", "S"), new("user", "Hi")]));
    }

    [Fact]
    public void The_render_uses_the_given_limits_and_token()
    {
        using var model = ModelWithTemplate("{% for m in messages %}{% if m.content == 'boom' %}{% for i in range(100000) %}{% for j in range(100000) %}{% endfor %}{% endfor %}{% endif %}{{ m.content }}{% endfor %}");
        var chat = ChatPrompt.ForModel(model, new ChatTemplateLimits { MaxSteps = 10_000 });
        Assert.Null(chat.LoadProblem);
        Assert.Contains("step budget (10,000 steps)", Assert.Throws<ChatTemplateException>(() => chat.Render([new("user", "boom")])).Message);
        using var cancel = new CancellationTokenSource();
        cancel.Cancel();
        Assert.Throws<OperationCanceledException>(() => chat.Render([new("user", "boom")], cancel: cancel.Token));
    }
}
