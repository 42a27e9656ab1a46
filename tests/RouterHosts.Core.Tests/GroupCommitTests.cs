using Microsoft.Data.Sqlite;
using RouterHosts.Core.Hosts;
using RouterHosts.Core.Writes;

namespace RouterHosts.Core.Tests;

/// <summary>
/// Group commit over a real SQLite file: a commit is held up by another connection holding the
/// database's write lock (as another process could), so the writes that arrive meanwhile queue
/// behind it, and what they become is counted in store transactions, not timed.
/// </summary>
public sealed class GroupCommitTests : IAsyncDisposable
{
    private readonly EngineHarness _h = new();

    public ValueTask DisposeAsync() => _h.DisposeAsync();

    /// <summary>Another connection holding the write lock: the writer's commit waits (busy timeout) until it is released.</summary>
    private sealed class WriteLock : IDisposable
    {
        private readonly SqliteConnection _connection;

        public WriteLock(string databasePath)
        {
            _connection = new SqliteConnection($"Data Source={databasePath};Pooling=False");
            _connection.Open();
            Run("BEGIN IMMEDIATE");
        }

        private void Run(string sql)
        {
            using var command = _connection.CreateCommand();
            command.CommandText = sql;
            command.ExecuteNonQuery();
        }

        public void Dispose()
        {
            Run("ROLLBACK");
            _connection.Dispose();
        }
    }

    /// <summary>
    /// Starts a write whose plan reports when it runs, and waits for that: its group is then taken, and
    /// its append waits on the lock, so every write started after it queues for the next group.
    /// </summary>
    private async Task<Task<(HostEntry Result, WriteOutcome Outcome)>> StartBlockedWriteAsync(HostDraft draft)
    {
        var planning = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        // Task.Run: the first writer commits on its own thread, which the lock holds up.
        var write = Task.Run(() => _h.Writer.WriteAsync("first", set =>
        {
            planning.TrySetResult();
            return set.Add(draft);
        }, CancellationToken.None));
        await planning.Task;
        return write;
    }

    private Task<(HostEntry Entry, WriteOutcome? Outcome)> Add(string ip, string name) =>
        _h.Engine.AddAsync("w-" + name, new HostDraft(ip, name), null, CancellationToken.None);

    [Fact]
    public async Task Writes_queued_behind_a_commit_in_flight_commit_together_each_with_its_own_change_id()
    {
        var commitsBefore = _h.Writer.Commits;
        Task<(HostEntry, WriteOutcome)> first;
        List<Task<(HostEntry Entry, WriteOutcome? Outcome)>> queued;
        using (new WriteLock(_h.Store.DatabasePath))
        {
            first = await StartBlockedWriteAsync(new HostDraft("10.1.0.1", "first"));
            // A write that is not the first to arrive only queues: its task is pending once the call returns.
            queued = Enumerable.Range(0, 15).Select(i => Add($"10.1.1.{i + 1}", "queued" + i)).ToList();
            Assert.Equal(15, _h.Writer.QueuedWrites);
            Assert.All(queued, t => Assert.False(t.IsCompleted));
        }
        var (firstEntry, firstOutcome) = await first;
        var results = await Task.WhenAll(queued);

        // The blocked commit, then one for the 15 that queued behind it.
        Assert.Equal(2, _h.Writer.Commits - commitsBefore);
        var changeIds = results.Select(r => r.Outcome!.ChangeId).Prepend(firstOutcome.ChangeId).ToList();
        Assert.Equal(changeIds.Order(), changeIds);
        Assert.Equal(16, changeIds.Distinct().Count());
        // Each write's change id is its own event in the log, with its own actor; all acknowledged with the file current.
        foreach (var (entry, outcome) in results)
        {
            var created = Assert.Single(_h.Store.History(entry.Id));
            Assert.Equal((outcome!.ChangeId, "w-" + entry.Hostname), (created.EventId, created.Actor));
            Assert.True(outcome.File.Current && outcome.File.RenderedChangeId >= outcome.ChangeId);
        }
        Assert.Equal(firstOutcome.ChangeId, Assert.Single(_h.Store.History(firstEntry.Id)).EventId);
        Assert.Equal(16, _h.ManagedLines.Count);
        Assert.Equal(changeIds[^1], _h.Feed.ChangeId);
        Assert.Equal(changeIds[^1], _h.Store.LastChangeId());
    }

