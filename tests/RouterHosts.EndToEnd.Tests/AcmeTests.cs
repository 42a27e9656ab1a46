using System.Net;
using System.Net.Security;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json.Nodes;
using RouterHosts.Client;
using RouterHosts.Agent.Pki;
using RouterHosts.Transport;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>
/// The agent's server certificate from a standard ACME client, the Unix way: Debian's lego
/// gets a certificate from Debian's pebble (a test ACME CA) on loopback by HTTP-01, and its
/// deploy hook copies it into place and sends the agent SIGHUP. Clients still present
/// certificates from the agent's own CA (tls.ca); they trust pebble's root for the server.
/// </summary>
public sealed class AcmeTests
{
    [Fact]
    public async Task A_certificate_lego_gets_from_pebble_is_served_after_the_deploy_hooks_SIGHUP_without_dropping_an_open_stream()
    {
        var pebble = RealTools.Require("pebble", "pebble");
        var lego = RealTools.Require("lego", "lego");
        var work = AgentProcess.NewTempDirectory();
        try
        {
            // pebble's own HTTPS listener needs a certificate; lego trusts it through LEGO_CA_CERTIFICATES.
            using (var listenerCa = CertificateAuthority.Create("pebble listener CA"))
            {
                CertificateAuthority.WritePem(listenerCa.Certificate, Path.Combine(work, "listener-ca.crt"), null, true);
                using var listener = listenerCa.IssueServer("localhost", ["localhost"], [IPAddress.Loopback]);
                CertificateAuthority.WritePem(listener, Path.Combine(work, "listener.crt"), Path.Combine(work, "listener.key"), true);
            }
            int acmePort = AgentProcess.FreePort(), managementPort = AgentProcess.FreePort(), httpPort = AgentProcess.FreePort();
            var pebbleConfig = Path.Combine(work, "pebble.json");
            await File.WriteAllTextAsync(pebbleConfig, new JsonObject
            {
                ["pebble"] = new JsonObject
                {
                    ["listenAddress"] = $"127.0.0.1:{acmePort}", ["managementListenAddress"] = $"127.0.0.1:{managementPort}",
                    ["certificate"] = Path.Combine(work, "listener.crt"), ["privateKey"] = Path.Combine(work, "listener.key"),
                    ["httpPort"] = httpPort, ["tlsPort"] = AgentProcess.FreePort(), ["ocspResponderURL"] = "",
                    ["externalAccountBindingRequired"] = false,
                },
            }.ToJsonString());
            using var ca = RealTools.Start(pebble, ["-config", pebbleConfig, "-strict=false"],
                new Dictionary<string, string> { ["PEBBLE_VA_NOSLEEP"] = "1", ["PEBBLE_WFE_NONCEREJECT"] = "0" });
            // pebble makes a new root at each start; its management interface hands it out.
            var pebbleRoot = Path.Combine(work, "pebble-root.crt");
            await File.WriteAllTextAsync(pebbleRoot, await PebbleRootAsync(managementPort, Path.Combine(work, "listener-ca.crt"), ca));

            string tlsDir = "";
            await using var agent = await AgentProcess.StartWithConfigAsync((config, dir) =>
            {
                // The files the deploy hook replaces; to start with, the agent CA's server certificate.
                tlsDir = Directory.CreateDirectory(Path.Combine(dir, "tls")).FullName;
                File.Copy(Path.Combine(dir, "pki", "server.crt"), Path.Combine(tlsDir, "server.crt"));
                File.Copy(Path.Combine(dir, "pki", "server.key"), Path.Combine(tlsDir, "server.key"));
                config["tls"] = new JsonObject
                {
                    ["certificate"] = Path.Combine(tlsDir, "server.crt"), ["key"] = Path.Combine(tlsDir, "server.key"),
                    ["ca"] = Path.Combine(dir, "pki", "ca.crt"), ["server_ca"] = pebbleRoot,
                };
            });
            var agentCa = Path.Combine(agent.PkiDirectory, "ca.crt");

            // An open connection (trusting only the agent's CA) with a watch stream on it.
            using var before = agent.Connect();
            using var stop = new CancellationTokenSource(TimeSpan.FromMinutes(5));
            await using var watch = before.WatchAsync(follow: true, stop.Token).GetAsyncEnumerator(stop.Token);
            Assert.True(await watch.MoveNextAsync());
            await before.AddHostAsync(new RouterHostInput { IPAddress = "10.90.0.1", Hostname = "before-acme" });
            Assert.True(await watch.MoveNextAsync());
            Assert.Contains(watch.Current.Hosts, h => h.Hostname == "before-acme");

            var deploy = Path.Combine(work, "deploy-hook.sh");
            await File.WriteAllTextAsync(deploy, $"""
                #!/bin/sh
                # lego's --run-hook (certbot: --deploy-hook): put the certificate in place, then reload the agent.
                set -e
                install -m 0644 "$LEGO_CERT_PATH" {tlsDir}/server.crt
                install -m 0600 "$LEGO_CERT_KEY_PATH" {tlsDir}/server.key
                kill -HUP {agent.Pid}
                """);
            File.SetUnixFileMode(deploy, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
            var (exit, output) = RealTools.Run(lego,
                ["--server", $"https://127.0.0.1:{acmePort}/dir", "--accept-tos", "--email", "acme@example.org", "--domains", "localhost",
                 "--http", "--http.port", $"127.0.0.1:{httpPort}", "--path", Path.Combine(work, "lego"), "run", "--run-hook", deploy],
                new Dictionary<string, string> { ["LEGO_CA_CERTIFICATES"] = Path.Combine(work, "listener-ca.crt") }, timeoutSeconds: 300);
            Assert.True(exit == 0, $"lego failed ({exit}): {output}\npebble: {ca.Log}");

            // A new connection now gets pebble's certificate: a client trusting pebble's root (bundled with the
            // agent's CA, which its own certificate chains to) connects; one trusting only the agent's CA is refused.
            var bundle = Path.Combine(work, "client-trust.crt");
            await File.WriteAllTextAsync(bundle, await File.ReadAllTextAsync(agentCa) + await File.ReadAllTextAsync(pebbleRoot));
            var issued = X509Certificate2.CreateFromPem(await File.ReadAllTextAsync(Path.Combine(tlsDir, "server.crt")));
            Assert.Contains("Pebble", issued.Issuer);
            await WaitUntilAsync(async () => (await ServedCertificateAsync(agent.Port)).Thumbprint == issued.Thumbprint, () => agent.Output);
            Assert.True(await ReadyAsync(agent, bundle), "a client trusting pebble's root (and the agent's CA) could not connect");
            Assert.False(await ReadyAsync(agent, agentCa), "a new connection trusting only the agent's CA was accepted");

            // The connection opened before the reload is still the one in use (a new handshake would refuse
            // pebble's certificate), and its stream goes on.
            await before.AddHostAsync(new RouterHostInput { IPAddress = "10.90.0.2", Hostname = "after-acme" });
            Assert.True(await watch.MoveNextAsync());
            Assert.Contains(watch.Current.Hosts, h => h.Hostname == "after-acme");

            using var after = agent.Connect(o => o.CaPath = bundle);
            var status = await after.GetAgentStatusAsync();
            Assert.Equal(2, status.HostCount);
            // Health names the certificate now served: pebble's, with its expiry.
            Assert.Equal((issued.Subject, issued.Issuer), (status.ServerCertificateSubject, status.ServerCertificateIssuer));
            Assert.Equal(new DateTimeOffset(issued.NotAfter.ToUniversalTime()), status.ServerCertificateExpiresAt);
        }
        finally
        {
            Directory.Delete(work, true);
        }
    }

    private static async Task<bool> ReadyAsync(AgentProcess agent, string trust)
    {
        using var client = agent.Connect(o => { o.CaPath = trust; o.CallTimeout = TimeSpan.FromSeconds(20); });
        return (await client.TestAsync()).Ready;
    }

    /// <summary>The certificate a fresh TLS handshake gets (the client certificate is not needed to see it).</summary>
    private static async Task<X509Certificate2> ServedCertificateAsync(int port)
    {
        using var tcp = new System.Net.Sockets.TcpClient();
        await tcp.ConnectAsync(IPAddress.Loopback, port);
        await using var tls = new SslStream(tcp.GetStream(), false, (_, _, _, _) => true);
        try { await tls.AuthenticateAsClientAsync(new SslClientAuthenticationOptions { TargetHost = "localhost" }); }
        catch (Exception e) when (e is IOException or System.Security.Authentication.AuthenticationException) { }
        return new X509Certificate2(tls.RemoteCertificate ?? throw new InvalidOperationException("no certificate served"));
    }

    private static async Task<string> PebbleRootAsync(int port, string listenerCa, RealTools.Server pebble)
    {
        var trusted = X509Certificate2.CreateFromPem(File.ReadAllText(listenerCa));
        using var handler = new HttpClientHandler
        {
            ServerCertificateCustomValidationCallback = (_, certificate, _, _) =>
                certificate is not null && TlsTrust.Validate(certificate, [trusted], TlsTrust.ServerAuthOid) is null,
        };
        using var http = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(10) };
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            if (pebble.Process.HasExited) Assert.Fail($"pebble exited ({pebble.Process.ExitCode}): {pebble.Log}");
            try { return await http.GetStringAsync($"https://127.0.0.1:{port}/roots/0"); }
            catch (HttpRequestException) when (DateTime.UtcNow < deadline) { await Task.Delay(100); }
        }
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, Func<string> context)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!await condition())
        {
            if (DateTime.UtcNow > deadline) Assert.Fail("the new certificate was not served; agent output: " + context());
            await Task.Delay(200);
        }
    }
}
