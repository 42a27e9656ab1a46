using System.Net.Security;
using System.Net.Sockets;
using System.Security.Authentication;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using RouterHosts.Agent.Tests.Harness;
using RouterHosts.Client;
using RouterHosts.Transport;

namespace RouterHosts.Agent.Tests;

/// <summary>
/// SIGHUP: a renewed server certificate is served to new connections while an open
/// stream keeps going; a broken file or configuration is refused and the old one
/// kept; hooks are reloaded; --dev reloads its TLS files too.
/// </summary>
public sealed class ReloadTests : IDisposable
{
    private readonly AgentSite _site = AgentSite.CreateAsync().GetAwaiter().GetResult();

    public void Dispose() => _site.Dispose();

    /// <summary>The serial of the certificate the agent presents to a fresh TLS connection (a full mTLS handshake).</summary>
    private static async Task<string> ServedSerialAsync(int port, string clientJson, string serverName = "router.test")
    {
        var options = RouterHostsConnectionOptions.FromConfigFile(clientJson);
        using var certificate = ClientCertificates.Load(options.CertificatePath!, options.KeyPath);
        using var tcp = new TcpClient();
        await tcp.ConnectAsync("127.0.0.1", port);
        string? serial = null;
        await using var tls = new SslStream(tcp.GetStream(), false, (_, server, _, _) =>
        {
            serial = server is null ? null : new X509Certificate2(server).SerialNumber;
            return true;
        });
        await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions
        {
            TargetHost = serverName,
            ClientCertificates = [certificate],
            ApplicationProtocols = [SslApplicationProtocol.Http2],
            EnabledSslProtocols = SslProtocols.Tls12 | SslProtocols.Tls13,
        });
        return serial ?? throw new InvalidOperationException("no server certificate");
    }

    private static string SerialOf(string pemPath) => X509Certificate2.CreateFromPem(File.ReadAllText(pemPath)).SerialNumber;

    private async Task RenewServerCertificateAsync(string pkiDirectory, string serverName, string ip)
    {
        var (exit, output) = await AgentProcess.RunToExitAsync(
            ["pki", "issue-server", "--dir", pkiDirectory, "--server-name", serverName, "--ip", ip, "--force"], _site.Root);
        Assert.True(exit == 0, output);
    }

    [Fact]
    public async Task Renewed_certificate_is_served_to_new_connections_and_open_streams_survive()
    {
        var clientJson = await _site.IssueClientAsync("ops", "admin");
        await using var agent = await _site.StartReadyAsync();
        try { await RenewedCertificateAsync(agent, clientJson); }
        catch (Exception e) when (e is not Xunit.Sdk.XunitException) { throw new Exception("agent output:\n" + agent.Transcript, e); }
    }

    private async Task RenewedCertificateAsync(AgentProcess agent, string clientJson)
    {
        var hookOutput = Path.Combine(_site.Root, "hook-ran");
        var oldSerial = SerialOf(Path.Combine(_site.PkiDirectory, "server.crt"));
        Assert.Equal(oldSerial, await ServedSerialAsync(_site.Port, clientJson));

        // An open stream (a followed watch) on a connection made before the reload.
        using var client = AgentSite.Connect(clientJson);
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var watch = client.WatchAsync(follow: true, stop.Token).GetAsyncEnumerator(stop.Token);
        Assert.True(await watch.MoveNextAsync());
        Assert.Empty(watch.Current.Hosts);

        // Renew the certificate and add a hook, then SIGHUP.
        await RenewServerCertificateAsync(_site.PkiDirectory, "router.test", "127.0.0.1");
        var newSerial = SerialOf(Path.Combine(_site.PkiDirectory, "server.crt"));
        Assert.NotEqual(oldSerial, newSerial);
        _site.Config["hooks"] = new JsonObject
        {
            ["on_success"] = new JsonArray(new JsonObject
            {
                ["name"] = "mark", ["command"] = $"echo $ROUTER_HOSTS_ENTRY_COUNT > {hookOutput}", ["timeout_seconds"] = 10,
            }),
        };
        _site.Config["listen"] = new JsonArray(_site.Endpoint, "127.0.0.1:1"); // needs a restart: reported, not applied
        _site.WriteConfig();
        agent.Signal(1);
        await agent.WaitForLineAsync($"serial {newSerial}");
        Assert.Equal(newSerial, await ServedSerialAsync(_site.Port, clientJson));
        await agent.WaitForLineAsync("changed keys that take effect only after a restart: listen");

        // The old connection and its stream still work, and the new hook runs.
        await client.AddHostAsync(new RouterHostInput { IPAddress = "10.40.0.1", Hostname = "after-reload" });
        Assert.True(await watch.MoveNextAsync());
        Assert.Equal(["after-reload"], watch.Current.Hosts.Select(h => h.Hostname));
        Assert.Equal("1", (await Eventually.WaitAsync(
            async () => File.Exists(hookOutput) ? (await File.ReadAllTextAsync(hookOutput)).Trim() : "",
            s => s.Length > 0, "the reloaded hook's output")));

        // A broken certificate file is refused: the renewed one stays in use.
        await File.WriteAllTextAsync(Path.Combine(_site.PkiDirectory, "server.crt"), "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n");
        agent.Signal(1);
        await agent.WaitForLineAsync($"TLS: keeping the certificate in use (serial {newSerial})");
        Assert.Contains(agent.Lines, l => l.Contains("TLS reload refused") && l.Contains("tls:certificate") && l.Contains("holds no PEM certificate"));
        Assert.Equal(newSerial, await ServedSerialAsync(_site.Port, clientJson));

        // A broken configuration is refused as a whole; the agent keeps serving.
        _site.Config["hooks"]!["on_success"]![0]!["timeout_secs"] = 3;
        _site.WriteConfig();
        agent.Signal(1);
        await agent.WaitForLineAsync("the running configuration stays in use");
        Assert.Contains(agent.Lines, l => l.Contains("reload refused") && l.Contains($"{_site.ConfigPath}: hooks:on_success:0:timeout_secs: unknown key"));
        Assert.Single(await client.ListHostsAsync().ToListAsync());
        Assert.False(agent.HasExited);
        await stop.CancelAsync();
    }

    /// <summary>
    /// Started with SIGHUP ignored (nohup, a job of a shell that ignores it), the agent still reloads
    /// on SIGHUP: .NET leaves a signal ignored at exec ignored, which once lost every reload of a
    /// nohup'd test run without a word.
    /// </summary>
    [Fact]
    public async Task An_agent_started_with_SIGHUP_ignored_still_reloads_on_SIGHUP()
    {
        var clientJson = await _site.IssueClientAsync("ops", "admin");
        await using var agent = await _site.StartReadyAsync(viaShell: "trap '' HUP");
        await agent.WaitForLineAsync("SIGHUP was ignored when the agent started");
        await RenewServerCertificateAsync(_site.PkiDirectory, "router.test", "127.0.0.1");
        var renewed = SerialOf(Path.Combine(_site.PkiDirectory, "server.crt"));
        agent.Signal(1);
        await agent.WaitForLineAsync($"serial {renewed}");
        Assert.Equal(renewed, await ServedSerialAsync(_site.Port, clientJson));
        Assert.False(agent.HasExited);
    }

    [Fact]
    public async Task Dev_mode_reloads_its_tls_files()
    {
        var dir = AgentSite.NewTempDirectory("dev");
        try
        {
            var port = AgentSite.FreePort();
            await using var agent = AgentProcess.Launch(["--dev", "--data-dir", dir, "--listen", $"127.0.0.1:{port}"], dir, port);
            await agent.WaitUntilReadyAsync();
            var pki = Path.Combine(dir, "pki");
            var clientJson = Path.Combine(dir, "client.json");
            Assert.Equal(SerialOf(Path.Combine(pki, "server.crt")), await ServedSerialAsync(port, clientJson, "localhost"));

            await RenewServerCertificateAsync(pki, "localhost", "127.0.0.1");
            var renewed = SerialOf(Path.Combine(pki, "server.crt"));
            agent.Signal(1);
            await agent.WaitForLineAsync($"serial {renewed}");
            Assert.Equal(renewed, await ServedSerialAsync(port, clientJson, "localhost"));
            using var client = AgentSite.Connect(clientJson);
            Assert.True((await client.TestAsync()).Ready);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
