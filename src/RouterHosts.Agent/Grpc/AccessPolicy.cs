using System.Net.Sockets;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Microsoft.AspNetCore.Connections.Features;
using RouterHosts.Agent.Configuration;

namespace RouterHosts.Agent.Grpc;

public enum Role { None = 0, Reader = 1, Writer = 2, Admin = 3 }

/// <summary>Who is calling: the actor recorded in events, and the role they hold.</summary>
public sealed record Caller(string Actor, Role Role);

/// <summary>
/// Roles by client certificate subject (the policy) or by the role recorded in the
/// certificate at issue (its OU); with no policy at all every CA-signed client is
/// admin, as with the other router-hosts server. Unix socket peers are known by
/// SO_PEERCRED: root and the agent's own user are admin, others as the policy says.
/// </summary>
public sealed class AccessPolicy(AccessOptions options)
{
    private static readonly Dictionary<string, Role> Required = new()
    {
        ["GetHost"] = Role.Reader, ["ListHosts"] = Role.Reader, ["SearchHosts"] = Role.Reader,
        ["ExportHosts"] = Role.Reader, ["WatchHosts"] = Role.Reader, ["Liveness"] = Role.Reader,
        ["Readiness"] = Role.Reader, ["Health"] = Role.Reader, ["GetHostHistory"] = Role.Reader,
        ["ListSnapshots"] = Role.Reader, ["GetSnapshot"] = Role.Reader, ["GetEdit"] = Role.Reader,
        ["AddHost"] = Role.Writer, ["UpdateHost"] = Role.Writer, ["DeleteHost"] = Role.Writer,
        ["ImportHosts"] = Role.Writer, ["BulkAddHosts"] = Role.Writer, ["StartEdit"] = Role.Writer,
        ["FinishEdit"] = Role.Writer, ["CancelEdit"] = Role.Writer, ["CreateSnapshot"] = Role.Writer,
        ["RollbackToSnapshot"] = Role.Admin, ["DeleteSnapshot"] = Role.Admin, ["CompactAggregates"] = Role.Admin,
    };

    public static Role RequiredRole(string method) =>
        Required.TryGetValue(method[(method.LastIndexOf('/') + 1)..], out var role) ? role : Role.Admin;

    public static Role ParseRole(string value, string where) => value.ToLowerInvariant() switch
    {
        "reader" => Role.Reader,
        "writer" => Role.Writer,
        "admin" => Role.Admin,
        _ => throw new ArgumentException($"{where}: unknown role '{value}' (use reader, writer or admin)"),
    };

    public Caller Identify(ServerCallContext context)
    {
        var http = context.GetHttpContext();
        if (http.Connection.ClientCertificate is { } certificate) return ForCertificate(certificate);
        var socket = http.Features.Get<IConnectionSocketFeature>()?.Socket;
        if (socket?.AddressFamily == AddressFamily.Unix && PeerCredentials(socket) is { } peer) return ForUnixPeer(peer.Uid, peer.Gid);
        return new Caller("anonymous", Role.None);
    }

    public Caller ForCertificate(X509Certificate2 certificate)
    {
        var subject = certificate.Subject;
        if (options.Certificates.TryGetValue(subject, out var configured))
            return new Caller(subject, ParseRole(configured, $"access.certificates[{subject}]"));
        var recorded = certificate.SubjectName.EnumerateRelativeDistinguishedNames()
            .Select(rdn => (rdn.GetSingleElementType().FriendlyName, Value: rdn.GetSingleElementValue()))
            .FirstOrDefault(x => x.FriendlyName == "OU").Value;
        if (recorded is not null && Enum.TryParse<Role>(recorded, ignoreCase: true, out var role) && role != Role.None)
            return new Caller(subject, role);
        return new Caller(subject, options.Certificates.Count == 0 ? Role.Admin : Role.None);
    }

    public Caller ForUnixPeer(uint uid, uint gid)
    {
        var actor = $"unix:uid={uid},gid={gid}";
        if (options.UnixPeers.TryGetValue($"uid:{uid}", out var byUid)) return new Caller(actor, ParseRole(byUid, $"access.unix_peers[uid:{uid}]"));
        if (options.UnixPeers.TryGetValue($"gid:{gid}", out var byGid)) return new Caller(actor, ParseRole(byGid, $"access.unix_peers[gid:{gid}]"));
        if (uid == 0 || uid == geteuid()) return new Caller(actor, Role.Admin);
        return new Caller(actor, Role.None);
    }

    private static (uint Uid, uint Gid)? PeerCredentials(Socket socket)
    {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } via getsockopt(SOL_SOCKET, SO_PEERCRED).
        var buffer = new byte[12];
        try
        {
            var length = socket.GetRawSocketOption(1 /* SOL_SOCKET */, 17 /* SO_PEERCRED */, buffer);
            return length >= 12 ? (BitConverter.ToUInt32(buffer, 4), BitConverter.ToUInt32(buffer, 8)) : null;
        }
        catch (SocketException) { return null; }
    }

    [System.Runtime.InteropServices.DllImport("libc")] private static extern uint geteuid();
}
