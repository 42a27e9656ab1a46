namespace RouterHosts.Commands.Tests;

/// <summary>The root manifest RouterHosts.psd1 (and its copy in the assembled module), read as text.</summary>
[Collection(ModuleCollection.Name)]
public sealed class ManifestTests(ModuleUnderTest module)
{
    private const string Prefix = "artifacts/module/RouterHosts/";

    private Dictionary<string, object?> Root => Psd1.Parse(File.ReadAllText(module.RootManifestPath));

    [Fact]
    public void CmdletsToExport_lists_exactly_the_cmdlet_classes()
    {
        var exported = Psd1.Strings(Root, "CmdletsToExport");
        Assert.DoesNotContain(exported, name => name.Contains('*') || name.Contains('?'));
        Assert.Equal(module.Catalog.Cmdlets.Select(c => c.Name).Order(StringComparer.Ordinal), exported.Order(StringComparer.Ordinal));
    }

    [Fact]
    public void Functions_aliases_and_variables_exports_are_empty()
    {
        foreach (var key in new[] { "FunctionsToExport", "AliasesToExport", "VariablesToExport" })
        {
            Assert.True(Root.ContainsKey(key), $"{key} is missing (PowerShell would export everything)");
            Assert.Empty(Psd1.Strings(Root, key));
        }
    }

    [Fact]
    public void It_targets_PowerShell_7_4_Core()
    {
        Assert.Equal(["Core"], Psd1.Strings(Root, "CompatiblePSEditions"));
        Assert.Equal("7.4", Root["PowerShellVersion"]);
        Assert.True(Version.TryParse((string)Root["ModuleVersion"]!, out _));
        Assert.True(Guid.TryParse((string)Root["GUID"]!, out _));
    }

    [Fact]
    public void PSData_carries_what_a_gallery_shows()
    {
        var psData = (Dictionary<string, object?>)((Dictionary<string, object?>)Root["PrivateData"]!)["PSData"]!;
        Assert.Contains("PSEdition_Core", Psd1.Strings(psData, "Tags"));
        Assert.Contains("hosts", Psd1.Strings(psData, "Tags"));
        foreach (var key in new[] { "ProjectUri", "LicenseUri" })
            Assert.True(Uri.TryCreate((string)psData[key]!, UriKind.Absolute, out var uri) && uri.Scheme == "https", key);
        Assert.StartsWith((string)Root["ModuleVersion"]! + ":", (string)psData["ReleaseNotes"]!);
    }

    [Fact]
    public void RootModule_and_FormatsToProcess_point_into_the_assembled_layout()
    {
        Assert.Equal(Prefix + "RouterHosts.Commands.dll", Root["RootModule"]);
        Assert.Equal([Prefix + "RouterHosts.format.ps1xml"], Psd1.Strings(Root, "FormatsToProcess"));
        Assert.False(Root.ContainsKey("NestedModules") && Psd1.Strings(Root, "NestedModules").Count > 0);
        Assert.False(Root.ContainsKey("ScriptsToProcess") && Psd1.Strings(Root, "ScriptsToProcess").Count > 0,
            "import must be cheap: no scripts at import");
    }

    [Fact]
    public void The_assembled_manifest_is_the_root_one_with_paths_relative_to_the_module_folder()
    {
        if (module.AssembledManifestPath is not { } assembledPath) return; // not assembled (Windows without build.ps1)
        var root = File.ReadAllText(module.RootManifestPath);
        var assembled = File.ReadAllText(assembledPath);
        Assert.Equal(root.Replace(Prefix, "", StringComparison.Ordinal), assembled);
        var manifest = Psd1.Parse(assembled);
        Assert.Equal("RouterHosts.Commands.dll", manifest["RootModule"]);
        Assert.True(File.Exists(Path.Combine(module.ModuleDirectory, (string)manifest["RootModule"]!)));
        foreach (var format in Psd1.Strings(manifest, "FormatsToProcess"))
            Assert.True(File.Exists(Path.Combine(module.ModuleDirectory, format)), format);
        Assert.Equal(Psd1.Strings(Root, "CmdletsToExport"), Psd1.Strings(manifest, "CmdletsToExport"));
    }

    [Fact]
    public void The_reader_understands_what_manifests_use()
    {
        var parsed = Psd1.Parse("""
            # comment
            <# block
               comment #>
            @{
                A = 'it''s'; B = "x`"y"
                C = @('one', 'two'
                      'three')
                D = @()
                E = @{ F = $true; G = 2 }
            }
            """);
        Assert.Equal("it's", parsed["A"]);
        Assert.Equal("x\"y", parsed["B"]);
        Assert.Equal(["one", "two", "three"], Psd1.Strings(parsed, "C"));
        Assert.Empty(Psd1.Strings(parsed, "D"));
        Assert.Equal(true, ((Dictionary<string, object?>)parsed["E"]!)["F"]);
    }
}
