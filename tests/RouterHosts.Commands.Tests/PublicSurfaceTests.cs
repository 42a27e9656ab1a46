using System.Reflection;

namespace RouterHosts.Commands.Tests;

/// <summary>
/// What loads in PowerShell's default context must not expose what loads in the private
/// one: no public or protected signature of the cmdlet assembly (or of RouterHosts.Model)
/// may mention a type of Google.Protobuf, Grpc.*, or the client library and its protocol
/// and transport assemblies.
/// </summary>
[Collection(ModuleCollection.Name)]
public sealed class PublicSurfaceTests(ModuleUnderTest module)
{
    private static bool IsPrivateContext(Assembly assembly)
    {
        var name = assembly.GetName().Name ?? "";
        return name is "Google.Protobuf" or "RouterHosts.Client" or "RouterHosts.Protocol" or "RouterHosts.Transport"
            || name.StartsWith("Grpc.", StringComparison.Ordinal)
            || name.StartsWith("Microsoft.Extensions.", StringComparison.Ordinal);
    }

    public static IEnumerable<object[]> SurfaceAssemblies => [["RouterHosts.Commands"], ["RouterHosts.Model"]];

    [Theory]
    [MemberData(nameof(SurfaceAssemblies))]
    public void No_visible_signature_mentions_a_private_context_type(string assemblyName)
    {
        var assembly = assemblyName == "RouterHosts.Commands" ? module.Catalog.Commands : module.Catalog.Model;
        var offenders = new List<string>();
        foreach (var type in assembly.GetTypes().Where(IsVisible))
        {
            void Check(Type? mentioned, string where)
            {
                foreach (var part in Decompose(mentioned))
                    if (IsPrivateContext(part.Assembly)) offenders.Add($"{type.FullName}.{where}: {part.FullName}");
            }

            Check(type.BaseType, "(base type)");
            foreach (var i in type.GetInterfaces()) Check(i, "(interface)");
            foreach (var attribute in type.GetCustomAttributesData()) CheckAttribute(attribute, "(attribute)");
            const BindingFlags all = BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly;
            foreach (var field in type.GetFields(all).Where(f => f.IsPublic || f.IsFamily || f.IsFamilyOrAssembly))
                Check(field.FieldType, field.Name);
            foreach (var property in type.GetProperties(all))
            {
                var accessors = property.GetAccessors(nonPublic: true).Where(m => m.IsPublic || m.IsFamily || m.IsFamilyOrAssembly).ToList();
                if (accessors.Count == 0) continue;
                Check(property.PropertyType, property.Name);
                foreach (var attribute in property.GetCustomAttributesData()) CheckAttribute(attribute, property.Name);
            }
            foreach (var method in type.GetMethods(all).Where(m => m.IsPublic || m.IsFamily || m.IsFamilyOrAssembly))
            {
                Check(method.ReturnType, method.Name + "(return)");
                foreach (var parameter in method.GetParameters()) Check(parameter.ParameterType, $"{method.Name}({parameter.Name})");
            }
            foreach (var constructor in type.GetConstructors(all).Where(c => c.IsPublic || c.IsFamily || c.IsFamilyOrAssembly))
                foreach (var parameter in constructor.GetParameters()) Check(parameter.ParameterType, $".ctor({parameter.Name})");
            foreach (var e in type.GetEvents(all)) Check(e.EventHandlerType, e.Name);

            void CheckAttribute(CustomAttributeData attribute, string where)
            {
                Check(attribute.AttributeType, where);
                foreach (var value in attribute.ConstructorArguments.SelectMany(CmdletCatalog.Flatten)
                             .Concat(attribute.NamedArguments.SelectMany(n => CmdletCatalog.Flatten(n.TypedValue))))
                    if (value is Type t) Check(t, where);
            }
        }
        Assert.True(offenders.Count == 0, string.Join(Environment.NewLine, offenders));
    }

    [Fact]
    public void The_model_depends_on_nothing_but_the_runtime()
    {
        var references = module.Catalog.Model.GetReferencedAssemblies().Select(a => a.Name!).ToList();
        Assert.All(references, name => Assert.True(name.StartsWith("System", StringComparison.Ordinal) || name == "netstandard", name));
    }

    [Fact]
    public void The_connection_object_wraps_the_client_privately()
    {
        var connection = module.Catalog.Commands.GetType("RouterHosts.RouterHostsConnection")!;
        Assert.True(connection.IsPublic && connection.IsSealed);
        Assert.Empty(connection.GetConstructors()); // only PowerShell cmdlets make connections
        var visible = connection.GetProperties().Select(p => p.Name).Order(StringComparer.Ordinal);
        Assert.Equal(["ConfigPath", "ConnectedAt", "HasEditSession", "IsDefault", "IsOpen", "Target", "Transport"], visible);
    }

    [Fact]
    public void Only_cmdlets_completers_the_initializer_and_user_facing_types_are_public()
    {
        var allowed = new HashSet<string>
        {
            "RouterHosts.RouterHostsConnection", "RouterHosts.RouterHostsFormat", "RouterHosts.RouterHostsConflictMode",
            "RouterHosts.Commands.RouterHostsCmdlet", "RouterHosts.Commands.RouterHostsAgentCmdlet",
            "RouterHosts.Commands.RouterHostsBulkCmdlet`1", "RouterHosts.Commands.RouterHostsChangeCmdlet", "RouterHosts.Commands.RouterHostsSyncCmdlet",
            "RouterHosts.Commands.RouterHostsModuleInitializer",
            "RouterHosts.Commands.CachedValueCompleter", "RouterHosts.Commands.HostIdCompleter", "RouterHosts.Commands.HostnameCompleter",
            "RouterHosts.Commands.TagCompleter", "RouterHosts.Commands.SnapshotIdCompleter",
            "RouterHosts.Commands.IPAddressCompleter", "RouterHosts.Commands.SnapshotNameCompleter",
            "RouterHosts.Commands.ConnectionCompleter", "RouterHosts.Commands.PointInTimeCompleter",
        };
        foreach (var cmdlet in module.Catalog.Cmdlets) allowed.Add(cmdlet.Type.FullName!);
        var exported = module.Catalog.Commands.GetExportedTypes().Select(t => t.FullName!).ToList();
        Assert.Equal(allowed.Order(StringComparer.Ordinal), exported.Order(StringComparer.Ordinal));
    }

    private static bool IsVisible(Type type) => type.IsPublic || (type.IsNestedPublic && IsVisible(type.DeclaringType!))
        || ((type.IsNestedFamily || type.IsNestedFamORAssem) && IsVisible(type.DeclaringType!));

    private static IEnumerable<Type> Decompose(Type? type)
    {
        if (type is null) yield break;
        if (type.HasElementType)
        {
            foreach (var t in Decompose(type.GetElementType())) yield return t;
            yield break;
        }
        if (type.IsGenericParameter) yield break;
        if (type.IsGenericType && !type.IsGenericTypeDefinition)
        {
            yield return type.GetGenericTypeDefinition();
            foreach (var argument in type.GetGenericArguments())
                foreach (var t in Decompose(argument)) yield return t;
            yield break;
        }
        yield return type;
    }
}
