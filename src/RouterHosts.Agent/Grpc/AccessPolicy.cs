using System.Globalization;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using Grpc.Core;
using Microsoft.AspNetCore.Connections.Features;
using RouterHosts.Agent.Configuration;

namespace RouterHosts.Agent.Grpc;

public enum Role { None = 0, Reader = 1, Writer = 2, Admin = 3 }

/// <summary>
/// Who is calling: the actor recorded in events, and the role they hold. <see cref="Identity"/>
/// is who owns what they start (an edit session): the certificate subject, or the uid on the Unix socket.
/// </summary>
public sealed record Caller(string Actor, Role Role)
{
    public string Identity { get; init; } = Actor;
}

/// <summary>
/// Who may do what. The policy is the <c>access</c> section; when it is empty there
/// is no policy and every caller the transport lets in (a CA-signed client
/// certificate, a peer allowed by the Unix socket's mode) is admin, as with the
/// other router-hosts server. With a policy:
/// <list type="bullet">
/// <item>a TLS client gets the role configured for its certificate subject (compared
/// attribute by attribute, in any order, ignoring case; a configured "CN=name" alone
/// matches any subject with that CN), else the role recorded in its certificate at
/// issue (its OU: reader, writer or admin; when it records several, the least of them), else none;</item>
/// <item>a Unix socket peer (known by SO_PEERCRED) gets the role configured for its
/// uid, else the highest role configured for one of its groups (primary or
/// supplementary), else admin when it is root or the agent's own user, else none.</item>
/// </list>
/// A recorded OU also applies when there is no policy: a client issued as reader stays a reader.
/// <see cref="Replace"/> swaps the policy for calls that start afterwards (SIGHUP).
/// </summary>
public sealed class AccessPolicy
{
    private static readonly Dictionary<string, Role> Required = new()
    {
        ["GetHost"] = Role.Reader, ["ListHosts"] = Role.Reader, ["SearchHosts"] = Role.Reader,
        ["ExportHosts"] = Role.Reader, ["WatchHosts"] = Role.Reader, ["Liveness"] = Role.Reader,
        ["Readiness"] = Role.Reader, ["Health"] = Role.Reader, ["GetHostHistory"] = Role.Reader,
        ["ListSnapshots"] = Role.Reader, ["GetSnapshot"] = Role.Reader, ["GetEdit"] = Role.Reader,
        ["AddHost"] = Role.Writer, ["UpdateHost"] = Role.Writer, ["DeleteHost"] = Role.Writer,
        ["ImportHosts"] = Role.Writer, ["BulkAddHosts"] = Role.Writer, ["BulkChangeHosts"] = Role.Writer, ["StartEdit"] = Role.Writer,
        ["FinishEdit"] = Role.Writer, ["CancelEdit"] = Role.Writer, ["CreateSnapshot"] = Role.Writer,
        ["RollbackToSnapshot"] = Role.Admin, ["DeleteSnapshot"] = Role.Admin, ["CompactAggregates"] = Role.Admin,
    };

    private const string CommonNameOid = "2.5.4.3";
    private const string OrganizationalUnitOid = "2.5.4.11";

    private Rules _rules;

    public AccessPolicy(AccessOptions options) => _rules = Compile(options);

    /// <summary>Replaces the policy; throws <see cref="ArgumentException"/> (and keeps the old one) when it is invalid.</summary>
    public void Replace(AccessOptions options) => Volatile.Write(ref _rules, Compile(options));

    /// <summary>A one-line summary for the log.</summary>
    public string Describe()
    {
        var rules = Volatile.Read(ref _rules);
        return rules.Open
            ? "no access policy (every authenticated caller is admin unless its certificate records a role)"
            : $"access policy with {rules.Certificates.Count} certificate rule(s) and {rules.Uids.Count + rules.Gids.Count} Unix peer rule(s)";
    }

    public static Role RequiredRole(string method) =>
        Required.TryGetValue(method[(method.LastIndexOf('/') + 1)..], out var role) ? role : Role.Admin;

