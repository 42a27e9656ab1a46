using System.Globalization;
using System.Net.Sockets;
using System.Text;

namespace RouterHosts.Agent.Systemd;

/// <summary>
/// sd_notify(3) in a few lines: datagrams to $NOTIFY_SOCKET (a path, or "@name" in
/// the abstract namespace). Reads $WATCHDOG_USEC (honouring $WATCHDOG_PID), then
/// removes the three variables from the environment so hook commands cannot send
/// notifications in the agent's name. Does nothing when not run by systemd.
/// </summary>
public sealed class SystemdNotifier : IDisposable
{
    private readonly object _gate = new();
    private readonly Socket? _socket;
    private readonly UnixDomainSocketEndPoint? _endpoint;
    private string? _lastError;

    private SystemdNotifier(string? socketPath, TimeSpan? watchdogTimeout)
    {
        WatchdogTimeout = watchdogTimeout;
        if (string.IsNullOrEmpty(socketPath) || socketPath[0] is not ('/' or '@')) return;
        _endpoint = new UnixDomainSocketEndPoint(socketPath[0] == '@' ? "\0" + socketPath[1..] : socketPath);
        _socket = new Socket(AddressFamily.Unix, SocketType.Dgram, ProtocolType.Unspecified);
    }

    public static SystemdNotifier FromEnvironment()
    {
        var socket = Environment.GetEnvironmentVariable("NOTIFY_SOCKET");
        var usecText = Environment.GetEnvironmentVariable("WATCHDOG_USEC");
        var pidText = Environment.GetEnvironmentVariable("WATCHDOG_PID");
        foreach (var name in new[] { "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID" }) Environment.SetEnvironmentVariable(name, null);
        TimeSpan? watchdog = null;
        if (ulong.TryParse(usecText, NumberStyles.None, CultureInfo.InvariantCulture, out var usec) && usec > 0 &&
            (string.IsNullOrEmpty(pidText) || pidText == Environment.ProcessId.ToString(CultureInfo.InvariantCulture)))
            watchdog = TimeSpan.FromMicroseconds(usec);
        return new SystemdNotifier(socket, watchdog);
    }

    /// <summary>True when systemd (or a test) listens for notifications.</summary>
    public bool Enabled => _endpoint is not null;

    /// <summary>The watchdog timeout systemd enforces; the agent pings at half of it.</summary>
    public TimeSpan? WatchdogTimeout { get; }

    /// <summary>The last failure to send, for the log (sending never throws).</summary>
    public string? TakeLastError() => Interlocked.Exchange(ref _lastError, null);

    /// <summary>Sends one notification ("READY=1", "STATUS=...", several lines at once).</summary>
    public bool Notify(string state)
    {
        if (_socket is null || _endpoint is null) return false;
        try
        {
            lock (_gate) _socket.SendTo(Encoding.UTF8.GetBytes(state), SocketFlags.None, _endpoint);
            return true;
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException)
        {
            _lastError = $"cannot notify systemd: {e.Message}";
            return false;
        }
    }

    public static string MonotonicUsec() =>
        $"MONOTONIC_USEC={(ulong)(System.Diagnostics.Stopwatch.GetTimestamp() / (double)System.Diagnostics.Stopwatch.Frequency * 1_000_000)}";

    public void Dispose()
    {
        lock (_gate) _socket?.Dispose();
    }
}
