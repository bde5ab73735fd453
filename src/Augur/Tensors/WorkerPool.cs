namespace Augur.Tensors;

/// <summary>A piece of work split into parts: <c>Execute(part, parts)</c> does share <c>part</c> of <c>parts</c>.
/// Parts may run on any thread, in any order, concurrently.</summary>
public interface IParallelJob
{
    void Execute(int part, int parts);
}

/// <summary>
/// Persistent worker threads for the kernels. A job is cut into a few parts per thread; the caller and the
/// workers claim parts from a shared ticket until none is left, so a worker the OS has not scheduled yet
/// never holds the caller up (on a busy machine the caller simply does more parts itself). The ticket carries
/// the job's generation, so a worker that wakes late cannot claim a part of a finished job. Workers spin
/// briefly for the next job (ops follow each other within microseconds during a forward pass), then sleep.
/// Jobs are reusable objects, so dispatching allocates nothing.
/// </summary>
public sealed class WorkerPool : IDisposable
{
    // How long an idle worker spins before it sleeps: waking a sleeping thread costs tens of microseconds,
    // more than many whole ops, while ops of a forward pass follow each other within microseconds.
    // Short, because a spinning worker takes a core from everything else (the server's I/O, the caller's sampling).
    static readonly long SpinTicks = System.Diagnostics.Stopwatch.Frequency / 10_000; // 0.1 ms
    const int PartsPerThread = 4;

    /// <summary>Below this many multiply-adds a job runs on the calling thread alone: waking a worker costs more.</summary>
    public const long MinParallelWork = 1 << 16;

    readonly Thread[] _threads;
    readonly ManualResetEventSlim[] _wake;
    readonly object _runLock = new();
    IParallelJob? _job;
    int _parts;
    long _ticket;   // (generation << 32) | next part to claim
    int _done;      // parts finished in the current generation
    volatile bool _stopping;
    Exception? _failure;

    public int Threads { get; }

    /// <summary>The most parts a job is cut into (for per-part scratch buffers).</summary>
    public int MaxParts => Threads * PartsPerThread;

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
            int worker = i;
            _threads[i] = new Thread(() => Loop(worker)) { IsBackground = true, Name = $"augur-worker-{worker + 1}" };
            _threads[i].Start();
        }
    }

    /// <summary>Runs <paramref name="job"/> across the pool and returns when every part is done; a job of less than
    /// <see cref="MinParallelWork"/> multiply-adds (<paramref name="work"/>) runs on the caller as one part.</summary>
    public void Run(IParallelJob job, long work = long.MaxValue)
    {
        if (Threads == 1 || work < MinParallelWork) { job.Execute(0, 1); return; }
        lock (_runLock)
        {
            _job = job;
            _parts = Threads * PartsPerThread;
            _failure = null;
            Volatile.Write(ref _done, 0);
            long generation = (Volatile.Read(ref _ticket) >> 32) + 1;
            Interlocked.Exchange(ref _ticket, generation << 32); // publishes the job: parts 0.. are now claimable
            foreach (var e in _wake) e.Set();
            Work(generation);
            var spin = new SpinWait();
            while (Volatile.Read(ref _done) < _parts) spin.SpinOnce(sleep1Threshold: -1);
            _job = null;
            if (_failure is { } f) throw new AggregateException("a worker thread failed", f);
        }
    }

    /// <summary>Claims and runs parts of generation <paramref name="generation"/> until none is left.</summary>
    void Work(long generation)
    {
        while (true)
        {
            long ticket = Volatile.Read(ref _ticket);
            if (ticket >> 32 != generation) return;
            int part = (int)(ticket & 0xffffffff);
            if (part >= _parts) return;
            if (Interlocked.CompareExchange(ref _ticket, ticket + 1, ticket) != ticket) continue;
            // A claimed part keeps the job unfinished, so _job is still this generation's job here.
            try
            {
                _job!.Execute(part, _parts);
            }
            catch (Exception e)
            {
                _failure = e;
            }
            Interlocked.Increment(ref _done);
        }
    }

    void Loop(int worker)
    {
        long seen = 0;
        var wake = _wake[worker];
        while (true)
        {
            long spinUntil = System.Diagnostics.Stopwatch.GetTimestamp() + SpinTicks;
            while (Volatile.Read(ref _ticket) >> 32 == seen && !_stopping)
            {
                if (System.Diagnostics.Stopwatch.GetTimestamp() < spinUntil) Thread.SpinWait(20);
                else
                {
                    wake.Wait();
                    wake.Reset();
                    spinUntil = System.Diagnostics.Stopwatch.GetTimestamp() + SpinTicks;
                }
            }
            if (_stopping) return;
            seen = Volatile.Read(ref _ticket) >> 32;
            Work(seen);
        }
    }

    public void Dispose()
    {
        _stopping = true;
        foreach (var e in _wake) e.Set();
        foreach (var t in _threads) t.Join();
        foreach (var e in _wake) e.Dispose();
    }

    /// <summary>The [start, end) share of <paramref name="count"/> items for one part, in chunks of <paramref name="align"/>.</summary>
    public static (int Start, int End) Split(int count, int part, int parts, int align = 1)
    {
        int chunks = (count + align - 1) / align;
        int start = (int)((long)chunks * part / parts) * align;
        int end = (int)((long)chunks * (part + 1) / parts) * align;
        return (Math.Min(start, count), Math.Min(end, count));
    }
}
