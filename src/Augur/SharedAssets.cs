namespace Augur;

/// <summary>
/// Finds the shared models and reference data that live beside the repository (never inside it):
/// <c>$AUGUR_SHARED</c> if set, else <c>../shared</c> relative to the repository root.
/// </summary>
public static class SharedAssets
{
    public const string EnvironmentVariable = "AUGUR_SHARED";
    public const string DefaultModel = "stories260K.gguf";

    public static string Root
    {
        get
        {
            string? env = Environment.GetEnvironmentVariable(EnvironmentVariable);
            if (!string.IsNullOrEmpty(env)) return Path.GetFullPath(env);
            string? repo = FindRepositoryRoot(AppContext.BaseDirectory) ?? FindRepositoryRoot(Directory.GetCurrentDirectory());
            if (repo is null)
                throw new AugurException($"cannot find the shared assets folder: set {EnvironmentVariable} or run from inside the repository");
            return Path.GetFullPath(Path.Combine(repo, "..", "shared"));
        }
    }

    /// <summary>A file in <c>shared/models</c>; throws <see cref="AssetNotFoundException"/> naming it if absent.</summary>
    public static string Model(string name) => Require(Path.Combine(Root, "models", name), "model file");

    /// <summary>A file in <c>shared/data</c>; throws <see cref="AssetNotFoundException"/> naming it if absent.</summary>
    public static string Data(string name) => Require(Path.Combine(Root, "data", name), "reference data file");

    static string Require(string path, string what) =>
        File.Exists(path) || Directory.Exists(path) ? path : throw new AssetNotFoundException(path, what);

    static string? FindRepositoryRoot(string start)
    {
        for (var dir = new DirectoryInfo(start); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Augur.slnx"))) return dir.FullName;
        return null;
    }
}
