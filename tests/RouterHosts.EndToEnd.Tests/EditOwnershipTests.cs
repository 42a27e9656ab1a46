using System.Text.Json.Nodes;
using Google.Protobuf;
using Grpc.Core;
using RouterHosts.Client;
using RouterHosts.Protocol.V1;
using RouterHosts.Agent.Pki;
using RouterHosts.Transport;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>
/// An edit session belongs to the identity that started it (issue 10, items 1-3): others
/// are refused whatever token they hold, the holder can take it up or discard it from a
/// new connection, an admin can end anyone's (logged and recorded), and a staged change
/// conflicts with a direct change made to its host after it was staged. One real agent
/// with an access policy naming several certificate subjects, and its Unix socket.
/// </summary>
public sealed class EditOwnershipTests(EditOwnershipTests.Agent fixture) : IClassFixture<EditOwnershipTests.Agent>
{
    public sealed class Agent : IAsyncLifetime
    {
        public AgentProcess Process { get; private set; } = null!;
        public string Socket => Path.Combine(Process.DataDirectory, "agent.sock");

        public async Task InitializeAsync()
        {
            Process = await AgentProcess.StartWithConfigAsync((config, dir) =>
            {
                config["unix_socket"] = new JsonObject { ["path"] = Path.Combine(dir, "agent.sock"), ["mode"] = "0600" };
                config["access"] = new JsonObject
                {
                    ["certificates"] = new JsonObject
                    {
                        ["CN=wendy"] = "writer", ["CN=will"] = "writer", ["CN=rita"] = "reader", ["CN=ada"] = "admin",
                    },
                };
            });
        }

        public async Task DisposeAsync() => await Process.DisposeAsync();
    }

    private AgentProcess _agent => fixture.Process;

    // ---- identities ----

    /// <summary>A client certificate for <paramref name="name"/>, issued by the agent's CA (PEM pair in its pki directory).</summary>
    private static (string Certificate, string Key) Issue(AgentProcess agent, string name, string? role = null)
    {
        var pki = agent.PkiDirectory;
        var (certificate, key) = (Path.Combine(pki, name + ".crt"), Path.Combine(pki, name + ".key"));
        if (File.Exists(certificate)) return (certificate, key);
        using var ca = CertificateAuthority.Load(Path.Combine(pki, "ca.crt"), Path.Combine(pki, "ca.key"));
        using var issued = ca.IssueClient(name, role);
        CertificateAuthority.WritePem(issued, certificate, key, overwrite: true);
        return (certificate, key);
    }

    internal static RouterHostsClient ConnectAs(AgentProcess agent, string name, string? role = null)
    {
        var (certificate, key) = Issue(agent, name, role);
        var options = RouterHostsConnectionOptions.FromConfigFile(agent.ClientConfigPath);
        options.CertificatePath = certificate;
        options.KeyPath = key;
        return RouterHostsClient.Connect(options);
    }

    private RouterHostsClient ConnectUnix() => RouterHostsClient.Connect(new RouterHostsConnectionOptions { UnixSocket = fixture.Socket });

    /// <summary>A plain generated gRPC client as <paramref name="name"/>, to present any token it likes.</summary>
    private HostsService.HostsServiceClient RawAs(string name)
    {
        var (certificate, key) = Issue(_agent, name);
        var endpoint = new GrpcEndpoint
        {
            Address = _agent.Endpoint, ServerName = "localhost",
            ClientCertificate = ClientCertificates.Load(certificate, key, null),
            TrustedCa = TlsTrust.LoadBundle(Path.Combine(_agent.PkiDirectory, "ca.crt")),
        };
        return new HostsService.HostsServiceClient(GrpcChannelFactory.Create(endpoint));
    }

    private HostsService.HostsServiceClient RawUnix() =>
        new(GrpcChannelFactory.Create(new GrpcEndpoint { UnixSocketPath = fixture.Socket }));

    private static int _nextIp;
    private static RouterHostInput Host(string name) => new() { IPAddress = $"10.77.0.{Interlocked.Increment(ref _nextIp)}", Hostname = name };

