using System.Net;
using RouterHosts.Core.Hooks;
using RouterHosts.Core.HostsFile;
using RouterHosts.Core.Writes;
using RouterHosts.Transport.Server;

namespace RouterHosts.Agent.Configuration;

/// <summary>
/// The configuration parsed once, into types: what <see cref="AgentOptionsValidator"/> read while
/// checking the values, so nothing is parsed again later. <see cref="Options"/> keeps the values as
/// written (paths, the access policy's table, what a reload compares).
/// </summary>
/// <param name="Tls">The TLS files; given exactly when there are TCP listeners.</param>
public sealed record AgentSettings(
    AgentOptions Options,
    IReadOnlyList<IPEndPoint> Listen,
    TlsOptions? Tls,
    UnixSocketListener? UnixSocket,
    DatabaseUrl Database,
    HostsFileMode HostsFileMode,
    HookSet Hooks,
    SnapshotPolicy Snapshots,
    TimeSpan EditSessionIdleTimeout,
    LogLevel LogLevel,
    TimeSpan ShutdownGrace);
