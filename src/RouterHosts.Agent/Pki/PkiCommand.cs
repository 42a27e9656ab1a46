using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using System.Text.RegularExpressions;
using RouterHosts.Agent.Grpc;
using RouterHosts.Transport;
using RouterHosts.Transport.Server;

namespace RouterHosts.Agent.Pki;

/// <summary>
/// `routerhosts-agent pki ...`: a private CA for the agent's mTLS, using
/// Transport's <see cref="CertificateAuthority"/> (ECDSA P-256; keys PKCS#8 PEM,
/// mode 0600). Nothing that holds a key is overwritten without --force, and the
/// files of one command are checked before any is written.
/// Exit codes: 0 done, 1 refused (files exist, CA missing), 2 bad arguments.
/// </summary>
public static partial class PkiCommand
{
    public const int DefaultPort = 50051;

    public const string Usage = """
        usage: routerhosts-agent pki init --dir DIR --server-name NAME [--ip ADDR]... [--dns NAME]... [--key-group GROUP] [--force]
                 creates DIR/ca.crt, DIR/ca.key (the CA) and DIR/server.crt, DIR/server.key for the agent
                 (SANs: NAME, each --dns and each --ip; --key-group lets that group read server.key, mode 0640)
               routerhosts-agent pki issue-server --dir DIR --server-name NAME [--ip ADDR]... [--dns NAME]... [--key-group GROUP] [--force]
                 issues a new server certificate from DIR's CA (renewal; send the agent SIGHUP to use it)
               routerhosts-agent pki issue-client --dir DIR --name NAME [--role reader|writer|admin] [--endpoint HOST:PORT] [--out DIR] [--force]
                 issues a client certificate (PEM and PFX, for Windows) and a client.json, by default in DIR/clients/NAME;
                 the role is recorded in the certificate (its OU); the endpoint defaults to the server name, port 50051
        """;

    public static int Run(IReadOnlyList<string> args, TextWriter output, TextWriter error)
    {
        try
        {
            if (args.Count == 0 || args[0] is "-h" or "--help" or "help")
            {
                output.WriteLine(Usage);
                return args.Count == 0 ? 2 : 0;
            }
            var parsed = Arguments.Parse(args.Skip(1));
            return args[0] switch
            {
                "init" => Init(parsed, output),
                "issue-server" => IssueServer(parsed, output),
                "issue-client" => IssueClient(parsed, output),
                _ => throw new UsageError($"unknown pki command '{args[0]}' (init, issue-server, issue-client)"),
            };
        }
        catch (UsageError e)
        {
            error.WriteLine($"routerhosts-agent pki: {e.Message}");
            error.WriteLine(Usage);
            return 2;
        }
        catch (Refused e)
        {
            error.WriteLine($"routerhosts-agent pki: {e.Message}");
            return 1;
        }
    }

    // ---- init / issue-server ----

    private static int Init(Arguments a, TextWriter output)
    {
        a.Allow("dir", "server-name", "ip", "dns", "key-group", "force");
        var dir = a.Directory();
        var paths = new[] { "ca.crt", "ca.key", "server.crt", "server.key" }.Select(f => Path.Combine(dir, f)).ToArray();
        var server = ServerRequest(a);
        RefuseExisting(paths, a.Force);
        Directory.CreateDirectory(dir);
        using var ca = CertificateAuthority.Create($"RouterHosts CA ({server.Name})");
        CertificateAuthority.WritePem(ca.Certificate, paths[0], paths[1], overwrite: true);
        output.WriteLine($"created the CA: {paths[0]} (key {paths[1]}, mode 0600; keep it off the router if you can: it is needed only to issue certificates)");
        WriteServer(ca, server, paths[2], paths[3], output);
        output.WriteLine($"""
            next: point agent.json at them ("tls": {JsonSerializer.Serialize(new Dictionary<string, string>
            {
                ["certificate"] = paths[2], ["key"] = paths[3], ["ca"] = paths[0],
            }, Configuration.AgentJson.Default.DictionaryStringString)}), then issue clients with: routerhosts-agent pki issue-client --dir {dir} --name NAME --role writer
            """);
        return 0;
    }

    private static int IssueServer(Arguments a, TextWriter output)
    {
        a.Allow("dir", "server-name", "ip", "dns", "key-group", "force");
        var dir = a.Directory();
        var server = ServerRequest(a);
        var (crt, key) = (Path.Combine(dir, "server.crt"), Path.Combine(dir, "server.key"));
        RefuseExisting([crt, key], a.Force);
        using var ca = LoadCa(dir);
        WriteServer(ca, server, crt, key, output);
        output.WriteLine("send the agent SIGHUP (systemctl reload router-hosts-agent) to serve it; open connections are kept");
        return 0;
    }

    private sealed record ServerNames(string Name, List<string> Dns, List<IPAddress> Addresses, string? KeyGroup);

