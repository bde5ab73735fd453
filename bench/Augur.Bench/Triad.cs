using System.Diagnostics;
using System.Numerics.Tensors;
using Augur.Tensors;

namespace Augur.Bench;

/// <summary>
/// STREAM's triad, a[i] = b[i] + s·c[i], over three arrays far larger than the last-level cache, split
/// across a worker pool like the engine's kernels. The best of several runs, counting 24 bytes per element
/// (two reads and one write), as STREAM does: the memory bandwidth a decode step can hope to use.
/// </summary>
static class Triad
{
    const int Elements = 1 << 24; // 128 MiB per array of doubles: 384 MiB in all, many times any L3

    public static double GigabytesPerSecond(int threads, int runs = 10)
    {
        var job = new Job(new double[Elements], Enumerable.Repeat(1.0, Elements).ToArray(), Enumerable.Repeat(2.0, Elements).ToArray());
        using var pool = new WorkerPool(threads);
        pool.Run(job); // touch every page before timing
        double best = double.MaxValue;
        for (int r = 0; r < runs; r++)
        {
            long start = Stopwatch.GetTimestamp();
            pool.Run(job);
            best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        return 3.0 * sizeof(double) * Elements / best / 1e9;
    }

    sealed class Job(double[] a, double[] b, double[] c) : IParallelJob
    {
        public void Execute(int worker, int workers)
        {
            var (start, end) = WorkerPool.Split(a.Length, worker, workers, align: 64);
            TensorPrimitives.MultiplyAdd(c.AsSpan(start, end - start), 3.0, b.AsSpan(start, end - start), a.AsSpan(start, end - start));
        }
    }
}
