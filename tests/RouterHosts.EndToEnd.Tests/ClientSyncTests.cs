using RouterHosts.Client;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>Declarative sync (plan, then one edit-session commit) through the real agent, one agent per test.</summary>
public sealed class ClientSyncTests : IAsyncLifetime
{
    private AgentProcess _agent = null!;

    public async Task InitializeAsync() => _agent = await AgentProcess.StartDevAsync();
    public async Task DisposeAsync() => await _agent.DisposeAsync();

    private static RouterHostInput Host(string ip, string name, params string[] tags) => new() { IPAddress = ip, Hostname = name, Tags = tags };

    private static RouterHostsDesiredHost Want(int row, string ip, string name, string? comment = null, params string[] tags) =>
        new() { Row = row, IPAddress = ip, Hostname = name, Comment = comment, Tags = tags };

    private static async Task<RouterHostsSyncPlan> PlanAsync(RouterHostsClient client, IReadOnlyList<RouterHostsDesiredHost> desired, string? tag) =>
        SyncPlanner.Plan(desired, await client.ListHostsAsync().ToListAsync(), tag, prune: true);

    [Fact]
    public async Task A_plan_is_applied_in_one_commit_with_a_pre_edit_snapshot_and_a_second_run_changes_nothing()
    {
        using var client = _agent.Connect();
        await client.AddHostAsync(Host("10.30.0.1", "keep01", "lab"));
        await client.AddHostAsync(Host("10.30.0.2", "gone01", "lab"));
        await client.AddHostAsync(Host("10.30.0.3", "other01", "prod"));
        var desired = new[] { Want(1, "10.30.0.1", "keep01", "edited"), Want(2, "10.30.0.4", "new01") };

        var plan = await PlanAsync(client, desired, "lab");
        var progress = new RouterHostsSyncProgress();
        var result = await SyncApply.ApplyAsync(client, plan, progress);

        Assert.Equal((1, 1, 1, 0), (result.Added, result.Changed, result.Removed, result.Unchanged));
        Assert.Equal((3, 3), (progress.Staged, progress.Total));
        var snapshot = await client.ListSnapshotsAsync().FirstAsync(s => s.Id == result.SnapshotId);
        Assert.Equal("pre-edit", snapshot.Trigger);
        Assert.Equal(3, snapshot.EntryCount);
        var hosts = await client.ListHostsAsync().ToListAsync();
        Assert.Equal(["keep01", "other01", "new01"], hosts.Select(h => h.Hostname));
        Assert.Equal("edited", hosts[0].Comment);
        Assert.Equal(["lab"], hosts[2].Tags);
        Assert.Null(await client.GetEditAsync());
        Assert.Contains("10.30.0.4\tnew01", await File.ReadAllTextAsync(_agent.HostsFilePath));

        var again = await PlanAsync(client, desired, "lab");
        Assert.True(again.IsEmpty);
        Assert.Equal(2, again.Unchanged);
        var snapshots = await client.ListSnapshotsAsync().CountAsync();
        var second = await SyncApply.ApplyAsync(client, again, null);
        Assert.True(second.InSync);
        Assert.Equal(snapshots, await client.ListSnapshotsAsync().CountAsync()); // nothing was committed
    }

    [Fact]
    public async Task A_host_changed_after_the_plan_was_read_aborts_the_sync_with_the_conflict_listed_and_applies_nothing()
    {
        using var client = _agent.Connect();
        using var other = _agent.Connect();
        var contested = await client.AddHostAsync(Host("10.31.0.1", "contested01"));
        await client.AddHostAsync(Host("10.31.0.2", "doomed01"));
        var plan = await PlanAsync(client, [Want(1, "10.31.0.1", "contested01", "mine"), Want(2, "10.31.0.3", "new01")], null);
        Assert.Equal(3, plan.Changes.Count);

        await other.UpdateHostAsync(contested.Id, new RouterHostUpdate { Comment = "theirs" });
        await other.AddHostAsync(Host("10.31.0.3", "NEW01")); // the key the plan would add
        var before = await client.ListHostsAsync().ToListAsync();
        var e = await Assert.ThrowsAsync<RouterHostsException>(() => SyncApply.ApplyAsync(client, plan, null));

        Assert.Equal(RouterHostsErrorCode.Aborted, e.Code);
        Assert.Equal(SyncApply.ConflictReason, e.Reason);
        Assert.Equal(2, e.Details.Count);
        Assert.StartsWith("~ contested01 (10.31.0.1): version mismatch", e.Details[0]);
        Assert.StartsWith("+ new01 (10.31.0.3): host 10.31.0.3 NEW01 already exists", e.Details[1]);
        var after = await client.ListHostsAsync().ToListAsync();
        Assert.Equal(before.Select(h => (h.Id, h.Version)), after.Select(h => (h.Id, h.Version)));
        Assert.Equal("theirs", after[0].Comment);
        Assert.Contains(after, h => h.Hostname == "doomed01"); // its staged removal was discarded too
        Assert.Null(await client.GetEditAsync()); // the sync's own session was discarded
        Assert.Null(client.EditToken);
    }

    [Fact]
    public async Task A_row_the_agent_refuses_refuses_the_whole_list_with_its_row_and_nothing_is_applied()
    {
        using var client = _agent.Connect();
        await client.AddHostAsync(Host("10.32.0.1", "keep01"));
        // A tag the agent refuses (the planner checks keys and names; the agent checks every field).
        var plan = await PlanAsync(client, [Want(1, "10.32.0.2", "ok01"), Want(7, "10.32.0.3", "bad01", null, "no spaces")], null);
        var e = await Assert.ThrowsAsync<RouterHostsException>(() => SyncApply.ApplyAsync(client, plan, null, "line"));

        Assert.Equal(RouterHostsErrorCode.InvalidArgument, e.Code);
        Assert.StartsWith("line 7: ", Assert.Single(e.Details));
        Assert.Contains("no spaces", e.Details[0]);
        Assert.Equal(["keep01"], await client.ListHostsAsync().Select(h => h.Hostname).ToListAsync());
        Assert.Null(await client.GetEditAsync());
    }

    [Fact]
    public async Task A_connection_that_holds_an_edit_session_is_told_to_finish_it_first()
    {
        using var client = _agent.Connect();
        await client.StartEditAsync();
        var plan = await PlanAsync(client, [Want(1, "10.33.0.1", "new01")], null);
        var e = await Assert.ThrowsAsync<RouterHostsException>(() => SyncApply.ApplyAsync(client, plan, null));
        Assert.Equal(("edit-session-held", RouterHostsErrorCode.FailedPrecondition), (e.Reason, e.Code));
        Assert.NotNull(client.EditToken); // the user's session is left alone
    }
}
