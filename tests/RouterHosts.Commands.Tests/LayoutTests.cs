using System.Reflection;
using System.Runtime.Loader;
using RouterHosts.Commands.Internal;

namespace RouterHosts.Commands.Tests;

/// <summary>
/// The assembled module folder: what sits beside the cmdlets (default load context), what
/// sits in deps/ (private load context), and that the private context really isolates the
/// dependencies while sharing the user-facing types.
/// </summary>
[Collection(ModuleCollection.Name)]
public sealed class LayoutTests(ModuleUnderTest module)
{
    [Fact]
    public void System_Management_Automation_is_never_shipped()
    {
        var shipped = Directory.GetFiles(module.ModuleDirectory, "*.dll", SearchOption.AllDirectories).Select(Path.GetFileName);
        Assert.DoesNotContain("System.Management.Automation.dll", shipped, StringComparer.OrdinalIgnoreCase);
        // ... nor is it in the build output that gets assembled.
        Assert.False(File.Exists(Path.Combine(module.CommandsBuildDirectory, "System.Management.Automation.dll")));
    }

    [Fact]
    public void Only_the_cmdlets_and_the_model_sit_in_the_module_folder_and_the_rest_in_deps()
    {
        if (!module.IsAssembled) return;
        var top = Directory.GetFiles(module.ModuleDirectory, "*.dll").Select(Path.GetFileName).Order(StringComparer.Ordinal);
        Assert.Equal(["RouterHosts.Commands.dll", "RouterHosts.Model.dll"], top);
        var deps = Directory.GetFiles(Path.Combine(module.ModuleDirectory, "deps"), "*.dll").Select(Path.GetFileName).ToList();
        foreach (var expected in new[] { "RouterHosts.Client.dll", "RouterHosts.Protocol.dll", "RouterHosts.Transport.dll", "Google.Protobuf.dll", "Grpc.Net.Client.dll", "Grpc.Core.Api.dll" })
            Assert.Contains(expected, deps);
        Assert.DoesNotContain("RouterHosts.Model.dll", deps);
        Assert.DoesNotContain("RouterHosts.Commands.dll", deps);
        Assert.True(File.Exists(Path.Combine(module.ModuleDirectory, "RouterHosts.psd1")));
        Assert.True(File.Exists(Path.Combine(module.ModuleDirectory, "RouterHosts.format.ps1xml")));
        Assert.True(File.Exists(Path.Combine(module.ModuleDirectory, "en-US", "RouterHosts.Commands.dll-Help.xml")));
        // agent/ (the dev agent that build.ps1 -Task Package ships) is an application of its own, with its deps.json.
        var agent = Path.Combine(module.ModuleDirectory, "agent") + Path.DirectorySeparatorChar;
        Assert.Empty(Directory.GetFiles(module.ModuleDirectory, "*.deps.json", SearchOption.AllDirectories).Where(f => !f.StartsWith(agent, StringComparison.Ordinal)));
    }

    [Fact]
    public void Every_assembly_the_cmdlets_reference_directly_is_runtime_model_PowerShell_or_a_private_dependency()
    {
        foreach (var reference in module.Catalog.Commands.GetReferencedAssemblies())
        {
            var name = reference.Name!;
            var ok = name.StartsWith("System", StringComparison.Ordinal) || name is "netstandard" or "Microsoft.Win32.Primitives"
                || name == ModuleAssemblyLoader.ModelAssemblyName || DependencyNames.IsPrivate(name);
            Assert.True(ok, $"RouterHosts.Commands references {name}, which the resolver would not load from deps/");
            if (DependencyNames.IsPrivate(name) && module.IsAssembled)
                Assert.True(File.Exists(Path.Combine(module.DependencyDirectory, name + ".dll")), $"{name}.dll is not in deps/");
        }
    }

    [Fact]
    public void The_private_context_loads_the_client_and_its_dependencies_from_deps_and_shares_the_model()
    {
        if (!module.IsAssembled) return;
        var context = new DependencyLoadContext(module.DependencyDirectory, AssemblyLoadContext.Default);
        var client = context.LoadFromAssemblyName(new AssemblyName("RouterHosts.Client"));
        Assert.Same(context, AssemblyLoadContext.GetLoadContext(client));
        Assert.StartsWith(module.DependencyDirectory, client.Location);

        // A dependency of the client resolves inside the private context, apart from any copy in the default one.
        var protobuf = context.LoadFromAssemblyName(new AssemblyName("Google.Protobuf"));
        Assert.Same(context, AssemblyLoadContext.GetLoadContext(protobuf));
        Assert.StartsWith(module.DependencyDirectory, protobuf.Location);

        // The user-facing types are not duplicated: the client's RouterHost is the default context's RouterHost.
        var clientType = client.GetType("RouterHosts.Client.RouterHostsClient", throwOnError: true)!;
        var addHost = clientType.GetMethod("AddHostAsync")!;
        var returned = addHost.ReturnType.GetGenericArguments().Single();
        Assert.Same(typeof(RouterHost), returned);
        Assert.Same(AssemblyLoadContext.Default, AssemblyLoadContext.GetLoadContext(returned.Assembly));
    }

    [Fact]
    public void Only_our_dependency_names_are_handed_to_the_private_context()
    {
        Assert.True(DependencyNames.IsPrivate("RouterHosts.Client"));
        Assert.True(DependencyNames.IsPrivate("RouterHosts.Protocol"));
        Assert.True(DependencyNames.IsPrivate("RouterHosts.Transport"));
        Assert.True(DependencyNames.IsPrivate("Google.Protobuf"));
        Assert.True(DependencyNames.IsPrivate("Grpc.Net.Client"));
        Assert.True(DependencyNames.IsPrivate("Grpc.Core.Api"));
        Assert.False(DependencyNames.IsPrivate("RouterHosts.Model"));
        Assert.False(DependencyNames.IsPrivate("RouterHosts.Commands"));
        Assert.False(DependencyNames.IsPrivate("System.Management.Automation"));
        Assert.False(DependencyNames.IsPrivate("Newtonsoft.Json"));
        Assert.False(DependencyNames.IsPrivate("System.Text.Json"));
    }
}
