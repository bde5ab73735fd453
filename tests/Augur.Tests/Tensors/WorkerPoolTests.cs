using Augur.Tensors;
using CsCheck;

namespace Augur.Tests.Tensors;

public class WorkerPoolTests
{
    [Fact]
    public void Split_gives_every_index_to_exactly_one_part_in_aligned_chunks()
    {
        Gen.Select(Gen.Int[0, 100_000], Gen.Int[1, 64], Gen.Int[1, 64]).Sample((count, parts, align) =>
        {
            int expectedStart = 0;
            for (int p = 0; p < parts; p++)
            {
                var (start, end) = WorkerPool.Split(count, p, parts, align);
                // Shares are contiguous and in part order, so together they tile [0, count) with no gap or overlap.
                Assert.Equal(expectedStart, start);
                Assert.True(end >= start);
                Assert.True(start % align == 0 || start == count);
                Assert.True(end % align == 0 || end == count);
                expectedStart = end;
            }
            Assert.Equal(count, expectedStart);
        });
    }

    /// <summary>Counts how often each part ran; <paramref name="body"/> runs inside every part.</summary>
    sealed class Job(int maxParts, Action<int> body) : IParallelJob
    {
        public readonly int[] Calls = new int[maxParts];
        public int Parts;

        public void Execute(int part, int parts)
        {
            Parts = parts;
            Interlocked.Increment(ref Calls[part]);
            body(part);
        }
    }

    [Theory]
    [InlineData(1)]
    [InlineData(3)]
    public void Run_executes_every_part_exactly_once(int threads)
    {
        using var pool = new WorkerPool(threads);
        for (int round = 0; round < 20; round++)
        {
            var job = new Job(pool.MaxParts, _ => { });
            pool.Run(job);
            Assert.InRange(job.Parts, 1, pool.MaxParts);
            Assert.All(job.Calls[..job.Parts], c => Assert.Equal(1, c));
            Assert.All(job.Calls[job.Parts..], c => Assert.Equal(0, c));
        }
    }

    [Fact]
    public void A_small_job_runs_as_one_part_on_the_calling_thread()
    {
        using var pool = new WorkerPool(2);
        int thread = -1;
        var job = new Job(pool.MaxParts, _ => thread = Environment.CurrentManagedThreadId);
        pool.Run(job, work: WorkerPool.MinParallelWork - 1);
        Assert.Equal(1, job.Parts);
        Assert.Equal(Environment.CurrentManagedThreadId, thread);
    }

    static Exception Root(Exception e) => e is AggregateException { InnerException: { } inner } ? inner : e;

    [Theory]
    [InlineData(1, 0)]
    [InlineData(2, 0)]
    [InlineData(2, 5)]
    // Whichever thread runs the failing part, Run waits for the other parts, then the exception reaches the caller.
    public void An_exception_in_a_part_reaches_the_caller_after_the_other_parts_finish_and_the_pool_keeps_working(int threads, int failing)
    {
        using var pool = new WorkerPool(threads);
        var boom = new InvalidOperationException($"boom in part {failing}");
        int finished = 0;
        var job = new Job(pool.MaxParts, part =>
        {
            if (part == failing) throw boom;
            Thread.Sleep(5);
            Interlocked.Increment(ref finished);
        });
        var e = Assert.ThrowsAny<Exception>(() => pool.Run(job));
        Assert.Same(boom, Root(e));
        Assert.Equal(job.Parts - 1, Volatile.Read(ref finished)); // Run did not return while a part was still running

        var next = new Job(pool.MaxParts, _ => { });
        pool.Run(next);
        Assert.All(next.Calls[..next.Parts], c => Assert.Equal(1, c));
    }
}
