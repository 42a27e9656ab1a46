using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using System.Text.Json;
using RouterHosts.Agent.Tests.Harness;
using RouterHosts.Client;
using RouterHosts.Transport;

namespace RouterHosts.Agent.Tests;

/// <summary>`routerhosts-agent pki init|issue-server|issue-client` and what they write.</summary>
public sealed class PkiCommandTests : IDisposable
{
    private readonly string _dir = AgentSite.NewTempDirectory("pki");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private Task<(int ExitCode, string Output)> Pki(params string[] args) => AgentProcess.RunToExitAsync(["pki", .. args], _dir);

    private static UnixFileMode Mode(string path) => File.GetUnixFileMode(path);

    private const UnixFileMode Owner = UnixFileMode.UserRead | UnixFileMode.UserWrite;

    [Fact]
    public async Task Init_creates_an_ecdsa_ca_and_a_server_certificate_with_the_names()
    {
        var pki = Path.Combine(_dir, "pki");
        var (exit, output) = await Pki("init", "--dir", pki, "--server-name", "router.lan", "--ip", "192.168.1.1", "--ip", "fd00::1",
            "--dns", "router");
        Assert.True(exit == 0, output);

        Assert.Equal(Owner, Mode(Path.Combine(pki, "ca.key")));
        Assert.Equal(Owner, Mode(Path.Combine(pki, "server.key")));
        using var ca = X509Certificate2.CreateFromPemFile(Path.Combine(pki, "ca.crt"), Path.Combine(pki, "ca.key"));
        using var caKey = ca.GetECDsaPrivateKey();
        Assert.NotNull(caKey);
        Assert.Equal(256, caKey!.KeySize);
        Assert.True(ca.Extensions.OfType<X509BasicConstraintsExtension>().Single().CertificateAuthority);

        using var server = X509Certificate2.CreateFromPemFile(Path.Combine(pki, "server.crt"), Path.Combine(pki, "server.key"));
        Assert.Equal("CN=router.lan", server.Subject);
        var names = server.Extensions.OfType<X509SubjectAlternativeNameExtension>().Single();
        Assert.Equal(["router.lan", "router"], names.EnumerateDnsNames().ToArray());
        Assert.Equal([IPAddress.Parse("192.168.1.1"), IPAddress.Parse("fd00::1")], names.EnumerateIPAddresses().ToArray());
        Assert.Null(TlsTrust.Validate(server, [ca], TlsTrust.ServerAuthOid));
    }

