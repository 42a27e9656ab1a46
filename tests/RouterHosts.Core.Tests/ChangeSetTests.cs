using RouterHosts.Core.Hosts;
using RouterHosts.Core.Storage;
using RouterHosts.Core.Writes;
using RouterHosts.Storage.Sqlite;
using static RouterHosts.Core.Tests.Hosts;

namespace RouterHosts.Core.Tests;

/// <summary>ChangeSet over a real SQLite store (the committed base).</summary>
public sealed class ChangeSetTests : IDisposable
{
    private readonly TempDir _temp = new();
    private readonly SqliteHostStore _store;
    private static readonly DateTimeOffset Now = T0.AddHours(1);

    public ChangeSetTests()
    {
        _store = new SqliteHostStore(_temp.File("hosts.db"));
    }

    public void Dispose()
    {
        _store.Dispose();
        _temp.Dispose();
    }

    private HostEntry Committed(HostDraft draft) => Commit(_store, T0, set => set.Add(draft)).Result;

    private ChangeSet NewSet() => new(_store, Now);

    /// <summary>Everything observable about a set, to check that a failed operation changed nothing.</summary>
    private static string StateOf(ChangeSet set) =>
        string.Join("\n", set.Events.Select(e => $"{e.Type} {Describe(e.State)}")) + "\n--\n" +
        string.Join("\n", set.Overlay.OrderBy(p => p.Key).Select(p => $"{p.Key} {(p.Value is null ? "deleted" : Describe(p.Value))}"));

    private static CoreException Fails(ChangeSet set, CoreErrorKind kind, Action action)
    {
        var before = StateOf(set);
        var e = Assert.Throws<CoreException>(action);
        Assert.Equal(kind, e.Kind);
        Assert.Equal(before, StateOf(set));
        return e;
    }

    // ---------------------------------------------------------------- add

    [Fact]
    public void Add_validates_normalises_and_records_a_created_event()
    {
        var set = NewSet();
        var entry = set.Add(new HostDraft("2001:DB8:0:0::1", "Web", "c", ["t", "T"], ["www"]));
        Assert.Equal("2001:db8::1", entry.IpAddress);
        Assert.Equal("Web", entry.Hostname);
        Assert.Equal(["t"], entry.Tags);
        Assert.Equal(1, entry.Version);
        Assert.Equal(Now, entry.CreatedAt);
        Assert.Equal(Now, entry.UpdatedAt);
        Assert.Equal(26, entry.Id.Length);
        var e = Assert.Single(set.Events);
        Assert.Equal(HostEventType.Created, e.Type);
        Same(entry, e.State);
        Same(entry, set.Get(entry.Id));
        Same(entry, set.FindLive(new HostKey("2001:db8::1", "WEB")));
        Assert.Null(_store.Get(entry.Id)); // nothing touches storage
    }

    [Fact]
    public void Add_with_an_empty_comment_stores_no_comment()
    {
        var entry = NewSet().Add(new HostDraft("10.0.0.1", "web", ""));
        Assert.Null(entry.Comment);
    }

    [Fact]
    public void Add_of_a_live_key_is_AlreadyExists_whether_committed_or_in_the_set()
    {
        var committed = Committed(new HostDraft("10.0.0.1", "web"));
        var set = NewSet();
        var e = Fails(set, CoreErrorKind.AlreadyExists, () => set.Add(new HostDraft("10.0.0.1", "WEB")));
        Assert.Contains(committed.Id, e.Message);
        Assert.Contains("10.0.0.1 web", e.Message);

        set.Add(new HostDraft("10.0.0.2", "db"));
        Fails(set, CoreErrorKind.AlreadyExists, () => set.Add(new HostDraft("10.0.0.2", "DB")));
        Assert.Single(set.Events);
    }

    [Fact]
    public void Add_of_an_invalid_draft_changes_nothing()
    {
        var set = NewSet();
        set.Add(new HostDraft("10.0.0.1", "a"));
        Fails(set, CoreErrorKind.InvalidArgument, () => set.Add(new HostDraft("10.1", "b")));
        Fails(set, CoreErrorKind.InvalidArgument, () => set.Add(new HostDraft("10.0.0.2", "b", Aliases: ["b"])));
    }

