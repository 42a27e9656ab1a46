using System.Diagnostics;
using RouterHosts.Client;
using RouterHosts.Storage.Postgres.Tests;
using static RouterHosts.EndToEnd.Tests.SharedPostgresTests;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>
/// What several real agents on one database of the throwaway PostgreSQL share besides hosts:
/// the one edit session, snapshots and rollback, and the registry of agents.
/// </summary>
public sealed class SharedPostgresStateTests : IDisposable
{
    private readonly TestDatabase _database = new();

    public void Dispose() => _database.Dispose();

    private Task<AgentProcess> StartAgentAsync(string name) =>
        AgentProcess.StartWithConfigAsync((config, _) =>
        {
            config["database"] = _database.Url;
            config["name"] = name;
        });

    private static RouterHostInput Host(string ip, string name) => new() { IPAddress = ip, Hostname = name };

    private static string Label(AgentProcess agent, string name) => $"{name} ({agent.HostsFilePath})";

    /// <summary>Polls <paramref name="condition"/> until it holds; fails with <paramref name="what"/> after a generous deadline.</summary>
    private static async Task<T> UntilAsync<T>(Func<Task<T>> read, Func<T, bool> condition, string what)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var value = await read();
            if (condition(value)) return value;
            if (clock.Elapsed > TimeSpan.FromSeconds(30)) Assert.Fail($"after 30 s still not: {what}");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task One_edit_session_per_database_started_through_one_agent_blocks_the_other_shows_there_and_commits_through_its_own()
    {
        await using var first = await StartAgentAsync("alpha");
        await using var second = await StartAgentAsync("beta");
        using var toFirst = first.Connect();
        using var toSecond = second.Connect();

        await toFirst.StartEditAsync();
        await toFirst.AddHostAsync(Host("10.63.0.1", "staged-through-first"));

        // The other agent refuses a second session, naming where the live one is.
        var refused = await Assert.ThrowsAsync<RouterHostsException>(() => toSecond.StartEditAsync());
        Assert.Equal(RouterHostsErrorCode.FailedPrecondition, refused.Code);
        Assert.Equal("edit-session-held", refused.Reason);
        Assert.Contains(Label(first, "alpha"), refused.Message);
        // Resuming it there is refused too: its staged changes live in the first agent.
        var resume = await Assert.ThrowsAsync<RouterHostsException>(() => toSecond.StartEditAsync(resume: true));
        Assert.Contains("through that agent", resume.Message);

        // Its edit state and health show the session, with what is staged.
        var seen = await toSecond.GetEditAsync();
        Assert.NotNull(seen);
        Assert.Equal(Label(first, "alpha"), seen.Agent);
        Assert.Equal(1, seen.StagedChanges);
        Assert.False(seen.IsMine);
        Assert.Equal(Label(first, "alpha"), (await toSecond.GetAgentStatusAsync()).EditSession?.Agent);
        // A direct write through the other agent is not staged; it commits and reaches both files.
        await toSecond.AddHostAsync(Host("10.63.0.2", "direct-through-second"));

        var committed = await toFirst.CompleteEditAsync();
        Assert.Equal(1, committed.Added);
        await TimeUntilFileHasAsync(second, "staged-through-first", TimeSpan.FromSeconds(15));
        await TimeUntilFileHasAsync(first, "direct-through-second", TimeSpan.FromSeconds(15));
        Assert.Null(await toSecond.GetEditAsync());

        // The slot is free again: a session through the second agent, cancelled there.
        await toSecond.StartEditAsync();
        Assert.Equal(Label(second, "beta"), (await toFirst.GetEditAsync())?.Agent);
        Assert.Equal(0, await toSecond.UndoEditAsync());
        Assert.Null(await toFirst.GetEditAsync());
    }

    [Fact]
    public async Task A_session_ended_through_another_agent_is_over_where_it_was_started()
    {
        await using var first = await StartAgentAsync("alpha");
        await using var second = await StartAgentAsync("beta");
        using var toFirst = first.Connect();
        using var toSecond = second.Connect();
        await toFirst.StartEditAsync();
        await toFirst.AddHostAsync(Host("10.64.0.1", "never-committed"));

        // Its owner (the same certificate subject) ends it through the other agent, without the token.
        Assert.Equal(1, await toSecond.UndoEditAsync(force: true));
        Assert.Null(await toSecond.GetEditAsync());
        var over = await Assert.ThrowsAsync<RouterHostsException>(() => toFirst.CompleteEditAsync());
        Assert.Equal(RouterHostsErrorCode.FailedPrecondition, over.Code);
        Assert.Equal("edit-session-ended", over.Reason);
        Assert.Contains("ended by", over.Message);
        Assert.Empty(await toSecond.ListHostsAsync().ToListAsync());
        Assert.DoesNotContain("never-committed", File.ReadAllText(first.HostsFilePath));
    }

