using System.Diagnostics;
using Augur.Model;
using Augur.Tensors;
using Spectre.Console;

namespace Augur.Bench;

/// <summary>
/// Where Augur's forward pass spends its time, measured from outside the engine: the whole pass, timed
/// like the benchmark, against the same matrix multiplications run alone through the engine's own
/// <see cref="MatMul"/> and worker pool. What the matrices do not explain is attention, norms, RoPE,
/// element-wise ops and dispatch. Each matrix group also shows the weight bandwidth it reaches.
/// </summary>
static unsafe class AugurBreakdown
{
    public static void Print(AugurEngine engine, int[] ppTokens, int[] tgTokens, double triadGBs, int reps)
    {
        var c = engine.Model.Config;
        var w = engine.Model.Weights;
        int maxTokens = ppTokens.Length;
        long maxCols = Math.Max(c.Dim, c.HiddenDim), maxRows = Math.Max(c.VocabSize, Math.Max(c.Dim, c.HiddenDim));
        using var x = new NativeBuffer(4L * maxTokens * maxCols);
        using var y0 = new NativeBuffer(4L * maxTokens * maxRows);
        using var y1 = new NativeBuffer(4L * maxTokens * maxRows);
        using var y2 = new NativeBuffer(4L * maxTokens * maxRows);
        using var matmul = new MatMul(engine.Pool, maxTokens * (maxCols + 64) * 2);
        float* xp = (float*)x.Pointer, a = (float*)y0.Pointer, b = (float*)y1.Pointer, d = (float*)y2.Pointer;
        new Span<float>(xp, (int)(maxTokens * maxCols)).Fill(0.01f);

        // The groups a forward pass multiplies, in its order; each weight is read once per pass.
        var groups = new (string Name, WeightMatrix[] Matrices, Action<int> Run)[]
        {
            ("attention q/k/v", [.. w.Layers.SelectMany(l => new[] { l.Wq, l.Wk, l.Wv })],
                n => { foreach (var l in w.Layers) matmul.Multiply(l.Wq, a, l.Wk, b, l.Wv, d, xp, n); }),
            ("attention output", [.. w.Layers.Select(l => l.Wo)], n => { foreach (var l in w.Layers) matmul.Multiply(l.Wo, xp, n, a); }),
            ("ffn gate/up", [.. w.Layers.SelectMany(l => new[] { l.Gate, l.Up })],
                n => { foreach (var l in w.Layers) matmul.Multiply(l.Gate, a, l.Up, b, xp, n); }),
            ("ffn down", [.. w.Layers.Select(l => l.Down)], n => { foreach (var l in w.Layers) matmul.Multiply(l.Down, xp, n, a); }),
            // Logits are wanted for one token (the last) in both tests.
            ("classifier", [w.Output], _ => matmul.Multiply(w.Output, xp, 1, a)),
        };

        foreach (var (label, tokens) in new[] { ($"pp{ppTokens.Length} (one pass)", ppTokens.Length), ($"tg{tgTokens.Length} (per token)", 1) })
        {
            double total = Median(reps, () => tokens == 1 ? engine.TextGeneration(tgTokens) / tgTokens.Length : engine.PromptProcessing(ppTokens));
            var table = new Table().AddColumn(label)
                .AddColumn(new TableColumn("ms").RightAligned())
                .AddColumn(new TableColumn("share").RightAligned())
                .AddColumn(new TableColumn("weight GB/s").RightAligned())
                .AddColumn(new TableColumn("GFLOP/s").RightAligned());
            double matrixSeconds = 0;
            foreach (var (name, matrices, run) in groups)
            {
                double s = Median(reps, () => Time(() => run(tokens)));
                matrixSeconds += s;
                long bytes = matrices.Sum(m => m.ByteSize);
                double flops = 2.0 * matrices.Sum(m => (long)m.Rows * m.Cols) * (name == "classifier" ? 1 : tokens);
                table.AddRow(name, $"{s * 1e3:F2}", $"{s / total:P0}", $"{bytes / s / 1e9:F1}", $"{flops / s / 1e9:F1}");
            }
            table.AddRow("everything else", $"{(total - matrixSeconds) * 1e3:F2}", $"{(total - matrixSeconds) / total:P0}", "", "");
            table.AddRow("[bold]whole pass[/]", $"{total * 1e3:F2}", "100%", $"{w.BytesPerToken / total / 1e9:F1}", "");
            AnsiConsole.Write(table);
        }
        AnsiConsole.MarkupLine($"triad {triadGBs:F1} GB/s; the matrices are timed alone, so their sum can differ a little from their share of a real pass");
    }

    static double Time(Action run)
    {
        long start = Stopwatch.GetTimestamp();
        run();
        return Stopwatch.GetElapsedTime(start).TotalSeconds;
    }

    static double Median(int reps, Func<double> measure)
    {
        measure(); // warm-up
        var s = Enumerable.Range(0, reps).Select(_ => measure()).Order().ToArray();
        return s[s.Length / 2];
    }
}