    [Fact]
    public void Add_with_an_id_keeps_it_refuses_a_live_one_and_restores_a_deleted_one()
    {
        var set = NewSet();
        var added = set.Add(new HostDraft("10.0.0.1", "a"), "01FIXEDID");
        Assert.Equal("01FIXEDID", added.Id);
        var e = Fails(set, CoreErrorKind.AlreadyExists, () => set.Add(new HostDraft("10.0.0.2", "b"), "01FIXEDID"));
        Assert.Contains("01FIXEDID", e.Message);

        var committed = Committed(new HostDraft("10.0.0.3", "c"));
        Commit(_store, T0.AddSeconds(1), s => s.Delete(committed.Id, null));
        var again = NewSet();
        var restored = again.Add(new HostDraft("10.0.0.4", "c2"), committed.Id);
        Assert.Equal(3, restored.Version);
        Assert.Equal(HostEventType.Restored, again.Events.Single().Type);
    }

    // ---------------------------------------------------------------- update

    [Fact]
    public void Update_changes_given_fields_keeps_absent_ones_and_bumps_the_version()
    {
        var original = Committed(new HostDraft("10.0.0.1", "web", "keep me", ["a", "b"], ["www"]));
        var set = NewSet();
        var updated = set.Update(original.Id, new HostPatch(Hostname: "web2"), null);
        Assert.Equal("web2", updated.Hostname);
        Assert.Equal("10.0.0.1", updated.IpAddress);
        Assert.Equal("keep me", updated.Comment);
        Assert.Equal(["a", "b"], updated.Tags);
        Assert.Equal(["www"], updated.Aliases);
        Assert.Equal(2, updated.Version);
        Assert.Equal(original.CreatedAt, updated.CreatedAt);
        Assert.Equal(Now, updated.UpdatedAt);
        Assert.Equal(HostEventType.Updated, Assert.Single(set.Events).Type);

        var again = set.Update(original.Id, new HostPatch(IpAddress: "2001:DB8::5", Comment: "new"), "2");
        Assert.Equal("2001:db8::5", again.IpAddress);
        Assert.Equal("web2", again.Hostname);
        Assert.Equal(3, again.Version);
        Assert.Null(set.FindLive(new HostKey("10.0.0.1", "web")));
        Assert.Null(set.FindLive(new HostKey("10.0.0.1", "web2")));
        Assert.Equal(original.Id, set.FindLive(new HostKey("2001:db8::5", "web2"))!.Id);
    }

    [Fact]
    public void Empty_lists_and_an_empty_comment_clear()
    {
        var original = Committed(new HostDraft("10.0.0.1", "web", "c", ["a"], ["www"]));
        var updated = NewSet().Update(original.Id, new HostPatch(Comment: "", Tags: [], Aliases: []), null);
        Assert.Null(updated.Comment);
        Assert.Empty(updated.Tags);
        Assert.Empty(updated.Aliases);
    }

    [Fact]
    public void An_update_that_changes_nothing_records_nothing()
    {
        var original = Committed(new HostDraft("10.0.0.1", "web", "c", ["a"], ["www"]));
        var set = NewSet();
        var same = set.Update(original.Id, new HostPatch(Comment: "c", Tags: ["a"]), "1");
        Assert.Equal(1, same.Version);
        Assert.Empty(set.Events);
    }

    [Fact]
    public void Update_with_a_stale_expected_version_is_a_Conflict()
    {
        var original = Committed(new HostDraft("10.0.0.1", "web"));
        var set = NewSet();
        var e = Fails(set, CoreErrorKind.Conflict, () => set.Update(original.Id, new HostPatch(Comment: "x"), "7"));
        Assert.Contains("expected 7, current 1", e.Message);
        set.Update(original.Id, new HostPatch(Comment: "x"), "1");
        Fails(set, CoreErrorKind.Conflict, () => set.Update(original.Id, new HostPatch(Comment: "y"), "1"));
        Fails(set, CoreErrorKind.Conflict, () => set.Delete(original.Id, "1"));
        Assert.Equal(3, set.Update(original.Id, new HostPatch(Comment: "y"), "2").Version);
    }

    [Fact]
    public void Update_onto_a_live_key_is_AlreadyExists_and_changes_nothing()
    {
        var a = Committed(new HostDraft("10.0.0.1", "a"));
        Committed(new HostDraft("10.0.0.1", "b"));
        var set = NewSet();
        set.Update(a.Id, new HostPatch(Comment: "first"), null);
        Fails(set, CoreErrorKind.AlreadyExists, () => set.Update(a.Id, new HostPatch(Hostname: "B"), null));
        var c = set.Add(new HostDraft("10.0.0.2", "c"));
        Fails(set, CoreErrorKind.AlreadyExists, () => set.Update(a.Id, new HostPatch(IpAddress: "10.0.0.2", Hostname: "c"), null));
        Fails(set, CoreErrorKind.AlreadyExists, () => set.Update(c.Id, new HostPatch(IpAddress: "10.0.0.1", Hostname: "a"), null));
    }

