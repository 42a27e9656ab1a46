using System.Text.Json.Serialization;

namespace RouterHosts.Transport;

/// <summary>The client.json file: paths relative to the file's own directory.</summary>
public sealed record ClientConfigFile(
    string? Endpoint, string? UnixSocket, string? Certificate, string? Key, string? Ca, string? ServerName, string? Pfx = null);

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(ClientConfigFile))]
public sealed partial class ClientConfigJson : JsonSerializerContext;
