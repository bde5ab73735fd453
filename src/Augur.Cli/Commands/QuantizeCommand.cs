using Augur.Conversion;
using System.CommandLine;
using Spectre.Console;

namespace Augur.Cli.Commands;

/// <summary><c>augur quantize IN OUT --type T</c>: a GGUF with its matrices quantized as llama-quantize would.</summary>
static class QuantizeCommand
{
    public static Command Create()
    {
        var input = new Argument<string>("input") { Description = "the GGUF to read (F32, F16, BF16 or already quantized)" };
        var output = new Argument<string>("output") { Description = "the GGUF to write" };
        var type = new Option<string>("--type") { Description = $"the file type: {string.Join(", ", Enum.GetNames<LlamaFileType>())}", Required = true };
        var threads = new Option<int>("--threads", "-t") { Description = "threads (0 = one per core)", DefaultValueFactory = _ => 0 };
        var cmd = new Command("quantize", "quantize a GGUF file (llama.cpp's mixes: Q8_0, Q4_K_M, …)") { input, output, type, threads };
        cmd.SetAction(r => CliErrors.Run(() =>
        {
            var fileType = Quantizer.ParseFileType(r.GetValue(type)!);
            string inPath = r.GetValue(input)!, outPath = r.GetValue(output)!;
            if (r.GetValue(threads) is < 0 or > 4096) throw new InvalidRequestException($"--threads must be in [0, 4096] (got {r.GetValue(threads)})");
            IReadOnlyList<QuantizedTensor> plan = [];
            AnsiConsole.Progress()
                .HideCompleted(true) // finished tensors' bars disappear; the file's stays
                .Columns(new TaskDescriptionColumn(), new ProgressBarColumn(), new PercentageColumn(), new TransferSpeedColumn(), new RemainingTimeColumn())
                .Start(p =>
                {
                    // One bar for the file, one for the tensor being written.
                    var file = p.AddTask(Markup.Escape(Path.GetFileName(outPath)));
                    ProgressTask? tensor = null;
                    int current = -1;
                    plan = Quantizer.Quantize(inPath, outPath, fileType, q =>
                    {
                        file.MaxValue = q.BytesTotal;
                        file.Value = q.BytesDone;
                        if (q.Index != current)
                        {
                            tensor?.StopTask();
                            current = q.Index;
                            string label = $"[{q.Index + 1}/{q.Count}] {q.Tensor.Name} {q.Tensor.Source.Type}→{q.Tensor.Type}";
                            tensor = p.AddTask(Markup.Escape(label), maxValue: q.Tensor.ByteSize);
                        }
                        tensor!.Value = (double)q.Tensor.ByteSize * q.RowsDone / q.Rows;
                    }, r.GetValue(threads));
                    tensor?.StopTask();
                });
            long bytes = new FileInfo(outPath).Length;
            var counts = plan.GroupBy(t => t.Type).OrderByDescending(g => g.Count()).Select(g => $"{g.Count()} {g.Key}");
            Console.WriteLine($"wrote {outPath}: {fileType}, {plan.Count} tensors ({string.Join(", ", counts)}), {bytes:N0} bytes");
            return 0;
        }));
        return cmd;
    }
}
