using System.Diagnostics;
using RouterHosts.Core.Hosts;
using RouterHosts.Core.HostsFile;
using RouterHosts.Core.Storage;

namespace RouterHosts.Agent.Lifecycle;

/// <summary>
/// Keeps this agent's row in a shared database's registry: its name, version, and the change its
/// hosts file reflects (and whether writing it works), reported whenever that changes and every
/// <see cref="Heartbeat"/>, so every agent's Health can show all of them and whether each file is current.
/// </summary>
internal sealed class AgentRegistration(IAgentRegistry registry, string name, string version, DateTimeOffset startedAt, HostsFileSync file)
{
    public static readonly TimeSpan Heartbeat = TimeSpan.FromSeconds(30);
    /// <summary>How often the file's state is looked at (in memory); the database is written only when it changed.</summary>
    private static readonly TimeSpan Look = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan RetryAfterFailure = TimeSpan.FromSeconds(5);

    private AgentRecord Record(HostsFileState s) =>
        new(name, s.Path, version, s.RenderedChangeId, s.Current, s.LastError, startedAt, default);

    /// <summary>Reports now; an unreachable database is logged by <see cref="RunAsync"/>'s retries, not here.</summary>
    public bool Report()
    {
        try { registry.Report(Record(file.State)); return true; }
        catch (CoreException e) when (e.Kind == CoreErrorKind.Unavailable) { return false; }
    }

    public async Task RunAsync(ILogger log, CancellationToken ct)
    {
        HostsFileState? reported = null;
        var sinceReport = Stopwatch.StartNew();
        var failing = false;
        while (!ct.IsCancellationRequested)
        {
            var state = file.State;
            if (state.RenderedChangeId != reported?.RenderedChangeId || state.Current != reported.Current
                || state.LastError != reported.LastError || sinceReport.Elapsed >= Heartbeat)
            {
                try
                {
                    registry.Report(Record(state));
                    reported = state;
                    sinceReport.Restart();
                    if (failing) log.LogInformation("this agent's state is recorded in the shared database again");
                    failing = false;
                }
                catch (CoreException e)
                {
                    if (!failing) log.LogWarning("cannot record this agent's state in the shared database: {Error}", e.Message);
                    failing = true;
                }
            }
            try { await Task.Delay(failing ? RetryAfterFailure : Look, ct); }
            catch (OperationCanceledException) { return; }
        }
    }
}
