using System.Text.Json.Serialization;

namespace RouterHosts.Transport;

/// <summary>The client.json file: paths relative to the file's own directory.</summary>
public sealed record ClientConfigFile(
    string? Endpoint, string? UnixSocket, string? Certificate, string? Key, string? Ca, string? ServerName, string? Pfx = null)
{
    /// <summary>Writes the file atomically (write it after the files it names: a reader that finds it finds them).</summary>
    public void Save(string path) =>
        PublishedFile.WriteText(path, System.Text.Json.JsonSerializer.Serialize(this, ClientConfigJson.Default.ClientConfigFile) + "\n", PublishedFile.Public);
}

[JsonSourceGenerationOptions(PropertyNamingPolicy = JsonKnownNamingPolicy.SnakeCaseLower, WriteIndented = true,
    DefaultIgnoreCondition = JsonIgnoreCondition.WhenWritingNull, UnmappedMemberHandling = JsonUnmappedMemberHandling.Disallow)]
[JsonSerializable(typeof(ClientConfigFile))]
public sealed partial class ClientConfigJson : JsonSerializerContext;
