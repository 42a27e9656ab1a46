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

    // Bucket advice: the SDK's default buckets (0 to 10000) suit milliseconds, not seconds or bytes.
    private static readonly InstrumentAdvice<double> Seconds = new()
        { HistogramBucketBoundaries = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60] };
    private static readonly InstrumentAdvice<long> Bytes = new()
        { HistogramBucketBoundaries = [1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864] };
    private static readonly InstrumentAdvice<long> Events = new() { HistogramBucketBoundaries = [1, 2, 5, 10, 50, 100, 500, 1000, 5000] };

    public static readonly Histogram<double> RpcDuration = Meter.CreateHistogram<double>(
        "routerhosts.rpc.duration", "s", "Duration of each RPC, by method and gRPC status (its count is the number of calls)", tags: null, advice: Seconds);
    public static readonly Histogram<double> CommitDuration = Meter.CreateHistogram<double>(
        "routerhosts.commit.duration", "s", "Time to plan and commit one change to the store, waiting for the writer included", tags: null, advice: Seconds);
    public static readonly Histogram<long> CommitEvents = Meter.CreateHistogram<long>(
        "routerhosts.commit.events", "{event}", "Events committed together in one transaction (the group size)", tags: null, advice: Events);
    public static readonly Histogram<long> CommitWrites = Meter.CreateHistogram<long>(
        "routerhosts.commit.writes", "{write}", "Writes committed together in one transaction (group commit)", tags: null, advice: Events);
    public static readonly Counter<long> Commits = Meter.CreateCounter<long>(
        "routerhosts.commits", "{commit}", "Store transactions the writer committed: concurrent writes that queued behind a commit share one");
    public static readonly UpDownCounter<long> PendingWrites = Meter.CreateUpDownCounter<long>(
        "routerhosts.writes.pending", "{write}", "Writes waiting for their commit: queued, or in the group being committed");
    public static readonly Histogram<double> RenderDuration = Meter.CreateHistogram<double>(
        "routerhosts.file.render.duration", "s", "Time to render and write the hosts file or an output, by format", tags: null, advice: Seconds);
    public static readonly Histogram<long> RenderSize = Meter.CreateHistogram<long>(
        "routerhosts.file.render.size", "By", "Bytes rendered for the hosts file or an output, by format", tags: null, advice: Bytes);
    public static readonly Counter<long> FileWrites = Meter.CreateCounter<long>(
        "routerhosts.file.writes", "{write}", "Renders by format and result: written, unchanged (same bytes, not written) or failed");
    public static readonly Histogram<double> HookDuration = Meter.CreateHistogram<double>(
        "routerhosts.hook.duration", "s", "Duration of each hook run, by result (success, failure, timeout); its count is the number of runs", tags: null, advice: Seconds);
    public static readonly Counter<long> DriftEvents = Meter.CreateCounter<long>(
        "routerhosts.drift.events", "{event}", "Files found changed outside the agent (and written back), by file kind");

    public static readonly Histogram<double> PropagationLag = Meter.CreateHistogram<double>(
        "routerhosts.propagation.lag", "s",
        "PostgreSQL: time from a change's commit (by the committing agent's clock) to this agent's hosts file holding it", tags: null, advice: Seconds);

    public static KeyValuePair<string, object?> Tag(string key, object? value) => new(key, value);

    /// <summary>Records one render of a file: <paramref name="kind"/> is "hosts_file" or an output's format.</summary>
    public static void RecordRender(string kind, TimeSpan duration, long bytes, string result)
    {
        var format = Tag("format", kind);
        RenderDuration.Record(duration.TotalSeconds, format);
        RenderSize.Record(bytes, format);
        FileWrites.Add(1, format, Tag("result", result));
    }

    /// <summary>One committed change: its duration (from asking for the writer, its group's commit included); the span gets its event count.</summary>
    public static void RecordCommit(int events, TimeSpan duration, Activity? span)
    {
        CommitDuration.Record(duration.TotalSeconds);
        span?.SetTag("routerhosts.events", events);
    }

    /// <summary>One store transaction of the writer: the events and the writes it committed together.</summary>
    public static void RecordGroup(int events, int writes)
    {
        Commits.Add(1);
        CommitEvents.Record(events);
        CommitWrites.Record(writes);
    }

    /// <summary>One RPC: method (e.g. "AddHost") and gRPC status code; the span gets the same two attributes.</summary>
    public static void RecordRpc(string method, int statusCode, TimeSpan duration, Activity? span)
    {
        RpcDuration.Record(duration.TotalSeconds, Tag("rpc.method", method), Tag("rpc.grpc.status_code", statusCode));
        span?.SetTag("rpc.grpc.status_code", statusCode);
        if (statusCode != 0) span?.SetStatus(ActivityStatusCode.Error);
    }

    /// <summary>A file changed outside the agent; <paramref name="kind"/> as for <see cref="RecordRender"/>.</summary>
    public static void RecordDrift(string kind) => DriftEvents.Add(1, Tag("format", kind));
}
