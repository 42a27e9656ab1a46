using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Grpc.Net.Client;

namespace RouterHosts.Transport;

/// <summary>Where and how to reach a gRPC server: TCP with mTLS, or h2c on a Unix socket.</summary>
public sealed record GrpcEndpoint
{
    /// <summary>"host:port" for TCP; null when <see cref="UnixSocketPath"/> is used.</summary>
    public string? Address { get; init; }
    public string? UnixSocketPath { get; init; }
    public X509Certificate2? ClientCertificate { get; init; }
    public X509Certificate2Collection? TrustedCa { get; init; }
    /// <summary>The name the server certificate must carry; defaults to the host of <see cref="Address"/>.</summary>
    public string? ServerName { get; init; }
    public int MaxMessageBytes { get; init; } = 4 * 1024 * 1024;
}

/// <summary>
/// Builds gRPC channels on SocketsHttpHandler: HTTP/2 only (no silent downgrade),
/// the client certificate presented, the server certificate checked against the
/// configured CA only, with serverAuth usage and the host name. The reason a
/// server certificate was refused is kept for <see cref="TransportErrors"/>.
/// </summary>
public static class GrpcChannelFactory
{
    public static GrpcChannel Create(GrpcEndpoint endpoint, TlsFailureLog? failures = null)
    {
        var handler = new SocketsHttpHandler
        {
            EnableMultipleHttp2Connections = true,
            KeepAlivePingDelay = TimeSpan.FromSeconds(60),
            KeepAlivePingTimeout = TimeSpan.FromSeconds(20),
            PooledConnectionIdleTimeout = TimeSpan.FromMinutes(5),
            ConnectTimeout = TimeSpan.FromSeconds(10),
        };
        string baseAddress;
        if (endpoint.UnixSocketPath is { } socketPath)
        {
            baseAddress = "http://localhost";
            handler.ConnectCallback = async (_, ct) =>
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new UnixDomainSocketEndPoint(socketPath), ct);
                    return new NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            };
        }
        else
        {
            if (endpoint.Address is null) throw new ArgumentException("an address or a Unix socket path is required");
            if (endpoint.TrustedCa is null || endpoint.TrustedCa.Count == 0)
                throw new ArgumentException("a CA certificate to trust is required for TLS");
            baseAddress = "https://" + endpoint.Address;
            var host = endpoint.ServerName ?? new Uri(baseAddress).IdnHost;
            handler.SslOptions = new SslClientAuthenticationOptions
            {
                EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                TargetHost = host,
                ClientCertificates = endpoint.ClientCertificate is null ? null : [endpoint.ClientCertificate],
                LocalCertificateSelectionCallback = endpoint.ClientCertificate is null
                    ? null
                    : (_, _, _, _, _) => endpoint.ClientCertificate,
                // SocketsHttpHandler replaces TargetHost with the URI's host, so the name is checked here,
                // against ServerName when one is given (e.g. connecting to 127.0.0.1, expecting "localhost").
                RemoteCertificateValidationCallback = (_, certificate, chain, _) =>
                {
                    string? problem;
                    if (certificate is null) problem = "the server sent no certificate";
                    else
                    {
                        using var leaf = new X509Certificate2(certificate);
                        problem = TlsTrust.Validate(leaf, endpoint.TrustedCa, TlsTrust.ServerAuthOid, ExtraCertificates(chain))
                                  ?? (leaf.MatchesHostname(host, allowWildcards: true, allowCommonName: false)
                                      ? null
                                      : $"the server certificate '{leaf.Subject}' is not valid for the name '{host}'");
                    }
                    if (problem is not null) failures?.Record("server certificate refused: " + problem);
                    return problem is null;
                },
            };
        }
        return GrpcChannel.ForAddress(baseAddress, new GrpcChannelOptions
        {
            HttpHandler = handler,
            MaxReceiveMessageSize = endpoint.MaxMessageBytes,
            MaxSendMessageSize = endpoint.MaxMessageBytes,
            HttpVersion = HttpVersion.Version20,
            HttpVersionPolicy = HttpVersionPolicy.RequestVersionExact,
            DisposeHttpClient = true,
        });
    }

    private static X509Certificate2Collection? ExtraCertificates(X509Chain? chain)
    {
        if (chain is null) return null;
        var extra = new X509Certificate2Collection();
        foreach (var element in chain.ChainElements.Skip(1)) extra.Add(element.Certificate);
        return extra;
    }
}

/// <summary>Remembers why the last TLS handshake was refused on our side, to explain a failed call.</summary>
public sealed class TlsFailureLog
{
    private string? _last;
    public void Record(string reason) => Volatile.Write(ref _last, reason);
    public string? TakeLast() => Interlocked.Exchange(ref _last, null);
    /// <summary>True when a server certificate was refused since the last <see cref="TakeLast"/>.</summary>
    public bool HasFailure => Volatile.Read(ref _last) is not null;
}
