using System.Diagnostics;
using System.Text;
using System.Text.Json;
using Augur.Generation;
using Augur.Gguf;
using Augur.Model;
using Augur.Sampling;
using Augur.Tests.Support;

namespace Augur.Tests.Cli;

/// <summary>Runs one test at a time and none beside other classes: each starts a .NET process.</summary>
[CollectionDefinition(Name, DisableParallelization = true)]
public sealed class CliProcesses
{
    public const string Name = "CLI processes";
}

/// <summary>
/// The <c>augur</c> command as a user runs it: <c>dotnet Augur.Cli.dll …</c> in a child process (the build copies it
/// next to the test assembly), judged by exit code, stdout and stderr.
/// </summary>
[Collection(CliProcesses.Name)]
public sealed class CliTests : IDisposable
{
    readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

    sealed record Run(int ExitCode, string Stdout, string Stderr)
    {
        public string[] ErrorLines => Stderr.Split('\n', StringSplitOptions.RemoveEmptyEntries);
    }

    static Run Augur(params string[] args) => AugurWithInput(null, args);

    static Run AugurWithInput(string? stdin, params string[] args) => AugurWithEnvironment(stdin, [], args);

    static Run AugurWithEnvironment(string? stdin, (string Name, string Value)[] environment, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            RedirectStandardInput = stdin is not null,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            StandardErrorEncoding = Encoding.UTF8,
            UseShellExecute = false,
        };
        foreach (var (name, value) in environment) psi.Environment[name] = value;
        psi.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "Augur.Cli.dll"));
        foreach (var a in args) psi.ArgumentList.Add(a);
        using var p = Process.Start(psi)!;
        if (stdin is not null)
        {
            p.StandardInput.Write(stdin);
            p.StandardInput.Close();
        }
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromSeconds(60)))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"augur {string.Join(' ', args)} did not finish in 60 s");
        }
        return new Run(p.ExitCode, stdout.Result, stderr.Result);
    }

    // Non-ASCII and whitespace prompts cross the command line and come back through JSON.
    public static IEnumerable<object[]> GenerateCases =>
    [
        ["gguf", "once_upon_a_time"], ["gguf", "non_ascii_byte_fallback"], ["gguf", "whitespace"], ["bin+model", "once_upon_a_time"],
    ];

    [Theory]
    [MemberData(nameof(GenerateCases))]
    public void Generate_greedy_json_gives_run_cs_ids(string form, string caseId)
    {
        var c = Reference.Get(caseId);
        string[] model = form == "gguf"
            ? ["--model", Reference.Stories260KGguf]
            : ["--model", Reference.Stories260KBin, "--tokenizer", Reference.Tok512Model];
        var run = Augur([.. "generate --temperature 0 --json".Split(' '), .. model, "--prompt", c.Prompt, "--max-tokens", c.GeneratedIds.Length.ToString()]);
        Assert.True(run.ExitCode == 0, run.Stderr);
        using var json = JsonDocument.Parse(run.Stdout);
        var root = json.RootElement;
        Assert.Equal(c.PromptIds, root.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(c.GeneratedIds, root.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(c.GeneratedText, root.GetProperty("text").GetString());
        Assert.Equal("length", root.GetProperty("finish_reason").GetString());
    }

    /// <summary>
    /// <c>synth</c> then <c>generate</c> on a real vocabulary (Qwen 3's byte-level BPE, no BOS): the prompt ids are the
    /// shared tokenizer vector's (computed by Hugging Face's tokenizer), and 16 greedy tokens come back as text.
    /// </summary>
    [Fact]
    public void Generate_runs_a_synthetic_model_with_a_real_vocabulary()
    {
        string path = Path.Combine(Directory.CreateTempSubdirectory("augur-cli-").FullName, "qwen3-tiny.gguf");
        var synth = Augur("synth", "--arch", "qwen3", "--preset", "tiny", "--vocab-from", Path.Combine(SharedAssets.Root, "tokenizers", "qwen3"), "--out", path);
        Assert.True(synth.ExitCode == 0, synth.Stderr);
        using var vectors = JsonDocument.Parse(File.ReadAllBytes(SharedAssets.Data("tokenizer-vectors/qwen3.json")));
        var c = vectors.RootElement.GetProperty("cases").EnumerateArray().First(e => e.GetProperty("category").GetString() == "english");
        var run = Augur("generate", "--model", path, "--temperature", "0", "--json", "--max-tokens", "16", "--prompt", c.GetProperty("text").GetString()!);
        Assert.True(run.ExitCode == 0, run.Stderr);
        using var json = JsonDocument.Parse(run.Stdout);
        var root = json.RootElement;
        Assert.Equal(c.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32()), root.GetProperty("prompt_ids").EnumerateArray().Select(e => e.GetInt32()));
        Assert.Equal(16, root.GetProperty("ids").GetArrayLength());
        Assert.Equal("length", root.GetProperty("finish_reason").GetString());
        Assert.False(string.IsNullOrEmpty(root.GetProperty("text").GetString()));
        File.Delete(path);
    }

    /// <summary>A failed command: non-zero exit, and stderr is one line "error: …" that names <paramref name="fragments"/>, no stack trace.</summary>
    static void AssertOneErrorLine(Run run, params string[] fragments)
    {
        Assert.NotEqual(0, run.ExitCode);
        var line = Assert.Single(run.ErrorLines);
        Assert.StartsWith("error: ", line);
        Assert.DoesNotContain("Exception", line); // one line already rules out a stack trace
        foreach (var f in fragments) Assert.Contains(f, line);
    }

    [Fact]
    public void Kv_cache_options_reach_the_cache_and_bad_ones_are_one_error_line()
    {
        string[] Ids(Run run)
        {
            Assert.True(run.ExitCode == 0, run.Stderr);
            using var json = JsonDocument.Parse(run.Stdout);
            return [.. json.RootElement.GetProperty("ids").EnumerateArray().Select(e => e.GetInt32().ToString())];
        }
        string[] generate = ["generate", "--prompt", "Once upon a time", "--temperature", "0", "--max-tokens", "24", "--json", "--kv-type", "f16"];
        // A paged pool of 2 MiB gives the dense cache's tokens.
        Assert.Equal(Ids(Augur(generate)), Ids(Augur([.. generate, "--kv-memory", "2MiB"])));
        // stories260K's heads are 8 wide: q8_0 blocks of 32 cannot hold them.
        AssertOneErrorLine(Augur("generate", "--prompt", "hi", "--kv-type", "q8_0"), "q8_0", "multiple of 32", "8 wide");
        AssertOneErrorLine(Augur("generate", "--prompt", "hi", "--kv-memory", "lots"), "--kv-memory", "lots");
    }

    [Fact]
    public void A_missing_model_file_is_one_error_line()
    {
        string path = _dir.File("missing.gguf");
        AssertOneErrorLine(Augur("generate", "--model", path, "--prompt", "hi"), "not found", path);
        AssertOneErrorLine(Augur("inspect", path), "not found", path);
    }

    [Fact]
    public void Chat_replies_to_each_line_with_the_whole_conversation_as_context()
    {
        var run = AugurWithInput("Tell me a story.\n\nAnd then?\n", "chat", "--temperature", "0", "--max-tokens", "30", "--system", "You tell stories.");
        Assert.Equal(0, run.ExitCode);
        // The same conversation through the library: the chat template, then greedy generation, turn by turn.
        using var loaded = LoadedModel.Open(Reference.Stories260KGguf);
        var chat = global::Augur.Chat.ChatPrompt.ForModel(loaded);
        var generator = new Generator(loaded.Model, loaded.Tokenizer);
        var turns = new List<global::Augur.Chat.ChatTurn> { new("system", "You tell stories.") };
        var expected = new StringBuilder();
        foreach (string line in new[] { "Tell me a story.", "And then?" })
        {
            turns.Add(new("user", line));
            string reply = generator.Generate(new GenerationRequest { PromptIds = chat.Encode(turns), MaxTokens = 30, Sampling = SamplingOptions.Greedy }).Text;
            turns.Add(new("assistant", reply));
            expected.Append(reply).Append('\n');
        }
        Assert.Equal(expected.ToString(), run.Stdout.Replace("\r\n", "\n"));
        AssertOneErrorLine(AugurWithInput("hi\n", "chat", "--temperature", "-1"), "temperature");
    }

    [Fact]
    public void Perplexity_prints_one_json_line_and_refuses_a_text_too_short_for_one_chunk()
    {
        string text = _dir.Write("story.txt", Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("Once upon a time, there was a little girl named Lily. ", 20))));
        var run = Augur("perplexity", "--file", text, "--ctx", "64", "--json");
        Assert.Equal(0, run.ExitCode);
        var json = JsonDocument.Parse(run.Stdout.TrimEnd().Split('\n')[^1]).RootElement;
        // A story repeated twenty times: the model has it in context, so the perplexity is low, and exp(mean NLL).
        double ppl = json.GetProperty("perplexity").GetDouble();
        Assert.InRange(ppl, 1, 10);
        Assert.Equal(Math.Exp(json.GetProperty("mean_nll").GetDouble()), ppl, 1e-9);
        Assert.Equal(31 * json.GetProperty("chunks").GetInt32(), json.GetProperty("scored_tokens").GetInt32());

        AssertOneErrorLine(Augur("perplexity", "--file", _dir.Write("short.txt", "Once upon a time"u8.ToArray()), "--ctx", "64"), "perplexity needs at least one chunk of 64");
        AssertOneErrorLine(Augur("perplexity", "--file", _dir.File("none.txt")), "not found", "none.txt");
    }

    [Fact]
    public void A_file_with_bad_magic_is_one_error_line()
    {
        var bytes = File.ReadAllBytes(Reference.Stories260KGguf);
        bytes[0] = (byte)'X';
        string path = _dir.Write("badmagic.gguf", bytes);
        AssertOneErrorLine(Augur("generate", "--model", path, "--prompt", "hi"), path, "not a GGUF file");
    }

    [Fact]
    public void A_truncated_file_is_one_error_line()
    {
        string path = _dir.Write("truncated.gguf", File.ReadAllBytes(Reference.Stories260KGguf)[..600_000]);
        AssertOneErrorLine(Augur("generate", "--model", path, "--prompt", "hi"), path, "runs past the end of the file");
        AssertOneErrorLine(Augur("inspect", path), path, "runs past the end of the file");
        string bin = _dir.Write("truncated.bin", File.ReadAllBytes(Reference.Stories260KBin)[..500_000]);
        AssertOneErrorLine(Augur("generate", "--model", bin, "--tokenizer", Reference.Tok512Model, "--prompt", "hi"), bin, "implies");
    }

    [Fact]
    public void A_prompt_longer_than_the_context_is_one_error_line()
    {
        var c = Reference.Get("long_202_chars");
        // 202 characters cannot be fewer than 23 tokens (the longest piece is 9 bytes), so a context of 64 needs the
        // tokenizer to tell; one of 16 does not (that refusal is in Hostile input tests).
        var run = Augur("generate", "--model", Reference.Stories260KGguf, "--ctx", "64", "--temperature", "0", "--prompt", c.Prompt);
        AssertOneErrorLine(run, $"prompt is {c.PromptIds.Length} tokens", "context holds 64");
    }

    [Fact]
    public void Inspect_prints_every_metadata_key_and_all_48_tensors()
    {
        var run = Augur("inspect", Reference.Stories260KGguf);
        Assert.True(run.ExitCode == 0, run.Stderr);
        Assert.Contains("21 metadata keys, 48 tensors", run.Stdout);
        // Independent list: ../shared/models/README.md, "The GGUF file".
        string[] keys =
        [
            "general.architecture", "general.name", "general.file_type", "llama.context_length", "llama.embedding_length",
            "llama.block_count", "llama.feed_forward_length", "llama.attention.head_count", "llama.attention.head_count_kv",
            "llama.rope.dimension_count", "llama.attention.layer_norm_rms_epsilon", "llama.rope.freq_base", "tokenizer.ggml.model",
            "tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type", "tokenizer.ggml.bos_token_id",
            "tokenizer.ggml.eos_token_id", "tokenizer.ggml.unknown_token_id", "tokenizer.ggml.add_bos_token", "tokenizer.ggml.add_eos_token",
        ];
        foreach (var k in keys) Assert.Contains(k, run.Stdout);
        var tensors = new List<string> { "token_embd.weight", "output_norm.weight", "output.weight" };
        for (int l = 0; l < 5; l++)
            tensors.AddRange(new[] { "attn_norm", "attn_q", "attn_k", "attn_v", "attn_output", "ffn_norm", "ffn_gate", "ffn_down", "ffn_up" }.Select(n => $"blk.{l}.{n}.weight"));
        Assert.Equal(48, tensors.Count);
        foreach (var t in tensors) Assert.Contains(t, run.Stdout);
        // README: 260,032 parameters, plus the 64 × 512 copy of the tied classifier written as output.weight.
        Assert.Contains($"{260_032 + 64 * 512:N0} parameters", run.Stdout);
    }

    [Fact]
    public void Convert_from_llama2c_writes_the_same_tensors_as_the_shared_gguf_and_generates_run_cs_text()
    {
        string output = _dir.File("converted.gguf");
        var run = Augur("convert", "--from", "llama2c", Reference.Stories260KBin, "--tokenizer", Reference.Tok512Model, "--out", output);
        Assert.True(run.ExitCode == 0, run.Stderr);

        using (var want = GgufFile.Open(Reference.Stories260KGguf))
        using (var got = GgufFile.Open(output))
        {
            Assert.Equal(want.Tensors.Select(t => (t.Name, t.Type, string.Join('x', t.Shape))), got.Tensors.Select(t => (t.Name, t.Type, string.Join('x', t.Shape))));
            foreach (var t in want.Tensors)
                Assert.True(want.TensorBytes(t).SequenceEqual(got.TensorBytes(got.GetTensor(t.Name))), $"tensor {t.Name} differs");
            Assert.Equal(want.MetadataKeys.Order(), got.MetadataKeys.Order());
            foreach (var key in want.MetadataKeys)
            {
                var (w, g) = (want.Metadata[key], got.Metadata[key]);
                Assert.Equal((w.Type, w.ElementType), (g.Type, g.ElementType));
                if (w.Value is Array wa) Assert.Equal(wa.Cast<object>(), ((Array)g.Value).Cast<object>());
                else Assert.Equal(w.Value, g.Value);
            }
        }

        var c = Reference.Get("once_upon_a_time");
        using var model = LoadedModel.Open(output);
        var result = new Generator(model.Model, model.Tokenizer).Generate(new GenerationRequest
        {
            Prompt = c.Prompt, MaxTokens = c.GeneratedIds.Length, Sampling = SamplingOptions.Greedy,
        });
        Assert.Equal(c.GeneratedIds, result.Ids);
    }

    [Fact]
    public void Convert_refuses_an_unknown_source_format_in_one_line()
    {
        var run = Augur("convert", "--from", "safetensors", Reference.Stories260KBin, "--tokenizer", Reference.Tok512Model, "--out", _dir.File("x.gguf"));
        AssertOneErrorLine(run, "safetensors", "llama2c");
        Assert.False(File.Exists(_dir.File("x.gguf")));
    }

    // ---- hostile input (docs/security.md)

    [Theory]
    [InlineData("generate", "-1", "--ctx must be ≥ 2 (got -1)")]
    [InlineData("generate", "0", "--ctx must be ≥ 2 (got 0)")]
    [InlineData("generate", "99999999999", "Cannot parse argument '99999999999' for option '--ctx'")]
    [InlineData("generate", "5000000", "exceeds the model's trained context of 512 tokens")]
    [InlineData("chat", "-1", "--ctx must be ≥ 2 (got -1)")]
    [InlineData("chat", "0", "--ctx must be ≥ 2 (got 0)")]
    [InlineData("chat", "2147483648", "Cannot parse argument '2147483648'")]
    [InlineData("serve", "-1", "--ctx must be ≥ 2 (got -1)")]
    [InlineData("serve", "5000000", "exceeds the model's trained context of 512 tokens")]
    public void Bad_context_lengths_are_one_error_line(string command, string ctx, string fragment)
    {
        string[] extra = command switch { "generate" => ["-p", "x"], "serve" => ["--port", "0"], _ => [] };
        var run = AugurWithInput("hi\n", [command, "--model", Reference.Stories260KGguf, "--ctx", ctx, .. extra]);
        Assert.Equal(1, run.ExitCode);
        AssertOneErrorLine(run, fragment);
    }

    [Fact]
    public void A_prompt_whose_length_proves_it_too_long_is_refused_before_tokenizing()
    {
        var run = Augur("generate", "--model", Reference.Stories260KGguf, "--ctx", "16", "--prompt", new string('a', 100_000));
        Assert.Equal(1, run.ExitCode);
        AssertOneErrorLine(run, "prompt is at least 11,112 tokens", "context holds 16");
    }

    [Fact]
    public void A_context_beyond_the_trained_one_runs_when_allowed()
    {
        var run = Augur("generate", "--model", Reference.Stories260KGguf, "--ctx", "600", "--allow-long-context", "-n", "2", "--temperature", "0", "-p", "Once", "--json");
        Assert.Equal(0, run.ExitCode);
    }

    /// <summary>stories260K with other metadata: a different claimed context, or a chat template.</summary>
    string ModelWith(string name, Action<GgufWriter> change)
    {
        string path = _dir.File(name);
        using var source = GgufFile.Open(Reference.Stories260KGguf);
        var writer = new GgufWriter();
        foreach (string key in source.MetadataKeys) writer.Set(key, source.Metadata[key]);
        change(writer);
        foreach (var t in source.Tensors) writer.AddTensor(t.Name, t.Type, t.Shape, source.TensorBytes(t).ToArray());
        writer.Write(path);
        return path;
    }

    [Fact]
    public void A_file_claiming_a_4M_token_context_allocates_for_the_work_not_the_claim()
    {
        // A dense cache for 4M cells of this model is 5.4 GB; under a 256 MB heap the run only succeeds if the cache
        // is sized by the prompt and -n (generate), or by the 4,096-cell default (chat).
        string path = ModelWith("4m.gguf", w => w.Set("llama.context_length", GgufValue.Of(4u << 20)));
        (string, string)[] heap = [("DOTNET_GCHeapHardLimit", "0x10000000")];
        var generate = AugurWithEnvironment(null, heap, "generate", "--model", path, "-n", "4", "--temperature", "0", "-p", "Once upon a time", "--json");
        Assert.True(generate.ExitCode == 0, generate.Stderr);
        var chat = AugurWithEnvironment("Once upon a time\n", heap, "chat", "--model", path, "-n", "4", "--temperature", "0");
        Assert.True(chat.ExitCode == 0, chat.Stderr);
    }

    const string ExponentialMacro = "{% macro f(n) %}{% if n > 0 %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}";

    [Fact]
    public void A_template_bomb_in_chat_is_one_error_line_naming_the_budget()
    {
        // The bomb goes off only for one message, so the template passes its probe at load and fails in the conversation.
        string path = ModelWith("bomb.gguf", w => w.Set("tokenizer.chat_template", GgufValue.Of(
            ExponentialMacro + "{% for m in messages %}{% if m.content == 'boom' %}{{ f(64) }}{% endif %}{{ m.content }}{% endfor %}")));
        var run = AugurWithInput("boom\n", "chat", "--model", path, "-n", "2", "--template-max-steps", "100000");
        Assert.Equal(1, run.ExitCode);
        AssertOneErrorLine(run, "step budget (100,000 steps)");
    }

    [Fact]
    public void A_template_that_fails_at_load_refuses_chat_in_one_line_or_falls_back_when_asked()
    {
        string path = ModelWith("broken.gguf", w => w.Set("tokenizer.chat_template", GgufValue.Of(ExponentialMacro + "{{ f(64) }}")));
        var refused = AugurWithInput("hi\n", "chat", "--model", path, "-n", "2", "--template-max-steps", "100000");
        Assert.Equal(1, refused.ExitCode);
        AssertOneErrorLine(refused, "chat template cannot be used", "step budget", "--default-template");

        var fallback = AugurWithInput("hi\n", "chat", "--model", path, "-n", "2", "--temperature", "0", "--default-template");
        Assert.Equal(0, fallback.ExitCode);
        string warning = Assert.Single(fallback.ErrorLines);
        Assert.Contains("using the default ChatML template", warning);
    }

    public static TheoryData<string, byte[]> BadUtf8 => new()
    {
        { "invalid byte", [(byte)'h', 0xFF, (byte)'i', (byte)'\n'] },
        { "overlong slash", [(byte)'a', 0xC0, 0xAF, (byte)'\n'] },
        { "encoded surrogate", [(byte)'a', 0xED, 0xA0, 0x80, (byte)'\n'] },
    };

    [Theory]
    [MemberData(nameof(BadUtf8))]
    public void Input_files_that_are_not_utf8_are_one_error_line(string what, byte[] bytes)
    {
        string file = _dir.Write($"{what}.txt", bytes);
        var perplexity = Augur("perplexity", "--model", Reference.Stories260KGguf, "-f", file);
        AssertOneErrorLine(perplexity, file, "not valid UTF-8");
        Assert.Equal(1, perplexity.ExitCode);
        var chat = Augur("chat", "--model", Reference.Stories260KGguf, "-f", file, "-n", "2");
        AssertOneErrorLine(chat, "not valid UTF-8");
        Assert.Equal(1, chat.ExitCode);
    }

    [Fact]
    public void Convert_from_hf_tokenizer_then_tokenize_gives_the_documented_ids()
    {
        // Converted by `augur convert --from hf-tokenizer` once per test run (the fixture runs the command).
        string output = global::Augur.Tests.Tokenizers.ConvertedVocabularies.GgufPath("llama3");
        // ../shared/tokenizers/README.md: "Hello world" = 9906 1917 with BOS 128000 in front.
        Assert.Equal("128000 9906 1917", Augur("tokenize", "-m", output, "-p", "Hello world").Stdout.Trim());
        Assert.Equal("9906 1917", Augur("tokenize", "-m", output, "-p", "Hello world", "--no-bos").Stdout.Trim());
        var json = JsonDocument.Parse(Augur("tokenize", "-m", output, "-p", "<|eot_id|>", "--special", "--no-bos", "--json").Stdout);
        Assert.Equal(128009, json.RootElement.GetProperty("ids")[0].GetInt32());
        Assert.Equal("<|eot_id|>", json.RootElement.GetProperty("pieces")[0].GetString());
        var lines = AugurWithInput("\"Hello world\"\n\"\\n\\n\"\n", "tokenize", "-m", output, "--jsonl", "--no-bos").Stdout.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(["[9906,1917]", "[271]"], lines);
        Assert.Contains("tokenizer: byte-level BPE (gpt2, pre llama-bpe), 128256 tokens", Augur("inspect", output).Stdout);
    }

    [Fact]
    public void Tokenize_refuses_a_bad_vocabulary_in_one_line()
    {
        var w = new GgufWriter();
        w.Set("tokenizer.ggml.model", GgufValue.Of("gpt2"));
        w.Set("tokenizer.ggml.tokens", GgufValue.Of(new[] { "a" }));
        w.Set("tokenizer.ggml.merges", GgufValue.Of(new[] { "a a" }));
        string path = _dir.File("nopre.gguf");
        w.Write(path);
        AssertOneErrorLine(Augur("tokenize", "-m", path, "-p", "a"), "tokenizer.ggml.pre");
    }
}
