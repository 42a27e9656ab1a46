using System.Diagnostics;
using System.Text;
using RouterHosts.Core.Hooks;
using RouterHosts.Core.Hosts;
using RouterHosts.Core.HostsFile;
using RouterHosts.Core.Storage;
using RouterHosts.Core.Writes;
using static RouterHosts.Core.Tests.Hosts;

namespace RouterHosts.Core.Tests;

/// <summary>HostsEngine end to end, in process, over real parts.</summary>
public sealed class HostsEngineTests : IAsyncLifetime
{
    private EngineHarness _h = null!;

    public Task InitializeAsync()
    {
        _h = new EngineHarness();
        return Task.CompletedTask;
    }

    public async Task DisposeAsync() => await _h.DisposeAsync();

    private HostsEngine Engine => _h.Engine;

    private static async Task<CoreException> Refused(CoreErrorKind kind, Func<Task> action)
    {
        var e = await Assert.ThrowsAsync<CoreException>(action);
        Assert.Equal(kind, e.Kind);
        return e;
    }

    private IReadOnlyList<string> LiveContent() => _h.Store.StreamAll().Select(Content).ToList();

    // ---------------------------------------------------------------- compaction

    [Fact]
    public async Task Compaction_folds_history_and_refuses_as_of_reads_before_its_horizon()
    {
        var web = await _h.AddAsync("10.0.0.1", "web");
        await Engine.UpdateAsync("t", web.Id, new HostPatch(Comment: "two"), null, null, default);
        var beforeCompaction = DateTimeOffset.UtcNow;
        await Engine.UpdateAsync("t", web.Id, new HostPatch(Comment: "three"), null, null, default);
        var other = await _h.AddAsync("10.0.0.2", "other");

        var dry = Engine.Compact(web.Id, null, null, dryRun: true);
        Assert.True(dry.DryRun);
        Assert.Equal([new CompactedHost(web.Id, 3, 1, 3)], dry.Hosts);
        Assert.Equal(3, Engine.History(web.Id).Count);
        Assert.Equal("two", Engine.Get(web.Id, asOf: beforeCompaction).Comment);

        var report = Engine.Compact(web.Id, null, null, dryRun: false);
        Assert.Equal(2, report.EventsReclaimed);
        var baseline = Assert.Single(Engine.History(web.Id));
        Assert.True(baseline.IsBaseline);
        Assert.Equal("three", baseline.State.Comment);

        var refused = await Refused(CoreErrorKind.FailedPrecondition, () => Task.FromResult(Engine.Get(web.Id, asOf: beforeCompaction)));
        Assert.Equal(RouterHostsReasons.BeforeCompactionHorizon, refused.Reason);
        Assert.Contains(report.Horizon.UtcDateTime.ToString("O"), refused.Message);
        await Refused(CoreErrorKind.FailedPrecondition, () => Task.FromResult(Engine.List(HostQuery.All, asOf: beforeCompaction)));
        // The other host was not named: its own history still answers, at or after the horizon everything does.
        Assert.Equal("other", Engine.Get(other.Id, asOf: DateTimeOffset.UtcNow).Hostname);
        Assert.Equal("three", Engine.Get(web.Id, asOf: report.Horizon).Comment);
        Assert.Equal(2, Engine.List(HostQuery.All, asOf: report.Horizon).Count);
    }

    [Fact]
    public async Task Compaction_checks_its_request()
    {
        await Refused(CoreErrorKind.InvalidArgument, () => Task.FromResult(Engine.Compact("not-a-ulid", null, null, false)));
        await Refused(CoreErrorKind.NotFound, () => Task.FromResult(Engine.Compact("01ZZZZZZZZZZZZZZZZZZZZZZZZ", null, null, false)));
        var future = await Refused(CoreErrorKind.InvalidArgument,
            () => Task.FromResult(Engine.Compact(null, null, DateTimeOffset.UtcNow.AddHours(1), false)));
        Assert.Contains("future", future.Message);
        await Refused(CoreErrorKind.InvalidArgument, () => Task.FromResult(Engine.Compact(null, -1, null, false)));
    }

    [Fact]
    public async Task Malformed_ids_are_invalid_arguments_naming_the_id_on_every_operation_taking_one()
    {
        foreach (var call in new Func<Task>[]
        {
            () => Task.FromResult(Engine.Get("not-a-ulid")),
            () => Engine.UpdateAsync("t", "not-a-ulid", new HostPatch(Comment: "x"), null, null, default),
            () => Engine.DeleteAsync("t", "not-a-ulid", null, null, default),
            () => Task.FromResult(Engine.History("not-a-ulid")),
            () => Task.FromResult(Engine.GetSnapshot("not-a-ulid")),
            () => Task.Run(() => Engine.DeleteSnapshot("not-a-ulid")),
            () => Engine.RollbackAsync("t", "not-a-ulid", default),
        })
        {
            var e = await Refused(CoreErrorKind.InvalidArgument, call);
            Assert.Contains("'not-a-ulid'", e.Message);
        }
    }

    // ---------------------------------------------------------------- single writes

    [Fact]
    public async Task Add_update_delete_write_the_hosts_file_and_keep_foreign_lines()
    {
        var (web, outcome) = await Engine.AddAsync("alice", new HostDraft("10.0.0.1", "web", "front", ["prod"], ["www"]), null, default);
        Assert.NotNull(outcome);
        Assert.True(outcome!.ChangeId > 0);
        Assert.False(outcome.HostsFileStale);
        Assert.Equal(outcome.ChangeId, outcome.File.RenderedChangeId);
        Assert.Equal(["10.0.0.1\tweb www\t# front [prod]"], _h.ManagedLines);
        Assert.StartsWith(EngineHarness.ForeignLines, _h.HostsText);

        var (updated, outcome2) = await Engine.UpdateAsync("alice", web.Id, new HostPatch(IpAddress: "10.0.0.9", Aliases: []), "1", null, default);
        Assert.Equal(2, updated.Version);
        Assert.True(outcome2!.ChangeId > outcome.ChangeId);
        Assert.Equal(["10.0.0.9\tweb\t# front [prod]"], _h.ManagedLines);

        await Engine.DeleteAsync("alice", web.Id, "2", null, default);
        Assert.Empty(_h.ManagedLines);
        Assert.StartsWith(EngineHarness.ForeignLines, _h.HostsText);

        Assert.Equal([HostEventType.Created, HostEventType.Updated, HostEventType.Deleted], Engine.History(web.Id).Select(e => e.Type));
        Assert.All(Engine.History(web.Id), e => Assert.Equal("alice", e.Actor));
        await Refused(CoreErrorKind.NotFound, () => Task.FromResult(Engine.Get(web.Id)));
    }

