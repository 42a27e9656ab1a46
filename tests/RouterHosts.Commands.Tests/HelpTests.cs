using System.Xml.Linq;

namespace RouterHosts.Commands.Tests;

/// <summary>
/// The MAML help (en-US/RouterHosts.Commands.dll-Help.xml) against the built cmdlets:
/// every cmdlet with a synopsis, a description and at least one example; every parameter
/// documented, with the name, aliases, mandatory and pipeline input the code declares;
/// one syntax block per parameter set.
/// </summary>
[Collection(ModuleCollection.Name)]
public sealed class HelpTests(ModuleUnderTest module)
{
    private static readonly XNamespace Maml = "http://schemas.microsoft.com/maml/2004/10";
    private static readonly XNamespace Command = "http://schemas.microsoft.com/maml/dev/command/2004/10";
    private static readonly XNamespace Dev = "http://schemas.microsoft.com/maml/dev/2004/10";

    private XDocument Help => XDocument.Load(module.HelpPath);

    private XElement CommandHelp(string name) =>
        Help.Root!.Elements(Command + "command").SingleOrDefault(c => c.Element(Command + "details")?.Element(Command + "name")?.Value == name)
        ?? throw new Xunit.Sdk.XunitException($"no help for {name}");

    [Fact]
    public void The_help_file_is_named_for_the_cmdlet_assembly_and_is_MAML()
    {
        Assert.Equal("RouterHosts.Commands.dll-Help.xml", Path.GetFileName(module.HelpPath));
        Assert.Equal("helpItems", Help.Root!.Name.LocalName);
        Assert.Equal("maml", Help.Root.Attribute("schema")?.Value);
        if (module.IsAssembled)
        {
            var source = Path.Combine(module.RepositoryRoot, "en-US", "RouterHosts.Commands.dll-Help.xml");
            Assert.Equal(File.ReadAllText(source), File.ReadAllText(module.HelpPath));
        }
    }

    [Fact]
    public void Every_error_id_is_in_the_README_error_table()
    {
        var readme = File.ReadAllLines(Path.Combine(module.RepositoryRoot, "README.md"));
        var table = readme.Where(line => line.StartsWith("| `RouterHost", StringComparison.Ordinal)).ToList();
        var ids = typeof(RouterHosts.Commands.Internal.ErrorIds).GetFields().Select(f => (string)f.GetRawConstantValue()!).ToList();
        Assert.True(ids.Count > 20);
        Assert.Empty(ids.Where(id => !table.Any(row => row.Contains($"`{id}`", StringComparison.Ordinal))));
    }

    [Fact]
    public void Every_cmdlet_has_help_and_the_help_has_no_other_commands()
    {
        var documented = Help.Root!.Elements(Command + "command").Select(c => c.Element(Command + "details")!.Element(Command + "name")!.Value);
        Assert.Equal(module.Catalog.Cmdlets.Select(c => c.Name).Order(StringComparer.Ordinal), documented.Order(StringComparer.Ordinal));
    }

    public static IEnumerable<object[]> CmdletNames => CmdletMetadataTests.ExpectedCmdlets.Select(n => new object[] { n });

    [Theory]
    [MemberData(nameof(CmdletNames))]
    public void Each_cmdlet_has_a_synopsis_a_description_and_an_example(string name)
    {
        var help = CommandHelp(name);
        var cmdlet = module.Catalog[name];
        var details = help.Element(Command + "details")!;
        Assert.Equal(cmdlet.Verb, details.Element(Command + "verb")?.Value);
        Assert.Equal(cmdlet.Noun, details.Element(Command + "noun")?.Value);
        Assert.False(string.IsNullOrWhiteSpace(details.Element(Maml + "description")?.Value), $"{name}: no synopsis");
        Assert.False(string.IsNullOrWhiteSpace(help.Element(Maml + "description")?.Value), $"{name}: no description");
        var examples = help.Element(Command + "examples")?.Elements(Command + "example").ToList() ?? [];
        Assert.True(examples.Count > 0, $"{name}: no example");
        foreach (var example in examples)
        {
            Assert.False(string.IsNullOrWhiteSpace(example.Element(Maml + "title")?.Value));
            var code = example.Element(Dev + "code")?.Value ?? "";
            Assert.Contains(name, code);
            Assert.False(string.IsNullOrWhiteSpace(example.Element(Dev + "remarks")?.Value), $"{name}: an example without remarks");
        }
        Assert.NotEmpty(help.Element(Command + "returnValues")!.Elements(Command + "returnValue"));
    }

    [Theory]
    [MemberData(nameof(CmdletNames))]
    public void Every_parameter_is_documented_as_declared(string name)
    {
        var cmdlet = module.Catalog[name];
        var documented = CommandHelp(name).Element(Command + "parameters")!.Elements(Command + "parameter")
            .ToDictionary(p => p.Element(Maml + "name")!.Value);
        var expected = cmdlet.Parameters.Select(p => p.Name).ToHashSet();
        if (cmdlet.SupportsShouldProcess) expected.UnionWith(["WhatIf", "Confirm"]);
        Assert.Equal(expected.Order(StringComparer.Ordinal), documented.Keys.Order(StringComparer.Ordinal));

        foreach (var parameter in cmdlet.Parameters)
        {
            var help = documented[parameter.Name];
            Assert.False(string.IsNullOrWhiteSpace(help.Element(Maml + "description")?.Value), $"{name} -{parameter.Name}: no description");
            Assert.Equal(parameter.MandatoryAnywhere ? "true" : "false", help.Attribute("required")?.Value);
            var pipeline = help.Attribute("pipelineInput")?.Value ?? "";
            Assert.Equal(parameter.ByValue, pipeline.Contains("ByValue", StringComparison.Ordinal));
            Assert.Equal(parameter.ByPropertyName, pipeline.Contains("ByPropertyName", StringComparison.Ordinal));
            Assert.Equal(parameter.ByValue || parameter.ByPropertyName, pipeline.StartsWith("True", StringComparison.Ordinal));
            var aliases = help.Attribute("aliases")?.Value is { } a && a != "none"
                ? a.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                : [];
            Assert.Equal(parameter.Aliases.Order(StringComparer.Ordinal), aliases.Order(StringComparer.Ordinal));
            Assert.Equal(parameter.SupportsWildcards ? "true" : "false", help.Attribute("globbing")?.Value);
        }
    }

    [Theory]
    [MemberData(nameof(CmdletNames))]
    public void The_syntax_has_one_block_per_parameter_set_with_its_parameters(string name)
    {
        var cmdlet = module.Catalog[name];
        var items = CommandHelp(name).Element(Command + "syntax")!.Elements(Command + "syntaxItem").ToList();
        Assert.Equal(cmdlet.ParameterSets.Count, items.Count);
        var documentedSets = items.Select(i => i.Elements(Command + "parameter").Select(p => p.Element(Maml + "name")!.Value)
            .Where(n => n is not ("WhatIf" or "Confirm")).Order(StringComparer.Ordinal).ToList()).ToList();
        foreach (var set in cmdlet.ParameterSets)
        {
            var declared = cmdlet.Parameters.Where(p => p.InSet(set)).Select(p => p.Name).Order(StringComparer.Ordinal).ToList();
            Assert.Contains(documentedSets, d => d.SequenceEqual(declared));
        }
    }
}
