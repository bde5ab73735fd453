namespace Augur.Tensors;

/// <summary>A piece of work split statically across the pool: worker <c>w</c> of <c>n</c> takes its share.</summary>
public interface IParallelJob
{
    void Execute(int worker, int workers);
}

/// <summary>
/// Persistent worker threads for the kernels. The caller's thread is worker 0; the others spin briefly
/// for the next job (ops follow each other within microseconds during a forward pass) and then sleep.
/// Jobs are reusable objects, so dispatching allocates nothing.
/// </summary>
public sealed class WorkerPool : IDisposable
{
    const int SpinIterations = 2_000; // ~100 µs of spinning before a worker sleeps

    /// <summary>Below this many multiply-adds a job runs on the calling thread alone: waking a worker costs more.</summary>
    public const long MinParallelWork = 1 << 16;

    readonly Thread[] _threads;
    readonly ManualResetEventSlim[] _wake;
    readonly object _runLock = new();
    IParallelJob? _job;
    int _generation;
    int _pending;
    volatile bool _stopping;
    Exception? _failure;

    public int Threads { get; }

    static WorkerPool? _shared;
    /// <summary>A pool with one thread per core, created on first use.</summary>
    public static WorkerPool Shared => LazyInitializer.EnsureInitialized(ref _shared, () => new WorkerPool(Environment.ProcessorCount));

    public WorkerPool(int threads)
    {
        if (threads < 1) throw new ArgumentOutOfRangeException(nameof(threads), threads, "need at least one thread");
        Threads = threads;
        _threads = new Thread[threads - 1];
        _wake = new ManualResetEventSlim[threads - 1];
        for (int i = 0; i < _threads.Length; i++)
        {
            _wake[i] = new ManualResetEventSlim(false, spinCount: 1);
            int worker = i + 1;
            _threads[i] = new Thread(() => Loop(worker)) { IsBackground = true, Name = $"augur-worker-{worker}" };
            _threads[i].Start();
        }
    }

    /// <summary>Runs <paramref name="job"/> on every worker and returns when all are done; a job of less than
    /// <see cref="MinParallelWork"/> multiply-adds (<paramref name="work"/>) runs on the caller alone.</summary>
    public void Run(IParallelJob job, long work = long.MaxValue)
    {
        if (Threads == 1 || work < MinParallelWork) { job.Execute(0, 1); return; }
        lock (_runLock)
        {
            _job = job;
            _failure = null;
            Volatile.Write(ref _pending, Threads - 1);
            Interlocked.Increment(ref _generation);
            foreach (var e in _wake) e.Set();
            try
            {
                job.Execute(0, Threads);
            }
            finally
            {
                var spin = new SpinWait();
                while (Volatile.Read(ref _pending) != 0) spin.SpinOnce(sleep1Threshold: -1);
                _job = null;
            }
            if (_failure is { } f) throw new AggregateException("a worker thread failed", f);
        }
    }

    void Loop(int worker)
    {
        int seen = 0;
        var wake = _wake[worker - 1];
        while (true)
        {
            int spins = 0;
            while (Volatile.Read(ref _generation) == seen && !_stopping)
            {
                if (++spins < SpinIterations) Thread.SpinWait(20);
                else { wake.Wait(); spins = 0; }
            }
            if (_stopping) return;
            wake.Reset();
            seen = Volatile.Read(ref _generation);
            try
            {
                _job!.Execute(worker, Threads);
            }
            catch (Exception e)
            {
                _failure = e;
            }
            Interlocked.Decrement(ref _pending);
        }
    }

    public void Dispose()
    {
        _stopping = true;
        foreach (var e in _wake) e.Set();
        foreach (var t in _threads) t.Join();
        foreach (var e in _wake) e.Dispose();
    }

    /// <summary>The [start, end) share of <paramref name="count"/> items for one worker, in chunks of <paramref name="align"/>.</summary>
    public static (int Start, int End) Split(int count, int worker, int workers, int align = 1)
    {
        int chunks = (count + align - 1) / align;
        int start = (int)((long)chunks * worker / workers) * align;
        int end = (int)((long)chunks * (worker + 1) / workers) * align;
        return (Math.Min(start, count), Math.Min(end, count));
    }
}
