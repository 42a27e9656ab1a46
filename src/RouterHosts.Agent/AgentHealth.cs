using System.Diagnostics;
using System.Globalization;
using RouterHosts.Core;
using RouterHosts.Core.Hooks;
using RouterHosts.Core.HostsFile;
using RouterHosts.Core.Sessions;

namespace RouterHosts.Agent;

/// <summary>
/// The agent's health, read at once from the core: can the database be reached, is it damaged or
/// full, how many hosts, the last change, is the hosts file current and can it be replaced, the
/// hooks and the edit session. The one model behind the Health call (all of it), the Readiness
/// call (<see cref="NotReadyReason"/>) and systemd's STATUS= line (<see cref="StatusLine"/>).
/// </summary>
/// <param name="Unreachable">Why the database did not answer a ping; null when it did.</param>
/// <param name="CountFailed">Why the live hosts could not be counted; null when they were.</param>
/// <param name="StoreProblem">The store's own report of damage or a full disk (see <see cref="Core.Storage.IHostStore"/>).</param>
/// <param name="HostsFileAccess">Why the hosts file cannot be replaced (its directory is missing or not writable); null when it can.</param>
public sealed record AgentHealth(
    string Backend,
    string? Unreachable,
    string? CountFailed,
    string? StoreProblem,
    TimeSpan DatabaseLatency,
    int HostCount,
    long ChangeId,
    HostsFileState HostsFile,
    string? HostsFileAccess,
    HookSet Hooks,
    IReadOnlyList<HookRunResult> LastHookRuns,
    EditSessionInfo? EditSession)
{
    public static AgentHealth Read(HostsEngine engine)
    {
        var timer = Stopwatch.StartNew();
        string? unreachable = null, countFailed = null;
        var hostCount = 0;
        try { engine.Store.Ping(); }
        catch (Exception e) { unreachable = e.Message; }
        if (unreachable is null)
        {
            try { hostCount = engine.Store.CountLive(); }
            catch (Exception e) { countFailed = e.Message; }
        }
        var problem = engine.Store.Problem();
        var latency = timer.Elapsed;
        var file = engine.HostsFile.State;
        return new AgentHealth(engine.Store.BackendName, unreachable, countFailed, problem, latency, hostCount, engine.Feed.ChangeId, file,
            HostsFileAccessProblem(file.Path), engine.Hooks.Hooks, engine.Hooks.LastRuns, engine.Sessions.Current);
    }

    public bool DatabaseConnected => Unreachable is null;

    /// <summary>What Health reports as the database's error: damage or a full disk first, then why it did not answer.</summary>
    public string? DatabaseError => StoreProblem ?? Unreachable ?? CountFailed;

    /// <summary>Health reports a damaged or full database and a stale hosts file; it does not fail because of one.</summary>
    public bool Healthy => DatabaseConnected && DatabaseError is null && HostsFile.Current;

    /// <summary>Null when ready; otherwise why not (database unreachable, full or corrupt; hosts file stale or not writable).</summary>
    public string? NotReadyReason =>
        Unreachable is { } error ? $"database unreachable: {error}"
        : StoreProblem is { } problem ? problem
        : !HostsFile.Current && HostsFile.LastError is { } stale ? $"hosts file {HostsFile.Path} is stale: {stale}"
        : HostsFileAccess;

    /// <summary>What `systemctl status` shows: host count, last change, hosts file state, and a database problem.</summary>
    public string StatusLine
    {
        get
        {
            if ((Unreachable ?? CountFailed) is { } error) return $"database unavailable: {error}";
            var written = HostsFile.LastWrittenAt is { } at ? at.UtcDateTime.ToString("yyyy-MM-dd HH:mm:ss'Z'", CultureInfo.InvariantCulture) : "never";
            var fileState = HostsFile.Current ? $"hosts file current (last written {written})" : $"hosts file STALE: {HostsFile.LastError}";
            var database = StoreProblem is { } problem ? $"; DATABASE: {problem}" : "";
            return $"serving {HostCount} host{(HostCount == 1 ? "" : "s")}; last change #{ChangeId}; {fileState}{database}";
        }
    }

    /// <summary>The hosts file is replaced atomically: its directory must exist and be writable, and so must the file.</summary>
    private static string? HostsFileAccessProblem(string path)
    {
        var directory = Path.GetDirectoryName(path)!;
        if (!Directory.Exists(directory)) return $"hosts file directory {directory} does not exist";
        if (!Posix.Can(File.Exists(path) ? path : directory, Posix.W_OK)) return $"hosts file {path} is not writable";
        if (!Posix.Can(directory, Posix.W_OK)) return $"hosts file directory {directory} is not writable (needed for atomic replace)";
        return null;
    }
}
