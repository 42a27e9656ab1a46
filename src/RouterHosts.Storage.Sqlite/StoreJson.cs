using System.Text.Json.Serialization;
using RouterHosts.Core.Hosts;

namespace RouterHosts.Storage.Sqlite;

/// <summary>An event's JSON payload: the host's state after the event (id and version are columns).</summary>
internal sealed record EventPayload(
    string IpAddress, string Hostname, string? Comment, IReadOnlyList<string> Tags, IReadOnlyList<string> Aliases,
    long CreatedAt, long UpdatedAt)
{
    public static EventPayload From(HostEntry e) =>
        new(e.IpAddress, e.Hostname, e.Comment, e.Tags, e.Aliases, e.CreatedAt.UtcTicks, e.UpdatedAt.UtcTicks);

    public HostEntry ToHost(string id, long version) => new(id, IpAddress, Hostname, Comment, Tags, Aliases,
        new DateTimeOffset(CreatedAt, TimeSpan.Zero), new DateTimeOffset(UpdatedAt, TimeSpan.Zero), version);
}

/// <summary>A host as a snapshot records it, id and version included.</summary>
internal sealed record SnapshotEntry(
    string Id, string IpAddress, string Hostname, string? Comment, IReadOnlyList<string> Tags, IReadOnlyList<string> Aliases,
    long CreatedAt, long UpdatedAt, long Version)
{
    public static SnapshotEntry From(HostEntry e) =>
        new(e.Id, e.IpAddress, e.Hostname, e.Comment, e.Tags, e.Aliases, e.CreatedAt.UtcTicks, e.UpdatedAt.UtcTicks, e.Version);

    public HostEntry ToHost() => new(Id, IpAddress, Hostname, Comment, Tags, Aliases,
        new DateTimeOffset(CreatedAt, TimeSpan.Zero), new DateTimeOffset(UpdatedAt, TimeSpan.Zero), Version);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower)]
[JsonSerializable(typeof(EventPayload))]
[JsonSerializable(typeof(List<SnapshotEntry>))]
[JsonSerializable(typeof(IReadOnlyList<string>))]
internal sealed partial class StoreJson : JsonSerializerContext
{
    // Most entries have no tags or aliases: skip the serializer for them.
    public static string WriteList(IReadOnlyList<string> values) =>
        values.Count == 0 ? "[]" : System.Text.Json.JsonSerializer.Serialize(values, Default.IReadOnlyListString);

    public static IReadOnlyList<string> ReadList(string json)
    {
        if (json == "[]") return [];
        // Lists read back what WriteList wrote. Without a backslash no string holds an escape,
        // so every '"' delimits one: split at them and skip the serializer (most of a list's
        // per-row cost). Anything else goes through the serializer.
        if (json.Contains('\\') || json.Length < 4 || json[0] != '[' || json[1] != '"' || json[^2] != '"' || json[^1] != ']')
            return System.Text.Json.JsonSerializer.Deserialize(json, Default.IReadOnlyListString)!;
        return json[2..^2].Split("\",\"");
    }
}