    [Fact]
    public void Update_refusals_change_nothing()
    {
        var a = Committed(new HostDraft("10.0.0.1", "a", Aliases: ["x"]));
        var set = NewSet();
        Fails(set, CoreErrorKind.NotFound, () => set.Update("nope", new HostPatch(Comment: "x"), null));
        Fails(set, CoreErrorKind.InvalidArgument, () => set.Update("", new HostPatch(Comment: "x"), null));
        Fails(set, CoreErrorKind.InvalidArgument, () => set.Update(a.Id, new HostPatch(Hostname: "x"), null)); // = its alias
        Fails(set, CoreErrorKind.InvalidArgument, () => set.Update(a.Id, new HostPatch(Comment: "a\nb"), null));
        Fails(set, CoreErrorKind.InvalidArgument, () => set.Update(a.Id, new HostPatch(Tags: ["bad tag"]), null));
        Assert.Empty(set.Events);
    }

    [Fact]
    public void A_case_only_rename_keeps_the_key_and_is_recorded()
    {
        var a = Committed(new HostDraft("10.0.0.1", "web"));
        var set = NewSet();
        var renamed = set.Update(a.Id, new HostPatch(Hostname: "WEB"), null);
        Assert.Equal("WEB", renamed.Hostname);
        Assert.Equal(2, renamed.Version);
        Assert.Equal(a.Id, set.FindLive(new HostKey("10.0.0.1", "web"))!.Id);
    }

    // ---------------------------------------------------------------- delete and restore

    [Fact]
    public void Delete_records_a_tombstone_and_frees_the_key()
    {
        var a = Committed(new HostDraft("10.0.0.1", "web"));
        var set = NewSet();
        var tombstone = set.Delete(a.Id, "1");
        Assert.Equal(2, tombstone.Version);
        Assert.Equal(HostEventType.Deleted, set.Events.Single().Type);
        Assert.Null(set.Get(a.Id));
        Same(tombstone, set.Get(a.Id, includeDeleted: true));
        Assert.Null(set.FindLive(new HostKey("10.0.0.1", "web")));
        Fails(set, CoreErrorKind.NotFound, () => set.Delete(a.Id, null));
        Fails(set, CoreErrorKind.NotFound, () => set.Update(a.Id, new HostPatch(Comment: "x"), null));

        // The freed key can be taken again within the same set.
        var b = set.Add(new HostDraft("10.0.0.1", "WEB"));
        Assert.Equal(b.Id, set.FindLive(new HostKey("10.0.0.1", "web"))!.Id);
        Assert.Equal(a.Id, _store.Get(a.Id)!.Id); // still committed until appended
    }

    [Fact]
    public void Add_then_delete_in_one_set_leaves_nothing_after_commit()
    {
        var set = NewSet();
        var a = set.Add(new HostDraft("10.0.0.1", "temp"));
        set.Update(a.Id, new HostPatch(Comment: "c"), "1");
        set.Delete(a.Id, "2");
        _store.Append(set.Events, "t", Now);
        Assert.Null(_store.Get(a.Id));
        Assert.Equal(0, _store.CountLive());
    }

    [Fact]
    public void Restore_recreates_updates_or_revives_with_the_recorded_id()
    {
        var live = Committed(new HostDraft("10.0.0.1", "live", "old"));
        var gone = Committed(new HostDraft("10.0.0.2", "gone"));
        Commit(_store, T0.AddSeconds(1), s => s.Delete(gone.Id, null));
        var set = NewSet();

        set.Restore(live with { Comment = "recorded" });
        set.Restore(gone);
        set.Restore(Entry("01NEVERSEEN", "10.0.0.3", "fresh", at: T0));
        set.Restore(live with { Comment = "recorded" }); // already so: no event

        Assert.Equal([HostEventType.Updated, HostEventType.Restored, HostEventType.Restored], set.Events.Select(e => e.Type));
        Assert.Equal("recorded", set.Get(live.Id)!.Comment);
        Assert.Equal(2, set.Get(live.Id)!.Version);
        Assert.Equal(3, set.Get(gone.Id)!.Version);
        Assert.Equal(1, set.Get("01NEVERSEEN")!.Version);
        Assert.Equal(live.CreatedAt, set.Get(live.Id)!.CreatedAt);
    }

    [Fact]
    public void Restoring_a_swap_of_keys_leaves_each_key_with_its_holder()
    {
        var a = Committed(new HostDraft("10.0.0.1", "alpha"));
        var b = Committed(new HostDraft("10.0.0.1", "beta"));
        var set = NewSet();
        set.Restore(a with { Hostname = "beta" });
        set.Restore(b with { Hostname = "alpha" });
        Assert.Equal(a.Id, set.FindLive(new HostKey("10.0.0.1", "beta"))?.Id);
        Assert.Equal(b.Id, set.FindLive(new HostKey("10.0.0.1", "alpha"))?.Id);

        _store.Append(set.Events, "t", Now);
        Assert.Equal(a.Id, _store.FindLive(new HostKey("10.0.0.1", "beta"))?.Id);
        Assert.Equal(b.Id, _store.FindLive(new HostKey("10.0.0.1", "alpha"))?.Id);
    }

