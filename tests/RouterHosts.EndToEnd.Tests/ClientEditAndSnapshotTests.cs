using System.Text;
using RouterHosts.Client;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>Edit sessions, snapshots, rollback, import and export through the real agent (one agent per test).</summary>
public sealed class ClientEditAndSnapshotTests : IAsyncLifetime
{
    private AgentProcess _agent = null!;

    public async Task InitializeAsync() => _agent = await AgentProcess.StartDevAsync();
    public async Task DisposeAsync() => await _agent.DisposeAsync();

    private static RouterHostInput Host(string ip, string name) => new() { IPAddress = ip, Hostname = name };

    [Fact]
    public async Task Two_clients_race_for_the_session_one_wins_and_the_other_is_told_who_holds_it()
    {
        using var a = _agent.Connect();
        using var b = _agent.Connect();
        var results = await Task.WhenAll(
            Attempt(a.StartEditAsync()), Attempt(b.StartEditAsync()));
        Assert.Single(results, r => r is null);
        var loser = Assert.Single(results, r => r is not null)!;
        Assert.Equal(RouterHostsErrorCode.FailedPrecondition, loser.Code);
        Assert.Contains("held by CN=routerhosts-dev-client", loser.Message);
        Assert.Equal("edit-session-held", loser.Reason);
    }

    private static async Task<RouterHostsException?> Attempt(Task task)
    {
        try { await task; return null; }
        catch (RouterHostsException e) { return e; }
    }

    [Fact]
    public async Task Staged_changes_are_invisible_to_others_and_commit_atomically_with_counts()
    {
        using var editor = _agent.Connect();
        using var other = _agent.Connect();
        var existing = await other.AddHostAsync(Host("10.20.0.1", "keep"));
        var doomed = await other.AddHostAsync(Host("10.20.0.2", "doomed"));
        var fileBefore = await File.ReadAllTextAsync(_agent.HostsFilePath);

        await editor.StartEditAsync();
        var staged = await editor.AddHostAsync(Host("10.20.0.3", "staged01"));
        Assert.True(staged.Staged);
        await editor.UpdateHostAsync(existing.Id, new RouterHostUpdate { Comment = "edited" });
        await editor.RemoveHostAsync(doomed.Id);

        Assert.Equal(["keep", "doomed"], await other.ListHostsAsync().Select(h => h.Hostname).ToListAsync());
        Assert.Equal(["keep", "staged01"], await editor.ListHostsAsync().Select(h => h.Hostname).ToListAsync());
        Assert.Equal(fileBefore, await File.ReadAllTextAsync(_agent.HostsFilePath));
        var session = await other.GetEditAsync();
        Assert.Equal(3, session!.StagedChanges);

        var result = await editor.CompleteEditAsync();
        Assert.Equal((1, 1, 1), (result.Added, result.Changed, result.Removed));
        Assert.NotEmpty(result.SnapshotId);
        Assert.Equal(["keep", "staged01"], await other.ListHostsAsync().Select(h => h.Hostname).ToListAsync());
        Assert.Equal(staged.Id, (await other.GetHostAsync(staged.Id)).Id); // the id seen while staging is kept
        var snapshot = await other.ListSnapshotsAsync().FirstAsync(s => s.Id == result.SnapshotId);
        Assert.Equal("pre-edit", snapshot.Trigger);
        Assert.Null(await other.GetEditAsync());
        Assert.Contains("10.20.0.3\tstaged01", await File.ReadAllTextAsync(_agent.HostsFilePath));
    }

    [Fact]
    public async Task A_commit_that_conflicts_with_a_direct_write_applies_nothing_and_keeps_the_session()
    {
        using var editor = _agent.Connect();
        using var other = _agent.Connect();
        var shared = await other.AddHostAsync(Host("10.21.0.1", "shared"));
        await editor.StartEditAsync();
        await editor.AddHostAsync(Host("10.21.0.2", "mine"));
        await editor.UpdateHostAsync(shared.Id, new RouterHostUpdate { Comment = "mine" }, expectedVersion: "1");
        await editor.AddHostAsync(Host("10.21.0.3", "contested"));
        await other.UpdateHostAsync(shared.Id, new RouterHostUpdate { Comment = "theirs" });
        await other.AddHostAsync(Host("10.21.0.3", "contested"));

        var error = await Assert.ThrowsAsync<RouterHostsException>(() => editor.CompleteEditAsync());
        Assert.Equal(RouterHostsErrorCode.Aborted, error.Code);
        Assert.Equal(2, error.Details.Count);
        Assert.Contains(error.Details, d => d.Contains("version mismatch"));
        Assert.Contains(error.Details, d => d.Contains("already exists"));
        Assert.DoesNotContain("mine", await other.ListHostsAsync().Select(h => h.Hostname).ToListAsync());
        Assert.Equal("theirs", (await other.GetHostAsync(shared.Id)).Comment);
        Assert.NotNull(await editor.GetEditAsync()); // still open: fix or cancel
        Assert.Equal(3, await editor.UndoEditAsync());
        Assert.Null(await other.GetEditAsync());
    }