    [Fact]
    public async Task Nothing_with_a_key_is_overwritten_without_force()
    {
        var pki = Path.Combine(_dir, "pki");
        Assert.Equal(0, (await Pki("init", "--dir", pki, "--server-name", "router.lan")).ExitCode);
        var caKey = File.ReadAllText(Path.Combine(pki, "ca.key"));

        var (exit, output) = await Pki("init", "--dir", pki, "--server-name", "router.lan");
        Assert.Equal(1, exit);
        Assert.Contains("already exist; nothing was written (pass --force to replace)", output);
        Assert.Equal(caKey, File.ReadAllText(Path.Combine(pki, "ca.key")));

        Assert.Equal(0, (await Pki("issue-client", "--dir", pki, "--name", "alice")).ExitCode);
        var clientKey = File.ReadAllText(Path.Combine(pki, "clients", "alice", "client.key"));
        (exit, output) = await Pki("issue-client", "--dir", pki, "--name", "alice", "--role", "admin");
        Assert.Equal(1, exit);
        Assert.Contains("client.key", output);
        Assert.Equal(clientKey, File.ReadAllText(Path.Combine(pki, "clients", "alice", "client.key")));

        (exit, output) = await Pki("issue-server", "--dir", pki, "--server-name", "router.lan");
        Assert.Equal(1, exit);
        Assert.Contains("server.key", output);

        // --force replaces (a renewal): new serial, same CA.
        var oldServer = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(pki, "server.crt")));
        (exit, output) = await Pki("issue-server", "--dir", pki, "--server-name", "router.lan", "--force");
        Assert.True(exit == 0, output);
        var newServer = X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(pki, "server.crt")));
        Assert.NotEqual(oldServer.SerialNumber, newServer.SerialNumber);
        Assert.Equal(caKey, File.ReadAllText(Path.Combine(pki, "ca.key")));
    }

    [Fact]
    public async Task Issue_client_writes_pem_pfx_and_a_client_json_with_relative_paths()
    {
        var pki = Path.Combine(_dir, "pki");
        Assert.Equal(0, (await Pki("init", "--dir", pki, "--server-name", "router.lan", "--ip", "10.0.0.1")).ExitCode);
        var (exit, output) = await Pki("issue-client", "--dir", pki, "--name", "alice", "--role", "writer", "--endpoint", "10.0.0.1:50051");
        Assert.True(exit == 0, output);

        var client = Path.Combine(pki, "clients", "alice");
        Assert.Equal(Owner, Mode(Path.Combine(client, "client.key")));
        Assert.Equal(Owner, Mode(Path.Combine(client, "client.pfx")));
        var json = JsonSerializer.Deserialize(File.ReadAllText(Path.Combine(client, "client.json")), ClientConfigJson.Default.ClientConfigFile)!;
        Assert.Equal(new ClientConfigFile("10.0.0.1:50051", null, "client.crt", "client.key", "ca.crt", "router.lan", "client.pfx"), json);

        // The client library reads it, resolving the paths against the file's directory.
        var options = RouterHostsConnectionOptions.FromConfigFile(Path.Combine(client, "client.json"));
        Assert.Equal(Path.Combine(client, "client.crt"), options.CertificatePath);
        Assert.Equal(Path.Combine(client, "ca.crt"), options.CaPath);

        using var pem = X509Certificate2.CreateFromPemFile(Path.Combine(client, "client.crt"), Path.Combine(client, "client.key"));
        Assert.Equal("CN=alice, OU=writer", pem.Subject);
        Assert.Null(TlsTrust.Validate(pem, TlsTrust.LoadBundle(Path.Combine(client, "ca.crt")), TlsTrust.ClientAuthOid));
        using var pfx = X509CertificateLoader.LoadPkcs12FromFile(Path.Combine(client, "client.pfx"), null);
        Assert.Equal(pem.Thumbprint, pfx.Thumbprint);
        Assert.True(pfx.HasPrivateKey);

        // No endpoint given: the server's name and the default port.
        Assert.Equal(0, (await Pki("issue-client", "--dir", pki, "--name", "bob")).ExitCode);
        var bob = JsonSerializer.Deserialize(File.ReadAllText(Path.Combine(pki, "clients", "bob", "client.json")), ClientConfigJson.Default.ClientConfigFile)!;
        Assert.Equal("router.lan:50051", bob.Endpoint);
        Assert.Equal("CN=bob", X509Certificate2.CreateFromPem(File.ReadAllText(Path.Combine(pki, "clients", "bob", "client.crt"))).Subject);
    }

    [Fact]
    public async Task Key_group_makes_the_server_key_group_readable()
    {
        var pki = Path.Combine(_dir, "pki");
        var (exit, output) = await Pki("init", "--dir", pki, "--server-name", "router.lan", "--key-group", "root");
        Assert.True(exit == 0, output);
        Assert.Equal(Owner | UnixFileMode.GroupRead, Mode(Path.Combine(pki, "server.key")));
        Assert.Equal(Owner, Mode(Path.Combine(pki, "ca.key")));
    }

    [Theory]
    [InlineData("init --server-name router.lan", "--dir is required")]
    [InlineData("init --dir D --server-name router.lan --ip 300.1.1.1", "--ip '300.1.1.1' is not an IP address")]
    [InlineData("init --dir D --server-name bad_name!", "--server-name 'bad_name!' is not a DNS name or IP address")]
    [InlineData("issue-client --dir D --name alice --role root", "--role 'root': use reader, writer or admin")]
    [InlineData("issue-client --dir D --name ../x", "--name '../x'")]
    [InlineData("issue-client --dir D --name alice --endpoint nowhere", "--endpoint 'nowhere' is not HOST:PORT")]
    [InlineData("init --dir D --server-name router.lan --colour blue", "unknown option --colour")]
    [InlineData("renew --dir D", "unknown pki command 'renew'")]
    public async Task Bad_arguments_exit_2_with_the_reason(string arguments, string expected)
    {
        var pki = Path.Combine(_dir, "pki");
        if (arguments.StartsWith("issue-client", StringComparison.Ordinal))
            Assert.Equal(0, (await Pki("init", "--dir", pki, "--server-name", "router.lan")).ExitCode);
        var (exit, output) = await Pki(arguments.Replace(" D", " " + pki).Split(' '));
        Assert.True(exit == 2, output);
        Assert.Contains(expected, output);
    }

    [Fact]
    public async Task Issue_client_without_a_ca_is_refused()
    {
        var (exit, output) = await Pki("issue-client", "--dir", Path.Combine(_dir, "empty"), "--name", "alice", "--endpoint", "h:1");
        Assert.Equal(1, exit);
        Assert.Contains("no CA in", output);
    }
}
