using System.Security.Cryptography.X509Certificates;
using RouterHosts.Client;

namespace RouterHosts.Commands.Internal;

/// <summary>Makes connections. Loads and checks certificates; never contacts the agent.</summary>
internal static class ConnectionFactory
{
    public static RouterHostsConnection FromConfigFile(string path, TimeSpan? callTimeout = null)
    {
        var options = RouterHostsConnectionOptions.FromConfigFile(path);
        if (callTimeout is { } timeout) options.CallTimeout = timeout;
        return Create(options, Path.GetFullPath(path));
    }

    public static RouterHostsConnection FromEndpoint(string endpoint, string? certificatePath, X509Certificate2? certificate, string? keyPath,
        string? caPath, string? pfxPassword, string? serverName, TimeSpan? callTimeout) =>
        Create(WithTimeout(new RouterHostsConnectionOptions
        {
            Endpoint = endpoint,
            CertificatePath = certificatePath,
            ClientCertificate = certificate,
            KeyPath = keyPath,
            CaPath = caPath,
            PfxPassword = pfxPassword,
            ServerName = serverName,
        }, callTimeout), null);

    public static RouterHostsConnection FromUnixSocket(string socketPath, TimeSpan? callTimeout) =>
        Create(WithTimeout(new RouterHostsConnectionOptions { UnixSocket = socketPath }, callTimeout), null);

    private static RouterHostsConnectionOptions WithTimeout(RouterHostsConnectionOptions options, TimeSpan? timeout)
    {
        if (timeout is { } t) options.CallTimeout = t;
        return options;
    }

    private static RouterHostsConnection Create(RouterHostsConnectionOptions options, string? configPath)
    {
        var client = RouterHostsClient.Connect(options);
        return new RouterHostsConnection(new AgentSession(client), options.UnixSocket is null ? "mTLS" : "UnixSocket", configPath);
    }

    /// <summary>The default client configuration file, as the client library looks for it.</summary>
    public static string DefaultConfigPath => RouterHostsConnectionOptions.DefaultConfigPath;
}
