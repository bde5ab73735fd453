using System.Diagnostics;
using System.IO.Compression;
using System.Text;
using System.Xml.Linq;
using Augur.Tests.Cli;
using Augur.Tests.Support;

namespace Augur.Tests.Packaging;

/// <summary>
/// The NuGet packages as a user gets them: <c>dotnet pack</c> of the engine (<c>Augur</c>), the chat client
/// (<c>Augur.Chat</c>) and the CLI (<c>Augur.Cli</c>, the <c>augur</c> .NET tool) into a scratch feed, read back as zip
/// files (metadata, README, symbols, the tool's command), then a five-line app that references <c>Augur</c> from that
/// feed is restored, built and run on stories260K: its greedy text must be run.c's (the shared reference vectors).
/// Restore is offline: the feed, and the machine's global packages folder as a second local feed for the engine's
/// dependencies; the app restores into a folder of its own, so no stale <c>Augur</c> package is picked up.
/// </summary>
[Collection(CliProcesses.Name)]
public sealed class PackageTests : IDisposable
{
    readonly TempDirectory _dir = new();
    public void Dispose() => _dir.Dispose();

#if DEBUG
    const string Configuration = "Debug";
#else
    const string Configuration = "Release";
#endif

    static string RepositoryRoot
    {
        get
        {
            for (var d = new DirectoryInfo(AppContext.BaseDirectory); d is not null; d = d.Parent)
                if (File.Exists(Path.Combine(d.FullName, "Augur.slnx"))) return d.FullName;
            throw new InvalidOperationException("the repository (Augur.slnx) is not above the test assembly");
        }
    }