    [Fact]
    public async Task Refused_writes_change_neither_store_nor_file()
    {
        var web = await _h.AddAsync("10.0.0.1", "web");
        var fileBefore = _h.HostsText;
        var changeBefore = _h.Store.LastChangeId();

        await Refused(CoreErrorKind.AlreadyExists, () => Engine.AddAsync("t", new HostDraft("10.0.0.1", "WEB"), null, default));
        await Refused(CoreErrorKind.InvalidArgument, () => Engine.AddAsync("t", new HostDraft("10.0.0.1", "web\n10.6.6.6 evil"), null, default));
        await Refused(CoreErrorKind.Conflict, () => Engine.UpdateAsync("t", web.Id, new HostPatch(Comment: "x"), "9", null, default));
        await Refused(CoreErrorKind.Conflict, () => Engine.DeleteAsync("t", web.Id, "2", null, default));
        await Refused(CoreErrorKind.NotFound, () => Engine.DeleteAsync("t", "01ZZZZZZZZZZZZZZZZZZZZZZZZ", null, null, default));
        await Refused(CoreErrorKind.InvalidArgument, () => Engine.DeleteAsync("t", "01NOPE", null, null, default));

        Assert.Equal(fileBefore, _h.HostsText);
        Assert.Equal(changeBefore, _h.Store.LastChangeId());
        Assert.DoesNotContain("evil", _h.HostsText);
    }

    [Fact]
    public async Task An_update_that_changes_nothing_commits_nothing()
    {
        var web = await _h.AddAsync("10.0.0.1", "web", "c");
        var before = _h.Store.LastChangeId();
        var (same, outcome) = await Engine.UpdateAsync("t", web.Id, new HostPatch(Comment: "c"), null, null, default);
        Assert.Equal(0, outcome!.ChangeId);
        Assert.Equal(1, same.Version);
        Assert.Equal(before, _h.Store.LastChangeId());
    }

    [Fact]
    public async Task Watchers_are_told_of_each_commit()
    {
        var seen = _h.Feed.ChangeId;
        var waiting = _h.Feed.WaitAfterAsync(seen, CancellationToken.None);
        Assert.False(waiting.IsCompleted);
        await _h.AddAsync("10.0.0.1", "a");
        var changeId = await waiting.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(_h.Store.LastChangeId(), changeId);
    }

    [Fact]
    public async Task Watch_gives_the_full_set_then_the_full_set_after_each_change()
    {
        var a = await _h.AddAsync("10.0.0.1", "a");
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await using var sets = Engine.WatchAsync(follow: true, stop.Token).GetAsyncEnumerator(stop.Token);

        Assert.True(await sets.MoveNextAsync());
        Assert.Equal(_h.Store.LastChangeId(), sets.Current.ChangeId);
        Assert.Equal([a.Id], sets.Current.Entries.Select(e => e.Id));
        var next = sets.MoveNextAsync().AsTask();
        Assert.False(next.IsCompleted);
        var b = await _h.AddAsync("10.0.0.2", "b");
        Assert.True(await next.WaitAsync(TimeSpan.FromSeconds(30)));
        Assert.Equal(_h.Store.LastChangeId(), sets.Current.ChangeId);
        Assert.Equal([a.Id, b.Id], sets.Current.Entries.Select(e => e.Id));

        // Without follow: the one set, then the end.
        await using var once = Engine.WatchAsync(follow: false, stop.Token).GetAsyncEnumerator(stop.Token);
        Assert.True(await once.MoveNextAsync());
        Assert.Equal(2, once.Current.Entries.Count());
        Assert.False(await once.MoveNextAsync());
    }

    [Fact]
    public async Task Edit_sessions_start_get_and_cancel_through_the_engine()
    {
        Assert.Null(Engine.CurrentEdit);
        var (token, info) = Engine.StartEdit("alice", "alice@example", resume: false);
        Assert.Equal(info.Holder, Engine.GetEdit(null)!.Holder);
        await Engine.AddAsync("alice", new HostDraft("10.0.0.1", "a"), token, default);
        Assert.Equal(1, Engine.GetEdit(token)!.StagedChanges);
        Assert.Equal(CoreErrorKind.PermissionDenied, Assert.Throws<CoreException>(() => Engine.GetEdit(token with { Owner = "bob" })).Kind);
        Assert.Equal(1, Engine.CancelEdit(token));
        Assert.Null(Engine.CurrentEdit);
        Assert.Empty(_h.Store.StreamAll());
    }

    [Fact]
    public async Task The_status_reads_the_database_the_file_and_the_session_at_once()
    {
        await _h.AddAsync("10.0.0.1", "a");
        Engine.StartEdit("alice", "alice", resume: false);
        var status = Engine.ReadStatus();
        Assert.Equal("sqlite", status.Backend);
        Assert.Null(status.Unreachable);
        Assert.Null(status.StoreProblem);
        Assert.Null(status.CountFailed);
        Assert.Equal(1, status.HostCount);
        Assert.True(status.HostsFile.Current);
        Assert.Equal(_h.Store.LastChangeId(), status.ChangeId);
        Assert.Equal("alice", status.EditSession!.Holder);
    }

