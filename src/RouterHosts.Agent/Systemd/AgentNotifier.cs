using System.Globalization;
using System.Net.Sockets;
using Microsoft.Extensions.Hosting.Systemd;

namespace RouterHosts.Agent.Systemd;

/// <summary>
/// sd_notify(3) for the agent. Sending is the package's <see cref="SystemdNotifier"/> (the
/// $NOTIFY_SOCKET datagram); its <see cref="SystemdLifetime"/> sends READY=1 once the host has
/// started and STOPPING=1 when it stops. This adds what the package leaves out: READY=1 carries
/// the STATUS= line (so `systemctl status` shows it at once), the watchdog timeout from
/// $WATCHDOG_USEC (honouring $WATCHDOG_PID), a failure to send kept for the log rather than
/// thrown, and the three variables removed from the environment so hook commands cannot send
/// notifications in the agent's name. Does nothing when not run by systemd.
/// </summary>
public sealed class AgentNotifier : ISystemdNotifier
{
    private static readonly string Ready = ServiceState.Ready.ToString();
    private static readonly string Stopping = ServiceState.Stopping.ToString();

    private readonly ISystemdNotifier _sender;
    private Func<string> _status = () => "starting";
    private string? _lastError;

    private AgentNotifier(ISystemdNotifier sender, TimeSpan? watchdogTimeout)
    {
        _sender = sender;
        WatchdogTimeout = watchdogTimeout;
    }

    public static AgentNotifier FromEnvironment()
    {
        var sender = new SystemdNotifier(); // reads $NOTIFY_SOCKET now, before it is removed below
        var usecText = Environment.GetEnvironmentVariable("WATCHDOG_USEC");
        var pidText = Environment.GetEnvironmentVariable("WATCHDOG_PID");
        foreach (var name in new[] { "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID" }) Environment.SetEnvironmentVariable(name, null);
        TimeSpan? watchdog = null;
        if (ulong.TryParse(usecText, NumberStyles.None, CultureInfo.InvariantCulture, out var usec) && usec > 0 &&
            (string.IsNullOrEmpty(pidText) || pidText == Environment.ProcessId.ToString(CultureInfo.InvariantCulture)))
            watchdog = TimeSpan.FromMicroseconds(usec);
        return new AgentNotifier(sender, watchdog);
    }

    /// <summary>True when systemd (or a test) listens for notifications.</summary>
    public bool IsEnabled => _sender.IsEnabled;

    /// <summary>The watchdog timeout systemd enforces; the agent pings at half of it.</summary>
    public TimeSpan? WatchdogTimeout { get; }

    /// <summary>The STATUS= text that READY=1 carries.</summary>
    public void StatusFrom(Func<string> describe) => Volatile.Write(ref _status, describe);

    /// <summary>The last failure to send, for the log (sending never throws).</summary>
    public string? TakeLastError() => Interlocked.Exchange(ref _lastError, null);

    public void Notify(ServiceState state)
    {
        var text = state.ToString();
        if (text == Ready) text += "\nSTATUS=" + Volatile.Read(ref _status)();
        else if (text == Stopping) text += "\nSTATUS=stopping";
        Notify(text);
    }

    /// <summary>Sends one notification ("WATCHDOG=1", "STATUS=...", several lines at once).</summary>
    public void Notify(string state)
    {
        try { _sender.Notify(new ServiceState(state)); }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            _lastError = $"cannot notify systemd: {e.Message}";
        }
    }

    public static string MonotonicUsec() =>
        $"MONOTONIC_USEC={(ulong)(System.Diagnostics.Stopwatch.GetTimestamp() / (double)System.Diagnostics.Stopwatch.Frequency * 1_000_000)}";
}
