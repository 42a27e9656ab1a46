using System.Diagnostics;
using System.Reflection;

namespace RouterHosts.Commands.Tests;

/// <summary>
/// The module these tests look at, in its assembled layout:
/// <list type="bullet">
/// <item>ROUTERHOSTS_TEST_MODULE_DIR when set (build.ps1 sets it to what it assembled);</item>
/// <item>else module/assemble.sh run with --from on the freshly built RouterHosts.Commands output
/// into a temporary folder (so the layout script itself is under test);</item>
/// <item>else (no bash, e.g. Windows without build.ps1) the build output and the source files.</item>
/// </list>
/// </summary>
public sealed class ModuleUnderTest : IDisposable
{
    public const string EnvironmentVariable = "ROUTERHOSTS_TEST_MODULE_DIR";

    private readonly string? _temporary;

    public ModuleUnderTest()
    {
        RepositoryRoot = Metadata("RepositoryRoot");
        CommandsBuildDirectory = Metadata("CommandsBuildDirectory");
        if (Environment.GetEnvironmentVariable(EnvironmentVariable) is { Length: > 0 } given)
        {
            ModuleDirectory = Path.GetFullPath(given);
            IsAssembled = true;
            Origin = $"{EnvironmentVariable}={given}";
        }
        else if (FindBash() is { } bash)
        {
            _temporary = Path.Combine(Path.GetTempPath(), "routerhosts-module-" + Guid.NewGuid().ToString("N")[..12]);
            ModuleDirectory = Path.Combine(_temporary, "RouterHosts");
            Run(bash, [Path.Combine(RepositoryRoot, "module", "assemble.sh"), "--from", CommandsBuildDirectory, "-o", ModuleDirectory]);
            IsAssembled = true;
            Origin = "module/assemble.sh --from " + CommandsBuildDirectory;
        }
        else
        {
            ModuleDirectory = CommandsBuildDirectory;
            IsAssembled = false;
            Origin = "build output (not assembled)";
        }
    }

    public string RepositoryRoot { get; }
    public string CommandsBuildDirectory { get; }
    public string ModuleDirectory { get; }
    public bool IsAssembled { get; }
    public string Origin { get; }

    public string CommandsAssemblyPath => Path.Combine(ModuleDirectory, "RouterHosts.Commands.dll");
    public string DependencyDirectory => IsAssembled ? Path.Combine(ModuleDirectory, "deps") : ModuleDirectory;
    public string RootManifestPath => Path.Combine(RepositoryRoot, "RouterHosts.psd1");
    public string? AssembledManifestPath => IsAssembled ? Path.Combine(ModuleDirectory, "RouterHosts.psd1") : null;
    public string HelpPath => IsAssembled
        ? Path.Combine(ModuleDirectory, "en-US", "RouterHosts.Commands.dll-Help.xml")
        : Path.Combine(RepositoryRoot, "en-US", "RouterHosts.Commands.dll-Help.xml");
    public string FormatPath => IsAssembled
        ? Path.Combine(ModuleDirectory, "RouterHosts.format.ps1xml")
        : Path.Combine(RepositoryRoot, "module", "RouterHosts.format.ps1xml");

    private CmdletCatalog? _catalog;
    public CmdletCatalog Catalog => _catalog ??= CmdletCatalog.Load(CommandsAssemblyPath, DependencyDirectory);

    private static string Metadata(string key) =>
        typeof(ModuleUnderTest).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().Single(a => a.Key == key).Value
        ?? throw new InvalidOperationException($"no {key} metadata");

    private static string? FindBash()
    {
        if (OperatingSystem.IsWindows()) return null;
        foreach (var candidate in new[] { "/bin/bash", "/usr/bin/bash", "/usr/local/bin/bash", "/opt/homebrew/bin/bash" })
            if (File.Exists(candidate)) return candidate;
        return null;
    }

    private static void Run(string file, string[] arguments)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(120_000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', arguments)} did not finish in 2 minutes");
        }
        if (process.ExitCode != 0)
            throw new InvalidOperationException($"{file} {string.Join(' ', arguments)} failed ({process.ExitCode}):\n{output.Result}\n{error.Result}");
    }

    public void Dispose()
    {
        _catalog?.Dispose();
        if (_temporary is not null)
        {
            try { Directory.Delete(_temporary, recursive: true); }
            catch (IOException) { }
        }
    }
}

[CollectionDefinition(Name)]
public sealed class ModuleCollection : ICollectionFixture<ModuleUnderTest>
{
    public const string Name = "module under test";
}
