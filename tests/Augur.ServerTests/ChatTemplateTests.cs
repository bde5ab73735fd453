using System.Text.Json;
using Augur.Chat;
using Augur.Gguf;
using Augur.Model;
using Augur.Server;

namespace Augur.ServerTests;

/// <summary>A model whose GGUF carries <c>tokenizer.chat_template</c> (stories260K with Llama 2's template added).</summary>
public sealed class ChatTemplateTests : IDisposable
{
    // Llama 2 chat, as its tokenizer_config.json has it.
    const string Llama2Template =
        "{% if messages[0]['role'] == 'system' %}{% set loop_messages = messages[1:] %}{% set system_message = messages[0]['content'] %}" +
        "{% else %}{% set loop_messages = messages %}{% set system_message = false %}{% endif %}" +
        "{% for message in loop_messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}" +
        "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}" +
        "{% if loop.index0 == 0 and system_message != false %}{% set content = '<<SYS>>\\n' + system_message + '\\n<</SYS>>\\n\\n' + message['content'] %}" +
        "{% else %}{% set content = message['content'] %}{% endif %}" +
        "{% if message['role'] == 'user' %}{{ bos_token + '[INST] ' + content.strip() + ' [/INST]' }}" +
        "{% elif message['role'] == 'assistant' %}{{ ' '  + content.strip() + ' ' + eos_token }}{% endif %}{% endfor %}";

    readonly string _dir = Directory.CreateTempSubdirectory("augur-server-tests-").FullName;
    readonly string _path;

    public ChatTemplateTests()
    {
        _path = Path.Combine(_dir, "stories260K-chat.gguf");
        using var source = GgufFile.Open(ServerFixture.ModelPath);
        var writer = new GgufWriter();
        foreach (string key in source.MetadataKeys) writer.Set(key, source.Metadata[key]);
        writer.Set("tokenizer.chat_template", GgufValue.Of(Llama2Template));
        foreach (var t in source.Tensors) writer.AddTensor(t.Name, t.Type, t.Shape, source.TensorBytes(t).ToArray());
        writer.Write(_path);
    }

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void Template_from_the_file_renders_and_special_tokens_become_their_ids()
    {
        using var model = LoadedModel.Open(_path);
        var prompt = ChatPrompt.ForModel(model);
        ChatTurn[] conversation = [new("system", "Be kind."), new("user", "Hi"), new("assistant", "Hello"), new("user", "Bye")];
        string text = prompt.Render(conversation);
        Assert.Equal("<s>[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nHi [/INST] Hello </s><s>[INST] Bye [/INST]", text);

        var tok = model.Tokenizer;
        int[] expected =
        [
            tok.BosId, .. tok.Encode("[INST] <<SYS>>\nBe kind.\n<</SYS>>\n\nHi [/INST] Hello ", addBos: false),
            tok.EosId, tok.BosId, .. tok.Encode("[INST] Bye [/INST]", addBos: false),
        ];
        Assert.Equal(expected, prompt.Encode(conversation));
    }

    [Fact]
    public async Task Server_uses_the_template_and_reports_its_errors_as_400()
    {
        await using var server = await ServerFixture.StartAsync(new ServerOptions { ModelPath = _path, Port = 0 });
        using var http = new HttpClient();
        var url = new Uri(server.Address, "v1/chat/completions");
        var (status, body) = await ServerFixture.PostAsync(http, url, """{"messages":[{"role":"user","content":"Hi"}],"max_tokens":3,"temperature":0}""");
        Assert.Equal(200, status);
        using var model = LoadedModel.Open(_path);
        Assert.Equal(ChatPrompt.ForModel(model).Encode([new("user", "Hi")]).Length, body.GetProperty("usage").GetProperty("prompt_tokens").GetInt32());

        (status, body) = await ServerFixture.PostAsync(http, url, """{"messages":[{"role":"assistant","content":"Hi"}]}""");
        Assert.Equal(400, status);
        Assert.Equal("Conversation roles must alternate user/assistant/user/assistant/...", body.GetProperty("error").GetProperty("message").GetString());
        Assert.Equal(JsonValueKind.Null, body.GetProperty("error").GetProperty("code").ValueKind);
    }
}