    private async Task<RpcException> Refused(StatusCode code, Func<Task> call)
    {
        var e = await Assert.ThrowsAsync<RpcException>(call);
        Assert.True(code == e.StatusCode, $"expected {code}, got {e.StatusCode} ({e.Status.Detail}); agent log:\n{_agent.Output}");
        return e;
    }

    /// <summary>
    /// Sends one request on a duplex call that should be refused once the agent has read it, and
    /// throws the call's status. The request side is left open (half-closing could race the
    /// refusal); any reply means the request was accepted.
    /// </summary>
    private static async Task Send<TRequest, TResponse>(AsyncDuplexStreamingCall<TRequest, TResponse> call, TRequest request)
    {
        using (call)
        {
            await call.RequestStream.WriteAsync(request);
            await foreach (var reply in call.ResponseStream.ReadAllAsync()) Assert.Fail($"the agent accepted the request: {reply}");
        }
    }

    private static async Task Drain<T>(AsyncServerStreamingCall<T> call)
    {
        using (call) await foreach (var _ in call.ResponseStream.ReadAllAsync()) { }
    }

    /// <summary>Ends whatever session a test left open, so each test starts with none.</summary>
    private async Task NoSessionLeftAsync()
    {
        using var admin = ConnectAs(_agent, "ada");
        if (await admin.GetEditAsync() is not null) await admin.UndoEditAsync(force: true);
    }

    // ---- item 1: the token is no bearer secret ----

    [Fact]
    public async Task Another_identity_holding_the_token_is_denied_on_every_call_that_takes_one()
    {
        await NoSessionLeftAsync();
        using var wendy = ConnectAs(_agent, "wendy");
        using var admin = ConnectAs(_agent, "ada");
        var committed = await admin.AddHostAsync(Host("owned-committed"));
        await wendy.StartEditAsync();
        var staged = await wendy.AddHostAsync(Host("owned-staged"));
        var token = wendy.EditToken!;

        // Another writer, a reader, an admin without -Force, and a Unix peer: all hold the real token.
        foreach (var (who, thief) in new[] { ("will", RawAs("will")), ("rita", RawAs("rita")), ("ada", RawAs("ada")), ("unix", RawUnix()) })
        {
            var denied = StatusCode.PermissionDenied;
            // A reader is stopped by its role before the session is asked; either way, PERMISSION_DENIED.
            await Refused(denied, () => thief.GetHostAsync(new GetHostRequest { Id = staged.Id, EditToken = token }).ResponseAsync);
            await Refused(denied, () => Drain(thief.ListHosts(new ListHostsRequest { EditToken = token })));
            await Refused(denied, () => Drain(thief.SearchHosts(new SearchHostsRequest { Query = "owned", EditToken = token })));
            await Refused(denied, () => thief.GetEditAsync(new GetEditRequest { EditToken = token }).ResponseAsync);
            await Refused(denied, () => thief.AddHostAsync(new AddHostRequest { IpAddress = "10.77.1.1", Hostname = "stolen-" + who, EditToken = token }).ResponseAsync);
            await Refused(denied, () => thief.UpdateHostAsync(new UpdateHostRequest { Id = committed.Id, Comment = "stolen", EditToken = token }).ResponseAsync);
            await Refused(denied, () => thief.DeleteHostAsync(new DeleteHostRequest { Id = committed.Id, EditToken = token }).ResponseAsync);
            if (who != "rita")
            {
                // Streams for those whose role allows them: the agent reads the token, then refuses. (A reader is refused before
                // it reads anything, and a write racing that refusal may then report CANCELLED instead.)
                await Refused(denied, () => Send(thief.BulkAddHosts(),
                    new BulkAddHostsRequest { IpAddress = "10.77.1.2", Hostname = "bulk-" + who, EditToken = token }));
                await Refused(denied, () => Send(thief.ImportHosts(), new ImportHostsRequest
                {
                    Chunk = ByteString.CopyFromUtf8($"10.77.1.3 import-{who}\n"), LastChunk = true, Format = "hosts", EditToken = token,
                }));
            }
            await Refused(denied, () => thief.FinishEditAsync(new FinishEditRequest { EditToken = token }).ResponseAsync);
            await Refused(denied, () => thief.CancelEditAsync(new CancelEditRequest { EditToken = token }).ResponseAsync);
        }

        // The holder's session is intact: its one change, nothing the others tried.
        Assert.Equal(1, (await wendy.GetEditAsync())!.StagedChanges);
        Assert.Equal(1, (await wendy.CompleteEditAsync()).Added);
        var names = (await admin.ListHostsAsync().ToListAsync()).Select(h => h.Hostname).ToList();
        Assert.Contains("owned-staged", names);
        Assert.DoesNotContain(names, n => n.StartsWith("stolen-") || n.StartsWith("bulk-") || n.StartsWith("import-"));
        Assert.Null((await admin.GetHostAsync(committed.Id)).Comment);
    }