    [Fact]
    public async Task A_stale_token_is_reported_as_unknown()
    {
        using var editor = _agent.Connect();
        await editor.StartEditAsync();
        await editor.UndoEditAsync();
        using var other = _agent.Connect();
        await other.StartEditAsync();
        await other.UndoEditAsync();
        var error = await Assert.ThrowsAsync<RouterHostsException>(() => editor.CompleteEditAsync());
        Assert.Equal(RouterHostsErrorCode.FailedPrecondition, error.Code);
        Assert.Contains("no edit session", error.Message);
    }

    [Fact]
    public async Task Rollback_restores_the_snapshot_set_with_its_ids_after_a_backup()
    {
        using var client = _agent.Connect();
        var a = await client.AddHostAsync(Host("10.22.0.1", "roll-a"));
        var b = await client.AddHostAsync(Host("10.22.0.2", "roll-b"));
        var snapshot = await client.CreateSnapshotAsync("known good");
        Assert.Equal(2, snapshot.EntryCount);
        await client.RemoveHostAsync(a.Id);
        await client.UpdateHostAsync(b.Id, new RouterHostUpdate { Hostname = "roll-b-renamed" });
        await client.AddHostAsync(Host("10.22.0.3", "roll-c"));

        var (recorded, hosts) = await client.GetSnapshotAsync(snapshot.Id);
        Assert.Equal("known good", recorded.Name);
        Assert.Equal([a.Id, b.Id], hosts.Select(h => h.Id));

        var restored = await client.RestoreSnapshotAsync(snapshot.Id);
        Assert.Equal(2, restored.RestoredEntryCount);
        var now = await client.ListHostsAsync().ToListAsync();
        Assert.Equal([(a.Id, "roll-a"), (b.Id, "roll-b")], now.Select(h => (h.Id, h.Hostname)));
        var backup = await client.ListSnapshotsAsync().FirstAsync(s => s.Id == restored.BackupSnapshotId);
        Assert.Equal(("pre-rollback", 2), (backup.Trigger, backup.EntryCount)); // roll-b-renamed and roll-c
        var history = await client.GetHostHistoryAsync(a.Id).Select(h => h.EventType).ToListAsync();
        Assert.Equal(["created", "deleted", "restored"], history);
        var file = await File.ReadAllTextAsync(_agent.HostsFilePath);
        Assert.Contains("roll-a", file);
        Assert.DoesNotContain("roll-c", file);
    }

    [Fact]
    public async Task Snapshots_list_newest_first_and_can_be_deleted()
    {
        using var client = _agent.Connect();
        var first = await client.CreateSnapshotAsync("one");
        var second = await client.CreateSnapshotAsync("two");
        Assert.Equal([second.Id, first.Id], await client.ListSnapshotsAsync(first: 2).Select(s => s.Id).ToListAsync());
        await client.RemoveSnapshotAsync(first.Id);
        var gone = await Assert.ThrowsAsync<RouterHostsException>(() => client.RemoveSnapshotAsync(first.Id));
        Assert.Equal(RouterHostsErrorCode.NotFound, gone.Code);
    }

