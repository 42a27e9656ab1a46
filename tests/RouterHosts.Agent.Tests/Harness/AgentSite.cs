using System.Text.Json;
using System.Text.Json.Nodes;
using RouterHosts.Client;

namespace RouterHosts.Agent.Tests.Harness;

/// <summary>
/// A router in a temporary directory: a PKI made by `routerhosts-agent pki init`,
/// an agent.json (mode 0600) with a TCP listener on a free loopback port and a Unix
/// socket, a database directory and a hosts file directory. Tests edit
/// <see cref="Config"/> and call <see cref="WriteConfig"/>.
/// </summary>
public sealed class AgentSite : IDisposable
{
    private AgentSite(string root)
    {
        Root = root;
        Port = FreePort();
        Directory.CreateDirectory(Path.Combine(root, "data"));
        Directory.CreateDirectory(Path.Combine(root, "etc"));
        Config = new JsonObject
        {
            ["listen"] = new JsonArray($"127.0.0.1:{Port}"),
            ["unix_socket"] = new JsonObject { ["path"] = SocketPath, ["mode"] = "0660" },
            ["tls"] = new JsonObject { ["certificate"] = "pki/server.crt", ["key"] = "pki/server.key", ["ca"] = "pki/ca.crt" },
            ["database"] = DatabasePath,
            ["hosts_file"] = new JsonObject { ["path"] = HostsFilePath, ["mode"] = "block" },
            ["log_level"] = "Information",
            ["shutdown_grace_seconds"] = 5,
        };
    }

    public string Root { get; }
    public int Port { get; }
    public string Endpoint => $"127.0.0.1:{Port}";
    public string PkiDirectory => Path.Combine(Root, "pki");
    public string ConfigPath => Path.Combine(Root, "agent.json");
    public string DatabasePath => Path.Combine(Root, "data", "hosts.db");
    public string HostsFilePath => Path.Combine(Root, "etc", "hosts");
    public string SocketPath => Path.Combine(Root, "run", "agent.sock");
    public JsonObject Config { get; }

    /// <summary>A site with a CA and a server certificate for 127.0.0.1 (made by the agent's own pki init).</summary>
    public static async Task<AgentSite> CreateAsync()
    {
        var site = new AgentSite(NewTempDirectory("site"));
        var (exit, output) = await AgentProcess.RunToExitAsync(
            ["pki", "init", "--dir", site.PkiDirectory, "--server-name", "router.test", "--ip", "127.0.0.1"], site.Root);
        Assert.True(exit == 0, output);
        File.WriteAllText(site.HostsFilePath, "127.0.0.1\tlocalhost\n");
        site.WriteConfig();
        return site;
    }

    public void WriteConfig()
    {
        File.WriteAllText(ConfigPath, Config.ToJsonString(new JsonSerializerOptions { WriteIndented = true }));
        File.SetUnixFileMode(ConfigPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
    }

    public IEnumerable<string> Args(params string[] extra) => new[] { "--config", ConfigPath }.Concat(extra);

    public AgentProcess Start(IDictionary<string, string>? environment = null, string? viaShell = null, params string[] extra) =>
        AgentProcess.Launch(Args(extra), Root, Port, environment: environment, viaShell: viaShell);

    /// <summary>Starts the agent and waits for a successful Readiness call over the Unix socket; ends it if that never comes.</summary>
    public Task<AgentProcess> StartReadyAsync(IDictionary<string, string>? environment = null, string? viaShell = null) =>
        AgentProcess.ReadyOrDisposedAsync(Start(environment, viaShell), () => File.Exists(SocketPath) ? ConnectUnix() : null);

    /// <summary>Issues a client with `pki issue-client`; returns its client.json.</summary>
    public async Task<string> IssueClientAsync(string name, string? role = null)
    {
        var args = new List<string> { "pki", "issue-client", "--dir", PkiDirectory, "--name", name, "--endpoint", Endpoint };
        if (role is not null) args.AddRange(["--role", role]);
        var (exit, output) = await AgentProcess.RunToExitAsync(args, Root);
        Assert.True(exit == 0, output);
        return Path.Combine(PkiDirectory, "clients", name, "client.json");
    }

    public static RouterHostsClient Connect(string clientJson) =>
        RouterHostsClient.Connect(RouterHostsConnectionOptions.FromConfigFile(clientJson));

    public RouterHostsClient ConnectUnix() => RouterHostsClient.Connect(new RouterHostsConnectionOptions { UnixSocket = SocketPath });

    /// <summary>The (ip, hostname) pairs of the agent's block in the hosts file.</summary>
    public IReadOnlyList<(string Ip, string Hostname)> HostsFileEntries()
    {
        var lines = File.ReadAllLines(HostsFilePath);
        var begin = Array.FindIndex(lines, l => l.StartsWith("# BEGIN", StringComparison.Ordinal));
        var end = Array.FindIndex(lines, l => l.StartsWith("# END", StringComparison.Ordinal));
        Assert.True(begin >= 0 && end > begin, "the hosts file has no managed block:\n" + string.Join('\n', lines));
        return lines[(begin + 1)..end]
            .Where(l => l.Length > 0 && !l.StartsWith('#'))
            .Select(l => l.Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries))
            .Select(p => (p[0], p[1]))
            .ToList();
    }

    public static int FreePort() => AgentProcess.FreePort();

    public static string NewTempDirectory(string what) => AgentProcess.NewTempDirectory("agent-tests-" + what);

    public void Dispose()
    {
        try { Directory.Delete(Root, recursive: true); } catch (IOException) { } catch (UnauthorizedAccessException) { }
    }
}

/// <summary>Polling with a deadline: the tests wait for conditions, never for time.</summary>
public static class Eventually
{
    public static async Task<T> WaitAsync<T>(Func<Task<T>> probe, Func<T, bool> done, string what, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        T last;
        while (true)
        {
            last = await probe();
            if (done(last)) return last;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{what}: still {last} after {(timeout ?? TimeSpan.FromSeconds(20)).TotalSeconds} s");
            await Task.Delay(25);
        }
    }
}
