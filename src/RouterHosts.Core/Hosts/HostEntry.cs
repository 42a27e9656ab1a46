namespace RouterHosts.Core.Hosts;

/// <summary>A live (or, in history, past) entry of the hosts table.</summary>
public sealed record HostEntry(
    string Id,
    string IpAddress,
    string Hostname,
    string? Comment,
    IReadOnlyList<string> Tags,
    IReadOnlyList<string> Aliases,
    DateTimeOffset CreatedAt,
    DateTimeOffset UpdatedAt,
    long Version)
{
    public HostKey Key => new(IpAddress, Hostname);
}

/// <summary>What a caller supplies to create an entry; validated by <see cref="HostValidator"/>.</summary>
public sealed record HostDraft(
    string IpAddress,
    string Hostname,
    string? Comment = null,
    IReadOnlyList<string>? Tags = null,
    IReadOnlyList<string>? Aliases = null);

/// <summary>An update: null members keep the current value; an empty list clears it.</summary>
public sealed record HostPatch(
    string? IpAddress = null,
    string? Hostname = null,
    string? Comment = null,
    IReadOnlyList<string>? Tags = null,
    IReadOnlyList<string>? Aliases = null);

/// <summary>The identity that must be unique among live entries: IP plus hostname (case-insensitive).</summary>
public readonly record struct HostKey
{
    public HostKey(string ipAddress, string hostname)
    {
        IpAddress = ipAddress;
        Hostname = hostname.ToLowerInvariant();
    }

    public string IpAddress { get; }
    public string Hostname { get; }
    public override string ToString() => $"{IpAddress} {Hostname}";
}

public enum HostEventType { Created, Updated, Deleted, Restored }

/// <summary>
/// One event of a host's log, with the entry as it stood after it. A baseline (left by a
/// compaction) has a <paramref name="Horizon"/> and stands for <paramref name="Folded"/>
/// events; its <paramref name="Type"/> is that of the last event it folded.
/// </summary>
public sealed record HostEvent(
    long EventId,
    string HostId,
    long Version,
    HostEventType Type,
    HostEntry State,
    DateTimeOffset OccurredAt,
    string Actor,
    DateTimeOffset? Horizon = null,
    long Folded = 1)
{
    public bool IsBaseline => Horizon is not null;
}
