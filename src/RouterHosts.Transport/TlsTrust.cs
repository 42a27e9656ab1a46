using System.Security.Cryptography.X509Certificates;

namespace RouterHosts.Transport;

/// <summary>
/// Certificate checks shared by both ends of an mTLS connection: the chain must
/// end at one of the configured CA certificates (never the system store), every
/// certificate must be in its validity period, and the leaf must carry the
/// expected extended key usage.
/// </summary>
public static class TlsTrust
{
    public const string ServerAuthOid = "1.3.6.1.5.5.7.3.1";
    public const string ClientAuthOid = "1.3.6.1.5.5.7.3.2";

    /// <summary>Returns null when <paramref name="leaf"/> is acceptable, else why it is not.</summary>
    public static string? Validate(X509Certificate2 leaf, X509Certificate2Collection trustedRoots, string requiredUsageOid,
        X509Certificate2Collection? intermediates = null, DateTime? at = null)
    {
        var now = at ?? DateTime.Now;
        if (now < leaf.NotBefore) return $"certificate '{leaf.Subject}' is not valid before {leaf.NotBefore.ToUniversalTime():u}";
        if (now > leaf.NotAfter) return $"certificate '{leaf.Subject}' expired on {leaf.NotAfter.ToUniversalTime():u}";
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(trustedRoots);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.VerificationTime = now;
        chain.ChainPolicy.ApplicationPolicy.Add(new System.Security.Cryptography.Oid(requiredUsageOid));
        if (intermediates is not null) chain.ChainPolicy.ExtraStore.AddRange(intermediates);
        if (!chain.Build(leaf))
        {
            var statuses = chain.ChainStatus.Select(s => s.Status).ToHashSet();
            if (statuses.Contains(X509ChainStatusFlags.NotValidForUsage) || !HasUsage(leaf, requiredUsageOid))
                return $"certificate '{leaf.Subject}' lacks the {UsageName(requiredUsageOid)} extended key usage";
            if (statuses.Contains(X509ChainStatusFlags.UntrustedRoot) || statuses.Contains(X509ChainStatusFlags.PartialChain))
                return $"certificate '{leaf.Subject}' (issuer '{leaf.Issuer}') is not signed by the configured CA";
            if (statuses.Contains(X509ChainStatusFlags.NotTimeValid))
                return $"a certificate in the chain of '{leaf.Subject}' is expired or not yet valid";
            return $"certificate '{leaf.Subject}' failed validation: " +
                   string.Join("; ", chain.ChainStatus.Select(s => s.StatusInformation.Trim()));
        }
        if (!HasUsage(leaf, requiredUsageOid))
            return $"certificate '{leaf.Subject}' lacks the {UsageName(requiredUsageOid)} extended key usage";
        return null;
    }

    /// <summary>True when the certificate's EKU extension lists <paramref name="oid"/> (no extension means no usage: we always set one).</summary>
    public static bool HasUsage(X509Certificate2 certificate, string oid) =>
        certificate.Extensions.OfType<X509EnhancedKeyUsageExtension>()
            .Any(e => e.EnhancedKeyUsages.Cast<System.Security.Cryptography.Oid>().Any(u => u.Value == oid));

    public static string UsageName(string oid) => oid switch
    {
        ServerAuthOid => "serverAuth",
        ClientAuthOid => "clientAuth",
        _ => oid,
    };

    /// <summary>Loads every certificate of a PEM bundle.</summary>
    public static X509Certificate2Collection LoadBundle(string path)
    {
        var bundle = new X509Certificate2Collection();
        bundle.ImportFromPemFile(path);
        if (bundle.Count == 0) throw new InvalidDataException($"{path} holds no PEM certificate");
        return bundle;
    }
}
