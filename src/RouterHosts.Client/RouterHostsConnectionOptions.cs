using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using RouterHosts.Transport;

namespace RouterHosts.Client;

/// <summary>
/// How to reach an agent: a TCP endpoint with client certificate, key and CA (mTLS),
/// or a Unix socket. <see cref="FromConfigFile"/> reads the client.json that
/// `routerhosts-agent --dev` and `routerhosts-agent pki issue-client` write.
/// </summary>
public sealed class RouterHostsConnectionOptions
{
    public string? Endpoint { get; set; }
    public string? UnixSocket { get; set; }
    /// <summary>A PEM certificate (with <see cref="KeyPath"/>) or a .pfx/.p12 file.</summary>
    public string? CertificatePath { get; set; }
    public string? KeyPath { get; set; }
    public string? CaPath { get; set; }
    /// <summary>A client certificate with its private key (from a certificate store, say), instead of <see cref="CertificatePath"/>.</summary>
    public X509Certificate2? ClientCertificate { get; set; }
    public string? PfxPassword { get; set; }
    /// <summary>The name the agent's certificate must carry, when it differs from the endpoint's host.</summary>
    public string? ServerName { get; set; }
    /// <summary>Deadline of each unary call (streams have none unless cancelled).</summary>
    public TimeSpan CallTimeout { get; set; } = TimeSpan.FromSeconds(30);
    /// <summary>Skip checking our own certificate before connecting (tests use it to prove the agent refuses bad ones).</summary>
    public bool SkipCertificatePreflight { get; set; }

    /// <summary>The agent's port when an endpoint names none (what `routerhosts-agent --dev` listens on).</summary>
    public const int DefaultPort = 50051;

    /// <summary>"router.lan" → "router.lan:50051", "::1" → "[::1]:50051"; an endpoint with a port stays as it is.</summary>
    public static string WithDefaultPort(string endpoint)
    {
        if (endpoint.StartsWith('['))
            return endpoint.Contains("]:", StringComparison.Ordinal) ? endpoint : $"{endpoint}:{DefaultPort}";
        return endpoint.Count(c => c == ':') switch
        {
            0 => $"{endpoint}:{DefaultPort}",
            1 => endpoint,
            _ => $"[{endpoint}]:{DefaultPort}", // a bare IPv6 address
        };
    }

    /// <summary>The file client.json is looked for in when nothing else is given.</summary>
    public static string DefaultConfigPath =>
        Environment.GetEnvironmentVariable("ROUTERHOSTS_CLIENT_CONFIG") is { Length: > 0 } fromEnvironment
            ? fromEnvironment
            : Path.Combine(Environment.GetFolderPath(Environment.SpecialFolder.ApplicationData), "routerhosts", "client.json");

    public static RouterHostsConnectionOptions FromConfigFile(string path)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full))
            throw new RouterHostsException(RouterHostsErrorCode.InvalidArgument, $"client configuration {full} does not exist");
        ClientConfigFile? file;
        try
        {
            file = JsonSerializer.Deserialize(File.ReadAllText(full), ClientConfigJson.Default.ClientConfigFile);
        }
        catch (JsonException e)
        {
            throw new RouterHostsException(RouterHostsErrorCode.InvalidArgument,
                $"client configuration {full} is not valid JSON: {e.Message}");
        }
        if (file is null || (file.Endpoint is null && file.UnixSocket is null))
            throw new RouterHostsException(RouterHostsErrorCode.InvalidArgument,
                $"client configuration {full} names neither an endpoint nor a unix_socket");
        var directory = Path.GetDirectoryName(full)!;
        string? Resolve(string? p) => p is null ? null : Path.GetFullPath(p, directory);
        return new RouterHostsConnectionOptions
        {
            Endpoint = file.Endpoint,
            UnixSocket = Resolve(file.UnixSocket),
            CertificatePath = Resolve(file.Certificate),
            KeyPath = Resolve(file.Key),
            CaPath = Resolve(file.Ca),
            ServerName = file.ServerName,
        };
    }

    public string Target => UnixSocket is not null ? $"unix:{UnixSocket}" : Endpoint ?? "(no endpoint)";
}

