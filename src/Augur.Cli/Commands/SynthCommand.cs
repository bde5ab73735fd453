using Augur.Conversion;
using Augur.Tensors;
using System.CommandLine;
using Augur.Model;
using Spectre.Console;
using Augur.Tokenizers;

namespace Augur.Cli.Commands;

/// <summary><c>augur synth</c>: writes a random-weight llama GGUF with a real vocabulary (for benchmarks and tests).</summary>
static class SynthCommand
{
    public static Command Create()
    {
        var output = new Option<string>("--out", "-o") { Description = $"the GGUF file to write; a bare name goes to the cache folder ({SyntheticModel.CacheFolder})", Required = true };
        var preset = new Option<string?>("--preset") { Description = $"a named shape ({string.Join(", ", SyntheticModel.Presets.Keys)}); the options below override it" };
        var dim = new Option<int?>("--dim") { Description = "embedding width" };
        var layers = new Option<int?>("--layers") { Description = "transformer blocks" };
        var heads = new Option<int?>("--heads") { Description = "attention heads" };
        var kvHeads = new Option<int?>("--kv-heads") { Description = "key/value heads (default: --heads)" };
        var ffn = new Option<int?>("--ffn") { Description = "feed-forward width" };
        var vocabFrom = new Option<string?>("--vocab-from") { Description = "vocabulary: a Hugging Face tokenizer.json or its folder, a GGUF, or a SentencePiece .model (default: llama2-tokenizer.model from the shared models folder)" };
        var type = new Option<string>("--type") { Description = "matrix type: f32 or f16", DefaultValueFactory = _ => "f32" };
        var seed = new Option<ulong>("--seed") { Description = "random seed (same seed, same file)", DefaultValueFactory = _ => 1 };
        var ctx = new Option<int>("--ctx") { Description = "context length recorded in the file", DefaultValueFactory = _ => SyntheticModel.DefaultContextLength };

        var cmd = new Command("synth", "write a random-weight llama GGUF with a real vocabulary")
        {
            output, preset, dim, layers, heads, kvHeads, ffn, vocabFrom, type, seed, ctx,
        };
        cmd.SetAction(r => CliErrors.Run(() =>
        {
            SyntheticModel.Shape? basis = null;
            if (r.GetValue(preset) is { } name && !SyntheticModel.Presets.TryGetValue(name, out basis))
                throw new InvalidRequestException($"--preset {name} is unknown (known: {string.Join(", ", SyntheticModel.Presets.Keys)})");
            int Need(Option<int?> o, int? fallback) =>
                r.GetValue(o) ?? fallback ?? throw new InvalidRequestException($"{o.Name} is required without --preset");
            int h = Need(heads, basis?.Heads);
            var shape = new SyntheticModel.Shape(Need(dim, basis?.Dim), Need(layers, basis?.Layers), h,
                r.GetValue(kvHeads) ?? basis?.KvHeads ?? h, Need(ffn, basis?.HiddenDim));
            var ggmlType = r.GetValue(type) switch
            {
                "f32" => GgmlType.F32,
                "f16" => GgmlType.F16,
                var t => throw new InvalidRequestException($"--type {t} is not supported (supported: f32, f16)"),
            };

            var (vocab, chatTemplate) = SyntheticModel.ReadVocabulary(r.GetValue(vocabFrom) ?? SharedAssets.Model("llama2-tokenizer.model"));
            TokenizerFactory.Create(vocab); // fail before writing gigabytes if the vocabulary cannot tokenize
            ModelConfig config;
            try { config = SyntheticModel.Config(shape, vocab.Count, r.GetValue(ctx)); }
            catch (ModelFormatException e) { throw new InvalidRequestException(e.Message); }

            string path = SyntheticModel.ResolvePath(r.GetValue(output)!);
            Directory.CreateDirectory(Path.GetDirectoryName(path)!);
            long total = SyntheticModel.TensorBytes(config, ggmlType);
            AnsiConsole.Progress()
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
                .Start(p =>
                {
                    var task = p.AddTask(Markup.Escape(Path.GetFileName(path)), maxValue: total);
                    SyntheticModel.Write(path, config, vocab, ggmlType, r.GetValue(seed), written => task.Value = written, chatTemplate: chatTemplate);
                });
            long parameters = SyntheticModel.Parameters(config);
            Console.WriteLine($"wrote {path}: dim {config.Dim}, {config.Layers} layers, {config.Heads} heads ({config.KvHeads} kv), ffn {config.HiddenDim}, " +
                              $"vocab {config.VocabSize}, {ggmlType}, ~{parameters / 1e6:F1}M parameters, {new FileInfo(path).Length:N0} bytes");
            return 0;
        }));
        return cmd;
    }
}
