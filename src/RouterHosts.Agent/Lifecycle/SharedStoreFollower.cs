using RouterHosts.Core.Hosts;
using RouterHosts.Core.HostsFile;
using RouterHosts.Core.Storage;
using RouterHosts.Core.Writes;

namespace RouterHosts.Agent.Lifecycle;

/// <summary>
/// For a database other agents write to: catches this agent's hosts file up with every
/// change, woken by the store's notification, and every <see cref="Fallback"/> without one
/// (a missed notification or a dropped connection only delays the catch-up).
/// </summary>
internal static class SharedStoreFollower
{
    public static readonly TimeSpan Fallback = TimeSpan.FromSeconds(5);

    public static async Task RunAsync(ISharedStore shared, HostWriter writer, ILogger log, CancellationToken ct)
    {
        var failing = false;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var before = writer.FileState.RenderedChangeId;
                await writer.CatchUpAsync(shared, ct);
                RecordLag(shared, writer.FileState, before);
                if (failing) log.LogInformation("the database is reachable again; the hosts file has caught up");
                failing = false;
                await shared.WaitForChangeAsync(Fallback, ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (CoreException e)
            {
                // The file keeps what it has: nothing is emptied or rolled back while the database is away.
                if (!failing) log.LogWarning("cannot catch up with the shared database: {Error}; the hosts file keeps its last state", e.Message);
                failing = true;
                try { await Task.Delay(Fallback, ct); }
                catch (OperationCanceledException) { return; }
            }
        }
    }

    /// <summary>The propagation lag of the latest change the file took in (one figure per catch-up, not one per change).</summary>
    private static void RecordLag(ISharedStore shared, HostsFileState file, long before)
    {
        if (!file.Current || file.RenderedChangeId <= before || shared.CommittedAt(file.RenderedChangeId) is not { } committed) return;
        var lag = DateTimeOffset.UtcNow - committed;
        Core.Telemetry.RouterHostsTelemetry.PropagationLag.Record(Math.Max(lag.TotalSeconds, 0));
    }
}
