using System.Management.Automation;
using RouterHosts.Commands.Internal;

namespace RouterHosts.Commands;

/// <summary>
/// Runs when PowerShell imports the module: registers the resolver that loads the client
/// library and its dependencies into a private load context. No network, no agent probe.
/// </summary>
public sealed class RouterHostsModuleInitializer : IModuleAssemblyInitializer, IModuleAssemblyCleanup
{
    public void OnImport() => ModuleAssemblyLoader.Register();

    /// <summary>
    /// Ends the dev agents this runspace started and closes its default connection. The resolver stays registered: other
    /// runspaces of the process may still use the module, and it only answers our names.
    /// </summary>
    public void OnRemove(PSModuleInfo psModuleInfo)
    {
        DevAgents.StopCurrentRunspace();
        ConnectionRegistry.CloseDefault();
    }
}
