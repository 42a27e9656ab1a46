using System.Net.Http;
using System.Net.Sockets;
using Grpc.Core;
using RouterHosts.Client;
using RouterHosts.Transport;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>What our client says when TLS or a certificate is wrong, before and during the handshake.</summary>
public sealed class ClientTlsTests(SharedAgent shared) : IClassFixture<SharedAgent>
{
    private RouterHostsClient ConnectAs(string kind, bool skipPreflight, string? serverName = "localhost") =>
        shared.Agent.Connect(o =>
        {
            o.CertificatePath = Path.Combine(shared.Agent.PkiDirectory, kind + ".crt");
            o.KeyPath = Path.Combine(shared.Agent.PkiDirectory, kind + ".key");
            o.SkipCertificatePreflight = skipPreflight;
            o.ServerName = serverName;
        });

    [Theory]
    [InlineData("other-ca", "is not signed by the configured CA")]
    [InlineData("expired", "expired on")]
    [InlineData("no-client-auth", "lacks the clientAuth extended key usage")]
    public void A_bad_client_certificate_is_named_before_connecting(string kind, string reason)
    {
        TestPki.PrepareBadClients(shared.Agent.PkiDirectory);
        var error = Assert.Throws<RouterHostsException>(() => ConnectAs(kind, skipPreflight: false));
        Assert.Equal(RouterHostsErrorCode.Unauthenticated, error.Code);
        Assert.Contains(kind + ".crt would be refused", error.Message);
        Assert.Contains(reason, error.Message);
    }

    [Theory]
    [InlineData("other-ca", "is not signed by the configured CA")]
    [InlineData("expired", "expired on")]
    [InlineData("no-client-auth", "lacks the clientAuth extended key usage")]
    public async Task The_agent_refuses_it_anyway_and_the_error_says_which_certificate_problem(string kind, string reason)
    {
        TestPki.PrepareBadClients(shared.Agent.PkiDirectory);
        using var client = ConnectAs(kind, skipPreflight: true);
        var error = await Assert.ThrowsAsync<RouterHostsException>(() =>
            client.AddHostAsync(new RouterHostInput { IPAddress = "10.30.0.1", Hostname = "tls-" + kind }));
        Assert.True(error.Code == RouterHostsErrorCode.Unauthenticated, error.ToString());
        Assert.StartsWith("TLS handshake with 127.0.0.1:", error.Message);
        Assert.Contains("the agent refused the client certificate: ", error.Message);
        Assert.Contains(reason, error.Message);
        using var good = shared.Agent.Connect();
        Assert.Empty(await good.ListHostsAsync(new RouterHostsQuery { HostnamePattern = "tls-*" }).ToListAsync());
        await shared.Agent.WaitForLineAsync("refused TLS client");
    }

    // The test above meets one of these at random: under TLS 1.3 the agent refuses a client certificate after
    // the client's handshake is done, and the close reaches the client as whatever its next read or write hits.
    public static TheoryData<string, Exception> ClosesAfterTheHandshake => new()
    {
        { "broken pipe on the first write", new HttpRequestException("An error occurred while sending the request.",
            new IOException("The request was aborted.", new IOException("Unable to write data to the transport connection: Broken pipe.",
                new SocketException((int)SocketError.Shutdown)))) },
        { "reset on the first read", new HttpRequestException("An error occurred while sending the request.",
            new IOException("Unable to read data from the transport connection: Connection reset by peer.",
                new SocketException((int)SocketError.ConnectionReset))) },
        { "end of the response", new HttpRequestException(HttpRequestError.ResponseEnded, "The response ended prematurely.") },
    };