    [Fact]
    public async Task A_conflicting_or_invalid_write_in_a_group_fails_alone_and_later_writes_see_earlier_ones()
    {
        var seeded = await _h.AddAsync("10.2.0.1", "seeded");
        var doomed = await _h.AddAsync("10.2.0.3", "doomed");
        var commitsBefore = _h.Writer.Commits;
        Task<(HostEntry, WriteOutcome)> first;
        Task<(HostEntry Entry, WriteOutcome? Outcome)> added, stale, duplicate, invalid, renamed, renamedAgain, deleted;
        using (new WriteLock(_h.Store.DatabasePath))
        {
            first = await StartBlockedWriteAsync(new HostDraft("10.2.0.2", "first"));
            // In this order, all in the next group:
            added = Add("10.2.1.1", "added");
            stale = _h.Engine.UpdateAsync("w", seeded.Id, new HostPatch(Comment: "stale"), "7", null, default);
            duplicate = Add("10.2.1.1", "ADDED"); // the key the group's own earlier write took
            invalid = Add("10.2.1.999", "bad");
            renamed = _h.Engine.UpdateAsync("w", seeded.Id, new HostPatch(Hostname: "renamed"), "1", null, default);
            // Version 2 exists only once the write before it in the same group has been applied.
            renamedAgain = _h.Engine.UpdateAsync("w", seeded.Id, new HostPatch(Comment: "after rename"), "2", null, default);
            deleted = _h.Engine.DeleteAsync("w", doomed.Id, null, null, default);
            Assert.Equal(7, _h.Writer.QueuedWrites);
        }
        await first;

        Assert.Equal(CoreErrorKind.Conflict, (await Assert.ThrowsAsync<CoreException>(() => stale)).Kind);
        Assert.Equal(CoreErrorKind.AlreadyExists, (await Assert.ThrowsAsync<CoreException>(() => duplicate)).Kind);
        var bad = await Assert.ThrowsAsync<CoreException>(() => invalid);
        Assert.Equal(CoreErrorKind.InvalidArgument, bad.Kind);
        Assert.Contains("10.2.1.999", bad.Message);
        var (addedEntry, addedOutcome) = await added;
        var (renamedEntry, renamedOutcome) = await renamed;
        var (againEntry, againOutcome) = await renamedAgain;
        var (_, deletedOutcome) = await deleted;

        Assert.Equal(2, _h.Writer.Commits - commitsBefore);
        Assert.Equal(("renamed", 2L), (renamedEntry.Hostname, renamedEntry.Version));
        Assert.Equal(("after rename", 3L), (againEntry.Comment, againEntry.Version));
        long[] changeIds = [addedOutcome!.ChangeId, renamedOutcome!.ChangeId, againOutcome!.ChangeId, deletedOutcome!.ChangeId];
        Assert.Equal(changeIds.Order().Distinct(), changeIds);
        Assert.Equal(["10.2.0.1\trenamed\t# after rename", "10.2.0.2\tfirst", "10.2.1.1\tadded"], _h.ManagedLines.Where(l => l.Length > 0).Order());
        Assert.Equal([1L, 2L, 3L], _h.Store.History(seeded.Id).Select(e => e.Version));
        Assert.Equal(addedEntry.Id, Assert.Single(_h.Store.History(addedEntry.Id)).HostId);
        Assert.Equal(3, _h.Store.CountLive());
        Assert.Null(_h.Store.Get(doomed.Id));
    }

    [Fact]
    public async Task When_the_lines_failed_to_load_a_write_fails_before_it_commits_and_says_why()
    {
        // What the lines wait for at start (the database's check) failed: the lines never load.
        await using var h = new EngineHarness(loadLinesAfter: Task.FromException(new IOException("read error")));
        var e = await Assert.ThrowsAsync<CoreException>(() => h.AddAsync("10.0.0.1", "never-committed"));
        Assert.Equal(CoreErrorKind.Unavailable, e.Kind);
        Assert.Contains("lines could not be loaded", e.Message);
        Assert.Equal(0, h.Store.LastChangeId()); // failed, and nothing committed: not committed-but-reported-failed
    }
}
