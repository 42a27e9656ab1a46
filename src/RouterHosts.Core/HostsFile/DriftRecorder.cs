using Microsoft.Extensions.Logging;
using RouterHosts.Core.Writes;

namespace RouterHosts.Core.HostsFile;

/// <summary>
/// One file's drift as the agent tells it, for the hosts file (<see cref="HostsFileDrift"/>) and each output
/// (<see cref="Outputs.OutputSet"/>) alike: the current state and the last drift, the warning with its line diff,
/// the drift metric, and an event for Watch. A finding already acted on (the same <c>signature</c>) is remembered,
/// so that it is not acted on again until the file changes once more or a write replaces it.
/// </summary>
public sealed class DriftRecorder(string what, string path, string format, DriftPolicy policy, ILogger log, TimeProvider clock)
{
    private DriftStatus _status = new(false, policy, null);
    private long _sequence;

    public DriftPolicy Policy => policy;
    public DriftStatus Status => Volatile.Read(ref _status);

    /// <summary>The finding last acted on; null when the file holds what the agent wrote.</summary>
    public string? Handled { get; private set; }

    /// <summary>Publishes each new <see cref="DriftEvent.Sequence"/> (for Watch).</summary>
    public ChangeFeed Events { get; } = new();

    public DriftEvent Record(IReadOnlyList<string> kinds, IReadOnlyList<string> diff, string signature, uint? ownerUid, string action,
        IReadOnlyList<string> applied, IReadOnlyList<string> invalid, string? actor, bool drifted)
    {
        Handled = signature;
        var e = new DriftEvent(++_sequence, clock.GetUtcNow(), kinds, diff, action, applied, invalid, ownerUid, actor);
        Volatile.Write(ref _status, new DriftStatus(drifted, policy, e));
        Telemetry.RouterHostsTelemetry.RecordDrift(format);
        log.LogWarning("{What} {Path} drifted ({Kinds}): {Action}; diff: {Diff}", what, path, string.Join(", ", kinds), action, Shorten(diff));
        if (applied.Count > 0)
            log.LogWarning("adopted from {Path} as {Actor}: {Applied}", path, actor, Shorten(applied));
        if (invalid.Count > 0)
            log.LogWarning("{Count} line(s) of {Path} not adopted (invalid; no host was removed): {Lines}", invalid.Count, path, Shorten(invalid));
        Events.Publish(e.Sequence);
        return e;
    }

    /// <summary>The file holds what the agent wrote again (<paramref name="why"/>).</summary>
    public void Clear(string why)
    {
        Handled = null;
        var status = Status;
        if (!status.Drifted) return;
        Volatile.Write(ref _status, status with { Drifted = false });
        log.LogInformation("the drift of {Path} noticed at {Time:u} is over: {Why}", path, status.Last?.DetectedAt.UtcDateTime, why);
    }

    private static string Shorten(IReadOnlyList<string> lines) =>
        string.Join(" | ", lines.Take(50).Select(l => l.Replace('\t', ' '))) + (lines.Count > 50 ? $" | ... ({lines.Count - 50} more)" : "");
}
