using System.Net;
using RouterHosts.Agent.Configuration;
using RouterHosts.Agent.Pki;
using RouterHosts.Transport;

namespace RouterHosts.Agent;

/// <summary>
/// `--dev`: everything under one data directory, made on first run and reused after:
/// a private CA, a server certificate for localhost/127.0.0.1/::1, a client
/// certificate, the SQLite database, a hosts file, and client.json for clients.
/// </summary>
public static class DevBootstrap
{
    public const string DefaultDataDirectory = ".routerhosts-dev";
    public const string DefaultListen = "127.0.0.1:50051";

    public static AgentOptions Prepare(string dataDirectory, string? listen, TextWriter output)
    {
        var dir = Path.GetFullPath(dataDirectory);
        var pki = Path.Combine(dir, "pki");
        Directory.CreateDirectory(pki);
        var caCrt = Path.Combine(pki, "ca.crt");
        var caKey = Path.Combine(pki, "ca.key");
        var serverCrt = Path.Combine(pki, "server.crt");
        var serverKey = Path.Combine(pki, "server.key");
        var clientCrt = Path.Combine(pki, "client.crt");
        var clientKey = Path.Combine(pki, "client.key");

        if (!File.Exists(caCrt) || !File.Exists(caKey))
        {
            using var ca = CertificateAuthority.Create("RouterHosts dev CA");
            CertificateAuthority.WritePem(ca.Certificate, caCrt, caKey, overwrite: true);
            using var server = ca.IssueServer("localhost", ["localhost"], [IPAddress.Loopback, IPAddress.IPv6Loopback]);
            CertificateAuthority.WritePem(server, serverCrt, serverKey, overwrite: true);
            using var client = ca.IssueClient("routerhosts-dev-client", "admin");
            CertificateAuthority.WritePem(client, clientCrt, clientKey, overwrite: true);
            CertificateAuthority.WritePfx(client, Path.Combine(pki, "client.pfx"), password: null, overwrite: true);
            output.WriteLine($"created a dev CA and certificates in {pki}");
        }

        var endpoint = listen ?? DefaultListen;
        var hostsPath = Path.Combine(dir, "hosts");
        if (!File.Exists(hostsPath)) PublishedFile.WriteText(hostsPath, "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n", PublishedFile.Public);
        var clientJson = Path.Combine(dir, "client.json");
        var host = endpoint.StartsWith('[') ? endpoint[..(endpoint.IndexOf(']') + 1)] : endpoint[..endpoint.LastIndexOf(':')];
        var connectHost = host is "0.0.0.0" or "[::]" ? "localhost" : host;
        var config = new ClientConfigFile(
            Endpoint: connectHost + endpoint[endpoint.LastIndexOf(':')..],
            UnixSocket: null,
            Certificate: "pki/client.crt", Key: "pki/client.key", Ca: "pki/ca.crt",
            ServerName: "localhost", Pfx: "pki/client.pfx");
        config.Save(clientJson);

        return new AgentOptions
        {
            Listen = [endpoint],
            Tls = new TlsOptions { Certificate = serverCrt, Key = serverKey, Ca = caCrt },
            Database = Path.Combine(dir, "routerhosts.db"),
            HostsFile = new HostsFileOptions { Path = hostsPath, Mode = "block" },
        };
    }
}
