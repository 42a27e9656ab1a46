using System.Reflection;
using System.Runtime.Loader;

namespace RouterHosts.Commands.Internal;

/// <summary>
/// Keeps the client library and its third-party dependencies (Google.Protobuf, Grpc.*, ...)
/// out of PowerShell's default load context. They ship in the module's <c>deps/</c> folder;
/// when the context holding the cmdlets (PowerShell's default one) cannot find one of
/// <i>our</i> dependency names (only those), this loader hands it over from a private
/// <see cref="DependencyLoadContext"/>. The private context takes RouterHosts.Model from the
/// cmdlets' context, so the user-facing types have one identity on both sides.
/// </summary>
/// <remarks>
/// Registered by <see cref="RouterHostsModuleInitializer.OnImport"/>, and defensively by a
/// module initializer and the cmdlet base class, before any code that touches the client
/// library runs. Registration only subscribes to an event: import stays cheap.
/// LoadContextProbeTests checks the result in a separate process.
/// </remarks>
internal static class ModuleAssemblyLoader
{
    public const string DependencyFolder = "deps";
    public const string ModelAssemblyName = "RouterHosts.Model";

    private static readonly object Gate = new();
    private static DependencyLoadContext? _context;
    private static bool _registered;

    /// <summary>The folder this assembly was loaded from (the module folder in the assembled layout).</summary>
    public static string ModuleDirectory { get; } =
        Path.GetDirectoryName(typeof(ModuleAssemblyLoader).Assembly.Location) ?? AppContext.BaseDirectory;

    public static string DependencyDirectory => Path.Combine(ModuleDirectory, DependencyFolder);

    /// <summary>
    /// The context this assembly was loaded into: PowerShell's default context in practice
    /// (tests load the module into a stand-in one). The resolver hooks this context, and the
    /// private one defers the user-facing types to it.
    /// </summary>
    public static AssemblyLoadContext HostContext { get; } =
        AssemblyLoadContext.GetLoadContext(typeof(ModuleAssemblyLoader).Assembly) ?? AssemblyLoadContext.Default;

    /// <summary>The private context; created on first use (one per process: the default context cannot unload us anyway).</summary>
    public static DependencyLoadContext Context
    {
        get
        {
            lock (Gate) return _context ??= new DependencyLoadContext(DependencyDirectory, HostContext);
        }
    }

    /// <summary>
    /// A second safety net besides the module initializer and the cmdlet base class: runs
    /// before any code of this assembly does (no I/O: it only subscribes to an event).
    /// </summary>
    [System.Runtime.CompilerServices.ModuleInitializer]
    [System.Diagnostics.CodeAnalysis.SuppressMessage("Usage", "CA2255", Justification = "The resolver must be in place before any client type is touched.")]
    internal static void RegisterOnLoad() => Register();

    public static void Register()
    {
        lock (Gate)
        {
            if (_registered) return;
            HostContext.Resolving += ResolveInHostContext;
            _registered = true;
        }
    }

    public static void Unregister()
    {
        lock (Gate)
        {
            if (!_registered) return;
            HostContext.Resolving -= ResolveInHostContext;
            _registered = false;
        }
    }

    private static Assembly? ResolveInHostContext(AssemblyLoadContext hostContext, AssemblyName name)
    {
        if (name.Name is null) return null;
        if (string.Equals(name.Name, ModelAssemblyName, StringComparison.OrdinalIgnoreCase))
        {
            // The user-facing types live beside this assembly, in the default context.
            var model = Path.Combine(ModuleDirectory, ModelAssemblyName + ".dll");
            return File.Exists(model) ? hostContext.LoadFromAssemblyPath(model) : null;
        }
        if (!DependencyNames.IsPrivate(name.Name)) return null;
        if (!File.Exists(Path.Combine(DependencyDirectory, name.Name + ".dll"))) return null;
        return Context.LoadFromAssemblyName(name);
    }
}

/// <summary>Which assembly names the default context may hand to the private one. Pure, so it is unit-tested.</summary>
internal static class DependencyNames
{
    private static readonly HashSet<string> Exact = new(StringComparer.OrdinalIgnoreCase)
    {
        "RouterHosts.Client", "RouterHosts.Protocol", "RouterHosts.Transport", "Google.Protobuf",
    };

    public static bool IsPrivate(string assemblyName) =>
        Exact.Contains(assemblyName) || assemblyName.StartsWith("Grpc.", StringComparison.OrdinalIgnoreCase);
}

/// <summary>
/// The private context: loads whatever <c>deps/</c> holds (our client library and its
/// third-party dependencies, isolated from other modules' versions). RouterHosts.Model
/// comes from the context that holds the cmdlets, so a RouterHost is one type on both
/// sides; anything else (the runtime) from the default context.
/// </summary>
internal sealed class DependencyLoadContext(string dependencyDirectory, AssemblyLoadContext hostContext)
    : AssemblyLoadContext("RouterHosts.Dependencies", isCollectible: false)
{
    public string DependencyDirectory { get; } = dependencyDirectory;

    protected override Assembly? Load(AssemblyName assemblyName)
    {
        if (assemblyName.Name is null) return null;
        if (string.Equals(assemblyName.Name, ModuleAssemblyLoader.ModelAssemblyName, StringComparison.OrdinalIgnoreCase))
            return ReferenceEquals(hostContext, Default) ? null : hostContext.LoadFromAssemblyName(assemblyName);
        var path = Path.Combine(DependencyDirectory, assemblyName.Name + ".dll");
        return File.Exists(path) ? LoadFromAssemblyPath(path) : null;
    }
}
