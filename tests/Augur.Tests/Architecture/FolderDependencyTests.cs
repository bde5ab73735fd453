using System.Text.RegularExpressions;

namespace Augur.Tests.Architecture;

/// <summary>
/// The engine's top-level folders are its architecture: the namespaces they use must form a DAG, so a folder
/// never depends (directly or through others) on one that depends on it.
/// </summary>
public sealed partial class FolderDependencyTests
{
    [GeneratedRegex(@"\bAugur\.([A-Z][A-Za-z]+)\b")]
    private static partial Regex NamespaceUse();

    static string EngineRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
            if (File.Exists(Path.Combine(dir.FullName, "Augur.slnx"))) return Path.Combine(dir.FullName, "src", "Augur");
        throw new InvalidOperationException("repository root (Augur.slnx) not found above the test binaries");
    }

    /// <summary>folder → the other engine folders its files name.</summary>
    static Dictionary<string, SortedSet<string>> Dependencies()
    {
        string root = EngineRoot();
        var folders = Directory.GetDirectories(root).Select(d => Path.GetFileName(d)).Where(f => f is not ("bin" or "obj")).ToHashSet();
        var deps = folders.ToDictionary(f => f, _ => new SortedSet<string>());
        foreach (string folder in folders)
            foreach (string file in Directory.EnumerateFiles(Path.Combine(root, folder), "*.cs", SearchOption.AllDirectories))
                foreach (Match m in NamespaceUse().Matches(File.ReadAllText(file)))
                    if (m.Groups[1].Value != folder && folders.Contains(m.Groups[1].Value)) deps[folder].Add(m.Groups[1].Value);
        return deps;
    }

    [Fact]
    public void Engine_folders_depend_on_each_other_without_cycles()
    {
        var deps = Dependencies();
        Assert.Contains("Gguf", deps.Keys); // the scan sees the real tree
        var state = new Dictionary<string, int>(); // 1 on the current path, 2 finished
        var path = new List<string>();
        string? cycle = null;
        void Visit(string f)
        {
            if (cycle is not null) return;
            state[f] = 1; path.Add(f);
            foreach (string d in deps[f])
            {
                if (state.GetValueOrDefault(d) == 1) { cycle = string.Join(" → ", path.SkipWhile(p => p != d).Append(d)); return; }
                if (state.GetValueOrDefault(d) == 0) Visit(d);
            }
            path.RemoveAt(path.Count - 1); state[f] = 2;
        }
        foreach (string f in deps.Keys.Order()) if (state.GetValueOrDefault(f) == 0) Visit(f);
        Assert.True(cycle is null, $"folder dependency cycle: {cycle}");
    }

    [Fact]
    public void The_file_format_layer_knows_no_model_tokenizer_or_kernel_code()
    {
        var gguf = Dependencies()["Gguf"];
        Assert.DoesNotContain("Model", gguf);
        Assert.DoesNotContain("Tokenizers", gguf);
        Assert.Equal(["Tensors"], gguf); // GgmlType only: tensor infos name their element type
    }
}
