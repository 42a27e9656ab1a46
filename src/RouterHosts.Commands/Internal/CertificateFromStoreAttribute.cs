using System.Management.Automation;
using System.Security.Cryptography.X509Certificates;

namespace RouterHosts.Commands.Internal;

/// <summary>
/// Lets -Certificate take a thumbprint as well as an X509Certificate2 (or a Cert:\ path's
/// object): the thumbprint is looked up in the CurrentUser, then the LocalMachine, My store.
/// </summary>
internal sealed class CertificateFromStoreAttribute : ArgumentTransformationAttribute
{
    public override object Transform(EngineIntrinsics engineIntrinsics, object inputData)
    {
        var value = inputData is PSObject wrapped ? wrapped.BaseObject : inputData;
        if (value is not string text) return value;
        var thumbprint = text.Replace(" ", "", StringComparison.Ordinal).Trim();
        foreach (var location in new[] { StoreLocation.CurrentUser, StoreLocation.LocalMachine })
        {
            try
            {
                using var store = new X509Store(StoreName.My, location);
                store.Open(OpenFlags.ReadOnly | OpenFlags.OpenExistingOnly);
                var found = store.Certificates.Find(X509FindType.FindByThumbprint, thumbprint, validOnly: false);
                if (found.Count > 0) return found[0];
            }
            catch (System.Security.Cryptography.CryptographicException)
            {
                // This store does not exist here (LocalMachine\My on Linux, say): try the next.
            }
        }
        throw new ArgumentTransformationMetadataException(
            $"No certificate with thumbprint {thumbprint} is in the CurrentUser or LocalMachine My store; give an X509Certificate2 or -CertificatePath instead.");
    }
}
