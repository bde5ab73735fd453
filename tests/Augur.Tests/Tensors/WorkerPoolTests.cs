using Augur.Tensors;
using CsCheck;

namespace Augur.Tests.Tensors;

public class WorkerPoolTests
{
    [Fact]
    public void Split_gives_every_index_to_exactly_one_worker_in_aligned_chunks()
    {
        Gen.Select(Gen.Int[0, 100_000], Gen.Int[1, 64], Gen.Int[1, 64]).Sample((count, workers, align) =>
        {
            int expectedStart = 0;
            for (int w = 0; w < workers; w++)
            {
                var (start, end) = WorkerPool.Split(count, w, workers, align);
                // Shares are contiguous and in worker order, so together they tile [0, count) with no gap or overlap.
                Assert.Equal(expectedStart, start);
                Assert.True(end >= start);
                Assert.True(start % align == 0 || start == count);
                Assert.True(end % align == 0 || end == count);
                expectedStart = end;
            }
            Assert.Equal(count, expectedStart);
        });
    }

    sealed class Job(Action<int> body) : IParallelJob
    {
        public readonly int[] Calls = new int[8];
        public void Execute(int worker, int workers)
        {
            Interlocked.Increment(ref Calls[worker]);
            body(worker);
        }
    }

    [Fact]
    public void Run_executes_the_job_once_on_every_worker()
    {
        using var pool = new WorkerPool(3);
        for (int round = 0; round < 100; round++)
        {
            var job = new Job(_ => { });
            pool.Run(job);
            Assert.Equal([1, 1, 1, 0, 0, 0, 0, 0], job.Calls);
        }
    }

    [Fact]
    public void An_exception_on_a_worker_thread_reaches_the_caller_and_the_pool_keeps_working()
    {
        using var pool = new WorkerPool(2);
        var boom = new InvalidOperationException("boom on worker 1");
        var e = Assert.Throws<AggregateException>(() => pool.Run(new Job(w => { if (w == 1) throw boom; })));
        Assert.Same(boom, e.InnerException);
        var next = new Job(_ => { });
        pool.Run(next);
        Assert.Equal([1, 1, 0, 0, 0, 0, 0, 0], next.Calls);
    }

    [Theory]
    [InlineData(1)]
    [InlineData(2)]
    public void An_exception_on_the_calling_thread_propagates_after_the_other_workers_finish(int threads)
    {
        using var pool = new WorkerPool(threads);
        int finished = 0;
        var e = Assert.Throws<InvalidOperationException>(() => pool.Run(new Job(w =>
        {
            if (w == 0) throw new InvalidOperationException("boom on worker 0");
            Thread.Sleep(50);
            Interlocked.Increment(ref finished);
        })));
        Assert.Equal("boom on worker 0", e.Message);
        Assert.Equal(threads - 1, Volatile.Read(ref finished)); // Run did not return while a worker was still inside the job
        var next = new Job(_ => { });
        pool.Run(next);
        Assert.Equal(threads, next.Calls.Sum());
    }
}