    [Fact]
    public async Task Lists_honour_queries_and_validate_paging()
    {
        await _h.AddAsync("10.0.0.2", "b", tags: ["x"]);
        await _h.AddAsync("10.0.0.1", "a");
        await _h.AddAsync("2001:db8::1", "c", tags: ["X"]);
        Assert.Equal(["a", "b", "c"], Engine.List(HostQuery.All).Select(e => e.Hostname));
        Assert.Equal(["b", "c"], Engine.List(new HostQuery(Tag: "x")).Select(e => e.Hostname));
        Assert.Equal(["c"], Engine.List(new HostQuery(IpAddress: "2001:DB8:0::1")).Select(e => e.Hostname)); // canonicalised
        await Refused(CoreErrorKind.InvalidArgument, () => Task.FromResult(Engine.List(new HostQuery(Offset: -1))));
        await Refused(CoreErrorKind.InvalidArgument, () => Task.FromResult(Engine.List(new HostQuery(Limit: -1))));
        await Refused(CoreErrorKind.InvalidArgument, () => Task.FromResult(Engine.List(new HostQuery(IpAddress: "10.1"))));
    }

    [Fact]
    public async Task As_of_reads_see_the_past()
    {
        var a = await _h.AddAsync("10.0.0.1", "a", "v1");
        var between = DateTimeOffset.UtcNow;
        while (DateTimeOffset.UtcNow <= between) await Task.Yield(); // the update must come strictly later
        await Engine.UpdateAsync("t", a.Id, new HostPatch(Comment: "v2"), null, null, default);
        await _h.AddAsync("10.0.0.2", "b");
        Assert.Equal("v1", Engine.Get(a.Id, asOf: between).Comment);
        Assert.Equal("v2", Engine.Get(a.Id).Comment);
        Assert.Equal(["a"], Engine.List(HostQuery.All, asOf: between).Select(e => e.Hostname));
    }

    // ---------------------------------------------------------------- bulk

    [Fact]
    public async Task BulkAdd_gives_one_result_per_item_with_per_item_errors()
    {
        await _h.AddAsync("10.0.0.1", "existing");
        var results = await _h.BulkAddAsync(
        [
            new HostDraft("10.0.0.2", "a"),
            new HostDraft("10.0.0.1", "EXISTING"),
            new HostDraft("10.1", "bad"),
            new HostDraft("10.0.0.2", "A"),
            new HostDraft("10.0.0.3", "b"),
        ]);

        Assert.Equal([0, 1, 2, 3, 4], results.Select(r => r.Index));
        Assert.Null(results[0].Error);
        Assert.Equal(CoreErrorKind.AlreadyExists, results[1].Error!.Kind);
        Assert.Equal(CoreErrorKind.InvalidArgument, results[2].Error!.Kind);
        Assert.Contains("'10.1'", results[2].Error!.Message);
        Assert.Equal(CoreErrorKind.AlreadyExists, results[3].Error!.Kind);  // duplicates an earlier item of the same bulk
        Assert.Null(results[4].Error);
        Assert.All(results.Where(r => r.Error is null), r => Assert.NotNull(r.Outcome));
        Assert.All(results.Where(r => r.Error is not null), r => { Assert.Null(r.Entry); Assert.Null(r.Outcome); });
        Assert.Equal(["10.0.0.1 existing", "10.0.0.2 a", "10.0.0.3 b"], _h.Store.StreamAll().Select(e => $"{e.IpAddress} {e.Hostname}"));
        Assert.Equal(3, _h.ManagedLines.Count);
    }

    [Fact]
    public async Task BulkAdd_over_several_batches_indexes_every_item_once()
    {
        var count = HostsEngine.BulkBatchSize * 2 + 345;
        var results = await _h.BulkAddAsync(Enumerable.Range(0, count).Select(i => new HostDraft($"10.{i / 65536}.{i / 256 % 256}.{i % 256}", "h" + i)));
        Assert.Equal(Enumerable.Range(0, count), results.Select(r => r.Index));
        Assert.All(results, r => Assert.Null(r.Error));
        Assert.Equal(count, _h.Store.CountLive());
        Assert.Equal(count, _h.ManagedLines.Count);
    }

    [Fact]
    public async Task BulkAdd_with_an_edit_token_stages()
    {
        var (token, _) = _h.Sessions.Start("alice");
        var results = await _h.BulkAddAsync([new HostDraft("10.0.0.1", "a"), new HostDraft("10.0.0.1", "a")], token);
        Assert.Null(results[0].Error);
        Assert.Equal(CoreErrorKind.AlreadyExists, results[1].Error!.Kind);
        Assert.Equal(0, _h.Store.CountLive());
        Assert.Single(Engine.List(HostQuery.All, edit: token));
    }

    // ---------------------------------------------------------------- import

    [Fact]
    public async Task Import_rejects_the_whole_file_for_bad_lines_with_their_numbers()
    {
        await _h.AddAsync("10.0.0.9", "kept");
        var before = LiveContent();
        var e = await Refused(CoreErrorKind.InvalidArgument, () => _h.ImportAsync(
            "10.0.0.1 good\n" +
            "10.1 bad-ip\n" +
            "# comment\n" +
            "10.0.0.2 bad_name\n" +
            "10.0.0.3 fine\n" +
            "10.0.0.1 GOOD\n"));
        Assert.Contains("nothing was imported", e.Message);
        Assert.DoesNotContain("First:", e.Message); // every line is in the details; the message does not repeat one
        Assert.Equal(3, e.Details.Count);
        Assert.StartsWith("line 2: invalid ip_address '10.1'", e.Details[0]);
        Assert.StartsWith("line 4: invalid hostname 'bad_name'", e.Details[1]);
        Assert.Equal("line 6: 10.0.0.1 good repeats line 1", e.Details[2]);
        Assert.Equal(before, LiveContent());
    }

    [Fact]
    public async Task Strict_import_with_one_conflict_changes_nothing()
    {
        var existing = await _h.AddAsync("10.0.0.1", "web");
        var fileBefore = _h.HostsText;
        var e = await Refused(CoreErrorKind.AlreadyExists, () => _h.ImportAsync(
            "10.0.0.5 new1\n10.0.0.1 WEB\n10.0.0.6 new2\n", mode: ConflictMode.Strict));
        Assert.Equal(["line 2: 10.0.0.1 WEB conflicts with host " + existing.Id], e.Details);
        Assert.Equal(["10.0.0.1|web|(null)|[]|[]"], LiveContent());
        Assert.Equal(fileBefore, _h.HostsText);
    }