    /// <summary>reader, writer or admin (any case); null for anything else.</summary>
    public static Role? ParseRole(string? value) => value?.Trim().ToLowerInvariant() switch
    {
        "reader" => Role.Reader,
        "writer" => Role.Writer,
        "admin" => Role.Admin,
        _ => null,
    };

    /// <summary>Every problem of the access section, as (key, problem) pairs; empty when it is valid.</summary>
    public static IReadOnlyList<(string Key, string Problem)> Check(AccessOptions options)
    {
        var problems = new List<(string, string)>();
        Compile(options, problems);
        return problems;
    }

    public Caller Identify(ServerCallContext context)
    {
        var http = context.GetHttpContext();
        if (http.Connection.ClientCertificate is { } certificate) return ForCertificate(certificate);
        var socket = http.Features.Get<IConnectionSocketFeature>()?.Socket;
        if (socket?.AddressFamily == AddressFamily.Unix && PeerCredentials(socket) is { } peer)
            return ForUnixPeer(peer.Uid, peer.Gid, SupplementaryGroups(peer.Pid));
        return new Caller("anonymous", Role.None);
    }

    public Caller ForCertificate(X509Certificate2 certificate)
    {
        var rules = Volatile.Read(ref _rules);
        var subject = certificate.Subject;
        var attributes = Attributes(certificate.SubjectName);
        var canonical = Canonical(attributes);
        if (rules.Certificates.FirstOrDefault(r => !r.CommonNameOnly && r.Canonical == canonical) is { } exact)
            return new Caller(subject, exact.Role);
        var cn = attributes.Where(a => a.Oid == CommonNameOid).Select(a => a.Value).ToList();
        if (cn.Count == 1 && rules.Certificates.FirstOrDefault(r => r.CommonNameOnly && r.CommonName == cn[0]) is { } byName)
            return new Caller(subject, byName.Role);
        var recorded = attributes.Where(a => a.Oid == OrganizationalUnitOid).Select(a => ParseRole(a.Value)).OfType<Role>().ToList();
        // Several roles recorded (say reader and admin) is ambiguous: the least of them holds.
        if (recorded.Count > 0) return new Caller(subject, recorded.Min());
        return new Caller(subject, rules.Open ? Role.Admin : Role.None);
    }

    public Caller ForUnixPeer(uint uid, uint gid, IReadOnlyCollection<uint>? supplementaryGroups = null) =>
        new Caller($"unix:uid={uid},gid={gid}", UnixPeerRole(uid, gid, supplementaryGroups)) { Identity = $"unix:uid={uid}" };

    private Role UnixPeerRole(uint uid, uint gid, IReadOnlyCollection<uint>? supplementaryGroups)
    {
        var rules = Volatile.Read(ref _rules);
        if (rules.Uids.TryGetValue(uid, out var byUid)) return byUid;
        var groups = new HashSet<uint>(supplementaryGroups ?? []) { gid };
        var byGroup = groups.Select(g => rules.Gids.TryGetValue(g, out var r) ? r : Role.None).DefaultIfEmpty(Role.None).Max();
        if (byGroup != Role.None) return byGroup;
        return uid == 0 || uid == Posix.EffectiveUid || rules.Open ? Role.Admin : Role.None;
    }

    // ---- compiling the options ----

    private sealed record CertificateRule(string Configured, string Canonical, bool CommonNameOnly, string? CommonName, Role Role);

    private sealed record Rules(IReadOnlyList<CertificateRule> Certificates, IReadOnlyDictionary<uint, Role> Uids,
        IReadOnlyDictionary<uint, Role> Gids)
    {
        public bool Open => Certificates.Count == 0 && Uids.Count == 0 && Gids.Count == 0;
    }

    private static Rules Compile(AccessOptions options)
    {
        var problems = new List<(string Key, string Problem)>();
        var rules = Compile(options, problems);
        if (problems.Count > 0) throw new ArgumentException(string.Join("; ", problems.Select(p => $"{p.Key}: {p.Problem}")));
        return rules;
    }