    [Theory]
    [MemberData(nameof(ClosesAfterTheHandshake))]
    public void However_the_refusal_surfaces_the_error_names_the_certificate_problem(string how, Exception closed)
    {
        var rpc = new RpcException(new Status(StatusCode.Unavailable, "Error starting gRPC call.", closed));
        var failure = TransportErrors.Explain(rpc, "127.0.0.1:1", tlsFailures: null, () => "client.crt expired on 2026-01-01");
        Assert.True(failure is { Kind: TransportFailureKind.Tls }, $"{how}: {failure}");
        Assert.Equal("TLS handshake with 127.0.0.1:1 failed: the agent refused the client certificate: client.crt expired on 2026-01-01", failure!.Message);
    }

    [Fact]
    public void A_broken_pipe_with_a_good_certificate_stays_a_connection_failure()
    {
        var pipe = new SocketException((int)SocketError.Shutdown);
        var rpc = new RpcException(new Status(StatusCode.Unavailable, "Error starting gRPC call.",
            new HttpRequestException("An error occurred while sending the request.", new IOException("Broken pipe", pipe))));
        var failure = TransportErrors.Explain(rpc, "127.0.0.1:1", tlsFailures: null, () => null);
        Assert.Equal(new TransportFailure(TransportFailureKind.Connection, "cannot connect to 127.0.0.1:1: " + pipe.Message), failure);
    }

    [Fact]
    public void A_connection_refused_is_reported_as_such_even_with_a_bad_certificate()
    {
        var rpc = new RpcException(new Status(StatusCode.Unavailable, "Error starting gRPC call.",
            new HttpRequestException("Connection refused", new SocketException((int)SocketError.ConnectionRefused))));
        var failure = TransportErrors.Explain(rpc, "127.0.0.1:1", tlsFailures: null, () => "client.crt expired on 2026-01-01");
        Assert.Equal(new TransportFailure(TransportFailureKind.Connection,
            "cannot connect to 127.0.0.1:1: connection refused (is the agent running and listening there?)"), failure);
    }

    [Fact]
    public async Task A_server_certificate_for_another_name_is_refused_by_the_client()
    {
        using var client = ConnectAs("client", skipPreflight: false, serverName: "router.example");
        var error = await Assert.ThrowsAsync<RouterHostsException>(() => client.GetAgentStatusAsync());
        Assert.Equal(RouterHostsErrorCode.Unauthenticated, error.Code);
        Assert.Contains("not valid for the name 'router.example'", error.Message);
    }

    [Fact]
    public async Task A_server_signed_by_another_CA_is_refused_by_the_client()
    {
        var otherPki = TestPki.CreateServerPki();
        using var client = shared.Agent.Connect(o =>
        {
            o.CaPath = Path.Combine(otherPki, "ca.crt");
            o.SkipCertificatePreflight = true; // our own certificate does not chain to that CA either
        });
        var error = await Assert.ThrowsAsync<RouterHostsException>(() => client.GetAgentStatusAsync());
        Assert.Equal(RouterHostsErrorCode.Unauthenticated, error.Code);
        Assert.Contains("server certificate refused", error.Message);
        Assert.Contains("not signed by the configured CA", error.Message);
    }

    [Fact]
    public async Task An_agent_that_is_not_running_is_reported_as_unreachable()
    {
        using var client = RouterHostsClient.Connect(new RouterHostsConnectionOptions
        {
            Endpoint = $"127.0.0.1:{AgentProcess.FreePort()}", ServerName = "localhost",
            CertificatePath = Path.Combine(shared.Agent.PkiDirectory, "client.crt"),
            KeyPath = Path.Combine(shared.Agent.PkiDirectory, "client.key"),
            CaPath = Path.Combine(shared.Agent.PkiDirectory, "ca.crt"),
        });
        var error = await Assert.ThrowsAsync<RouterHostsException>(() => client.GetAgentStatusAsync());
        Assert.Equal(RouterHostsErrorCode.Unavailable, error.Code);
        Assert.Contains("connection refused", error.Message);
    }

    [Fact]
    public void Missing_files_are_named()
    {
        var error = Assert.Throws<RouterHostsException>(() => shared.Agent.Connect(o => o.CaPath = "/nonexistent/ca.crt"));
        Assert.Contains("/nonexistent/ca.crt", error.Message);
    }
}