    [Fact]
    public async Task Import_skip_keeps_existing_entries_and_adds_the_rest()
    {
        var existing = await _h.AddAsync("10.0.0.1", "web", "original");
        var result = await _h.ImportAsync("10.0.0.1 web # imported\n10.0.0.2 db # new\n");
        Assert.Equal((2, 1, 0, 0), (result.Processed, result.Created, result.Updated, result.Skipped - 1));
        Assert.False(result.Staged);
        Assert.False(result.Outcome!.HostsFileStale);
        Assert.Equal("original", _h.Store.Get(existing.Id)!.Comment);
        Assert.Equal(["10.0.0.1|web|original|[]|[]", "10.0.0.2|db|new|[]|[]"], LiveContent());
        Assert.Equal(2, _h.ManagedLines.Count);
    }

    [Fact]
    public async Task Import_replace_updates_existing_entries_in_place()
    {
        var existing = await _h.AddAsync("10.0.0.1", "web", "original", ["old"], ["www"]);
        var result = await _h.ImportAsync("10.0.0.1 WEB # [new] replaced\n10.0.0.2 db\n", mode: ConflictMode.Replace);
        Assert.Equal((2, 1, 1, 0), (result.Processed, result.Created, result.Updated, result.Skipped));
        var replaced = _h.Store.Get(existing.Id)!;
        Assert.Equal("10.0.0.1|WEB|replaced|[new]|[]", Content(replaced));
        Assert.Equal(2, replaced.Version);
        Assert.Equal(2, _h.Store.CountLive());
    }

    [Fact]
    public async Task Import_by_default_refuses_a_file_with_a_bad_line_and_on_request_skips_and_names_the_bad_lines()
    {
        const string file = "10.0.0.1 good1\n10.0.0.2\nnot-an-ip bad\n10.0.0.3 good2\n10.0.0.1 good1\n";
        var refused = await Refused(CoreErrorKind.InvalidArgument, () => _h.ImportAsync(file));
        Assert.Equal(3, refused.Details.Count);
        Assert.Equal(0, _h.Store.CountLive());

        var result = await Engine.ImportAsync("test", Encoding.UTF8.GetBytes(file), "hosts", ConflictMode.Skip, null, null, default,
            skipInvalid: true);
        Assert.Equal((2, 2, 0, 0, 3), (result.Processed, result.Created, result.Updated, result.Skipped, result.Failed));
        Assert.Collection(result.FailedLines!,
            l => Assert.StartsWith("line 2: '10.0.0.2' has no hostname", l),
            l => Assert.StartsWith("line 3: invalid ip_address 'not-an-ip'", l),
            l => Assert.Equal("line 5: 10.0.0.1 good1 repeats line 1", l));
        Assert.Equal(["10.0.0.1|good1|(null)|[]|[]", "10.0.0.3|good2|(null)|[]|[]"], LiveContent());
    }

    [Fact]
    public async Task Import_refuses_ids_that_are_not_ulids_with_their_line()
    {
        var refused = await Refused(CoreErrorKind.InvalidArgument,
            () => _h.ImportAsync("id,ip_address,hostname\nnot-a-ulid,10.9.0.1,a\n", format: "csv"));
        Assert.StartsWith("line 2: invalid id 'not-a-ulid'", Assert.Single(refused.Details));
    }

    [Fact]
    public async Task Import_into_an_edit_session_stages()
    {
        var (token, _) = _h.Sessions.Start("alice");
        var result = await _h.ImportAsync("10.0.0.1 a\n10.0.0.2 b\n", token: token);
        Assert.True(result.Staged);
        Assert.Null(result.Outcome);
        Assert.Equal(0, _h.Store.CountLive());
        Assert.Equal(2, _h.Sessions.StagedCommands(token).Count);
        var commit = await Engine.FinishEditAsync("alice", token, default);
        Assert.Equal(2, commit.Added);
        Assert.Equal(2, _h.Store.CountLive());
    }

    [Fact]
    public async Task Import_refuses_unknown_formats_modes_and_invalid_utf8()
    {
        await Refused(CoreErrorKind.InvalidArgument, () => _h.ImportAsync("x", format: "yaml"));
        Assert.Throws<CoreException>(() => HostsEngine.ParseConflictMode("merge"));
        Assert.Equal(ConflictMode.Skip, HostsEngine.ParseConflictMode(null));
        Assert.Equal(ConflictMode.Strict, HostsEngine.ParseConflictMode("STRICT"));
        var e = await Refused(CoreErrorKind.InvalidArgument, () =>
            Engine.ImportAsync("t", [0x31, 0xff, 0x0a], "hosts", ConflictMode.Skip, null, null, default));
        Assert.Contains("UTF-8", e.Message);
    }

    [Theory]
    [InlineData("hosts")]
    [InlineData("json")]
    [InlineData("csv")]
    public async Task Export_then_import_into_a_fresh_engine_gives_the_same_entries(string format)
    {
        await _h.AddAsync("10.0.0.1", "web", "front door", ["prod", "web"], ["www"]);
        await _h.AddAsync("10.0.0.2", "bracket", "[not tags] comment");
        await _h.AddAsync("10.0.0.3", "quotes", "says \"hi\", ok; #1", ["a=b"]);
        await _h.AddAsync("2001:db8::1", "v6", null, ["v6"], ["six", "Sechs"]);
        await _h.AddAsync("10.0.0.4", "Unicode", "Café ☕ 😀");
        await _h.AddAsync("10.0.0.5", "spaces", "  padded  ");
        // A few hundred more so that the export spans several 64 KiB chunks.
        await _h.BulkAddAsync(Enumerable.Range(0, 1500).Select(i =>
            new HostDraft($"10.1.{i / 256}.{i % 256}", $"bulk{i}", new string('c', 60) + i, ["t" + i % 7], ["al" + i])));
        var chunks = 0;
        await Engine.ExportAsync(format, _ => { chunks++; return Task.CompletedTask; }, default);
        Assert.True(chunks > 1, $"export came in {chunks} chunk(s)");
        var exported = await _h.ExportAsync(format);

        await using var fresh = new EngineHarness();
        var result = await fresh.Engine.ImportAsync("test", exported, format, ConflictMode.Strict, null, null, default);
        Assert.Equal(_h.Store.CountLive(), result.Created);

        var original = _h.Store.StreamAll().ToList();
        var imported = fresh.Store.StreamAll().ToList();
        Assert.Equal(original.Select(Content), imported.Select(Content));
        if (format != "hosts") Assert.Equal(original.Select(e => e.Id), imported.Select(e => e.Id));
        // The hosts files agree too, and the hosts export is the file's block.
        Assert.Equal(_h.ManagedLines, fresh.ManagedLines);
        if (format == "hosts") Assert.Equal(HostsFileRenderer.RenderBlock(original), Utf8(exported));
    }

