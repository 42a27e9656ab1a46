using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json.Nodes;
using RouterHosts.Client;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>
/// The DNS server outputs read by the real servers from Debian: unbound (checked by
/// unbound-checkconf, reloaded by unbound-control) and dnsmasq (addn-hosts re-read on SIGHUP,
/// host-record lines checked by dnsmasq --test), each on a loopback high port with its own
/// configuration and pid file, asked with dig. Run as root (CI), the servers drop to nobody.
/// A missing binary fails the test, naming the package to install: nothing is skipped.
/// </summary>
public sealed class DnsServerOutputTests
{
    private static readonly bool IsRoot = Environment.UserName == "root";
    private const UnixFileMode Readable = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;
    private const UnixFileMode Traversable = Readable | UnixFileMode.UserExecute | UnixFileMode.GroupExecute | UnixFileMode.OtherExecute;

    [Fact]
    public async Task Unbound_answers_for_an_added_host_from_the_output_and_stops_after_its_removal_and_the_reload_hook()
    {
        var unbound = Tool("unbound", "unbound");
        var checkconf = Tool("unbound-checkconf", "unbound");
        var control = Tool("unbound-control", "unbound");
        Tool("dig", "dnsutils");
        var port = FreeUdpAndTcpPort();
        string dns = "", output = "", conf = "";
        await using var agent = await AgentProcess.StartWithConfigAsync((config, dir) =>
        {
            dns = PublicDirectory(dir, "dns");
            output = Path.Combine(dns, "router-hosts.conf");
            conf = Path.Combine(dns, "unbound.conf");
            config["outputs"] = new JsonArray(new JsonObject
            {
                ["format"] = "unbound", ["path"] = output,
                ["hooks"] = new JsonObject
                {
                    ["on_success"] = new JsonArray(new JsonObject { ["name"] = "reload-unbound", ["command"] = $"{control} -c {conf} reload" }),
                },
            });
        });
        WriteReadable(conf, $"""
            server:
                interface: 127.0.0.1
                port: {port}
                do-daemonize: no
                username: "{(IsRoot ? "nobody" : "")}"
                chroot: ""
                directory: "{dns}"
                pidfile: "{dns}/unbound.pid"
                use-syslog: no
                logfile: ""
                module-config: "iterator"
                do-not-query-localhost: yes
                local-zone: "lan." static
                include: "{output}"
            remote-control:
                control-enable: yes
                control-interface: {dns}/unbound.ctl
                control-use-cert: no
            """);
        using var client = agent.Connect();
        await WaitForOutputs(client, s => s.Outputs.Single().Current);
        Assert.Equal("unbound", (await client.GetAgentStatusAsync()).Outputs.Single().Format);

        using var server = StartServer(unbound, "-d", "-c", conf);
        await WaitForAnswer(port, "probe.lan", "A", "NXDOMAIN", server);

        var web = await client.AddHostAsync(new RouterHostInput { IPAddress = "10.77.0.5", Hostname = "web.lan", Aliases = ["www.lan"] });
        var web6 = await client.AddHostAsync(new RouterHostInput { IPAddress = "fd00:77::5", Hostname = "web.lan" });
        await WaitForAnswer(port, "www.lan", "A", "NOERROR 10.77.0.5", server);
        await WaitForAnswer(port, "web.lan", "AAAA", "NOERROR fd00:77::5", server);
        await WaitForAnswer(port, "5.0.77.10.in-addr.arpa", "PTR", "NOERROR web.lan.", server);
        var (exit, text) = Run(checkconf, output);
        Assert.True(exit == 0, $"unbound-checkconf refused {output}: {text}\n{await File.ReadAllTextAsync(output)}");
        Assert.Equal(0, Run(checkconf, conf).Exit);

        await client.RemoveHostAsync(web.Id);
        await client.RemoveHostAsync(web6.Id);
        await WaitForAnswer(port, "www.lan", "A", "NXDOMAIN", server);
        await WaitForAnswer(port, "web.lan", "AAAA", "NXDOMAIN", server);
        var status = await client.GetAgentStatusAsync();
        Assert.Equal(0, status.Outputs.Single().LastHookRuns.Single().ExitCode);
    }

