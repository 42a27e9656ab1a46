using RouterHosts.Agent.Configuration;
using RouterHosts.Core;

namespace RouterHosts.Agent.Lifecycle;

/// <summary>
/// With compaction.automatic on: at start and then every interval, folds each host's events
/// older than keep_days into a baseline, so the database stays bounded on a router that runs
/// for years. Off by default: until then every event is kept.
/// </summary>
public static class AutomaticCompaction
{
    public static async Task RunAsync(HostsEngine engine, CompactionOptions options, TimeProvider clock, ILogger log, CancellationToken ct)
    {
        if (!options.Automatic) return;
        var keep = TimeSpan.FromDays(options.KeepDays);
        using var timer = new PeriodicTimer(TimeSpan.FromSeconds(options.IntervalSeconds), clock);
        do
        {
            try
            {
                var report = engine.Compact(hostId: null, overThreshold: null, before: clock.GetUtcNow() - keep, dryRun: false);
                if (report.Hosts.Count > 0)
                    log.LogInformation("automatic compaction up to {Horizon:O}: {Hosts} host(s), {Reclaimed} event(s) folded",
                        report.Horizon.UtcDateTime, report.Hosts.Count, report.EventsReclaimed);
            }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                log.LogError("automatic compaction failed (it is retried next interval): {Error}", e.Message);
            }
        }
        while (await timer.WaitForNextTickAsync(ct));
    }
}
