using System.Security.Cryptography.X509Certificates;

namespace RouterHosts.Transport;

public static class ClientCertificates
{
    /// <summary>
    /// Loads a certificate with its private key from PEM files or a PFX. A PEM pair
    /// is re-imported through PKCS#12 so that every platform's TLS stack accepts it
    /// (Windows' SChannel refuses ephemeral PEM keys).
    /// </summary>
    public static X509Certificate2 Load(string certificatePath, string? keyPath, string? pfxPassword = null)
    {
        if (certificatePath.EndsWith(".pfx", StringComparison.OrdinalIgnoreCase) ||
            certificatePath.EndsWith(".p12", StringComparison.OrdinalIgnoreCase))
        {
#pragma warning disable SYSLIB0057 // X509CertificateLoader is not in net8.0's reference set
            return new X509Certificate2(certificatePath, pfxPassword, X509KeyStorageFlags.Exportable);
#pragma warning restore SYSLIB0057
        }
        using var pem = X509Certificate2.CreateFromPemFile(certificatePath, keyPath);
        if (!OperatingSystem.IsWindows()) return new X509Certificate2(pem);
#pragma warning disable SYSLIB0057
        return new X509Certificate2(pem.Export(X509ContentType.Pkcs12));
#pragma warning restore SYSLIB0057
    }
}
