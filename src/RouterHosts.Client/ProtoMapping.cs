using Google.Protobuf.WellKnownTypes;
using RouterHosts.Protocol.V1;

namespace RouterHosts.Client;

/// <summary>Protocol messages to and from our own types; nothing outside the client library sees a message.</summary>
internal static class ProtoMapping
{
    public static RouterHost ToHost(HostEntry e, bool staged = false) => new()
    {
        Id = e.Id,
        IPAddress = e.IpAddress,
        Hostname = e.Hostname,
        Aliases = e.Aliases.ToArray(),
        Tags = e.Tags.ToArray(),
        Comment = e.HasComment ? e.Comment : null,
        CreatedAt = ToTime(e.CreatedAt),
        UpdatedAt = ToTime(e.UpdatedAt),
        Version = e.Version,
        Staged = staged,
    };

    public static DateTimeOffset ToTime(Timestamp? t) => t is null ? default : t.ToDateTimeOffset();

    public static Timestamp ToTimestamp(DateTimeOffset t) => Timestamp.FromDateTimeOffset(t);

    public static RouterHostsSnapshot ToSnapshot(Snapshot s) => new()
    {
        Id = s.SnapshotId, Name = s.Name, Trigger = s.Trigger, CreatedAt = ToTime(s.CreatedAt), EntryCount = s.EntryCount,
    };

    public static RouterHostsEdit ToEdit(EditSession s, bool isMine) => new()
    {
        Holder = s.Holder,
        StartedAt = ToTime(s.StartedAt),
        ExpiresAt = ToTime(s.ExpiresAt),
        StagedChanges = s.StagedChanges,
        IdleTimeout = TimeSpan.FromSeconds(s.IdleTimeoutSeconds),
        IsMine = isMine,
        Agent = string.IsNullOrEmpty(s.Agent) ? null : s.Agent,
    };

    public static RouterHostsAgentRecord ToAgent(AgentState a) => new()
    {
        Name = a.Name, HostsFilePath = a.HostsFile, Version = a.Version, AppliedChangeId = a.AppliedChangeId,
        HostsFileCurrent = a.Current, HostsFileWritten = a.FileWritten, HostsFileError = string.IsNullOrEmpty(a.FileError) ? null : a.FileError,
        StartedAt = ToTime(a.StartedAt), SeenAt = ToTime(a.SeenAt), IsThisAgent = a.ThisAgent,
    };
}
