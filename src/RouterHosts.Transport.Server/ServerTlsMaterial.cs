using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using RouterHosts.Transport;

namespace RouterHosts.Transport.Server;

/// <summary>
/// The server certificate, the intermediates sent with it, and the CA bundle client certificates
/// must chain to, loaded together.
/// </summary>
public sealed record TlsMaterial(X509Certificate2 Certificate, X509Certificate2Collection TrustedCa)
{
    /// <summary>The certificates after the first in the certificate file: the issuer chain an ACME client writes there.</summary>
    public X509Certificate2Collection Chain { get; init; } = [];

    /// <summary>The certificate with its chain, built once, for every handshake until the next reload.</summary>
    public SslStreamCertificateContext Context { get; init; } = null!;

    /// <summary>
    /// Loads and checks the files: the key must match the certificate, and the certificate must be usable for
    /// serverAuth, chained (through the intermediates in its file) to the CA bundle or, for a certificate from
    /// another CA such as an ACME CA, to <paramref name="serverCaPath"/>. Clients are checked against the CA bundle alone.
    /// </summary>
    public static TlsMaterial Load(string certificatePath, string keyPath, string caPath, string? serverCaPath = null)
    {
        foreach (var (path, what) in new[] { (certificatePath, "TLS certificate"), (keyPath, "TLS key"), (caPath, "CA bundle") })
            if (!File.Exists(path)) throw new FileNotFoundException($"the {what} {path} does not exist", path);
        if (serverCaPath is { Length: > 0 } && !File.Exists(serverCaPath))
            throw new FileNotFoundException($"the server CA bundle {serverCaPath} does not exist", serverCaPath);
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
        var chain = ChainIn(certificatePath);
        var ca = TlsTrust.LoadBundle(caPath);
        var serverRoots = new X509Certificate2Collection(ca);
        if (serverCaPath is { Length: > 0 }) serverRoots.AddRange(TlsTrust.LoadBundle(serverCaPath));
        if (TlsTrust.Validate(certificate, serverRoots, TlsTrust.ServerAuthOid, chain) is { } problem)
            throw new InvalidDataException($"the TLS certificate {certificatePath} is not usable with the CA bundle {caPath}" +
                                           (serverCaPath is { Length: > 0 } ? $" or the server CA bundle {serverCaPath}" : "") + $": {problem}");
        return new TlsMaterial(certificate, ca) { Chain = chain, Context = SslStreamCertificateContext.Create(certificate, chain, offline: true) };
    }

    /// <summary>Every certificate of a PEM file after the first (the leaf).</summary>
    public static X509Certificate2Collection ChainIn(string certificatePath)
    {
        var all = new X509Certificate2Collection();
        all.ImportFromPemFile(certificatePath);
        var chain = new X509Certificate2Collection();
        for (var i = 1; i < all.Count; i++) chain.Add(all[i]);
        return chain;
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