    [Fact]
    public void A_set_layered_on_a_set_sees_both()
    {
        var committed = Committed(new HostDraft("10.0.0.1", "a"));
        var staged = NewSet();
        var b = staged.Add(new HostDraft("10.0.0.2", "b"));
        staged.Delete(committed.Id, null);
        var scratch = new ChangeSet(staged, Now);
        Assert.Null(scratch.Get(committed.Id));
        Assert.Equal(b.Id, scratch.FindLive(new HostKey("10.0.0.2", "b"))!.Id);
        Assert.Throws<CoreException>(() => scratch.Add(new HostDraft("10.0.0.2", "B")));
        scratch.Add(new HostDraft("10.0.0.1", "a"));
        Assert.Single(scratch.Events);
        Assert.Equal(2, staged.Events.Count);
    }

    [Fact]
    public void Prefetch_looks_the_keys_up_in_one_call_and_the_adds_judge_conflicts_by_it_as_without()
    {
        var committed = Committed(new HostDraft("10.0.0.1", "web"));
        var counting = new CountingLookup(_store);
        var set = new ChangeSet(counting, Now);
        set.Prefetch([new HostDraft("10.0.0.1", "WEB"), new HostDraft("10.0.0.2", "db"), new HostDraft("not an ip", "x")]);
        Assert.Equal((0, 1), (counting.Single, counting.Many));

        Fails(set, CoreErrorKind.AlreadyExists, () => set.Add(new HostDraft("10.0.0.1", "web")));
        set.Add(new HostDraft("10.0.0.2", "db"));
        set.Delete(committed.Id, null);
        set.Add(new HostDraft("10.0.0.1", "web")); // freed within the set
        Assert.Throws<CoreException>(() => set.Add(new HostDraft("not an ip", "x")));
        Assert.Equal((0, 1), (counting.Single, counting.Many));
        set.Add(new HostDraft("10.0.0.3", "other")); // not prefetched: looked up on its own
        Assert.Equal((1, 1), (counting.Single, counting.Many));
    }

    [Fact]
    public void A_set_over_another_set_prefetches_with_one_call_to_the_store_and_sees_the_lower_sets_changes()
    {
        var committed = Committed(new HostDraft("10.0.0.1", "web"));
        var moved = Committed(new HostDraft("10.0.0.4", "moved"));
        var counting = new CountingLookup(_store);
        // As a group commit plans: the second write's set over the first's.
        var earlier = new ChangeSet(counting, Now);
        earlier.Delete(committed.Id, null);
        earlier.Add(new HostDraft("10.0.0.2", "db"));
        earlier.Update(moved.Id, new HostPatch(IpAddress: "10.0.0.5"), null);
        var later = new ChangeSet(earlier, Now);
        counting.Single = counting.Many = 0;
        later.Prefetch([new HostDraft("10.0.0.1", "web"), new HostDraft("10.0.0.2", "DB"), new HostDraft("10.0.0.3", "new"),
            new HostDraft("10.0.0.4", "moved"), new HostDraft("10.0.0.5", "moved")]);
        Assert.Equal((0, 1), (counting.Single, counting.Many));

        later.Add(new HostDraft("10.0.0.1", "web")); // freed by the earlier set
        later.Add(new HostDraft("10.0.0.4", "moved")); // the earlier set moved its holder away
        Fails(later, CoreErrorKind.AlreadyExists, () => later.Add(new HostDraft("10.0.0.2", "db"))); // taken by the earlier set
        Fails(later, CoreErrorKind.AlreadyExists, () => later.Add(new HostDraft("10.0.0.5", "moved")));
        later.Add(new HostDraft("10.0.0.3", "new"));
        Assert.Equal((0, 1), (counting.Single, counting.Many));
    }

    /// <summary>The real store, counting the key lookups a set makes of it.</summary>
    private sealed class CountingLookup(IHostLookup store) : IHostLookup
    {
        public int Single, Many;
        public HostEntry? Get(string id, bool includeDeleted = false) => store.Get(id, includeDeleted);
        public HostEntry? FindLive(HostKey key) { Single++; return store.FindLive(key); }
        public IReadOnlyList<HostEntry> FindLiveMany(IReadOnlyCollection<HostKey> keys) { Many++; return store.FindLiveMany(keys); }
    }
}