    private static Rules Compile(AccessOptions options, List<(string Key, string Problem)> problems)
    {
        var certificates = new List<CertificateRule>();
        foreach (var (subject, roleText) in options.Certificates)
        {
            var key = $"access:certificates:{subject}";
            var role = ParseRole(roleText);
            if (role is null) problems.Add((key, $"unknown role '{roleText}' (use reader, writer or admin)"));
            List<(string Oid, string Value)> attributes;
            try
            {
                attributes = Attributes(new X500DistinguishedName(subject));
            }
            catch (CryptographicException)
            {
                problems.Add((key, $"'{subject}' is not a certificate subject (write it like \"CN=alice\" or \"CN=alice, OU=writer\")"));
                continue;
            }
            if (attributes.Count == 0)
            {
                problems.Add((key, "an empty subject matches nothing"));
                continue;
            }
            var cnOnly = attributes.Count == 1 && attributes[0].Oid == CommonNameOid;
            var rule = new CertificateRule(subject, Canonical(attributes), cnOnly, cnOnly ? attributes[0].Value : null, role ?? Role.None);
            if (certificates.FirstOrDefault(r => r.Canonical == rule.Canonical) is { } same)
                problems.Add((key, $"the same subject as '{same.Configured}'"));
            else if (role is not null) certificates.Add(rule);
        }
        var uids = new Dictionary<uint, Role>();
        var gids = new Dictionary<uint, Role>();
        foreach (var (peer, roleText) in options.UnixPeers)
        {
            var key = $"access:unix_peers:{peer}";
            var role = ParseRole(roleText);
            if (role is null) problems.Add((key, $"unknown role '{roleText}' (use reader, writer or admin)"));
            var parts = peer.Split(':', 2);
            if (parts.Length != 2 || !uint.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out var id) ||
                parts[0].ToLowerInvariant() is not ("uid" or "gid"))
            {
                problems.Add((key, $"'{peer}' names no peer (write \"uid:1000\" or \"gid:27\")"));
                continue;
            }
            if (role is not null) (parts[0].Equals("uid", StringComparison.OrdinalIgnoreCase) ? uids : gids)[id] = role.Value;
        }
        return new Rules(certificates, uids, gids);
    }

    private static List<(string Oid, string Value)> Attributes(X500DistinguishedName name)
    {
        var list = new List<(string, string)>();
        foreach (var rdn in name.EnumerateRelativeDistinguishedNames())
        {
            if (rdn.HasMultipleElements) list.Add(("multi", Convert.ToHexString(rdn.RawData.Span)));
            else list.Add((rdn.GetSingleElementType().Value ?? "", (rdn.GetSingleElementValue() ?? "").Trim().ToLowerInvariant()));
        }
        return list;
    }

    private static string Canonical(IEnumerable<(string Oid, string Value)> attributes) =>
        string.Join("\n", attributes.Select(a => $"{a.Oid}={a.Value}").Order(StringComparer.Ordinal));

    // ---- Unix peers ----

    private static (int Pid, uint Uid, uint Gid)? PeerCredentials(Socket socket)
    {
        // struct ucred { pid_t pid; uid_t uid; gid_t gid; } via getsockopt(SOL_SOCKET, SO_PEERCRED).
        var buffer = new byte[12];
        try
        {
            var length = socket.GetRawSocketOption(1 /* SOL_SOCKET */, 17 /* SO_PEERCRED */, buffer);
            return length >= 12 ? (BitConverter.ToInt32(buffer, 0), BitConverter.ToUInt32(buffer, 4), BitConverter.ToUInt32(buffer, 8)) : null;
        }
        catch (SocketException) { return null; }
    }

    /// <summary>
    /// SO_PEERCRED carries only the primary group; the others are read from
    /// /proc/PID/status (the peer holds the connection open, so the pid is still its).
    /// </summary>
    private static IReadOnlyCollection<uint> SupplementaryGroups(int pid)
    {
        if (pid <= 0) return [];
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (!line.StartsWith("Groups:", StringComparison.Ordinal)) continue;
                return line[7..].Split((char[]?)null, StringSplitOptions.RemoveEmptyEntries)
                    .Select(g => uint.TryParse(g, out var id) ? id : uint.MaxValue).Where(g => g != uint.MaxValue).ToList();
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
        return [];
    }
}