    [Fact]
    public async Task Dnsmasq_answers_from_an_addn_hosts_output_and_stops_after_removal_and_SIGHUP()
    {
        var dnsmasq = Tool("dnsmasq", "dnsmasq-base");
        Tool("dig", "dnsutils");
        var port = FreeUdpAndTcpPort();
        string dns = "", output = "";
        await using var agent = await AgentProcess.StartWithConfigAsync((config, dir) =>
        {
            dns = PublicDirectory(dir, "dns");
            output = Path.Combine(dns, "addn-hosts");
            config["outputs"] = new JsonArray(new JsonObject
            {
                ["format"] = "hosts", ["path"] = output,
                ["hooks"] = new JsonObject
                {
                    ["on_success"] = new JsonArray(new JsonObject
                    {
                        ["name"] = "reload-dnsmasq", ["command"] = $"kill -HUP $(cat {dns}/dnsmasq.pid)",
                    }),
                },
            });
        });
        using var client = agent.Connect();
        await WaitForOutputs(client, s => s.Outputs.Single().Current);

        using var server = StartServer(dnsmasq, DnsmasqArgs(port, dns, $"--addn-hosts={output}"));
        await WaitForAnswer(port, "probe.lan", "A", "NXDOMAIN", server);

        var web = await client.AddHostAsync(new RouterHostInput { IPAddress = "10.78.0.5", Hostname = "web.lan", Aliases = ["www.lan"] });
        var web6 = await client.AddHostAsync(new RouterHostInput { IPAddress = "fd00:78::5", Hostname = "web.lan" });
        await WaitForAnswer(port, "www.lan", "A", "NOERROR 10.78.0.5", server);
        await WaitForAnswer(port, "web.lan", "AAAA", "NOERROR fd00:78::5", server);
        await WaitForAnswer(port, "5.0.78.10.in-addr.arpa", "PTR", "NOERROR web.lan.", server);

        await client.RemoveHostAsync(web.Id);
        await client.RemoveHostAsync(web6.Id);
        await WaitForAnswer(port, "www.lan", "A", "NXDOMAIN", server);
        await WaitForAnswer(port, "web.lan", "AAAA", "NXDOMAIN", server);
    }

    [Fact]
    public async Task Dnsmasq_accepts_the_host_record_output_and_answers_from_it()
    {
        var dnsmasq = Tool("dnsmasq", "dnsmasq-base");
        Tool("dig", "dnsutils");
        var port = FreeUdpAndTcpPort();
        string dns = "", output = "";
        await using var agent = await AgentProcess.StartWithConfigAsync((config, dir) =>
        {
            dns = PublicDirectory(dir, "dns");
            output = Path.Combine(dns, "router-hosts.conf");
            config["outputs"] = new JsonArray(new JsonObject { ["format"] = "dnsmasq", ["path"] = output });
        });
        using var client = agent.Connect();
        await client.AddHostAsync(new RouterHostInput { IPAddress = "10.79.0.5", Hostname = "web.lan", Aliases = ["www.lan"] });
        var last = await client.AddHostAsync(new RouterHostInput { IPAddress = "fd00:79::5", Hostname = "web.lan" });
        await WaitForOutputs(client, s => s.Outputs.Single().RenderedChangeId == s.ChangeId && s.Outputs.Single().Current);
        Assert.Contains("host-record=www.lan,10.79.0.5", await File.ReadAllTextAsync(output));

        var (exit, text) = Run(dnsmasq, "--test", $"--conf-file={output}");
        Assert.True(exit == 0, $"dnsmasq --test refused {output}: {text}");
        // host-record lines are configuration: dnsmasq reads them when it starts (a restart hook, not SIGHUP).
        using var server = StartServer(dnsmasq, DnsmasqArgs(port, dns, $"--conf-file={output}"));
        await WaitForAnswer(port, "www.lan", "A", "NOERROR 10.79.0.5", server);
        await WaitForAnswer(port, "web.lan", "AAAA", "NOERROR fd00:79::5", server);
        await WaitForAnswer(port, "5.0.79.10.in-addr.arpa", "PTR", "NOERROR web.lan.", server);
        await WaitForAnswer(port, "gone.lan", "A", "NXDOMAIN", server);
        Assert.NotNull(last);
    }

