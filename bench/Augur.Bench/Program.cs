using System.CommandLine;
using Augur;
using Augur.Bench;

// One subcommand per benchmark, each in its own file.
var root = new RootCommand("Augur benchmarks")
{
    PeerBenchmark.Create(),
    SpecBenchmark.Create(),
    BatchBenchmark.Create(),
    PrefixBenchmark.Create(),
    ServeThroughputBenchmark.Create(),
    TokenizeBenchmark.Create(),
    GrammarBenchmark.Create(),
    ClusterBenchmark.Create(),
};
try
{
    return root.Parse(args).Invoke();
}
catch (AugurException e)
{
    Console.Error.WriteLine($"error: {e.Message}");
    return 1;
}