    // ---------------------------------------------------------------- edit sessions

    [Fact]
    public async Task FinishEdit_applies_everything_at_once_and_reports_what_changed()
    {
        var successRuns = _h.Temp.File("success-runs");
        await using var h = new EngineHarness(new HookSet([new HookDefinition("count", $"echo $ROUTER_HOSTS_CHANGE_ID >> '{successRuns}'", TimeSpan.FromSeconds(10))], []));
        var a = await h.AddAsync("10.0.0.1", "a");
        var b = await h.AddAsync("10.0.0.2", "b");
        var c = await h.AddAsync("10.0.0.3", "c", "same");
        // Each batch appends one line before it is counted: settled when the counts agree and the last change was seen.
        bool Settled() => File.Exists(successRuns) && File.ReadAllLines(successRuns) is var lines
                          && lines.Length == h.Hooks.CompletedBatches && lines[^1] == h.Store.LastChangeId().ToString();
        await Wait.UntilAsync(Settled, "hooks to settle");
        var batchesBefore = h.Hooks.CompletedBatches;
        var preEdit = h.Store.StreamAll().ToList();
        var changeBefore = h.Store.LastChangeId();

        var (token, _) = h.Sessions.Start("alice");
        var (d, none) = await h.Engine.AddAsync("alice", new HostDraft("10.0.0.4", "d"), token, default);
        Assert.Null(none);
        await h.Engine.UpdateAsync("alice", a.Id, new HostPatch(Comment: "edited"), "1", token, default);
        await h.Engine.DeleteAsync("alice", b.Id, "1", token, default);
        var (temp, _) = await h.Engine.AddAsync("alice", new HostDraft("10.0.0.5", "temp"), token, default);
        await h.Engine.UpdateAsync("alice", temp.Id, new HostPatch(Comment: "x"), null, token, default);
        await h.Engine.DeleteAsync("alice", temp.Id, null, token, default);
        await h.Engine.UpdateAsync("alice", c.Id, new HostPatch(Comment: "same"), null, token, default);
        // Nothing is committed while staging; reads with the token see the staged state.
        Assert.Equal(changeBefore, h.Store.LastChangeId());
        Assert.Equal(["a", "c", "d"], h.Engine.List(HostQuery.All, token).Select(e => e.Hostname));
        Assert.Equal("edited", h.Engine.Get(a.Id, token).Comment);

        var result = await h.Engine.FinishEditAsync("alice", token, default);

        Assert.Equal((1, 1, 1), (result.Added, result.Changed, result.Removed));
        Assert.Null(h.Sessions.Current);
        Assert.Equal(["10.0.0.1|a|edited|[]|[]", "10.0.0.3|c|same|[]|[]", "10.0.0.4|d|(null)|[]|[]"],
            h.Store.StreamAll().Select(Content));
        Assert.Equal(d.Id, h.Store.FindLive(new HostKey("10.0.0.4", "d"))!.Id);  // the staged id is kept
        Assert.Null(h.Store.Get(temp.Id));
        Assert.Equal(["10.0.0.1\ta\t# edited", "10.0.0.3\tc\t# same", "10.0.0.4\td"], h.ManagedLines);

        // One transaction: all its events share one commit time and the outcome is the last change id.
        Assert.Equal(h.Store.LastChangeId(), result.Outcome.ChangeId);
        var events = new[] { a.Id, b.Id, d.Id, temp.Id }.SelectMany(id => h.Store.History(id)).Where(e => e.EventId > changeBefore).ToList();
        Assert.Equal(6, events.Count); // a updated, b deleted, d added, temp added+updated+deleted
        Assert.Single(events.Select(e => e.OccurredAt).Distinct());
        // One render, so one hook batch.
        await Wait.UntilAsync(Settled, "the commit's hook batch");
        Assert.Equal(batchesBefore + 1, h.Hooks.CompletedBatches);

        // The pre-edit snapshot holds the state before the commit.
        var snapshot = h.Store.GetSnapshot(result.SnapshotId)!;
        Assert.Equal("pre-edit", snapshot.Trigger);
        Same(preEdit, h.Store.GetSnapshotEntries(result.SnapshotId));
    }

    [Fact]
    public async Task A_commit_that_conflicts_with_a_direct_write_applies_nothing_and_stays_open()
    {
        var a = await _h.AddAsync("10.0.0.1", "a");
        var (token, _) = _h.Sessions.Start("alice");
        await Engine.UpdateAsync("alice", a.Id, new HostPatch(Comment: "staged"), "1", token, default);
        await Engine.AddAsync("alice", new HostDraft("10.0.0.7", "clash"), token, default);
        await Engine.AddAsync("alice", new HostDraft("10.0.0.8", "fine"), token, default);

        // Meanwhile, direct writes: a changes (version 2) and someone takes the staged key.
        await Engine.UpdateAsync("bob", a.Id, new HostPatch(Comment: "direct"), null, null, default);
        await _h.AddAsync("10.0.0.7", "CLASH");
        var committed = LiveContent();
        var fileBefore = _h.HostsText;

        var e = await Refused(CoreErrorKind.Conflict, () => Engine.FinishEditAsync("alice", token, default));

        Assert.Contains("nothing was applied", e.Message);
        Assert.Equal(2, e.Details.Count);
        Assert.StartsWith($"change 1 (update a ({a.Id})): version mismatch", e.Details[0]); // the hostname, not only the id
        Assert.StartsWith("change 2 (add 10.0.0.7 clash):", e.Details[1]);
        Assert.Contains("already exists", e.Details[1]);
        Assert.Equal(committed, LiveContent());
        Assert.Equal(fileBefore, _h.HostsText);
        Assert.Empty(_h.Store.ListSnapshots(0, null));
        Assert.Equal(3, _h.Sessions.StagedCommands(token).Count);
        Assert.Equal("alice", _h.Sessions.Current!.Holder);
    }

