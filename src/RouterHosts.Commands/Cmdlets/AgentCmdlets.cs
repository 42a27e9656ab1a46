using System.Management.Automation;
using System.Net;
using System.Security;
using System.Security.Cryptography.X509Certificates;
using RouterHosts.Commands.Internal;

namespace RouterHosts.Commands;

/// <summary>
/// Connect-RouterHostsAgent: prepares a connection (loads and checks the certificates, no
/// network) and makes it the runspace's default; writes it only with -PassThru or
/// -NotDefault (an object written first would take over the formatting of whatever a
/// script prints next).
/// </summary>
[Cmdlet(VerbsCommunications.Connect, "RouterHostsAgent", DefaultParameterSetName = ConfigSet)]
[OutputType(typeof(RouterHostsConnection))]
public sealed class ConnectRouterHostsAgentCommand : RouterHostsCmdlet
{
    private const string ConfigSet = "ConfigPath";
    private const string EndpointSet = "Endpoint";
    private const string UnixSocketSet = "UnixSocket";

    /// <summary>host:port; without a port, the agent's default port 50051.</summary>
    [Parameter(Mandatory = true, Position = 0, ParameterSetName = EndpointSet)]
    [Alias("ComputerName")]
    [ValidateNotNullOrEmpty]
    public string Endpoint { get; set; } = "";

    [Parameter(ParameterSetName = EndpointSet)]
    [Alias("CertPath")]
    [ValidateNotNullOrEmpty]
    public string? CertificatePath { get; set; }

    /// <summary>A client certificate with its private key: an X509Certificate2, or the thumbprint of one in the CurrentUser or LocalMachine My store.</summary>
    [Parameter(ParameterSetName = EndpointSet)]
    [ValidateNotNull]
    [CertificateFromStore]
    public X509Certificate2? Certificate { get; set; }

    /// <summary>The password of a .pfx/.p12 -CertificatePath as a credential (the user name is ignored).</summary>
    [Parameter(ParameterSetName = EndpointSet)]
    [Credential]
    [ValidateNotNull]
    public PSCredential? Credential { get; set; }

    [Parameter(ParameterSetName = EndpointSet)]
    [ValidateNotNullOrEmpty]
    public string? KeyPath { get; set; }

    [Parameter(ParameterSetName = EndpointSet)]
    [ValidateNotNullOrEmpty]
    public string? CaPath { get; set; }

    [Parameter(ParameterSetName = EndpointSet)]
    public SecureString? CertificatePassword { get; set; }

    [Parameter(ParameterSetName = EndpointSet)]
    [ValidateNotNullOrEmpty]
    public string? ServerName { get; set; }

    [Parameter(Mandatory = true, ParameterSetName = UnixSocketSet)]
    [ValidateNotNullOrEmpty]
    public string UnixSocket { get; set; } = "";

    [Parameter(ParameterSetName = ConfigSet)]
    [ValidateNotNullOrEmpty]
    public string? ConfigPath { get; set; }

    [Parameter]
    [ValidateRange(1, 3600)]
    public int TimeoutSec { get; set; }

