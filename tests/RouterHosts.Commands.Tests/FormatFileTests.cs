using System.Xml.Linq;

namespace RouterHosts.Commands.Tests;

/// <summary>RouterHosts.format.ps1xml against the types: every view's type exists, every output type has a table view.</summary>
[Collection(ModuleCollection.Name)]
public sealed class FormatFileTests(ModuleUnderTest module)
{
    private XDocument Format => XDocument.Load(module.FormatPath);

    private IEnumerable<XElement> Views => Format.Root!.Element("ViewDefinitions")!.Elements("View");

    private Type? Resolve(string typeName) =>
        module.Catalog.Model.GetType(typeName) ?? module.Catalog.Commands.GetType(typeName);

    [Fact]
    public void Every_TypeName_resolves_to_a_type_of_the_Model_or_Commands_assembly()
    {
        var names = Format.Descendants("TypeName").Select(t => t.Value.Trim()).ToList();
        Assert.NotEmpty(names);
        foreach (var name in names) Assert.True(Resolve(name) is not null, $"{name} is neither in RouterHosts.Model nor RouterHosts.Commands");
    }

    [Fact]
    public void Every_property_a_view_names_exists_on_its_type()
    {
        foreach (var view in Views)
        {
            var type = Resolve(view.Element("ViewSelectedBy")!.Element("TypeName")!.Value.Trim())!;
            foreach (var property in view.Descendants("PropertyName").Select(p => p.Value.Trim()))
                Assert.True(type.GetProperty(property) is not null, $"view {view.Element("Name")?.Value}: {type.Name} has no property {property}");
        }
    }

    [Fact]
    public void Table_views_have_as_many_headers_as_columns_and_read_well_at_80_columns()
    {
        foreach (var table in Views.Select(v => v.Element("TableControl")).OfType<XElement>())
        {
            var headers = table.Element("TableHeaders")!.Elements("TableColumnHeader").ToList();
            var columns = table.Descendants("TableColumnItem").ToList();
            Assert.Equal(headers.Count, columns.Count);
            var fixedWidth = headers.Sum(h => int.TryParse(h.Element("Width")?.Value, out var w) ? w : 0) + headers.Count - 1;
            // At 80 columns the last column (a comment, a session, a host) still has room to read.
            Assert.True(fixedWidth <= 66, $"a table is {fixedWidth} columns wide before its last column");
        }
    }

    [Fact]
    public void Every_output_type_of_a_cmdlet_has_a_table_view()
    {
        var tables = Views.Where(v => v.Element("TableControl") is not null)
            .Select(v => v.Element("ViewSelectedBy")!.Element("TypeName")!.Value.Trim()).ToHashSet();
        var outputs = module.Catalog.Cmdlets.SelectMany(c => c.OutputTypes).Select(t => t.FullName!)
            .Where(n => n.StartsWith("RouterHosts.", StringComparison.Ordinal)).Distinct().ToList();
        Assert.NotEmpty(outputs);
        foreach (var output in outputs) Assert.True(tables.Contains(output), $"{output} has no table view");
    }

    [Fact]
    public void The_first_view_of_each_type_is_its_table_view()
    {
        foreach (var group in Views.GroupBy(v => v.Element("ViewSelectedBy")!.Element("TypeName")!.Value.Trim()))
            Assert.NotNull(group.First().Element("TableControl"));
    }
}