    [Fact]
    public async Task One_hundred_thousand_staged_adds_commit()
    {
        // Correctness at size only: how long it takes is the bench's business, not a test's.
        var (token, _) = _h.Sessions.Start("bulk");
        const int count = 100_000;
        var commands = Enumerable.Range(0, count)
            .Select(i => (HostCommand)new AddHostCommand(new HostDraft($"10.{i / 65536}.{i / 256 % 256}.{i % 256}", "h" + i), Ulid.New(DateTimeOffset.UtcNow)))
            .ToList();
        _h.Sessions.Stage(token, commands);

        var result = await Engine.FinishEditAsync("bulk", token, default);

        Assert.Equal(count, result.Added);
        Assert.Equal(count, _h.Store.CountLive());
        Assert.False(result.Outcome.HostsFileStale);
        Assert.Equal(count, _h.ManagedLines.Count);
        Assert.Equal("10.0.0.0\th0", _h.ManagedLines[0]);
        Assert.Equal("10.1.134.159\th99999", _h.ManagedLines[^1]);
    }

    // ---------------------------------------------------------------- snapshots and rollback

    [Fact]
    public async Task Rollback_restores_the_snapshot_set_with_the_same_ids_after_a_backup()
    {
        var a = await _h.AddAsync("10.0.0.1", "alpha", "a");
        var b = await _h.AddAsync("10.0.0.1", "beta", tags: ["t"]);
        var c = await _h.AddAsync("10.0.0.3", "c");
        var snapshot = await Engine.CreateSnapshotAsync("good", "", default);
        Assert.Equal("manual", snapshot.Trigger);
        Assert.Equal(3, snapshot.EntryCount);
        var atSnapshot = _h.Store.StreamAll().ToList();

        // Then: c deleted, d added, a and b swap hostnames (through a third name), a edited.
        await Engine.DeleteAsync("t", c.Id, null, null, default);
        var d = await _h.AddAsync("10.0.0.4", "d");
        await Engine.UpdateAsync("t", a.Id, new HostPatch(Hostname: "gamma"), null, null, default);
        await Engine.UpdateAsync("t", b.Id, new HostPatch(Hostname: "alpha"), null, null, default);
        await Engine.UpdateAsync("t", a.Id, new HostPatch(Hostname: "beta", Comment: "changed"), null, null, default);
        var beforeRollback = _h.Store.StreamAll().ToList();

        var result = await Engine.RollbackAsync("t", snapshot.Id, default);

        Assert.Equal(3, result.RestoredEntryCount);
        Assert.False(result.Outcome.HostsFileStale);
        var live = _h.Store.StreamAll().ToList();
        Assert.Equal(atSnapshot.Select(e => e.Id + " " + Content(e)), live.Select(e => e.Id + " " + Content(e)));
        Assert.Null(_h.Store.Get(d.Id));
        Assert.Equal(["10.0.0.1\talpha\t# a", "10.0.0.1\tbeta\t# [t]", "10.0.0.3\tc"], _h.ManagedLines);

        var backup = _h.Store.GetSnapshot(result.BackupSnapshotId)!;
        Assert.Equal("pre-rollback", backup.Trigger);
        Same(beforeRollback, _h.Store.GetSnapshotEntries(backup.Id));
        Assert.Equal([backup.Id, snapshot.Id], Engine.ListSnapshots(0, null).Select(s => s.Id));

        // Rolling back to the backup undoes the rollback.
        await Engine.RollbackAsync("t", backup.Id, default);
        Assert.Equal(beforeRollback.Select(e => e.Id + " " + Content(e)), _h.Store.StreamAll().Select(e => e.Id + " " + Content(e)));
    }