    [Fact]
    public async Task Snapshots_are_shared_and_a_rollback_through_one_agent_reaches_every_file()
    {
        await using var first = await StartAgentAsync("alpha");
        await using var second = await StartAgentAsync("beta");
        using var toFirst = first.Connect();
        using var toSecond = second.Connect();
        await toFirst.AddHostAsync(Host("10.65.0.1", "kept"));
        var snapshot = await toFirst.CreateSnapshotAsync("before-the-mistake");
        await toFirst.AddHostAsync(Host("10.65.0.2", "mistake"));
        await TimeUntilFileHasAsync(second, "mistake", TimeSpan.FromSeconds(15));

        Assert.Contains(await toSecond.ListSnapshotsAsync().ToListAsync(), s => s.Id == snapshot.Id && s.EntryCount == 1);
        var restored = await toSecond.RestoreSnapshotAsync(snapshot.Id);
        Assert.Equal(1, restored.RestoredEntryCount);

        // Both files lose the mistake; the backup taken first is seen through either agent.
        foreach (var agent in new[] { first, second })
        {
            await UntilAsync(() => Task.FromResult(File.ReadAllText(agent.HostsFilePath)), text => !text.Contains("mistake"),
                $"{agent.HostsFilePath} without 'mistake'");
            Assert.Contains("kept", File.ReadAllText(agent.HostsFilePath));
        }
        Assert.Contains(await toFirst.ListSnapshotsAsync().ToListAsync(), s => s.Id == restored.BackupSnapshotId && s.Trigger == "pre-rollback");
    }

    [Fact]
    public async Task Every_agent_sharing_the_database_is_listed_with_whether_its_hosts_file_is_current()
    {
        await using var first = await StartAgentAsync("alpha");
        var second = await StartAgentAsync("beta");
        using var toFirst = first.Connect();
        await toFirst.AddHostAsync(Host("10.66.0.1", "everyone-has-it"));
        var changeId = (await toFirst.GetAgentStatusAsync()).ChangeId;

        var agents = await UntilAsync(async () => (await toFirst.GetAgentStatusAsync()).Agents,
            all => all.Length == 2 && all.All(a => a.HostsFileCurrent && a.AppliedChangeId == changeId), "both agents current");
        Assert.Equal(["alpha", "beta"], agents.Select(a => a.Name));
        Assert.True(agents[0].IsThisAgent);
        Assert.False(agents[1].IsThisAgent);
        Assert.Equal(second.HostsFilePath, agents[1].HostsFilePath);
        Assert.False(string.IsNullOrEmpty(agents[1].Version));

        // The second agent stops; a change it has not taken shows its file as behind, through the first.
        await second.DisposeAsync();
        await toFirst.AddHostAsync(Host("10.66.0.2", "only-the-first-has-it"));
        var later = (await toFirst.GetAgentStatusAsync()).Agents;
        Assert.True(later.Single(a => a.Name == "alpha").HostsFileCurrent);
        var stopped = later.Single(a => a.Name == "beta");
        Assert.False(stopped.HostsFileCurrent);
        Assert.Equal(changeId, stopped.AppliedChangeId);
    }

    [Fact]
    public async Task With_sqlite_the_agents_listed_are_this_one_alone()
    {
        await using var agent = await AgentProcess.StartWithConfigAsync((config, _) => config["name"] = "solo");
        using var client = agent.Connect();
        await client.AddHostAsync(Host("10.68.0.1", "solo-host"));
        var status = await client.GetAgentStatusAsync();
        var only = Assert.Single(status.Agents);
        Assert.Equal(("solo", agent.HostsFilePath, true, true), (only.Name, only.HostsFilePath, only.IsThisAgent, only.HostsFileCurrent));
        Assert.Equal(status.ChangeId, only.AppliedChangeId);
    }

    [Fact]
    public async Task An_agent_that_was_down_catches_up_with_what_it_missed_before_it_reports_ready()
    {
        await using var first = await StartAgentAsync("alpha");
        await using var second = await StartAgentAsync("beta");
        using var toFirst = first.Connect();
        await toFirst.AddHostAsync(Host("10.67.0.1", "while-both-ran"));
        await TimeUntilFileHasAsync(second, "while-both-ran", TimeSpan.FromSeconds(15));

        second.Signal(15);
        Assert.Equal(0, await second.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        await toFirst.AddHostAsync(Host("10.67.0.2", "while-second-was-down"));
        Assert.DoesNotContain("while-second-was-down", File.ReadAllText(second.HostsFilePath));

        // The same agent (its configuration, its hosts file) again: ready means its file holds what it missed.
        await using var again = AgentProcess.Launch(["--config", Path.Combine(second.DataDirectory, "agent.json")], second.DataDirectory, second.Port);
        await again.WaitUntilReadyAsync();
        var file = File.ReadAllText(again.HostsFilePath);
        Assert.Contains("while-both-ran", file);
        Assert.Contains("while-second-was-down", file);
    }
}