    [Parameter]
    public SwitchParameter NotDefault { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void EndProcessing()
    {
        TimeSpan? timeout = TimeoutSec > 0 ? TimeSpan.FromSeconds(TimeoutSec) : null;
        RouterHostsConnection connection;
        object target = ParameterSetName;
        try
        {
            switch (ParameterSetName)
            {
                case EndpointSet:
                    target = Endpoint;
                    if (CertificatePath is not null && Certificate is not null)
                        Terminate(ErrorIds.InvalidConnectionOptions, ErrorCategory.InvalidArgument,
                            "Give either -CertificatePath or -Certificate, not both.", Endpoint);
                    var password = CertificatePassword ?? Credential?.Password;
                    connection = ConnectionFactory.FromEndpoint(Endpoint, Resolve(CertificatePath), Certificate, Resolve(KeyPath), Resolve(CaPath),
                        password is null ? null : new NetworkCredential("", password).Password, ServerName, timeout);
                    break;
                case UnixSocketSet:
                    target = UnixSocket;
                    connection = ConnectionFactory.FromUnixSocket(FileSystemPath(UnixSocket), timeout);
                    break;
                default:
                    var path = ConfigPath is null ? ConnectionFactory.DefaultConfigPath : FileSystemPath(ConfigPath);
                    target = path;
                    if (!File.Exists(path))
                    {
                        Terminate(ErrorIds.InvalidConnectionOptions, ErrorCategory.ObjectNotFound,
                            $"The client configuration {path} does not exist. Give -ConfigPath (the client.json that 'routerhosts-agent --dev' " +
                            "or 'routerhosts-agent pki issue-client' writes), or -Endpoint with -CertificatePath, -KeyPath and -CaPath, or -UnixSocket.",
                            path);
                    }
                    connection = ConnectionFactory.FromConfigFile(path, timeout);
                    break;
            }
        }
        catch (RouterHostsException e)
        {
            Terminate(e, target, ErrorSubject.Connection);
            return;
        }
        catch (Exception e) when (e is ArgumentException or FormatException or UriFormatException or IOException or UnauthorizedAccessException)
        {
            Terminate(ErrorIds.InvalidConnectionOptions, ErrorCategory.InvalidArgument, $"Cannot connect to {target}: {e.Message}", target, e);
            return;
        }

        if (!NotDefault) ConnectionRegistry.SetDefault(connection);
        WriteVerbose($"Prepared a connection to {connection.Target} ({connection.Transport}); the agent is contacted by the first command that needs it.");
        if (PassThru || NotDefault) WriteObject(connection);
    }

    private string? Resolve(string? path) => path is null ? null : FileSystemPath(path);
}

/// <summary>Disconnect-RouterHostsAgent: closes a connection (the default one when none is given).</summary>
[Cmdlet(VerbsCommunications.Disconnect, "RouterHostsAgent")]
public sealed class DisconnectRouterHostsAgentCommand : RouterHostsCmdlet
{
    [Parameter(Position = 0, ValueFromPipeline = true)]
    [ValidateNotNull]
    [ArgumentCompleter(typeof(ConnectionCompleter))]
    public RouterHostsConnection? Connection { get; set; }

    private bool _any;

    protected override void ProcessRecord()
    {
        var connection = Connection ?? ConnectionRegistry.Default;
        if (connection is null)
        {
            if (!_any)
                WriteError(NewError(ErrorIds.NotConnected, ErrorCategory.ConnectionError,
                    "There is no default RouterHosts connection to disconnect.", null));
            return;
        }
        _any = true;
        if (connection.HasEditSession)
            WriteWarning($"The connection to {connection.Target} held an edit session; its staged changes stay on the agent until the " +
                         "session idles out (or someone runs Undo-RouterHostsEdit on a connection holding it).");
        ConnectionRegistry.ClearDefault(connection);
        connection.Close();
        WriteVerbose($"Disconnected from {connection.Target}.");
    }
}

/// <summary>
/// Get-RouterHostsAgent: health, version, uptime, the hosts file's state and the live edit session;
/// with -All, every agent sharing the agent's database and whether each one's hosts file is current.
/// </summary>
[Cmdlet(VerbsCommon.Get, "RouterHostsAgent")]
[OutputType(typeof(RouterHostsAgentStatus))]
[OutputType(typeof(RouterHostsAgentRecord))]
public sealed class GetRouterHostsAgentCommand : RouterHostsAgentCmdlet
{
    /// <summary>Every agent sharing the database (with SQLite, just this one), one object each.</summary>
    [Parameter]
    public SwitchParameter All { get; set; }

    protected override void EndProcessing()
    {
        try
        {
            var status = Wait(Client.GetAgentStatusAsync(StopToken));
            if (All) foreach (var agent in status.Agents) WriteObject(agent);
            else WriteObject(status);
        }
        catch (RouterHostsException e)
        {
            Terminate(e, ActiveConnection, ErrorSubject.Agent);
        }
    }
}

/// <summary>Test-RouterHostsAgent: $true when the agent answers and is ready; $false (with the reason as verbose output) otherwise.</summary>
[Cmdlet(VerbsDiagnostic.Test, "RouterHostsAgent")]
[OutputType(typeof(bool))]
public sealed class TestRouterHostsAgentCommand : RouterHostsAgentCmdlet
{
    protected override void EndProcessing()
    {
        try
        {
            var (ready, reason) = Wait(Client.TestAsync(StopToken));
            if (!ready) WriteVerbose($"The agent at {ActiveConnection.Target} is not ready: {reason}");
            WriteObject(ready);
        }
        catch (RouterHostsException e)
        {
            Terminate(e, ActiveConnection, ErrorSubject.Agent);
        }
    }
}
