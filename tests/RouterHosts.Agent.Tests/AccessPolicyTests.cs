using System.Text.Json.Nodes;
using RouterHosts.Agent.Tests.Harness;
using RouterHosts.Client;

namespace RouterHosts.Agent.Tests;

/// <summary>
/// Every role allowed and denied through the real transport: clients issued by
/// `pki issue-client` over mTLS (role recorded at issue, or configured by subject),
/// and Unix socket peers known by SO_PEERCRED. A denial is PERMISSION_DENIED naming
/// the role needed; the actor recorded in events is the certificate subject.
/// </summary>
public sealed class AccessPolicyTests(AccessPolicyTests.Agent fixture) : IClassFixture<AccessPolicyTests.Agent>
{
    /// <summary>One agent for the class, with a policy naming two subjects and the test's own uid.</summary>
    public sealed class Agent : IAsyncLifetime
    {
        public AgentSite Site { get; private set; } = null!;
        public AgentProcess Run { get; private set; } = null!;
        public Dictionary<string, string> Clients { get; } = new();

        public async Task InitializeAsync()
        {
            Site = await AgentSite.CreateAsync();
            Clients["reader"] = await Site.IssueClientAsync("rita", "reader");
            Clients["writer"] = await Site.IssueClientAsync("walt", "writer");
            Clients["admin"] = await Site.IssueClientAsync("ada", "admin");
            Clients["carol"] = await Site.IssueClientAsync("carol");            // no role recorded: the policy names her
            Clients["demoted"] = await Site.IssueClientAsync("mallory", "admin"); // issued admin, the policy says reader
            Clients["nobody"] = await Site.IssueClientAsync("nobody");          // neither: no role once a policy exists
            Site.Config["access"] = new JsonObject
            {
                ["certificates"] = new JsonObject { ["CN=carol"] = "writer", ["cn=Mallory"] = "reader" },
                // Listing the test's own uid (root here) overrides "root and the agent's user are admin".
                ["unix_peers"] = new JsonObject { [$"uid:{CurrentUid()}"] = "reader" },
            };
            Site.WriteConfig();
            Run = await Site.StartReadyAsync();
        }

        public async Task DisposeAsync()
        {
            await Run.DisposeAsync();
            Site.Dispose();
        }
    }

    private AgentSite _site => fixture.Site;
    private AgentProcess _agent => fixture.Run;
    private Dictionary<string, string> _clients => fixture.Clients;

    internal static string CurrentUid() => File.ReadLines("/proc/self/status").First(l => l.StartsWith("Uid:")).Split('\t')[1];
    internal static string CurrentGid() => File.ReadLines("/proc/self/status").First(l => l.StartsWith("Gid:")).Split('\t')[1];

    private static RouterHostInput Host(string name) => new() { IPAddress = "10.20.0." + (Math.Abs(name.GetHashCode()) % 250 + 1), Hostname = name };

    internal static async Task Denied(Func<Task> call, string needed, string actor)
    {
        var error = await Assert.ThrowsAsync<RouterHostsException>(call);
        Assert.Equal(RouterHostsErrorCode.PermissionDenied, error.Code);
        Assert.Contains($"needs the {needed} role; {actor} has", error.Message);
    }

    [Fact]
    public async Task Reader_reads_but_cannot_write()
    {
        using var admin = AgentSite.Connect(_clients["admin"]);
        var host = await admin.AddHostAsync(Host("reader-target"));
        using var reader = AgentSite.Connect(_clients["reader"]);
        Assert.Equal("reader-target", (await reader.GetHostAsync(host.Id)).Hostname);
        Assert.NotEmpty(await reader.ListHostsAsync().ToListAsync());
        Assert.NotEmpty(await reader.GetHostHistoryAsync(host.Id).ToListAsync());
        Assert.True((await reader.TestAsync()).Ready);
        await Denied(() => reader.AddHostAsync(Host("reader-add")), "writer", "CN=rita, OU=reader");
        await Denied(() => reader.RemoveHostAsync(host.Id), "writer", "CN=rita, OU=reader");
        await Denied(() => reader.CreateSnapshotAsync("r"), "writer", "CN=rita, OU=reader");
        await Denied(() => reader.StartEditAsync(), "writer", "CN=rita, OU=reader");
    }

    [Fact]
    public async Task Writer_writes_but_cannot_do_admin_things_and_is_the_recorded_actor()
    {
        using var writer = AgentSite.Connect(_clients["writer"]);
        var host = await writer.AddHostAsync(Host("writer-add"));
        await writer.UpdateHostAsync(host.Id, new RouterHostUpdate { Comment = "edited" });
        var history = await writer.GetHostHistoryAsync(host.Id).ToListAsync();
        Assert.Equal(["CN=walt, OU=writer", "CN=walt, OU=writer"], history.Select(e => e.Actor));

        var snapshot = await writer.CreateSnapshotAsync("by-writer");
        await Denied(() => writer.RemoveSnapshotAsync(snapshot.Id), "admin", "CN=walt, OU=writer");
        await Denied(() => writer.RestoreSnapshotAsync(snapshot.Id), "admin", "CN=walt, OU=writer");
        await Denied(() => writer.CompactAsync(null, host.Id, dryRun: true), "admin", "CN=walt, OU=writer");
        Assert.Equal(2, (await writer.GetHostHistoryAsync(host.Id).ToListAsync()).Count);
    }