    // ---- item 2: the holder takes it up or discards it anywhere; an admin ends anyone's ----

    [Fact]
    public async Task The_holder_resumes_its_session_from_a_new_connection_and_others_cannot()
    {
        await NoSessionLeftAsync();
        using (var first = ConnectAs(_agent, "wendy"))
        {
            await first.StartEditAsync();
            await first.AddHostAsync(Host("resumed"));
        } // the process that started it is gone

        using var will = ConnectAs(_agent, "will");
        var notYours = await Assert.ThrowsAsync<RouterHostsException>(() => will.StartEditAsync(resume: true));
        Assert.Equal("no-edit-session", notYours.Reason);
        Assert.Contains("CN=wendy", notYours.Message);

        using var again = ConnectAs(_agent, "wendy");
        var held = await Assert.ThrowsAsync<RouterHostsException>(() => again.StartEditAsync());
        Assert.Equal("edit-session-held", held.Reason);
        var edit = await again.StartEditAsync(resume: true);
        Assert.Equal(1, edit.StagedChanges);
        Assert.Contains("resumed", (await again.ListHostsAsync().ToListAsync()).Select(h => h.Hostname));
        Assert.Equal(1, (await again.CompleteEditAsync()).Added);
    }

    [Fact]
    public async Task A_Unix_peer_resumes_by_uid_on_another_connection()
    {
        await NoSessionLeftAsync();
        using (var first = ConnectUnix())
        {
            await first.StartEditAsync();
            await first.AddHostAsync(Host("unix-resumed"));
        }
        using var second = ConnectUnix();
        Assert.Equal(1, (await second.StartEditAsync(resume: true)).StagedChanges);
        Assert.Equal(1, await second.UndoEditAsync());
    }

    [Fact]
    public async Task The_holder_discards_its_own_session_from_a_new_connection_and_a_writer_cannot_discard_anothers()
    {
        await NoSessionLeftAsync();
        using var holder = ConnectAs(_agent, "wendy");
        await holder.StartEditAsync();
        await holder.AddHostAsync(Host("discarded"));

        using var will = ConnectAs(_agent, "will");
        var denied = await Assert.ThrowsAsync<RouterHostsException>(() => will.UndoEditAsync(force: true));
        Assert.Equal(RouterHostsErrorCode.PermissionDenied, denied.Code);
        Assert.Equal(1, (await holder.GetEditAsync())!.StagedChanges);

        using var elsewhere = ConnectAs(_agent, "wendy");
        var recordsBefore = await EndedRecordsAsync(elsewhere);
        Assert.Equal(1, await elsewhere.UndoEditAsync(force: true));
        Assert.Null(await elsewhere.GetEditAsync());
        // Discarding one's own session is no admin act: nothing is recorded for it.
        Assert.Equal(recordsBefore, await EndedRecordsAsync(elsewhere));
        var gone = await Assert.ThrowsAsync<RouterHostsException>(() => holder.AddHostAsync(Host("after-discard")));
        Assert.Equal("edit-session-ended", gone.Reason);
        Assert.Null(holder.EditToken);
    }

