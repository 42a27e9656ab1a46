using RouterHosts.Commands.Internal;

namespace RouterHosts;

/// <summary>
/// A connection to a RouterHosts agent, as returned by Connect-RouterHostsAgent. Every
/// cmdlet takes one through -Connection; without it they use the runspace's default.
/// An edit session started through a connection belongs to it: later cmdlets on the
/// same connection stage into the session. Connecting does not contact the agent.
/// </summary>
public sealed class RouterHostsConnection
{
    private readonly AgentSession _session;
    private volatile bool _closed;

    internal RouterHostsConnection(AgentSession session, string transport, string? configPath)
    {
        _session = session;
        Transport = transport;
        ConfigPath = configPath;
        Target = session.Target;
        ConnectedAt = DateTimeOffset.Now;
    }

    /// <summary>host:port, or unix:/path for a Unix socket.</summary>
    public string Target { get; }

    /// <summary>"mTLS" or "UnixSocket".</summary>
    public string Transport { get; }

    /// <summary>The client.json the connection was made from, if any.</summary>
    public string? ConfigPath { get; }

    public DateTimeOffset ConnectedAt { get; }

    /// <summary>False after Disconnect-RouterHostsAgent.</summary>
    public bool IsOpen => !_closed;

    /// <summary>True when this connection holds the agent's edit session (later changes are staged).</summary>
    public bool HasEditSession => !_closed && _session.HoldsEdit;

    /// <summary>True when this is the current runspace's default connection.</summary>
    public bool IsDefault => ConnectionRegistry.IsDefault(this);

    public override string ToString() => Target;

    internal AgentSession Session => _session;

    internal void Close()
    {
        if (_closed) return;
        _closed = true;
        _session.Dispose();
    }
}
