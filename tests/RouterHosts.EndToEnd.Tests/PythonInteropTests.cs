using System.Text.Json;
using RouterHosts.Client;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>Debian's python3-grpcio (C-core gRPC) calling the real agent over mTLS.</summary>
public sealed class PythonClientAgainstAgentTests(SharedAgent shared) : IClassFixture<SharedAgent>
{
    private JsonElement Run(string scenario) => PythonPeer.RunClient(shared.Agent.Endpoint, shared.Agent.PkiDirectory, scenario);

    [Fact]
    public void Every_call_kind_works_from_python()
    {
        var r = Run("all-call-kinds");
        var unary = r.GetProperty("unary");
        Assert.Equal("py-unary", unary.GetProperty("hostname").GetString());
        Assert.Equal("1", unary.GetProperty("version").GetString());
        Assert.Equal("from python", unary.GetProperty("comment").GetString());
        Assert.Equal(["py-unary"], r.GetProperty("server_streaming").EnumerateArray().Select(e => e.GetString()));

        var bulk = r.GetProperty("bidi_bulk").EnumerateArray().ToList();
        Assert.Equal([0, 1, 2, 3], bulk.Select(b => b.GetProperty("index").GetInt32()));
        Assert.Equal(["py-bulk2", "py-bulk3", "py-bulk4"], bulk.Take(3).Select(b => b.GetProperty("hostname").GetString()));
        Assert.Equal(3, bulk[3].GetProperty("code").GetInt32()); // INVALID_ARGUMENT for that item alone
        Assert.Contains("not-an-ip", bulk[3].GetProperty("error").GetString());

        Assert.Equal(2, r.GetProperty("bidi_import").GetProperty("created").GetInt32());
        var watch = r.GetProperty("watch");
        Assert.Equal(watch.GetProperty("entries").GetInt32(), watch.GetProperty("complete_count").GetInt32());
        Assert.True(watch.GetProperty("entries").GetInt32() >= 6);
        Assert.Equal("1", watch.GetProperty("contract").GetString());
        Assert.True(long.Parse(watch.GetProperty("change_id").GetString()!) > 0);
        Assert.Equal("id,ip_address,hostname,comment,tags,aliases", r.GetProperty("export").GetString());
        Assert.Equal("sqlite", r.GetProperty("health").GetProperty("backend").GetString());
    }

    [Fact]
    public void Calls_after_one_shot_watches_on_the_same_connection_get_their_own_answers()
    {
        // A watch handler that returned with a read of its request stream still pending made the
        // next call on the reused HTTP/2 stream fail: UNKNOWN "Exception was thrown by handler".
        var r = Run("watch-then-calls");
        Assert.Equal(150, r.GetProperty("rounds").GetInt32());
        Assert.Equal("[]", r.GetProperty("failures").GetRawText());
    }

    [Fact]
    public void Errors_reach_python_with_their_codes_and_utf8_messages()
    {
        var r = Run("errors");
        Assert.Equal("INVALID_ARGUMENT", r.GetProperty("non_ascii").GetProperty("code").GetString());
        Assert.Contains("'wéb-ünïcode'", r.GetProperty("non_ascii").GetProperty("details").GetString());
        Assert.Equal("NOT_FOUND", r.GetProperty("not_found").GetProperty("code").GetString());
        Assert.Equal("RESOURCE_EXHAUSTED", r.GetProperty("oversize").GetProperty("code").GetString());
        Assert.Equal("UNIMPLEMENTED", r.GetProperty("unknown_method").GetProperty("code").GetString());
        Assert.Equal("deflated", r.GetProperty("deflate_ok").GetString());
        Assert.Equal("gzipped", r.GetProperty("gzip_ok").GetString());
    }

    [Fact]
    public void A_deadline_ends_a_streaming_call_after_its_first_messages()
    {
        var r = Run("deadline");
        Assert.Equal("DEADLINE_EXCEEDED", r.GetProperty("code").GetString());
        Assert.Equal("complete", r.GetProperty("received").GetString());
    }

    [Theory]
    [InlineData("no-client-cert")]
    [InlineData("other-ca")]
    [InlineData("expired")]
    [InlineData("no-client-auth")]
    public async Task The_agent_refuses_bad_client_certificates_and_writes_nothing(string kind)
    {
        TestPki.PrepareBadClients(shared.Agent.PkiDirectory);
        using var client = shared.Agent.Connect();
        var before = await client.ListHostsAsync().CountAsync();

        var r = Run("tls-" + kind);

        Assert.Equal("UNAVAILABLE", r.GetProperty("code").GetString());
        Assert.Equal(before, await client.ListHostsAsync().CountAsync());
        Assert.Empty(await client.ListHostsAsync(new RouterHostsQuery { HostnamePattern = "tls-*" }).ToListAsync());
    }
}