    [Theory]
    [InlineData("hosts")]
    [InlineData("json")]
    [InlineData("csv")]
    public async Task Export_then_import_into_a_fresh_agent_is_an_exact_round_trip(string format)
    {
        using var client = _agent.Connect();
        await client.AddHostAsync(new RouterHostInput { IPAddress = "10.23.0.1", Hostname = "rt-a", Comment = "with, comma \"quoted\"", Tags = ["x", "y"], Aliases = ["rt-a1", "rt-a2"] });
        await client.AddHostAsync(new RouterHostInput { IPAddress = "fd00::23", Hostname = "rt-b", Comment = "[not tags] comment" });
        await client.AddHostAsync(new RouterHostInput { IPAddress = "10.23.0.2", Hostname = "rt-c", Tags = ["only-tags"] });
        var exported = new MemoryStream();
        await client.ExportAsync(format, exported);

        await using var fresh = await AgentProcess.StartDevAsync();
        using var freshClient = fresh.Connect();
        exported.Position = 0;
        var result = await freshClient.ImportAsync(exported, format, "strict");
        Assert.Equal(3, result.Created);

        static string Shape(RouterHost h) => $"{h.IPAddress}|{h.Hostname}|{h.Comment}|{string.Join(",", h.Tags)}|{string.Join(",", h.Aliases)}";
        var original = await client.ListHostsAsync().ToListAsync();
        var copy = await freshClient.ListHostsAsync().ToListAsync();
        Assert.Equal(original.Select(Shape), copy.Select(Shape));
        if (format != "hosts") Assert.Equal(original.Select(h => h.Id), copy.Select(h => h.Id));
        var again = new MemoryStream();
        await freshClient.ExportAsync(format, again);
        if (format == "hosts") Assert.Equal(Encoding.UTF8.GetString(exported.ToArray()), Encoding.UTF8.GetString(again.ToArray()));
    }

    [Fact]
    public async Task A_bad_file_is_refused_whole_with_line_numbers()
    {
        using var client = _agent.Connect();
        var text = "10.24.0.1 good1\n10.24.0.999 bad-ip\n# comment\n10.24.0.2 good2\n10.24.0.3 bad_name\n";
        var error = await Assert.ThrowsAsync<RouterHostsException>(() =>
            client.ImportAsync(new MemoryStream(Encoding.UTF8.GetBytes(text)), "hosts"));
        Assert.Equal(RouterHostsErrorCode.InvalidArgument, error.Code);
        Assert.Equal(2, error.Details.Count);
        Assert.StartsWith("line 2: invalid ip_address '10.24.0.999'", error.Details[0]);
        Assert.StartsWith("line 5: invalid hostname 'bad_name'", error.Details[1]);
        Assert.Empty(await client.ListHostsAsync(new RouterHostsQuery { HostnamePattern = "good*" }).ToListAsync());
    }

    [Fact]
    public async Task A_strict_import_with_one_duplicate_changes_nothing_while_skip_and_replace_behave()
    {
        using var client = _agent.Connect();
        var existing = await client.AddHostAsync(Host("10.25.0.1", "imp-existing"));
        var csv = "ip_address,hostname,comment\n10.25.0.2,imp-new1,\n10.25.0.1,imp-existing,replaced\n10.25.0.3,imp-new2,\n";
        Stream File() => new MemoryStream(Encoding.UTF8.GetBytes(csv));

        var strict = await Assert.ThrowsAsync<RouterHostsException>(() => client.ImportAsync(File(), "csv", "strict"));
        Assert.Equal(RouterHostsErrorCode.AlreadyExists, strict.Code);
        Assert.Contains("line 3", strict.Details.Single());
        Assert.Equal(1, await client.ListHostsAsync(new RouterHostsQuery { HostnamePattern = "imp-*" }).CountAsync());

        var skip = await client.ImportAsync(File(), "csv", "skip");
        Assert.Equal((2, 0, 1), (skip.Created, skip.Updated, skip.Skipped));
        Assert.Null((await client.GetHostAsync(existing.Id)).Comment);
        var replace = await client.ImportAsync(File(), "csv", "replace");
        Assert.Equal((0, 3, 0), (replace.Created, replace.Updated, replace.Skipped));
        Assert.Equal("replaced", (await client.GetHostAsync(existing.Id)).Comment);
    }

    [Fact]
    public async Task An_import_over_64_MiB_is_refused_as_resource_exhausted()
    {
        using var client = _agent.Connect();
        var line = Encoding.UTF8.GetBytes("10.26.0.1 big-import # " + new string('x', 1000) + "\n");
        var payload = new MemoryStream();
        while (payload.Length <= 64 * 1024 * 1024) payload.Write(line);
        payload.Position = 0;
        var error = await Assert.ThrowsAsync<RouterHostsException>(() => client.ImportAsync(payload, "hosts"));
        Assert.Equal(RouterHostsErrorCode.ResourceExhausted, error.Code);
        Assert.True((await client.TestAsync()).Ready);
    }
}
