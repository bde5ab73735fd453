namespace Augur.ChatTemplates;

/// <summary>
/// A chat template: the Jinja2 program (GGUF key <c>tokenizer.chat_template</c>) that turns a conversation into
/// the prompt text a model was trained on. This renders the subset of Jinja that real templates use, the way
/// Hugging Face transformers' <c>apply_chat_template</c> does (jinja2 3.1 with trim_blocks and lstrip_blocks,
/// its <c>tojson</c>, <c>raise_exception</c> and <c>strftime_now</c>), so the output matches byte for byte.
/// </summary>
/// <example><code>
/// var template = ChatTemplate.Parse(source);
/// string prompt = template.Render(new Dictionary&lt;string, object?&gt;
/// {
///     ["messages"] = messagesJsonElement,
///     ["add_generation_prompt"] = true,
///     ["bos_token"] = "&lt;s&gt;",
///     ["eos_token"] = "&lt;/s&gt;",
/// });
/// </code></example>
public sealed class ChatTemplate
{
    /// <summary>
    /// The template for models that carry none: ChatML, as transformers' old default chat template had it
    /// (<c>&lt;|im_start|&gt;role\ncontent&lt;|im_end|&gt;\n</c>). It is the format llama.cpp also falls back to,
    /// and the most common one; a model trained on something else still gets a readable, well-delimited prompt.
    /// </summary>
    public const string DefaultSource =
        @"{% for message in messages %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}" +
        @"{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}";

    readonly IReadOnlyList<Stmt> body;

    ChatTemplate(string source, IReadOnlyList<Stmt> body)
    {
        Source = source;
        this.body = body;
    }

    /// <summary>The ChatML template of <see cref="DefaultSource"/>, parsed.</summary>
    public static ChatTemplate Default { get; } = Parse(DefaultSource);

    /// <summary>The template text as given to <see cref="Parse"/>.</summary>
    public string Source { get; }

    /// <summary>Parses a template. Throws <see cref="ChatTemplateException"/> with the position of a syntax error.</summary>
    public static ChatTemplate Parse(string source)
    {
        ArgumentNullException.ThrowIfNull(source);
        string normalized = Lexer.Normalize(source);
        var map = new SourceMap(normalized);
        return new ChatTemplate(source, Parser.Parse(Lexer.Tokenize(normalized, map), map));
    }

    /// <summary>
    /// Renders the template. Variable values may be <see cref="System.Text.Json.JsonElement"/>s,
    /// <see cref="System.Text.Json.Nodes.JsonNode"/>s or plain objects: strings, numbers, booleans, null, lists
    /// and string-keyed dictionaries (whose enumeration order is kept, as <c>tojson</c> and <c>items()</c> show it).
    /// Hugging Face passes <c>messages</c>, <c>add_generation_prompt</c>, <c>bos_token</c>, <c>eos_token</c> and
    /// <c>tools</c> (null when there are none). Missing variables are undefined, as in Jinja.
    /// </summary>
    /// <param name="clock">The time <c>strftime_now</c> reads (local time); the system clock when null.</param>
    /// <param name="limits">The render's budget (<see cref="ChatTemplateLimits.Default"/> when null).</param>
    /// <param name="cancel">Observed while the template runs: a cancelled render stops within a thousand steps.</param>
    /// <exception cref="ChatTemplateException">The template failed, ran past a budget or called <c>raise_exception</c>.</exception>
    /// <exception cref="OperationCanceledException"><paramref name="cancel"/> was cancelled.</exception>
    public string Render(IReadOnlyDictionary<string, object?> variables, TimeProvider? clock = null,
        ChatTemplateLimits? limits = null, CancellationToken cancel = default)
    {
        ArgumentNullException.ThrowIfNull(variables);
        return Interpreter.Render(body, variables, clock ?? TimeProvider.System, limits ?? ChatTemplateLimits.Default, cancel);
    }
}