    [Fact]
    public async Task A_commit_that_fails_in_the_database_leaves_no_pre_write_snapshot()
    {
        var a = await _h.AddAsync("10.0.0.1", "alpha");
        var kept = await Engine.CreateSnapshotAsync("kept", "manual", default);
        var b = await _h.AddAsync("10.0.0.2", "beta"); // so that rolling back to "kept" has a change to make
        var (token, _) = _h.Sessions.Start("alice");
        _h.Sessions.StageOne(token, new DeleteHostCommand(a.Id, null));
        // The database itself refuses the events (a trigger on the real file, from another connection),
        // after the change's pre-write snapshot was written in the same transaction.
        using (var raw = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={_h.Store.DatabasePath}"))
        {
            raw.Open();
            using var create = raw.CreateCommand();
            create.CommandText = "CREATE TRIGGER refuse_events BEFORE INSERT ON events BEGIN SELECT RAISE(ABORT, 'refused by test'); END";
            create.ExecuteNonQuery();
        }

        var e = await Assert.ThrowsAsync<CoreException>(() => Engine.FinishEditAsync("alice", token, default));
        Assert.Contains("refused by test", e.Message);
        var rollback = await Assert.ThrowsAsync<CoreException>(() => Engine.RollbackAsync("t", kept.Id, default));
        Assert.Contains("refused by test", rollback.Message);

        Assert.Equal([kept.Id], Engine.ListSnapshots(0, null).Select(s => s.Id));
        Assert.NotNull(_h.Store.Get(a.Id));
        Assert.NotNull(_h.Store.Get(b.Id));
        Assert.Equal(["10.0.0.1\talpha", "10.0.0.2\tbeta"], _h.ManagedLines);
    }

    [Fact]
    public async Task Snapshot_operations_and_retention()
    {
        _h.Writer.SnapshotPolicy = new SnapshotPolicy(MaxSnapshots: 3, MaxAgeDays: 30);
        var ids = new List<string>();
        for (var i = 0; i < 5; i++) ids.Add((await Engine.CreateSnapshotAsync("s" + i, "manual", default)).Id);
        Assert.Equal(3, Engine.ListSnapshots(0, null).Count);
        Assert.Equal("s4", Engine.ListSnapshots(0, 1).Single().Name);
        await Refused(CoreErrorKind.NotFound, () => Engine.RollbackAsync("t", ids[0], default));
        await Refused(CoreErrorKind.NotFound, () => Task.Run(() => Engine.DeleteSnapshot("01ZZZZZZZZZZZZZZZZZZZZZZZZ")));
        await Refused(CoreErrorKind.InvalidArgument, () => Task.Run(() => Engine.DeleteSnapshot("nope")));
        Engine.DeleteSnapshot(ids[4]);
        Assert.Equal(2, Engine.ListSnapshots(0, null).Count);
    }

    // ---------------------------------------------------------------- hosts file failures

    [Fact]
    public async Task A_read_only_hosts_directory_keeps_the_change_reports_stale_runs_failure_hooks_and_recovers()
    {
        using var temp = new TempDir();   // disposed after the harness, which does not own it
        var hostsDir = temp.Dir("etc");
        var failureEnv = temp.File("failure-env");
        await using var h = new EngineHarness(
            new HookSet([], [new HookDefinition("alert", $"env | grep '^ROUTER_HOSTS_' | sort > '{failureEnv}'", TimeSpan.FromSeconds(10))]),
            temp, hostsDir);
        try
        {
            var first = await h.AddAsync("10.0.0.1", "first");
            var fileBefore = h.HostsText;
            ReadOnlyDir.MakeReadOnly(hostsDir);
            Assert.False(ReadOnlyDir.IsWritable(hostsDir), "precondition: the directory could not be made read-only");

            var (second, outcome) = await h.Engine.AddAsync("t", new HostDraft("10.0.0.2", "second"), null, default);

            Assert.True(outcome!.HostsFileStale);
            Assert.False(outcome.File.Current);
            Assert.False(string.IsNullOrEmpty(outcome.File.LastError));
            Assert.NotNull(h.Store.Get(second.Id));                 // the change is committed
            Assert.Equal(fileBefore, h.HostsText);                   // the file is as it was
            await Wait.UntilAsync(() => File.Exists(failureEnv) && File.ReadAllText(failureEnv).Contains("ROUTER_HOSTS_HOSTS_FILE"), "the failure hook");
            var env = File.ReadAllLines(failureEnv);
            Assert.Contains("ROUTER_HOSTS_EVENT=failure", env);
            Assert.Contains($"ROUTER_HOSTS_HOSTS_FILE={h.HostsPath}", env);
            Assert.Contains(env, l => l.StartsWith("ROUTER_HOSTS_ERROR=", StringComparison.Ordinal) && l.Length > "ROUTER_HOSTS_ERROR=".Length);

            ReadOnlyDir.MakeWritable(hostsDir);
            var (_, recovered) = await h.Engine.AddAsync("t", new HostDraft("10.0.0.3", "third"), null, default);

            Assert.False(recovered!.HostsFileStale);
            Assert.Null(recovered.File.LastError);
            Assert.Equal(["10.0.0.1\tfirst", "10.0.0.2\tsecond", "10.0.0.3\tthird"], h.ManagedLines);
            Assert.Equal(first.Id, h.Store.FindLive(new HostKey("10.0.0.1", "first"))!.Id);
        }
        finally
        {
            ReadOnlyDir.MakeWritable(hostsDir);
        }
    }

    [Fact]
    public async Task After_a_failed_write_the_retry_catches_the_file_up_without_another_change()
    {
        using var temp = new TempDir();   // disposed after the harness, which does not own it
        var hostsDir = temp.Dir("etc");
        var events = temp.File("events");
        var log = new HookDefinition("log", $"echo \"$ROUTER_HOSTS_EVENT $ROUTER_HOSTS_CHANGE_ID\" >> '{events}'", TimeSpan.FromSeconds(10));
        await using var h = new EngineHarness(new HookSet([log], [log]), temp, hostsDir);
        try
        {
            await h.AddAsync("10.0.0.1", "first");
            ReadOnlyDir.MakeReadOnly(hostsDir);
            Assert.False(ReadOnlyDir.IsWritable(hostsDir), "precondition: the directory could not be made read-only");
            var (_, outcome) = await h.Engine.AddAsync("t", new HostDraft("10.0.0.2", "second"), null, default);
            Assert.True(outcome!.HostsFileStale);
            var failedChange = outcome.ChangeId;

            ReadOnlyDir.MakeWritable(hostsDir);
            await Wait.UntilAsync(() => h.Sync.State.Current, "the retry timer to bring the file current");

            Assert.Equal(["10.0.0.1\tfirst", "10.0.0.2\tsecond"], h.ManagedLines);
            Assert.Equal(failedChange, h.Sync.State.RenderedChangeId);
            await Wait.UntilAsync(() => File.Exists(events) && File.ReadAllLines(events).LastOrDefault() == $"success {failedChange}",
                "the success hook after recovery");
            // However often the retry failed meanwhile, the failure hook ran once for that one error.
            Assert.Single(File.ReadAllLines(events), l => l.StartsWith("failure ", StringComparison.Ordinal));
        }
        finally
        {
            ReadOnlyDir.MakeWritable(hostsDir);
        }
    }

    [Fact]
    public async Task Retries_that_fail_the_same_way_run_the_failure_hook_once()
    {
        using var temp = new TempDir();   // disposed after the harness, which does not own it
        var hostsDir = temp.Dir("etc");
        var failures = temp.File("failures");
        var log = new CapturingLogger();
        await using var h = new EngineHarness(new HookSet([],
            [new HookDefinition("alert", $"echo \"$ROUTER_HOSTS_ERROR\" >> '{failures}'", TimeSpan.FromSeconds(10))]),
            temp, hostsDir, syncLog: log);
        try
        {
            await h.AddAsync("10.0.0.1", "first");
            ReadOnlyDir.MakeReadOnly(hostsDir);
            Assert.False(ReadOnlyDir.IsWritable(hostsDir), "precondition: the directory could not be made read-only");
            var (_, outcome) = await h.Engine.AddAsync("t", new HostDraft("10.0.0.2", "second"), null, default);
            Assert.True(outcome!.HostsFileStale);
            var firstError = outcome.File.LastError;

            // The retry timer (0.5 s, then 1 s) fails again the same way.
            await Wait.UntilAsync(() => log.Lines.Count(l => l.Contains("could not be written")) >= 3, "two retries");
            Assert.Equal(firstError, h.Sync.State.LastError);
            ReadOnlyDir.MakeWritable(hostsDir);
            await Wait.UntilAsync(() => h.Sync.State.Current, "the retry to succeed");
            await Wait.UntilAsync(() => h.Hooks.CompletedBatches >= 1 && File.Exists(failures), "the failure hook");
            Assert.Single(File.ReadAllLines(failures));
        }
        finally
        {
            ReadOnlyDir.MakeWritable(hostsDir);
        }
    }

    [Fact]
    public async Task Concurrent_writers_are_serialised_and_the_file_ends_current()
    {
        var adds = Enumerable.Range(0, 40).Select(i => Task.Run(() =>
            Engine.AddAsync("w" + i, new HostDraft($"10.0.{i}.1", "host" + i), null, default))).ToList();
        var results = await Task.WhenAll(adds);
        Assert.Equal(40, results.Select(r => r.Outcome!.ChangeId).Distinct().Count());
        Assert.All(results, r => Assert.True(r.Outcome!.File.RenderedChangeId >= r.Outcome.ChangeId));
        Assert.Equal(40, _h.Store.CountLive());
        Assert.Equal(40, _h.ManagedLines.Count);
        Assert.Equal(_h.Store.LastChangeId(), _h.Sync.State.RenderedChangeId);
    }

    [Fact]
    public async Task A_malformed_hosts_file_keeps_the_change_and_reports_stale()
    {
        var broken = EngineHarness.ForeignLines + HostsFileRenderer.BeginMarker + "\nhand-edited\n";
        File.WriteAllText(_h.HostsPath, broken);
        var (entry, outcome) = await Engine.AddAsync("t", new HostDraft("10.0.0.1", "a"), null, default);
        Assert.True(outcome!.HostsFileStale);
        Assert.Contains("malformed", outcome.File.LastError);
        Assert.NotNull(_h.Store.Get(entry.Id));
        Assert.Equal(broken, _h.HostsText);
    }

    // ---------------------------------------------------------------- import ids, commit freeze

    [Fact]
    public async Task An_import_naming_the_same_id_twice_is_refused_with_both_lines()
    {
        var csv = "id,ip_address,hostname\n01AAAAAAAAAAAAAAAAAAAAAAAA,10.9.0.1,a\n01AAAAAAAAAAAAAAAAAAAAAAAA,10.9.0.2,b\n";
        var e = await Refused(CoreErrorKind.InvalidArgument, () => _h.ImportAsync(csv, "csv"));
        Assert.Equal(["line 3: id 01AAAAAAAAAAAAAAAAAAAAAAAA repeats line 2"], e.Details);
        Assert.Empty(LiveContent());
    }

    [Fact]
    public async Task An_import_whose_id_and_name_point_at_different_hosts_is_refused_with_its_line()
    {
        var x = await _h.AddAsync("10.9.1.1", "x");
        await _h.AddAsync("10.9.1.2", "y");
        var csv = $"id,ip_address,hostname\n{x.Id},10.9.1.2,y\n";
        var e = await Refused(CoreErrorKind.AlreadyExists, () => _h.ImportAsync(csv, "csv", ConflictMode.Replace));
        Assert.StartsWith($"line 2: id {x.Id} and 10.9.1.2 y", e.Details.Single());
        Assert.Equal("x", _h.Store.Get(x.Id)!.Hostname);
    }

    [Fact]
    public async Task Staging_and_cancelling_are_refused_while_a_commit_is_under_way_and_allowed_again_if_it_fails()
    {
        var (token, _) = _h.Sessions.Start("alice");
        await Engine.AddAsync("alice", new HostDraft("10.9.2.1", "staged"), token, default);
        _h.Sessions.BeginCommit(token);
        var e = Assert.Throws<CoreException>(() => _h.Sessions.StageOne(token, new DeleteHostCommand("x", null)));
        Assert.Contains("being committed", e.Message);
        Assert.Throws<CoreException>(() => _h.Sessions.End(token));
        _h.Sessions.AbortCommit(token);
        Assert.Equal(1, _h.Sessions.End(token));
    }

    [Fact]
    public async Task Bulk_change_updates_and_removes_each_item_on_its_own_merits_in_order()
    {
        var a = await _h.AddAsync("10.0.0.1", "a");
        var b = await _h.AddAsync("10.0.0.2", "b");
        var c = await _h.AddAsync("10.0.0.3", "c");
        var channel = System.Threading.Channels.Channel.CreateUnbounded<HostCommand>();
        channel.Writer.TryWrite(new UpdateHostCommand(a.Id, new HostPatch(Comment: "bulk"), null));
        channel.Writer.TryWrite(new DeleteHostCommand(b.Id, "7"));          // stale version: refused, alone
        channel.Writer.TryWrite(new DeleteHostCommand(c.Id, null));
        channel.Writer.TryWrite(new DeleteHostCommand("01ZZZZZZZZZZZZZZZZZZZZZZZZ", null));
        channel.Writer.Complete();
        var results = new List<BulkItemResult>();
        await Engine.BulkChangeAsync("test", channel.Reader, null, r => { results.Add(r); return Task.CompletedTask; }, CancellationToken.None);

        Assert.Equal([0, 1, 2, 3], results.Select(r => r.Index));
        Assert.Equal([true, false, true, false], results.Select(r => r.Error is null));
        Assert.Equal(CoreErrorKind.NotFound, results[3].Error!.Kind);
        Assert.Equal(["10.0.0.1|a|bulk|[]|[]", "10.0.0.2|b|(null)|[]|[]"], LiveContent());
        Assert.DoesNotContain("10.0.0.3", _h.HostsText);
    }
}
