using System.Net;
using System.Net.Security;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using Microsoft.AspNetCore.Hosting;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;
using Microsoft.Extensions.Logging;
using RouterHosts.Transport;

namespace RouterHosts.Transport.Server;

public sealed record UnixSocketListener(string Path, UnixFileMode Mode, string? Group);

/// <summary>
/// Kestrel listeners for gRPC: HTTP/2 only. TCP endpoints require TLS 1.2+ and a
/// client certificate chained to the configured CA alone (never the system store)
/// with clientAuth usage. A Unix socket endpoint speaks h2c; its file mode limits
/// who may connect.
/// </summary>
public static class GrpcListeners
{
    public static void AddTcp(KestrelServerOptions kestrel, IPEndPoint endpoint, ServerTlsMaterial tls, ILogger log)
    {
        kestrel.Listen(endpoint, listen =>
        {
            listen.Protocols = HttpProtocols.Http2;
            listen.UseHttps(new TlsHandshakeCallbackOptions
            {
                HandshakeTimeout = TimeSpan.FromSeconds(10),
                OnConnection = context =>
                {
                    var material = tls.Current;
                    return ValueTask.FromResult(new SslServerAuthenticationOptions
                    {
                        ServerCertificateContext = material.Context, // the certificate and the intermediates from its file
                        ClientCertificateRequired = true,
                        EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
                        CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
                        // No resumption: every connection presents and re-validates its client certificate
                        // (a resumed TLS 1.3 session would skip the check, and a reloaded CA would not apply).
                        AllowTlsResume = false,
                        ApplicationProtocols = [SslApplicationProtocol.Http2],
                        RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                        {
                            var problem = certificate is null
                                ? "no client certificate was presented"
                                : TlsTrust.Validate(new X509Certificate2(certificate), material.TrustedCa, TlsTrust.ClientAuthOid);
                            if (problem is not null)
                                log.LogWarning("refused TLS client {Remote}: {Problem}", context.ClientHelloInfo.ServerName is { Length: > 0 } sni
                                    ? $"{context.Connection.RemoteEndPoint} (SNI {sni})" : context.Connection.RemoteEndPoint?.ToString(), problem);
                            return problem is null;
                        },
                    });
                },
            });
        });
    }

    public static void AddUnixSocket(KestrelServerOptions kestrel, UnixSocketListener socket)
    {
        var directory = System.IO.Path.GetDirectoryName(System.IO.Path.GetFullPath(socket.Path))!;
        Directory.CreateDirectory(directory);
        // A socket file left by a previous run would make bind fail.
        if (File.Exists(socket.Path)) File.Delete(socket.Path);
        kestrel.ListenUnixSocket(socket.Path, listen => listen.Protocols = HttpProtocols.Http2);
    }

    /// <summary>Applies the socket's mode (and group) once Kestrel has created it.</summary>
    public static void SecureUnixSocket(UnixSocketListener socket)
    {
        File.SetUnixFileMode(socket.Path, socket.Mode);
        if (socket.Group is { Length: > 0 } group) UnixGroups.Chgrp(socket.Path, group);
    }
}
