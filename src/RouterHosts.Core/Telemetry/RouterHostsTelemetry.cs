using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace RouterHosts.Core.Telemetry;

/// <summary>
/// The agent's metrics and spans, with .NET's own Meter and ActivitySource: nothing is recorded
/// unless a listener (the agent's OpenTelemetry SDK, when configured) subscribes to <see cref="Name"/>.
/// Attributes carry counts, outcomes, formats and method names only, never host data.
/// Names follow OpenTelemetry's conventions; Prometheus shows them with '_' and a unit suffix
/// (routerhosts.commit.duration in s becomes routerhosts_commit_duration_seconds).
/// </summary>
public static class RouterHostsTelemetry
{
    public const string Name = "RouterHosts";

    public static readonly Meter Meter = new(Name);
    public static readonly ActivitySource Source = new(Name);

    public static readonly Histogram<double> RpcDuration = Meter.CreateHistogram<double>(
        "routerhosts.rpc.duration", "s", "Duration of each RPC, by method and gRPC status (its count is the number of calls)");
    public static readonly Histogram<double> CommitDuration = Meter.CreateHistogram<double>(
        "routerhosts.commit.duration", "s", "Time to plan and commit one change to the store, waiting for the writer included");
    public static readonly Histogram<long> CommitEvents = Meter.CreateHistogram<long>(
        "routerhosts.commit.events", "{event}", "Events committed together in one transaction (the group size)");
    public static readonly Histogram<double> RenderDuration = Meter.CreateHistogram<double>(
        "routerhosts.file.render.duration", "s", "Time to render and write the hosts file or an output, by format");
    public static readonly Histogram<long> RenderSize = Meter.CreateHistogram<long>(
        "routerhosts.file.render.size", "By", "Bytes rendered for the hosts file or an output, by format");
    public static readonly Counter<long> FileWrites = Meter.CreateCounter<long>(
        "routerhosts.file.writes", "{write}", "Renders by format and result: written, unchanged (same bytes, not written) or failed");
    public static readonly Histogram<double> HookDuration = Meter.CreateHistogram<double>(
        "routerhosts.hook.duration", "s", "Duration of each hook run, by result (success, failure, timeout); its count is the number of runs");
    public static readonly Counter<long> DriftEvents = Meter.CreateCounter<long>(
        "routerhosts.drift.events", "{event}", "Files found changed outside the agent (and written back), by file kind");

    public static KeyValuePair<string, object?> Tag(string key, object? value) => new(key, value);

    /// <summary>Records one render of a file: <paramref name="kind"/> is "hosts_file" or an output's format.</summary>
    public static void RecordRender(string kind, TimeSpan duration, long bytes, string result)
    {
        var format = Tag("format", kind);
        RenderDuration.Record(duration.TotalSeconds, format);
        RenderSize.Record(bytes, format);
        FileWrites.Add(1, format, Tag("result", result));
    }

    /// <summary>A file changed outside the agent; <paramref name="kind"/> as for <see cref="RecordRender"/>.</summary>
    public static void RecordDrift(string kind) => DriftEvents.Add(1, Tag("format", kind));
}
