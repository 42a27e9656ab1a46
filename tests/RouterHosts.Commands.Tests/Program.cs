using System.Reflection;
using System.Runtime.Loader;

namespace RouterHosts.Commands.Tests;

/// <summary>
/// The test assembly's entry point. Test runners never call it; LoadContextProbeTests runs
/// it as <c>dotnet exec RouterHosts.Commands.Tests.dll --load-probe MODULE_DIR</c> from a
/// folder holding nothing else, so that, as in PowerShell, neither the cmdlets nor the
/// client library are on the application's probing path. It must not touch xunit.
/// </summary>
public static class Program
{
    public static int Main(string[] args)
    {
        if (args.Length == 2 && args[0] == "--load-probe") return LoadProbe(args[1]);
        Console.Error.WriteLine("usage: RouterHosts.Commands.Tests --load-probe <assembled module folder>");
        return 2;
    }

    /// <summary>
    /// Loads the cmdlet assembly the way PowerShell imports a binary module (LoadFrom into
    /// the default context), prepares a connection (no network), and prints which context
    /// each assembly ended up in, one "name=context" per line.
    /// </summary>
    private static int LoadProbe(string moduleDirectory)
    {
        var commands = Assembly.LoadFrom(Path.Combine(moduleDirectory, "RouterHosts.Commands.dll"));
        var factory = commands.GetType("RouterHosts.Commands.Internal.ConnectionFactory", throwOnError: true)!;
        var fromUnixSocket = factory.GetMethod("FromUnixSocket", BindingFlags.Public | BindingFlags.Static)!;
        var connection = fromUnixSocket.Invoke(null, [Path.Combine(Path.GetTempPath(), "routerhosts-probe.sock"), null])!;
        var session = connection.GetType().GetProperty("Session", BindingFlags.NonPublic | BindingFlags.Instance)!.GetValue(connection)!;
        var client = session.GetType().GetProperty("Client")!.GetValue(session)!;

        // The client's RouterHost must be the very type the cmdlets (default context) see.
        var clientRouterHost = client.GetType().GetMethod("AddHostAsync")!.ReturnType.GetGenericArguments()[0];
        var commandsRouterHost = commands.GetType("RouterHosts.Commands.Internal.SnapshotDiff")!
            .GetMethod("FieldsThatDiffer")!.GetParameters()[0].ParameterType;
        Console.WriteLine($"SameRouterHost={ReferenceEquals(clientRouterHost, commandsRouterHost)}");
        Console.WriteLine($"ClientType={AssemblyLoadContext.GetLoadContext(client.GetType().Assembly)!.Name}");
        foreach (var assembly in AppDomain.CurrentDomain.GetAssemblies().OrderBy(a => a.GetName().Name, StringComparer.Ordinal))
        {
            var name = assembly.GetName().Name;
            if (name is null || !(name.StartsWith("RouterHosts.", StringComparison.Ordinal) || name.StartsWith("Grpc.", StringComparison.Ordinal)
                                  || name == "Google.Protobuf" || name.StartsWith("Microsoft.Extensions.", StringComparison.Ordinal)))
                continue;
            if (name == "RouterHosts.Commands.Tests") continue;
            Console.WriteLine($"{name}={AssemblyLoadContext.GetLoadContext(assembly)?.Name}|{assembly.Location}");
        }
        ((IDisposable)session).Dispose();
        return 0;
    }
}