/// <summary>Our client library calling a python grpcio server over mTLS.</summary>
public sealed class ClientAgainstPythonServerTests : IAsyncLifetime
{
    private System.Diagnostics.Process _server = null!;
    private string _pki = null!;
    private RouterHostsClient _client = null!;

    public async Task InitializeAsync()
    {
        _pki = TestPki.CreateServerPki();
        var (process, port) = await PythonPeer.StartServerAsync(_pki);
        _server = process;
        _client = RouterHostsClient.Connect(new RouterHostsConnectionOptions
        {
            Endpoint = $"127.0.0.1:{port}", ServerName = "localhost",
            CertificatePath = Path.Combine(_pki, "client.crt"), KeyPath = Path.Combine(_pki, "client.key"), CaPath = Path.Combine(_pki, "ca.crt"),
            CallTimeout = TimeSpan.FromSeconds(10),
        });
    }

    public Task DisposeAsync()
    {
        _client.Dispose();
        _server.Kill(entireProcessTree: true);
        _server.WaitForExit(5000);
        Directory.Delete(_pki, recursive: true);
        return Task.CompletedTask;
    }

    [Fact]
    public async Task Unary_server_streaming_and_bidi_calls_work()
    {
        var added = await _client.AddHostAsync(new RouterHostInput { IPAddress = "192.0.2.1", Hostname = "py-web", Tags = ["x"] });
        Assert.Equal("py-web", added.Hostname);
        Assert.Equal(["x"], added.Tags);
        Assert.Equal(added.Id, (await _client.GetHostAsync(added.Id)).Id);

        var results = await _client.BulkAddAsync(new[]
        {
            new RouterHostInput { IPAddress = "192.0.2.2", Hostname = "a" },
            new RouterHostInput { IPAddress = "192.0.2.3", Hostname = "" },
            new RouterHostInput { IPAddress = "192.0.2.4", Hostname = "c" },
        }.ToAsyncEnumerable()).ToListAsync();
        Assert.Equal([0, 1, 2], results.Select(r => r.Index));
        Assert.Equal(RouterHostsErrorCode.InvalidArgument, results[1].Error!.Code);
        Assert.True(results[0].Succeeded && results[2].Succeeded);

        var listed = await _client.ListHostsAsync().Select(h => h.Hostname).ToListAsync();
        Assert.Equal(["py-web", "a", "c"], listed);
    }

    [Fact]
    public async Task Status_codes_and_non_ascii_messages_come_through()
    {
        var notFound = await Assert.ThrowsAsync<RouterHostsException>(() => _client.GetHostAsync("nope"));
        Assert.Equal(RouterHostsErrorCode.NotFound, notFound.Code);
        Assert.Equal("kein Host mit der Id nope", notFound.Message);
        var duplicate = await Assert.ThrowsAsync<RouterHostsException>(() =>
            _client.AddHostAsync(new RouterHostInput { IPAddress = "192.0.2.9", Hostname = "dup1" }));
        Assert.Equal(RouterHostsErrorCode.AlreadyExists, duplicate.Code);
        Assert.Equal("Hôst déjà présent: dup1", duplicate.Message);
    }

    [Fact]
    public async Task The_client_deadline_ends_a_slow_call()
    {
        using var hasty = RouterHostsClient.Connect(new RouterHostsConnectionOptions
        {
            Endpoint = _client.Target, ServerName = "localhost", CallTimeout = TimeSpan.FromSeconds(1.5),
            CertificatePath = Path.Combine(_pki, "client.crt"), KeyPath = Path.Combine(_pki, "client.key"), CaPath = Path.Combine(_pki, "ca.crt"),
        });
        var started = DateTime.UtcNow;
        var error = await Assert.ThrowsAsync<RouterHostsException>(() => hasty.GetAgentStatusAsync());
        Assert.Equal(RouterHostsErrorCode.DeadlineExceeded, error.Code);
        Assert.True(DateTime.UtcNow - started < TimeSpan.FromSeconds(8), "the 1.5 s deadline did not end the 10 s call early");
    }

    [Fact]
    public async Task Cancelling_a_call_stops_it()
    {
        using var cts = new CancellationTokenSource(TimeSpan.FromMilliseconds(200));
        using var patient = RouterHostsClient.Connect(new RouterHostsConnectionOptions
        {
            Endpoint = _client.Target, ServerName = "localhost",
            CertificatePath = Path.Combine(_pki, "client.crt"), KeyPath = Path.Combine(_pki, "client.key"), CaPath = Path.Combine(_pki, "ca.crt"),
        });
        var error = await Assert.ThrowsAsync<RouterHostsException>(() => patient.GetAgentStatusAsync(cts.Token));
        Assert.Equal(RouterHostsErrorCode.Cancelled, error.Code);
    }
}