    private static ServerNames ServerRequest(Arguments a)
    {
        var name = a.Required("server-name");
        var dns = new List<string>();
        var addresses = new List<IPAddress>();
        if (IPAddress.TryParse(name, out var nameAddress)) addresses.Add(nameAddress);
        else dns.Add(CheckDnsName(name, "--server-name"));
        foreach (var d in a.All("dns")) if (!dns.Contains(CheckDnsName(d, "--dns"), StringComparer.OrdinalIgnoreCase)) dns.Add(d);
        foreach (var ip in a.All("ip"))
        {
            if (!IPAddress.TryParse(ip, out var address) || (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && ip.Count(c => c == '.') != 3))
                throw new UsageError($"--ip '{ip}' is not an IP address");
            if (!addresses.Contains(address)) addresses.Add(address);
        }
        var group = a.Single("key-group");
        if (group is not null)
        {
            try { UnixGroups.GroupId(group); }
            catch (ArgumentException) { throw new UsageError($"--key-group: there is no group '{group}'"); }
        }
        return new ServerNames(name, dns, addresses, group);
    }

    private static void WriteServer(CertificateAuthority ca, ServerNames server, string crt, string key, TextWriter output)
    {
        using var certificate = ca.IssueServer(server.Name, server.Dns, server.Addresses);
        CertificateAuthority.WritePem(certificate, crt, key, overwrite: true);
        if (server.KeyGroup is { } group)
        {
            UnixGroups.Chgrp(key, group);
            File.SetUnixFileMode(key, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        }
        output.WriteLine($"issued the server certificate {crt} (key {key}, mode {(server.KeyGroup is null ? "0600" : $"0640, group {server.KeyGroup}")}): " +
                         $"subject {certificate.Subject}, names {string.Join(", ", server.Dns.Concat(server.Addresses.Select(a => a.ToString())))}, " +
                         $"serial {certificate.SerialNumber}, valid until {certificate.NotAfter.ToUniversalTime():yyyy-MM-dd}");
    }

    // ---- issue-client ----

    private static int IssueClient(Arguments a, TextWriter output)
    {
        a.Allow("dir", "name", "role", "endpoint", "out", "force");
        var dir = a.Directory();
        var name = a.Required("name");
        if (!ClientName().IsMatch(name))
            throw new UsageError($"--name '{name}': use letters, digits, '.', '_', '-' or '@' (it becomes the certificate's CN and a directory name)");
        var role = a.Single("role");
        if (role is not null && AccessPolicy.ParseRole(role) is null) throw new UsageError($"--role '{role}': use reader, writer or admin");
        role = role?.ToLowerInvariant();

        using var ca = LoadCa(dir);
        var serverCrt = Path.Combine(dir, "server.crt");
        using var server = File.Exists(serverCrt) ? X509Certificate2.CreateFromPem(File.ReadAllText(serverCrt)) : null;
        var serverName = server?.GetNameInfo(X509NameType.DnsName, forIssuer: false);
        if (string.IsNullOrEmpty(serverName)) serverName = null;
        var endpoint = a.Single("endpoint");
        if (endpoint is null)
        {
            if (serverName is null) throw new UsageError($"--endpoint HOST:PORT is required ({serverCrt} does not name a server)");
            endpoint = $"{serverName}:{DefaultPort}";
        }
        else if (!ValidEndpoint(endpoint)) throw new UsageError($"--endpoint '{endpoint}' is not HOST:PORT (IPv6 in brackets: [fd00::1]:50051)");

        var outDir = Path.GetFullPath(a.Single("out") ?? Path.Combine(dir, "clients", name));
        var files = new[] { "client.crt", "client.key", "client.pfx", "ca.crt", "client.json" }.Select(f => Path.Combine(outDir, f)).ToArray();
        RefuseExisting(files, a.Force);
        Directory.CreateDirectory(outDir);

        using var client = ca.IssueClient(name, role);
        CertificateAuthority.WritePem(client, files[0], files[1], overwrite: true);
        CertificateAuthority.WritePfx(client, files[2], password: null, overwrite: true);
        PublishedFile.Write(files[3], File.ReadAllBytes(Path.Combine(dir, "ca.crt")), PublishedFile.Public);
        var config = new ClientConfigFile(Endpoint: endpoint, UnixSocket: null, Certificate: "client.crt", Key: "client.key", Ca: "ca.crt",
            ServerName: serverName, Pfx: "client.pfx");
        config.Save(files[4]);
        output.WriteLine($"issued the client certificate {files[0]} for {client.Subject} " +
                         $"({(role is null ? "no role recorded: the access policy decides, admin when there is none" : $"role {role}")}), " +
                         $"serial {client.SerialNumber}, valid until {client.NotAfter.ToUniversalTime():yyyy-MM-dd}");
        output.WriteLine($"wrote {files[1]} (mode 0600), {files[2]} (PKCS#12 without a password, mode 0600: for Windows clients), {files[3]}, {files[4]}");
        output.WriteLine($"connect with: Connect-RouterHostsAgent -ConfigPath {files[4]}");
        if (server is not null && !Covers(server, endpoint))
            output.WriteLine($"note: {serverCrt} does not list the host of {endpoint}; clients check the name {serverName} instead (server_name in client.json)");
        return 0;
    }

    private static bool ValidEndpoint(string endpoint)
    {
        var colon = endpoint.LastIndexOf(':');
        if (colon <= 0 || !int.TryParse(endpoint[(colon + 1)..], out var port) || port is < 1 or > 65535) return false;
        var host = endpoint[..colon];
        if (host.StartsWith('[')) return host.EndsWith(']') && IPAddress.TryParse(host[1..^1], out _);
        return !host.Contains(':') && Uri.CheckHostName(host) != UriHostNameType.Unknown;
    }

    private static bool Covers(X509Certificate2 server, string endpoint)
    {
        var host = endpoint[..endpoint.LastIndexOf(':')].Trim('[', ']');
        var names = server.Extensions.OfType<X509SubjectAlternativeNameExtension>().FirstOrDefault();
        if (names is null) return false;
        return IPAddress.TryParse(host, out var address)
            ? names.EnumerateIPAddresses().Contains(address)
            : names.EnumerateDnsNames().Contains(host, StringComparer.OrdinalIgnoreCase);
    }

    // ---- shared ----

    private static CertificateAuthority LoadCa(string dir)
    {
        var (crt, key) = (Path.Combine(dir, "ca.crt"), Path.Combine(dir, "ca.key"));
        if (!File.Exists(crt) || !File.Exists(key))
            throw new Refused($"no CA in {dir} ({crt} and {crt[..^4]}.key); create one with: routerhosts-agent pki init --dir {dir} --server-name NAME");
        try { return CertificateAuthority.Load(crt, key); }
        catch (CryptographicException e) { throw new Refused($"cannot load the CA from {crt} and {key}: {e.Message}"); }
    }

    private static void RefuseExisting(IEnumerable<string> paths, bool force)
    {
        if (force) return;
        var existing = paths.Where(File.Exists).ToList();
        if (existing.Count > 0)
            throw new Refused($"{string.Join(", ", existing)} already exist{(existing.Count == 1 ? "s" : "")}; nothing was written (pass --force to replace)");
    }

    private static string CheckDnsName(string name, string option) =>
        Uri.CheckHostName(name) == UriHostNameType.Dns ? name : throw new UsageError($"{option} '{name}' is not a DNS name or IP address");

    [GeneratedRegex("^[A-Za-z0-9_@-][A-Za-z0-9._@-]{0,63}$")]
    private static partial Regex ClientName();

    private sealed class UsageError(string message) : Exception(message);

    private sealed class Refused(string message) : Exception(message);

    /// <summary>--name value, --name=value; repeatable options collect every value; --force takes none.</summary>
    private sealed class Arguments
    {
        private readonly Dictionary<string, List<string>> _values = new(StringComparer.Ordinal);

        public bool Force { get; private set; }

        public static Arguments Parse(IEnumerable<string> args)
        {
            var parsed = new Arguments();
            var list = args.ToList();
            for (var i = 0; i < list.Count; i++)
            {
                var arg = list[i];
                if (!arg.StartsWith("--", StringComparison.Ordinal)) throw new UsageError($"unexpected argument '{arg}'");
                var name = arg[2..];
                string value;
                if (name == "force") { parsed.Force = true; continue; }
                var equals = name.IndexOf('=');
                if (equals >= 0) { value = name[(equals + 1)..]; name = name[..equals]; }
                else if (i + 1 < list.Count && !list[i + 1].StartsWith("--", StringComparison.Ordinal)) value = list[++i];
                else throw new UsageError($"--{name} needs a value");
                if (!parsed._values.TryGetValue(name, out var values)) parsed._values[name] = values = [];
                values.Add(value);
            }
            return parsed;
        }

        public void Allow(params string[] names)
        {
            foreach (var name in _values.Keys)
                if (!names.Contains(name)) throw new UsageError($"unknown option --{name}");
        }

        public IReadOnlyList<string> All(string name) => _values.TryGetValue(name, out var v) ? v : [];

        public string? Single(string name) => All(name) switch
        {
            [] => null,
            [var one] when one.Length > 0 => one,
            [_] => throw new UsageError($"--{name} needs a value"),
            _ => throw new UsageError($"--{name} is given more than once"),
        };

        public string Required(string name) => Single(name) ?? throw new UsageError($"--{name} is required");

        public string Directory() => Path.GetFullPath(Required("dir"));
    }
}
