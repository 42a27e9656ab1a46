using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using RouterHosts.Transport;

namespace RouterHosts.Agent.Pki;

/// <summary>
/// A small private CA (ECDSA P-256) that issues server and client certificates
/// for mTLS. Keys are written as PKCS#8 PEM with mode 0600; nothing is
/// overwritten unless asked. The agent's (dev mode, `pki` subcommands); the client never issues
/// certificates, so this is not in the Transport assembly the module ships. The end-to-end tests
/// compile this file in to make their test PKI.
/// </summary>
public sealed class CertificateAuthority : IDisposable
{
    public CertificateAuthority(X509Certificate2 certificate) => Certificate = certificate;

    /// <summary>The CA certificate with its private key.</summary>
    public X509Certificate2 Certificate { get; }

    public static CertificateAuthority Create(string commonName, TimeSpan? lifetime = null, DateTimeOffset? notBefore = null)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName($"CN={commonName}"), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, true, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign | X509KeyUsageFlags.DigitalSignature, true));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        var start = notBefore ?? DateTimeOffset.UtcNow.AddMinutes(-5);
        return new CertificateAuthority(request.CreateSelfSigned(start, start + (lifetime ?? TimeSpan.FromDays(3650))));
    }

    public static CertificateAuthority Load(string certificatePath, string keyPath) =>
        new(X509Certificate2.CreateFromPemFile(certificatePath, keyPath));

    public X509Certificate2 IssueServer(string commonName, IEnumerable<string> dnsNames, IEnumerable<IPAddress> addresses,
        TimeSpan? lifetime = null)
    {
        var names = new SubjectAlternativeNameBuilder();
        foreach (var dns in dnsNames) names.AddDnsName(dns);
        foreach (var address in addresses) names.AddIpAddress(address);
        return Issue($"CN={commonName}", TlsTrust.ServerAuthOid, names.Build(), lifetime ?? TimeSpan.FromDays(825), null);
    }

    /// <summary>Issues a client certificate; the role, when given, is recorded as the subject's OU.</summary>
    public X509Certificate2 IssueClient(string commonName, string? role = null, TimeSpan? lifetime = null,
        DateTimeOffset? notBefore = null, string usageOid = TlsTrust.ClientAuthOid)
    {
        var subject = role is null ? $"CN={commonName}" : $"CN={commonName}, OU={role}";
        return Issue(subject, usageOid, null, lifetime ?? TimeSpan.FromDays(825), notBefore);
    }

    private X509Certificate2 Issue(string subject, string usageOid, X509Extension? subjectAltNames, TimeSpan lifetime,
        DateTimeOffset? notBefore)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest(new X500DistinguishedName(subject), key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(
            X509KeyUsageFlags.DigitalSignature | X509KeyUsageFlags.KeyAgreement, true));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension([new Oid(usageOid)], false));
        request.CertificateExtensions.Add(new X509SubjectKeyIdentifierExtension(request.PublicKey, false));
        request.CertificateExtensions.Add(X509AuthorityKeyIdentifierExtension.CreateFromCertificate(Certificate, true, false));
        if (subjectAltNames is not null) request.CertificateExtensions.Add(subjectAltNames);
        var start = notBefore ?? DateTimeOffset.UtcNow.AddMinutes(-5);
        var end = start + lifetime;
        // A leaf may not outlive its issuer.
        if (end > Certificate.NotAfter) end = Certificate.NotAfter;
        var serial = RandomNumberGenerator.GetBytes(16);
        serial[0] &= 0x7f;
        using var issued = request.Create(Certificate, start, end, serial);
        return issued.CopyWithPrivateKey(key);
    }

    /// <summary>Writes the certificate and its key as PEM files (key mode 0600).</summary>
    public static void WritePem(X509Certificate2 certificate, string certificatePath, string? keyPath, bool overwrite)
    {
        if (!overwrite)
        {
            foreach (var path in new[] { certificatePath, keyPath })
                if (path is not null && File.Exists(path))
                    throw new IOException($"{path} exists; pass --force to replace it");
        }
        PublishedFile.WriteText(certificatePath, certificate.ExportCertificatePem() + "\n", PublishedFile.Public);
        if (keyPath is null) return;
        var key = certificate.GetECDsaPrivateKey() ?? throw new InvalidOperationException("the certificate has no EC private key");
        PublishedFile.WriteText(keyPath, key.ExportPkcs8PrivateKeyPem() + "\n", PublishedFile.Secret);
    }

    /// <summary>Writes a PKCS#12 file (for Windows clients) with mode 0600.</summary>
    public static void WritePfx(X509Certificate2 certificate, string path, string? password, bool overwrite)
    {
        if (!overwrite && File.Exists(path)) throw new IOException($"{path} exists; pass --force to replace it");
        PublishedFile.Write(path, certificate.Export(X509ContentType.Pkcs12, password), PublishedFile.Secret);
    }

    public void Dispose() => Certificate.Dispose();
}