    [Fact]
    public async Task Admin_does_everything()
    {
        using var admin = AgentSite.Connect(_clients["admin"]);
        var host = await admin.AddHostAsync(Host("admin-add"));
        var snapshot = await admin.CreateSnapshotAsync("by-admin");
        await admin.RemoveHostAsync(host.Id);
        var restored = await admin.RestoreSnapshotAsync(snapshot.Id);
        Assert.Contains(host.Id, (await admin.ListHostsAsync().ToListAsync()).Select(h => h.Id));
        await admin.RemoveSnapshotAsync(snapshot.Id);
        Assert.DoesNotContain(snapshot.Id, (await admin.ListSnapshotsAsync().ToListAsync()).Select(s => s.Id));
        Assert.Equal("CN=ada, OU=admin", (await admin.GetHostHistoryAsync(host.Id).ToListAsync()).Last().Actor);
        Assert.NotNull(restored);
        var compacted = Assert.Single(await admin.CompactAsync(null, host.Id));
        Assert.Equal(1, compacted.EventsAfter);
        Assert.Equal("baseline", (await admin.GetHostHistoryAsync(host.Id).ToListAsync()).Single().EventType);
    }

    [Fact]
    public async Task Policy_by_subject_grants_and_overrides_the_recorded_role()
    {
        using var carol = AgentSite.Connect(_clients["carol"]);
        var host = await carol.AddHostAsync(Host("carol-add"));
        Assert.Equal("CN=carol", (await carol.GetHostHistoryAsync(host.Id).ToListAsync()).Single().Actor);
        await Denied(() => carol.RemoveSnapshotAsync("nothing"), "admin", "CN=carol");

        using var mallory = AgentSite.Connect(_clients["demoted"]);
        Assert.NotNull(await mallory.GetHostAsync(host.Id));
        await Denied(() => mallory.AddHostAsync(Host("mallory-add")), "writer", "CN=mallory, OU=admin");
    }

    [Fact]
    public async Task A_client_the_policy_does_not_know_gets_nothing()
    {
        using var nobody = AgentSite.Connect(_clients["nobody"]);
        await Denied(() => nobody.ListHostsAsync().ToListAsync().AsTask(), "reader", "CN=nobody");
        await Denied(() => nobody.GetAgentStatusAsync(), "reader", "CN=nobody");
        var error = await Assert.ThrowsAsync<RouterHostsException>(() => nobody.AddHostAsync(Host("nobody-add")));
        Assert.Equal("/router_hosts.v1.HostsService/AddHost needs the writer role; CN=nobody has no role", error.Message);
    }
}

/// <summary>Unix socket peers (SO_PEERCRED): the policy's uid rule, then "root is admin" once the rule is dropped by a reload.</summary>
public sealed class UnixPeerAccessTests : IAsyncLifetime
{
    private AgentSite _site = null!;
    private AgentProcess _agent = null!;

    public async Task InitializeAsync()
    {
        _site = await AgentSite.CreateAsync();
        _site.Config["access"] = new JsonObject
        {
            ["certificates"] = new JsonObject { ["CN=someone"] = "admin" },
            ["unix_peers"] = new JsonObject { [$"uid:{AccessPolicyTests.CurrentUid()}"] = "reader" },
        };
        _site.WriteConfig();
        _agent = await _site.StartReadyAsync();
    }

    public async Task DisposeAsync()
    {
        await _agent.DisposeAsync();
        _site.Dispose();
    }

    private static RouterHostInput Host(string name) => new() { IPAddress = "10.21.0.1", Hostname = name };

    [Fact]
    public async Task Unix_peer_roles_come_from_the_policy_then_root_is_admin_once_unlisted()
    {
        var actor = $"unix:uid={AccessPolicyTests.CurrentUid()},gid={AccessPolicyTests.CurrentGid()}";
        using (var peer = _site.ConnectUnix())
        {
            Assert.True((await peer.TestAsync()).Ready);
            Assert.NotNull(await peer.ListHostsAsync().ToListAsync());
            await AccessPolicyTests.Denied(() => peer.AddHostAsync(Host("unix-add")), "writer", actor);
        }

        // Drop the uid rule and reload: root (and the agent's own user) is admin again.
        _site.Config["access"]!.AsObject().Remove("unix_peers");
        _site.WriteConfig();
        _agent.Signal(1);
        await _agent.WaitForLineAsync("access policy with 1 certificate rule(s) and 0 Unix peer rule(s)");
        using var again = _site.ConnectUnix();
        var host = await again.AddHostAsync(Host("unix-add"));
        var snapshot = await again.CreateSnapshotAsync("by-root");
        await again.RemoveSnapshotAsync(snapshot.Id);
        Assert.Equal(actor, (await again.GetHostHistoryAsync(host.Id).ToListAsync()).Single().Actor);
    }
}
