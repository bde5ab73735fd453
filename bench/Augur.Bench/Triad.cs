using System.Diagnostics;
using System.Numerics.Tensors;
using Augur.Tensors;

namespace Augur.Bench;

/// <summary>
/// STREAM's triad, a[i] = b[i] + s·c[i], over three arrays far larger than the last-level cache, split
/// across a worker pool like the engine's kernels; counted as STREAM counts it, 24 bytes per element (two
/// reads, one write). The memory bandwidth a decode step can hope to use. On a shared machine that figure
/// moves with the neighbours, so a benchmark samples it between its own measurements.
/// </summary>
sealed class Triad : IDisposable
{
    const int Elements = 1 << 24; // 128 MiB per array of doubles: 384 MiB in all, many times any L3

    readonly WorkerPool _pool;
    readonly Job _job = new(new double[Elements], Enumerable.Repeat(1.0, Elements).ToArray(), Enumerable.Repeat(2.0, Elements).ToArray());

    public Triad(int threads)
    {
        _pool = new WorkerPool(threads);
        _pool.Run(_job); // touch every page before timing
    }

    /// <summary>The best of <paramref name="runs"/> triads, in GB/s.</summary>
    public double GigabytesPerSecond(int runs = 5)
    {
        double best = double.MaxValue;
        for (int r = 0; r < runs; r++)
        {
            long start = Stopwatch.GetTimestamp();
            _pool.Run(_job);
            best = Math.Min(best, Stopwatch.GetElapsedTime(start).TotalSeconds);
        }
        return 3.0 * sizeof(double) * Elements / best / 1e9;
    }

    public void Dispose() => _pool.Dispose();

    sealed class Job(double[] a, double[] b, double[] c) : IParallelJob
    {
        public void Execute(int worker, int workers)
        {
            var (start, end) = WorkerPool.Split(a.Length, worker, workers, align: 64);
            TensorPrimitives.MultiplyAdd(c.AsSpan(start, end - start), 3.0, b.AsSpan(start, end - start), a.AsSpan(start, end - start));
        }
    }
}
