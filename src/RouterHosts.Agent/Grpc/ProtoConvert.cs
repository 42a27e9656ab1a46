using Google.Protobuf.WellKnownTypes;
using RouterHosts.Core.Hosts;
using RouterHosts.Core.Sessions;
using RouterHosts.Core.Storage;
using Proto = RouterHosts.Protocol.V1;

namespace RouterHosts.Agent.Grpc;

/// <summary>Core values to protocol messages and back.</summary>
internal static class ProtoConvert
{
    public static Proto.HostEntry ToProto(HostEntry e)
    {
        var message = new Proto.HostEntry
        {
            Id = e.Id,
            IpAddress = e.IpAddress,
            Hostname = e.Hostname,
            CreatedAt = Timestamp.FromDateTimeOffset(e.CreatedAt),
            UpdatedAt = Timestamp.FromDateTimeOffset(e.UpdatedAt),
            Version = e.Version.ToString(),
        };
        if (e.Comment is not null) message.Comment = e.Comment;
        message.Tags.AddRange(e.Tags);
        message.Aliases.AddRange(e.Aliases);
        return message;
    }

    public static Proto.Snapshot ToProto(SnapshotInfo s) => new()
    {
        SnapshotId = s.Id, Name = s.Name, Trigger = s.Trigger, EntryCount = s.EntryCount,
        CreatedAt = Timestamp.FromDateTimeOffset(s.CreatedAt),
    };

    public static Proto.EditSession ToProto(EditSessionInfo s) => new()
    {
        Holder = s.Holder,
        StartedAt = Timestamp.FromDateTimeOffset(s.StartedAt),
        ExpiresAt = Timestamp.FromDateTimeOffset(s.ExpiresAt),
        StagedChanges = s.StagedChanges,
        IdleTimeoutSeconds = (int)s.IdleTimeout.TotalSeconds,
        Agent = s.Agent ?? "",
    };

    public static Proto.WriteOutcome ToProto(Core.Writes.WriteOutcome? outcome) => outcome is null
        ? new Proto.WriteOutcome { Staged = true }
        : new Proto.WriteOutcome
        {
            HostsFileStale = outcome.HostsFileStale,
            HostsFileError = outcome.File.LastError ?? "",
            ChangeId = outcome.ChangeId == 0 ? "" : outcome.ChangeId.ToString(),
        };

    public static HostDraft ToDraft(string ip, string hostname, string? comment, IEnumerable<string> tags, IEnumerable<string> aliases) =>
        new(ip, hostname, comment, tags.ToList(), aliases.ToList());

    /// <summary>A client's time (as_of, before); one outside what a Timestamp may hold (year 1 to 9999, nanos below 1e9) is the client's error.</summary>
    public static DateTimeOffset? ToTime(Timestamp? t, string field = "as_of")
    {
        if (t is null) return null;
        try { return t.ToDateTimeOffset(); }
        catch (InvalidOperationException)
        {
            throw CoreException.Invalid(field, $"{t.Seconds}s {t.Nanos}ns", "not a valid timestamp (years 0001 to 9999, nanos 0 to 999999999)");
        }
    }
}