    [Fact]
    public async Task An_admin_ends_anyones_session_and_that_is_logged_and_recorded()
    {
        await NoSessionLeftAsync();
        using var holder = ConnectAs(_agent, "wendy");
        await holder.StartEditAsync();
        await holder.AddHostAsync(Host("ended-1"));
        await holder.AddHostAsync(Host("ended-2"));

        using var admin = ConnectAs(_agent, "ada");
        Assert.Equal(2, await admin.UndoEditAsync(force: true));
        Assert.Null(await admin.GetEditAsync());

        var record = Assert.Single(await admin.ListSnapshotsAsync().ToListAsync(), s => s.Trigger == "edit-ended" && s.Name.Contains("CN=wendy"));
        Assert.Contains("ended by CN=ada", record.Name);
        Assert.Contains("2 staged change(s) discarded", record.Name);
        await _agent.WaitForLineAsync("CN=ada ended the edit session of CN=wendy", TimeSpan.FromSeconds(30));

        var told = await Assert.ThrowsAsync<RouterHostsException>(() => holder.CompleteEditAsync());
        Assert.Equal("edit-session-ended", told.Reason);
        Assert.Contains("ended by CN=ada", told.Message);
        Assert.DoesNotContain((await admin.ListHostsAsync().ToListAsync()).Select(h => h.Hostname), n => n.StartsWith("ended-"));
    }

    private static async Task<int> EndedRecordsAsync(RouterHostsClient client) =>
        (await client.ListSnapshotsAsync().ToListAsync()).Count(s => s.Trigger == "edit-ended");

    // ---- item 3: compare-on-revision at commit ----

    [Fact]
    public async Task A_staged_change_without_expected_version_conflicts_with_a_direct_change_made_after_staging()
    {
        await NoSessionLeftAsync();
        using var admin = ConnectAs(_agent, "ada");
        var updated = await admin.AddHostAsync(Host("revision-updated"));
        var deleted = await admin.AddHostAsync(Host("revision-deleted"));

        using var editor = ConnectAs(_agent, "wendy");
        await editor.StartEditAsync();
        await editor.UpdateHostAsync(updated.Id, new RouterHostUpdate { Comment = "staged" });
        await editor.RemoveHostAsync(deleted.Id);
        await editor.AddHostAsync(Host("revision-added"));

        // Direct changes to both hosts after they were staged.
        await admin.UpdateHostAsync(updated.Id, new RouterHostUpdate { Comment = "direct" });
        await admin.UpdateHostAsync(deleted.Id, new RouterHostUpdate { Comment = "direct" });

        var conflict = await Assert.ThrowsAsync<RouterHostsException>(() => editor.CompleteEditAsync());
        Assert.Equal(RouterHostsErrorCode.Aborted, conflict.Code);
        Assert.Equal(2, conflict.Details.Count);
        Assert.Contains(conflict.Details, d => d.Contains(updated.Id));
        Assert.Contains(conflict.Details, d => d.Contains(deleted.Id));

        // Nothing was applied; the session is still open with its three changes.
        Assert.Equal("direct", (await admin.GetHostAsync(updated.Id)).Comment);
        Assert.Equal("direct", (await admin.GetHostAsync(deleted.Id)).Comment);
        Assert.DoesNotContain((await admin.ListHostsAsync().ToListAsync()).Select(h => h.Hostname), n => n == "revision-added");
        Assert.Equal(3, (await editor.GetEditAsync())!.StagedChanges);
        await editor.UndoEditAsync();
    }

    // ---- item 4: several role OUs give the least ----

    [Fact]
    public async Task A_certificate_with_reader_and_admin_OUs_is_a_reader()
    {
        // No access policy: the role recorded in the certificate decides.
        await using var agent = await AgentProcess.StartWithConfigAsync();
        // IssueClient puts the role after "OU="; this gives the subject "CN=dual, OU=reader, OU=admin".
        using var dual = ConnectAs(agent, "dual", "reader, OU=admin");
        Assert.Empty(await dual.ListHostsAsync().ToListAsync());
        var denied = await Assert.ThrowsAsync<RouterHostsException>(() => dual.AddHostAsync(Host("dual-add")));
        Assert.Equal(RouterHostsErrorCode.PermissionDenied, denied.Code);
        Assert.Contains("has the reader role", denied.Message);
        await Assert.ThrowsAsync<RouterHostsException>(() => dual.CreateSnapshotAsync("dual"));
    }
}
