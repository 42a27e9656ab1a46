using System.Net;
using System.Security.Cryptography.X509Certificates;
using RouterHosts.Agent.Pki;
using RouterHosts.Transport;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>
/// Extra certificates beside an agent's dev PKI, for the rejection cases: one from
/// another CA, an expired one, and one without clientAuth usage (all PEM pairs
/// named KIND.crt / KIND.key in the same directory as the good ones).
/// </summary>
public static class TestPki
{
    public static readonly string[] BadClientKinds = ["other-ca", "expired", "no-client-auth"];

    public static string PrepareBadClients(string pkiDirectory)
    {
        using var ca = CertificateAuthority.Load(Path.Combine(pkiDirectory, "ca.crt"), Path.Combine(pkiDirectory, "ca.key"));
        using var otherCa = CertificateAuthority.Create("Some other CA");
        Write(otherCa.IssueClient("intruder"), pkiDirectory, "other-ca");
        // Valid for one minute right after the CA itself became valid: expired minutes ago, and still inside the CA's own lifetime.
        Write(ca.IssueClient("old-client", lifetime: TimeSpan.FromMinutes(1), notBefore: ca.Certificate.NotBefore.ToUniversalTime().AddSeconds(1)), pkiDirectory, "expired");
        Write(ca.IssueClient("server-only", usageOid: TlsTrust.ServerAuthOid), pkiDirectory, "no-client-auth");
        return pkiDirectory;
    }

    /// <summary>A fresh PKI directory for a python server: ca, server (localhost, 127.0.0.1) and client pairs.</summary>
    public static string CreateServerPki()
    {
        var dir = AgentProcess.NewTempDirectory();
        using var ca = CertificateAuthority.Create("Interop CA");
        CertificateAuthority.WritePem(ca.Certificate, Path.Combine(dir, "ca.crt"), Path.Combine(dir, "ca.key"), overwrite: true);
        Write(ca.IssueServer("localhost", ["localhost"], [IPAddress.Loopback]), dir, "server");
        Write(ca.IssueClient("interop-client"), dir, "client");
        return dir;
    }

    private static void Write(X509Certificate2 certificate, string dir, string name)
    {
        using (certificate)
            CertificateAuthority.WritePem(certificate, Path.Combine(dir, name + ".crt"), Path.Combine(dir, name + ".key"), overwrite: true);
    }
}
