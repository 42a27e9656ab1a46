using RouterHosts.Core;

namespace RouterHosts.Agent.Systemd;

/// <summary>
/// What `systemctl status` shows (STATUS=: host count, last change, hosts file
/// state), sent after each change (bursts coalesce) and every few seconds when it
/// differs; and the watchdog: WATCHDOG=1 at half of WATCHDOG_USEC, but only while
/// the agent can still reach its database, so that a wedged agent is restarted.
/// </summary>
public sealed class ServiceStatus(AgentNotifier notifier, ILogger log)
{
    private static readonly TimeSpan Coalesce = TimeSpan.FromMilliseconds(250);
    private static readonly TimeSpan Refresh = TimeSpan.FromSeconds(5);

    private HostsEngine? _engine;
    private string? _lastStatus;

    /// <summary>Set once the core is up; before that the status says "starting".</summary>
    public HostsEngine? Engine { get => Volatile.Read(ref _engine); set => Volatile.Write(ref _engine, value); }

    /// <summary>The STATUS= text: <see cref="AgentHealth.StatusLine"/>, or "starting" before the core is up.</summary>
    public string Describe() => Engine is { } engine ? AgentHealth.Read(engine).StatusLine : "starting";

    /// <summary>Sends STATUS= now when it changed since the last one sent.</summary>
    public void Update()
    {
        var status = Describe();
        if (status == Interlocked.Exchange(ref _lastStatus, status)) return;
        notifier.Notify("STATUS=" + status);
    }

    public async Task RunStatusLoopAsync(HostsEngine engine, CancellationToken ct)
    {
        var seen = engine.Feed.ChangeId;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
                wait.CancelAfter(Refresh);
                try
                {
                    seen = await engine.Feed.WaitAfterAsync(seen, wait.Token);
                    await Task.Delay(Coalesce, ct);
                    seen = engine.Feed.ChangeId;
                }
                catch (OperationCanceledException) when (!ct.IsCancellationRequested) { }
                Update();
            }
            catch (OperationCanceledException) { return; }
        }
    }

    /// <summary>Pings at half the watchdog timeout while the database answers; does nothing without a watchdog.</summary>
    public async Task RunWatchdogAsync(CancellationToken ct)
    {
        if (notifier.WatchdogTimeout is not { } timeout) return;
        using var timer = new PeriodicTimer(timeout / 2);
        var failing = false;
        do
        {
            string? problem = null;
            try { Engine?.Store.Ping(); }
            catch (Exception e) { problem = e.Message; }
            if (problem is null)
            {
                notifier.Notify("WATCHDOG=1");
                if (failing) log.LogInformation("watchdog: the database answers again");
                failing = false;
            }
            else if (!failing)
            {
                failing = true;
                log.LogError("watchdog: not pinging systemd while the database does not answer: {Problem}", problem);
            }
        }
        while (await WaitAsync(timer, ct));
    }

    private static async Task<bool> WaitAsync(PeriodicTimer timer, CancellationToken ct)
    {
        try { return await timer.WaitForNextTickAsync(ct); }
        catch (OperationCanceledException) { return false; }
    }
}