    // ---- the servers ----

    private static string[] DnsmasqArgs(int port, string dns, string source) =>
    [
        "--keep-in-foreground", "--no-resolv", "--no-hosts", "--conf-file=/dev/null", source, "--local=/lan/",
        "--listen-address=127.0.0.1", "--bind-interfaces", $"--port={port}", $"--pid-file={dns}/dnsmasq.pid", "--log-facility=-",
        .. IsRoot ? new[] { "--user=nobody", "--group=nogroup" } : [],
    ];

    private static RealTools.Server StartServer(string file, params string[] args) => RealTools.Start(file, args);

    /// <summary>Asks with dig until the answer is "STATUS [data...]" (data sorted), or fails after a generous deadline.</summary>
    private static async Task WaitForAnswer(int port, string name, string type, string expected, RealTools.Server server)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        var last = "";
        while (true)
        {
            if (server.Process.HasExited) Assert.Fail($"the DNS server exited ({server.Process.ExitCode}): {server.Log}");
            var (_, text) = Run("dig", "-p", port.ToString(), "@127.0.0.1", name, type, "+noall", "+comments", "+answer", "+time=2", "+tries=1");
            var status = text.Split('\n').Select(l => l.Split("status: ")).FirstOrDefault(p => p.Length == 2)?[1].Split(',')[0] ?? "(no reply)";
            var data = text.Split('\n').Where(l => l.Length > 0 && !l.StartsWith(';'))
                .Select(l => l.Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries)).Where(f => f.Length >= 5 && f[3] == type)
                .Select(f => f[4]).Order(StringComparer.Ordinal);
            last = string.Join(" ", data.Prepend(status));
            if (last == expected) return;
            if (DateTime.UtcNow > deadline)
                Assert.Fail($"{name} {type} on port {port}: expected '{expected}', last answer '{last}'\n{text}\nserver: {server.Log}");
            await Task.Delay(100);
        }
    }

    private static async Task WaitForOutputs(RouterHostsClient client, Func<RouterHostsAgentStatus, bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var status = await client.GetAgentStatusAsync();
            if (condition(status)) return;
            if (DateTime.UtcNow > deadline) Assert.Fail("outputs not reached: " + System.Text.Json.JsonSerializer.Serialize(status.Outputs));
            await Task.Delay(50);
        }
    }

    // ---- plumbing ----

    private static string Tool(string name, string package) => RealTools.Require(name, package);

    private static (int Exit, string Output) Run(string file, params string[] args) => RealTools.Run(file, args);

    /// <summary>A directory the servers can read after dropping to nobody.</summary>
    private static string PublicDirectory(string parent, string name)
    {
        File.SetUnixFileMode(parent, Traversable);
        var dir = Directory.CreateDirectory(Path.Combine(parent, name)).FullName;
        File.SetUnixFileMode(dir, Traversable);
        return dir;
    }

    private static void WriteReadable(string path, string content)
    {
        File.WriteAllText(path, content + "\n");
        File.SetUnixFileMode(path, Readable);
    }

    /// <summary>A loopback port free for both UDP and TCP (DNS listens on both).</summary>
    private static int FreeUdpAndTcpPort()
    {
        while (true)
        {
            var port = AgentProcess.FreePort();
            try
            {
                using var udp = new UdpClient(new IPEndPoint(IPAddress.Loopback, port));
                return port;
            }
            catch (SocketException) { }
        }
    }
}
