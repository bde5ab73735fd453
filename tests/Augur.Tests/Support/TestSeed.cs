namespace Augur.Tests.Support;

/// <summary>
/// The one rule for randomised tests, so that every failure reproduces.
/// <list type="bullet">
/// <item>Properties (CsCheck's <c>Gen.Sample</c>) draw a fresh seed every run. A failure's message starts
/// <c>Set seed: "…" or -e CsCheck_Seed=… to reproduce</c>; running with <c>CsCheck_Seed=…</c> set (for example
/// <c>CsCheck_Seed=… dotnet test --filter …</c>) replays that case first.</item>
/// <item>Seeded examples — data from <see cref="System.Random"/> whose bounds were measured on it — take their
/// generator from <see cref="Random"/>: the test's own seed by default, so a failure reproduces by rerunning;
/// <c>AUGUR_TEST_SEED=N</c> mixes N into every such seed to try other data, and a failure under it reproduces with
/// the same N.</item>
/// </list>
/// </summary>
public static class TestSeed
{
    /// <summary>N from <c>AUGUR_TEST_SEED</c>, or null when unset (each test then uses its own seed unchanged).</summary>
    public static int? Override { get; } =
        Environment.GetEnvironmentVariable("AUGUR_TEST_SEED") is { Length: > 0 } s
            ? int.TryParse(s, out int n) ? n : throw new InvalidOperationException($"AUGUR_TEST_SEED must be an integer, got '{s}'")
            : null;

    /// <summary>The seed a test with its own seed <paramref name="seed"/> runs with (the same in every process).</summary>
    public static int Effective(int seed) => Override is int n ? (int)((uint)seed * 0x9E3779B1u ^ (uint)n * 0x85EBCA77u) : seed;

    /// <summary>A generator for seeded example data.</summary>
    public static Random Random(int seed) => new(Effective(seed));
}
