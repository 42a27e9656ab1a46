using System.Security.Cryptography.X509Certificates;
using RouterHosts.Transport;

namespace RouterHosts.Transport.Server;

/// <summary>The server certificate and the CA bundle clients must chain to, loaded together.</summary>
public sealed record TlsMaterial(X509Certificate2 Certificate, X509Certificate2Collection TrustedCa)
{
    /// <summary>Loads and checks the files: the key must match the certificate, and the certificate must be usable for serverAuth.</summary>
    public static TlsMaterial Load(string certificatePath, string keyPath, string caPath)
    {
        foreach (var (path, what) in new[] { (certificatePath, "TLS certificate"), (keyPath, "TLS key"), (caPath, "CA bundle") })
            if (!File.Exists(path)) throw new FileNotFoundException($"the {what} {path} does not exist", path);
        X509Certificate2 certificate;
        try
        {
            using var pem = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
            // Re-import so the key is usable by the TLS stack on every platform.
#pragma warning disable SYSLIB0057
            certificate = new X509Certificate2(pem.Export(X509ContentType.Pkcs12));
#pragma warning restore SYSLIB0057
        }
        catch (System.Security.Cryptography.CryptographicException e)
        {
            throw new InvalidDataException($"the TLS key {keyPath} does not match the certificate {certificatePath} or cannot be read: {e.Message}", e);
        }
        var ca = TlsTrust.LoadBundle(caPath);
        if (TlsTrust.Validate(certificate, ca, TlsTrust.ServerAuthOid) is { } problem)
            throw new InvalidDataException($"the TLS certificate {certificatePath} is not usable with the CA bundle {caPath}: {problem}");
        return new TlsMaterial(certificate, ca);
    }
}

/// <summary>
/// Holds the TLS material in use; each new connection reads the current one, so
/// replacing it (on reload) changes new handshakes without dropping connections.
/// </summary>
public sealed class ServerTlsMaterial(TlsMaterial initial)
{
    private TlsMaterial _current = initial;
    public TlsMaterial Current => Volatile.Read(ref _current);
    public void Replace(TlsMaterial material) => Volatile.Write(ref _current, material);
}