    /// <summary>Runs dotnet with no build servers left behind (they would outlive the test).</summary>
    static string Dotnet(string workingDirectory, params string[] args)
    {
        var psi = new ProcessStartInfo("dotnet")
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            StandardOutputEncoding = Encoding.UTF8,
            UseShellExecute = false,
        };
        foreach (var a in args) psi.ArgumentList.Add(a);
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        using var p = Process.Start(psi)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromSeconds(120)))
        {
            p.Kill(entireProcessTree: true);
            Assert.Fail($"dotnet {string.Join(' ', args)} did not finish in 120 s");
        }
        Assert.True(p.ExitCode == 0, $"dotnet {string.Join(' ', args)} failed ({p.ExitCode}):\n{stdout.Result}\n{stderr.Result}");
        return stdout.Result;
    }

    static string Pack(string project, string feed) =>
        Dotnet(RepositoryRoot, "pack", project, "-c", Configuration, "--no-build", "-o", feed, "--disable-build-servers", "-nodeReuse:false");

    /// <summary>The packages' version: the engine assembly's (Directory.Build.props sets both).</summary>
    static string Version => typeof(Augur.Model.LoadedModel).Assembly
        .GetCustomAttributes(typeof(System.Reflection.AssemblyInformationalVersionAttribute), false)
        .Cast<System.Reflection.AssemblyInformationalVersionAttribute>().Single().InformationalVersion.Split('+')[0];

    static string Package(string feed, string id) => Path.Combine(feed, $"{id}.{Version}.nupkg");

    static XElement Nuspec(ZipArchive package)
    {
        var entry = package.Entries.Single(e => e.FullName.EndsWith(".nuspec", StringComparison.Ordinal));
        using var s = entry.Open();
        return XDocument.Load(s).Root!;
    }

    static string? Meta(XElement nuspec, string name) => nuspec.Descendants().FirstOrDefault(e => e.Name.LocalName == name)?.Value;

    static string[] Dependencies(XElement nuspec) =>
        nuspec.Descendants().Where(e => e.Name.LocalName == "dependency").Select(e => (string)e.Attribute("id")!).ToArray();

    [Fact]
    public void The_packages_pack_and_an_app_referencing_Augur_generates_text()
    {
        string feed = Directory.CreateDirectory(_dir.File("feed")).FullName;
        Pack("src/Augur/Augur.csproj", feed);
        Pack("src/Augur.Chat/Augur.Chat.csproj", feed);
        Pack("src/Augur.Cli/Augur.Cli.csproj", feed);

        foreach (string id in (string[])["Augur", "Augur.Chat", "Augur.Cli"])
        {
            string nupkg = Package(feed, id);
            Assert.True(File.Exists(Path.ChangeExtension(nupkg, ".snupkg")), $"{id}: no symbol package");
            using var package = ZipFile.OpenRead(nupkg);
            var nuspec = Nuspec(package);
            Assert.Equal(id, Meta(nuspec, "id"));
            Assert.False(string.IsNullOrWhiteSpace(Meta(nuspec, "description")), id);
            Assert.False(string.IsNullOrWhiteSpace(Meta(nuspec, "license")), id);
            Assert.Equal("README.md", Meta(nuspec, "readme"));
            Assert.Contains(package.Entries, e => e.FullName == "README.md");
        }
        using (var engine = ZipFile.OpenRead(Package(feed, "Augur")))
        {
            Assert.Contains(engine.Entries, e => e.FullName == "lib/net10.0/Augur.dll");
            // The engine is free of Microsoft.Extensions.AI; the chat client's package carries it.
            Assert.DoesNotContain(Dependencies(Nuspec(engine)), d => d.StartsWith("Microsoft.Extensions.AI", StringComparison.Ordinal));
        }
        using (var chat = ZipFile.OpenRead(Package(feed, "Augur.Chat")))
            Assert.Equal(["Augur", "Microsoft.Extensions.AI.Abstractions"], Dependencies(Nuspec(chat)).Order());
        using (var tool = ZipFile.OpenRead(Package(feed, "Augur.Cli")))
        {
            Assert.Contains(Nuspec(tool).Descendants(), e => e.Name.LocalName == "packageType" && (string?)e.Attribute("name") == "DotnetTool");
            var settings = tool.Entries.Single(e => e.FullName.EndsWith("/DotnetToolSettings.xml", StringComparison.Ordinal));
            using var s = settings.Open();
            var command = XDocument.Load(s).Descendants().Single(e => e.Name.LocalName == "Command");
            Assert.Equal("augur", (string?)command.Attribute("Name"));
            Assert.Equal("Augur.Cli.dll", (string?)command.Attribute("EntryPoint"));
        }

        string globalPackages = Dotnet(RepositoryRoot, "nuget", "locals", "global-packages", "--list").Trim().Split(' ', 2)[1].Trim();
        string app = Directory.CreateDirectory(_dir.File("app")).FullName;
        File.WriteAllText(Path.Combine(app, "nuget.config"), $"""
            <?xml version="1.0" encoding="utf-8"?>
            <configuration>
              <packageSources>
                <clear />
                <add key="augur" value="{feed}" />
                <add key="global-packages" value="{globalPackages}" />
              </packageSources>
            </configuration>
            """);
        File.WriteAllText(Path.Combine(app, "Sample.csproj"), $"""
            <Project Sdk="Microsoft.NET.Sdk">
              <PropertyGroup>
                <OutputType>Exe</OutputType>
                <TargetFramework>net10.0</TargetFramework>
                <ImplicitUsings>enable</ImplicitUsings>
                <RestorePackagesPath>{Path.Combine(app, "packages")}</RestorePackagesPath>
              </PropertyGroup>
              <ItemGroup>
                <PackageReference Include="Augur" Version="{Version}" />
              </ItemGroup>
            </Project>
            """);
        File.WriteAllText(Path.Combine(app, "Program.cs"), """
            using Augur.Generation;
            using Augur.Model;
            using var model = LoadedModel.Open(args[0]);
            var result = new Generator(model.Model, model.Tokenizer).Generate(new GenerationRequest { Prompt = args[1], MaxTokens = 64, Sampling = Augur.Sampling.SamplingOptions.Greedy });
            Console.Write(result.Text);
            """);
        Dotnet(app, "build", "-c", "Release", "--disable-build-servers", "-nodeReuse:false");

        var reference = Reference.Get("once_upon_a_time");
        Assert.Equal(reference.GeneratedText, Dotnet(app, Path.Combine(app, "bin", "Release", "net10.0", "Sample.dll"), Reference.Stories260KGguf, reference.Prompt));
    }
}
