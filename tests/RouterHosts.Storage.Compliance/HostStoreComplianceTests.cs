using RouterHosts.Core.Hosts;
using RouterHosts.Core.Storage;
using static RouterHosts.Core.Tests.Hosts;

namespace RouterHosts.Core.Tests.Storage;

/// <summary>
/// The contract every <see cref="IHostStore"/> backend must honour. A backend's test
/// class derives from this and supplies <see cref="CreateStore"/>; each call with the
/// same directory must open the same database (for durability and reopen tests).
/// </summary>
public abstract class HostStoreComplianceTests : IDisposable
{
    private readonly List<IHostStore> _opened = new();

    protected HostStoreComplianceTests()
    {
        Temp = new TempDir();
        Store = Open();
    }

    protected TempDir Temp { get; }
    protected IHostStore Store { get; private set; }

    /// <summary>Opens (creating on first use) the backend's database kept in <paramref name="directory"/>.</summary>
    protected abstract IHostStore CreateStore(string directory);

    protected IHostStore Open()
    {
        var store = CreateStore(Temp.Path);
        _opened.Add(store);
        return store;
    }

    /// <summary>Disposes the current store and opens the database again.</summary>
    protected IHostStore Reopen()
    {
        CloseStore();
        Store = Open();
        return Store;
    }

    /// <summary>Disposes the current store (a clean stop).</summary>
    protected void CloseStore()
    {
        if (_opened.Remove(Store)) Store.Dispose();
    }

    public virtual void Dispose()
    {
        foreach (var store in _opened) store.Dispose();
        Temp.Dispose();
    }

    /// <summary>
    /// A time with a sub-second part down to the microsecond, so every comparison in this
    /// suite also checks that the store keeps timestamp precision (not whole seconds or milliseconds).
    /// </summary>
    protected static DateTimeOffset T(int seconds) => T0.AddSeconds(seconds).AddMicroseconds(123_457);

    private long Append(DateTimeOffset at, params PendingEvent[] events) => Store.Append(events, "tester", at);

    private static PendingEvent Created(HostEntry e) => new(HostEventType.Created, e);

    // ---------------------------------------------------------------- Append

    [Fact]
    public void Append_updates_projection_and_event_log_together()
    {
        Assert.Equal(0, Store.LastChangeId());
        var a = Entry("01A", "10.0.0.1", "Web", "front door", ["prod", "web"], ["www", "w"], T(1));
        var changeId = Append(T(1), Created(a));

        Assert.True(changeId > 0);
        Assert.Equal(changeId, Store.LastChangeId());
        Same(a, Store.Get("01A"));
        Assert.Equal(1, Store.CountLive());
        var history = Store.History("01A");
        var only = Assert.Single(history);
        Assert.Equal(HostEventType.Created, only.Type);
        Assert.Equal(1, only.Version);
        Assert.Equal("01A", only.HostId);
        Assert.Equal("tester", only.Actor);
        Assert.Equal(T(1), only.OccurredAt);
        Assert.Equal(changeId, only.EventId);
        Same(a, only.State);
    }

    [Fact]
    public void Append_is_all_or_nothing_when_one_event_breaks_key_uniqueness()
    {
        Append(T(1), Created(Entry("01A", "10.0.0.1", "web", at: T(1))));
        var before = Store.LastChangeId();

        var e = Assert.ThrowsAny<CoreException>(() => Append(T(2),
            Created(Entry("01B", "10.0.0.2", "db", at: T(2))),
            Created(Entry("01C", "10.0.0.1", "WEB", at: T(2)))));
        Assert.Equal(CoreErrorKind.Conflict, e.Kind);

        Assert.Null(Store.Get("01B", includeDeleted: true));
        Assert.Empty(Store.History("01B"));
        Assert.Empty(Store.History("01C"));
        Assert.Equal(before, Store.LastChangeId());
        Assert.Equal(1, Store.CountLive());
        // The store still works after the failed transaction.
        Append(T(3), Created(Entry("01B", "10.0.0.2", "db", at: T(3))));
        Assert.Equal(2, Store.CountLive());
    }

    [Fact]
    public void AppendGroup_commits_each_change_with_its_own_change_id_actor_and_time()
    {
        Append(T(1), Created(Entry("01A", "10.0.0.1", "web", at: T(1))));
        var before = Store.LastChangeId();
        var moved = Entry("01A", "10.0.0.9", "web", at: T(1), version: 2) with { UpdatedAt = T(2) };
        // The second change takes the key the first one freed: only the group's final states must be unique.
        var ids = Store.AppendGroup([
            new PendingChange([new PendingEvent(HostEventType.Updated, moved)], "alice", T(2)),
            new PendingChange([Created(Entry("01B", "10.0.0.1", "web", at: T(3))), Created(Entry("01C", "10.0.0.3", "c", at: T(3)))], "bob", T(3)),
        ]);

        Assert.Equal([before + 1, before + 3], ids);
        Assert.Equal(before + 3, Store.LastChangeId());
        Same(moved, Store.Get("01A"));
        Assert.Equal(3, Store.CountLive());
        var update = Store.History("01A")[^1];
        Assert.Equal((before + 1, "alice", T(2)), (update.EventId, update.Actor, update.OccurredAt));
        var added = Store.History("01C").Single();
        Assert.Equal((before + 3, "bob", T(3)), (added.EventId, added.Actor, added.OccurredAt));
    }

    [Fact]
    public void AppendGroup_is_all_or_nothing_when_one_change_breaks_key_uniqueness()
    {
        Append(T(1), Created(Entry("01A", "10.0.0.1", "web", at: T(1))));
        var before = Store.LastChangeId();

        var e = Assert.ThrowsAny<CoreException>(() => Store.AppendGroup([
            new PendingChange([Created(Entry("01B", "10.0.0.2", "db", at: T(2)))], "tester", T(2)),
            new PendingChange([Created(Entry("01C", "10.0.0.1", "WEB", at: T(2)))], "tester", T(2)),
        ]));
        Assert.Equal(CoreErrorKind.Conflict, e.Kind);
        Assert.Null(Store.Get("01B", includeDeleted: true));
        Assert.Equal(before, Store.LastChangeId());
        Assert.Equal(1, Store.CountLive());
    }

    [Fact]
    public void Append_rejects_a_repeated_event_version_and_changes_nothing()
    {
        var a = Entry("01A", "10.0.0.1", "web", at: T(1));
        Append(T(1), Created(a));
        var before = Store.LastChangeId();
        Assert.ThrowsAny<Exception>(() => Append(T(2),
            new PendingEvent(HostEventType.Updated, a with { Hostname = "other" })));
        Same(a, Store.Get("01A"));
        Assert.Single(Store.History("01A"));
        Assert.Equal(before, Store.LastChangeId());
    }

    [Fact]
    public void Unique_live_key_is_ip_plus_case_insensitive_hostname_and_deleted_entries_free_it()
    {
        var a = Entry("01A", "10.0.0.1", "web", at: T(1));
        Append(T(1), Created(a));
        // Same hostname on another IP, other hostname on the same IP: fine.
        Append(T(2), Created(Entry("01B", "10.0.0.2", "web", at: T(2))), Created(Entry("01C", "10.0.0.1", "db", at: T(2))));
        Assert.ThrowsAny<CoreException>(() => Append(T(3), Created(Entry("01D", "10.0.0.1", "WeB", at: T(3)))));

        // Deleting the holder frees the key, in the same change even.
        Append(T(4), new PendingEvent(HostEventType.Deleted, a with { Version = 2, UpdatedAt = T(4) }),
            Created(Entry("01D", "10.0.0.1", "WEB", at: T(4))));
        Assert.Equal("01D", Store.FindLive(new HostKey("10.0.0.1", "web"))!.Id);
        Assert.Null(Store.Get("01A"));
        Assert.Equal(3, Store.CountLive());
    }

    [Fact]
    public void Several_events_of_one_host_in_one_append_leave_the_last_state()
    {
        var x = Entry("01X", "10.0.0.9", "temp", at: T(1));
        var y = Entry("01Y", "10.0.0.8", "kept", at: T(1));
        var id = Append(T(1),
            Created(x),
            new PendingEvent(HostEventType.Updated, x with { Hostname = "temp2", Version = 2 }),
            new PendingEvent(HostEventType.Deleted, x with { Hostname = "temp2", Version = 3 }),
            Created(y),
            new PendingEvent(HostEventType.Updated, y with { Comment = "changed", Version = 2 }));

        Assert.Null(Store.Get("01X"));
        Assert.Equal(3, Store.Get("01X", includeDeleted: true)!.Version);
        Assert.Null(Store.FindLive(new HostKey("10.0.0.9", "temp")));
        Assert.Null(Store.FindLive(new HostKey("10.0.0.9", "temp2")));
        Same(y with { Comment = "changed", Version = 2 }, Store.Get("01Y"));
        Assert.Equal(1, Store.CountLive());
        Assert.Equal(["01Y"], Store.StreamAll().Select(e => e.Id));

        var history = Store.History("01X");
        Assert.Equal([1L, 2L, 3L], history.Select(h => h.Version));
        Assert.Equal([HostEventType.Created, HostEventType.Updated, HostEventType.Deleted], history.Select(h => h.Type));
        // The log is in the order the events were given: event ids grow with versions.
        Assert.True(history[0].EventId < history[1].EventId && history[1].EventId < history[2].EventId);
        Assert.Equal(id, Store.LastChangeId());
    }

    [Fact]
    public void The_projection_is_the_state_of_each_hosts_last_event()
    {
        var model = GeneratedSet.Populate(Store, seed: 99);
        // A host brought back with a state of its own (as an import with a deleted id does): every field counts.
        var a = Entry("01A", "10.9.0.1", "a", "old", at: T(1));
        Append(T(1), Created(a));
        Append(T(2), new PendingEvent(HostEventType.Deleted, a with { Version = 2, UpdatedAt = T(2) }));
        var back = Entry("01A", "10.9.0.2", "a2", "new", ["t"], ["x"], T(3), version: 3);
        Append(T(3), new PendingEvent(HostEventType.Restored, back));
        Same(back, Store.Get("01A"));

        var ids = Store.StreamAll().Select(e => e.Id).Concat(model.Keys).Append("01A").Distinct().ToList();
        foreach (var id in ids)
        {
            var last = Store.History(id)[^1];
            Same(last.State, Store.Get(id, includeDeleted: true));
            Assert.Equal(last.Type == HostEventType.Deleted, Store.Get(id) is null);
        }
    }

    [Fact]
    public void A_change_that_swaps_two_keys_is_valid_as_a_whole()
    {
        var a = Entry("01A", "10.0.0.1", "alpha", at: T(1));
        var b = Entry("01B", "10.0.0.1", "beta", at: T(1));
        Append(T(1), Created(a), Created(b));

        // As a rollback produces it: each entry restored to the other's current key.
        Append(T(2),
            new PendingEvent(HostEventType.Updated, a with { Hostname = "beta", Version = 2, UpdatedAt = T(2) }),
            new PendingEvent(HostEventType.Updated, b with { Hostname = "alpha", Version = 2, UpdatedAt = T(2) }));

        Assert.Equal("01B", Store.FindLive(new HostKey("10.0.0.1", "alpha"))!.Id);
        Assert.Equal("01A", Store.FindLive(new HostKey("10.0.0.1", "beta"))!.Id);
    }

    // ---------------------------------------------------------------- Get / FindLive

    [Fact]
    public void FindLiveMany_finds_the_live_entries_holding_the_keys_and_nothing_else()
    {
        Assert.Empty(Store.FindLiveMany([]));
        var a = Entry("01A", "10.0.0.1", "Web", at: T(1));
        var b = Entry("01B", "10.0.0.2", "db", at: T(1));
        var gone = Entry("01C", "10.0.0.3", "old", at: T(1));
        Append(T(1), Created(a), Created(b), Created(gone));
        Append(T(2), new PendingEvent(HostEventType.Deleted, gone with { Version = 2, UpdatedAt = T(2) }));

        var found = Store.FindLiveMany([new HostKey("10.0.0.1", "WEB"), new HostKey("10.0.0.3", "old"), new HostKey("10.0.0.9", "db"),
            new HostKey("10.0.0.2", "db")]);
        Assert.Equal(["01A", "01B"], found.Select(e => e.Id).Order());
        Same(a, found.Single(e => e.Id == "01A"));
    }

    [Fact]
    public void Get_and_FindLive_see_live_entries_and_deleted_ones_only_when_asked()
    {
        Assert.Null(Store.Get("nope"));
        Assert.Null(Store.Get("nope", includeDeleted: true));
        Assert.Null(Store.FindLive(new HostKey("10.0.0.1", "web")));

        var a = Entry("01A", "10.0.0.1", "Web", at: T(1));
        Append(T(1), Created(a));
        Same(a, Store.FindLive(new HostKey("10.0.0.1", "WEB")));
        Same(a, Store.FindLive(new HostKey("10.0.0.1", "web")));
        Assert.Null(Store.FindLive(new HostKey("10.0.0.2", "web")));

        // Move the key: the old one is free, the new one found.
        var moved = a with { IpAddress = "10.0.0.2", Version = 2, UpdatedAt = T(2) };
        Append(T(2), new PendingEvent(HostEventType.Updated, moved));
        Assert.Null(Store.FindLive(new HostKey("10.0.0.1", "web")));
        Same(moved, Store.FindLive(new HostKey("10.0.0.2", "web")));

        var tombstone = moved with { Version = 3, UpdatedAt = T(3) };
        Append(T(3), new PendingEvent(HostEventType.Deleted, tombstone));
        Assert.Null(Store.Get("01A"));
        Same(tombstone, Store.Get("01A", includeDeleted: true));
        Assert.Null(Store.FindLive(new HostKey("10.0.0.2", "web")));
        Assert.Equal(0, Store.CountLive());
        Assert.Empty(Store.StreamAll());
        Assert.Empty(Store.List(HostQuery.All));

        var restored = moved with { Version = 4, UpdatedAt = T(4) };
        Append(T(4), new PendingEvent(HostEventType.Restored, restored));
        Same(restored, Store.Get("01A"));
        Same(restored, Store.FindLive(new HostKey("10.0.0.2", "web")));
    }

    [Fact]
    public void Entries_keep_every_field_exactly()
    {
        var unusual = Entry("01U", "2001:db8::1", "MiXeD.Case.Example", "[not tags] Café ☕, \"quoted\" 'x' #hash; 😀",
            ["a:b", "x/y", "k=v", "u@h", "p+q", "dot.ted", "under_score"], ["alias-1", "ALIAS2.lan"], T(1));
        var empty = Entry("01E", "::", "e", null, [], [], T(1));
        var longComment = Entry("01L", "255.255.255.255", new string('a', 63) + ".b", new string('c', HostValidator.MaxCommentLength), at: T(1));
        Append(T(1), Created(unusual), Created(empty), Created(longComment));

        Same(unusual, Store.Get("01U"));
        Same(empty, Store.Get("01E"));
        Same(longComment, Store.Get("01L"));
        Same(unusual, Store.History("01U").Single().State);
    }

    // ---------------------------------------------------------------- order and lists

    [Fact]
    public void StreamAll_is_in_HostQuery_Order_ip_numerically_ipv4_first_then_hostname_then_id()
    {
        var entries = new[]
        {
            Entry("01H", "2001:db8::1", "z", at: T(1)),
            Entry("01G", "::1", "local6", at: T(1)),
            Entry("01F", "192.168.1.1", "router", at: T(1)),
            Entry("01E", "10.0.0.1", "b", at: T(1)),
            Entry("01D", "10.0.0.1", "A", at: T(1)),
            Entry("01C", "9.255.255.255", "nine", at: T(1)),
            Entry("01B", "10.0.0.10", "ten", at: T(1)),
            Entry("01A", "10.0.0.2", "two", at: T(1)),
            Entry("01I", "::ffff:1.2.3.4", "mapped", at: T(1)),
            Entry("01J", "fe80::1", "linklocal", at: T(1)),
            Entry("01K", "0.0.0.0", "zero", at: T(1)),
        };
        Append(T(1), entries.Select(Created).ToArray());

        var expected = new[]
        {
            "0.0.0.0 zero", "9.255.255.255 nine", "10.0.0.1 A", "10.0.0.1 b", "10.0.0.2 two", "10.0.0.10 ten",
            "192.168.1.1 router", "::1 local6", "::ffff:1.2.3.4 mapped", "2001:db8::1 z", "fe80::1 linklocal",
        };
        Assert.Equal(expected, Store.StreamAll().Select(e => $"{e.IpAddress} {e.Hostname}"));
        Assert.Equal(expected, Store.List(HostQuery.All).Select(e => $"{e.IpAddress} {e.Hostname}"));
        Same(entries.Order(HostQuery.Order), Store.StreamAll());
    }

    [Fact]
    public void List_returns_exactly_what_HostQuery_Apply_returns_over_a_generated_set()
    {
        var model = GeneratedSet.Populate(Store, seed: 20300101);
        Assert.True(model.Count >= 300, $"generated {model.Count} live entries");

        // StreamAll itself must be the model in the one order, or comparing with it proves nothing.
        Same(model.Values.Order(HostQuery.Order), Store.StreamAll());
        Assert.Equal(model.Count, Store.CountLive());

        var queries = GeneratedSet.Queries(model.Values.ToList(), seed: 7).ToList();
        Assert.True(queries.Count >= 500);
        var nonEmpty = 0;
        var all = Store.StreamAll().ToList(); // nothing changes during the loop
        foreach (var query in queries)
        {
            var expected = query.Apply(all);
            var actual = Store.List(query);
            var e = expected.Select(Describe).ToList();
            var a = actual.Select(Describe).ToList();
            if (!e.SequenceEqual(a))
            {
                Assert.Fail($"List({query}) differs from Apply: expected {e.Count} [{string.Join("; ", e.Take(5).Select(x => x.Split('|')[0]))}...] " +
                            $"got {a.Count} [{string.Join("; ", a.Take(5).Select(x => x.Split('|')[0]))}...]; " +
                            $"missing {string.Join(", ", e.Except(a).Take(3))}; extra {string.Join(", ", a.Except(e).Take(3))}");
            }
            if (e.Count > 0) nonEmpty++;
        }
        // The queries must actually select things, or the comparison is vacuous.
        Assert.True(nonEmpty > queries.Count / 2, $"only {nonEmpty} of {queries.Count} queries matched anything");
    }

    [Fact]
    public void List_honours_each_criterion_offset_and_limit()
    {
        Append(T(1),
            Created(Entry("01A", "10.0.0.1", "web", "Front Door", ["Prod"], ["www"], T(1))),
            Created(Entry("01B", "10.0.0.2", "db", null, ["prod", "sql"], [], T(1))),
            Created(Entry("01C", "2001:db8::1", "web6", "v6 front", [], ["www6"], T(1))),
            Created(Entry("01D", "10.0.0.3", "mail", "postfix", ["mx"], ["smtp"], T(1))));

        string Ids(HostQuery q) => string.Join(",", Store.List(q).Select(e => e.Id));
        Assert.Equal("01A,01B,01D,01C", Ids(HostQuery.All));
        Assert.Equal("01A,01C", Ids(new HostQuery(Text: "FRONT")));
        Assert.Equal("01A,01C", Ids(new HostQuery(Text: "www")));      // aliases are searched
        Assert.Equal("01B", Ids(new HostQuery(Text: "SQL")));          // tags are searched
        Assert.Equal("01C", Ids(new HostQuery(Text: "db8")));          // the IP is searched
        Assert.Equal("01A,01C", Ids(new HostQuery(HostnamePattern: "WEB*")));
        Assert.Equal("01D", Ids(new HostQuery(HostnamePattern: "smt?")));  // patterns match aliases too
        Assert.Equal("", Ids(new HostQuery(HostnamePattern: "we")));       // anchored
        Assert.Equal("01B", Ids(new HostQuery(IpAddress: "10.0.0.2")));
        Assert.Equal("01A,01B", Ids(new HostQuery(Tag: "PROD")));
        Assert.Equal("", Ids(new HostQuery(Tag: "pro")));                  // whole tags only
        Assert.Equal("01B", Ids(new HostQuery(Tag: "prod", Text: "db")));  // criteria combine
        Assert.Equal("01B,01D", Ids(new HostQuery(Offset: 1, Limit: 2)));
        Assert.Equal("01C", Ids(new HostQuery(Offset: 3)));
        Assert.Equal("", Ids(new HostQuery(Offset: 4)));
        Assert.Equal("", Ids(new HostQuery(Limit: 0)));
        Assert.Equal("01A", Ids(new HostQuery(Limit: 1)));
    }

    [Fact]
    public async Task A_cursor_does_not_block_a_write()
    {
        for (var i = 0; i < 50; i++) Append(T(1), Created(Entry($"01A{i:D3}", $"10.0.1.{i}", "h" + i, at: T(1))));
        using var cursor = Store.StreamAll().GetEnumerator();
        Assert.True(cursor.MoveNext());
        var write = Task.Run(() => Append(T(2), Created(Entry("01Z", "10.0.2.1", "late", at: T(2)))));
        Assert.Same(write, await Task.WhenAny(write, Task.Delay(TimeSpan.FromSeconds(10))));
        await write;
        var seen = 1;
        while (cursor.MoveNext()) seen++;
        Assert.True(seen >= 50);
        Assert.Equal(51, Store.CountLive());
    }

    // ---------------------------------------------------------------- change ids, history, as-of

    [Fact]
    public void LastChangeId_grows_with_every_change()
    {
        Assert.Equal(0, Store.LastChangeId());
        var a = Entry("01A", "10.0.0.1", "a", at: T(1));
        var ids = new List<long>
        {
            Append(T(1), Created(a)),
            Append(T(2), new PendingEvent(HostEventType.Updated, a with { Comment = "x", Version = 2 })),
            Append(T(3), Created(Entry("01B", "10.0.0.2", "b", at: T(3))), Created(Entry("01C", "10.0.0.3", "c", at: T(3)))),
            Append(T(4), new PendingEvent(HostEventType.Deleted, a with { Version = 3 })),
        };
        for (var i = 1; i < ids.Count; i++) Assert.True(ids[i] > ids[i - 1], $"change ids {string.Join(",", ids)}");
        Assert.Equal(ids[^1], Store.LastChangeId());
    }

    [Fact]
    public void History_replays_every_event_of_one_host_in_version_order()
    {
        var a = Entry("01A", "10.0.0.1", "a", "one", at: T(1));
        Append(T(1), Created(a));
        Append(T(2), Created(Entry("01B", "10.0.0.2", "b", at: T(2))));
        var v2 = a with { Comment = "two", Tags = ["t"], Version = 2, UpdatedAt = T(3) };
        Append(T(3), new PendingEvent(HostEventType.Updated, v2));
        var v3 = v2 with { Version = 3, UpdatedAt = T(4) };
        Append(T(4), new PendingEvent(HostEventType.Deleted, v3));
        var v4 = v2 with { Version = 4, UpdatedAt = T(5) };
        Append(T(5), new PendingEvent(HostEventType.Restored, v4));

        var history = Store.History("01A");
        Assert.Equal([HostEventType.Created, HostEventType.Updated, HostEventType.Deleted, HostEventType.Restored],
            history.Select(h => h.Type));
        Same([a, v2, v3, v4], history.Select(h => h.State));
        Assert.Equal([T(1), T(3), T(4), T(5)], history.Select(h => h.OccurredAt));
        Assert.All(history, h => Assert.Equal("01A", h.HostId));
        Assert.Empty(Store.History("unknown"));
    }

    [Fact]
    public void GetAsOf_and_ListAsOf_replay_the_log()
    {
        var a1 = Entry("01A", "10.0.0.1", "a", "first", at: T(10));
        var b1 = Entry("01B", "10.0.0.2", "b", at: T(20));
        var a2 = a1 with { IpAddress = "10.0.0.5", Comment = "second", Version = 2, UpdatedAt = T(30) };
        var b2 = b1 with { Version = 2, UpdatedAt = T(40) };
        var c1 = Entry("01C", "::1", "c", at: T(40));
        Append(T(10), Created(a1));
        Append(T(20), Created(b1));
        Append(T(30), new PendingEvent(HostEventType.Updated, a2));
        Append(T(40), new PendingEvent(HostEventType.Deleted, b2), Created(c1));

        Assert.Null(Store.GetAsOf("01A", T(9)));
        Same(a1, Store.GetAsOf("01A", T(10)));
        Same(a1, Store.GetAsOf("01A", T(29)));
        Same(a2, Store.GetAsOf("01A", T(30)));
        Same(a2, Store.GetAsOf("01A", T(1000)));
        Same(b1, Store.GetAsOf("01B", T(39)));
        Assert.Null(Store.GetAsOf("01B", T(40)));
        Assert.Null(Store.GetAsOf("unknown", T(40)));

        Assert.Empty(Store.ListAsOf(T(5)));
        Same([a1], Store.ListAsOf(T(10)));
        Same([a1, b1], Store.ListAsOf(T(25)));
        Same([b1, a2], Store.ListAsOf(T(35)));   // a moved to .5, after b at .2
        Same([a2, c1], Store.ListAsOf(T(40)));
        Same(Store.StreamAll(), Store.ListAsOf(T(99)));
    }

    [Fact]
    public void Timestamps_keep_microseconds_in_hosts_history_as_of_and_snapshots()
    {
        // Each time the store keeps has its own sub-second part, down to the microsecond.
        var created = T0.AddMicroseconds(1);
        var updated = T0.AddSeconds(1).AddMicroseconds(654_321);
        var occurred = T0.AddSeconds(2).AddMicroseconds(999_999);
        var a = Entry("01A", "10.0.0.1", "a") with { CreatedAt = created, UpdatedAt = updated };
        Append(occurred, Created(a));

        void Check(IHostStore store)
        {
            Same(a, store.Get("01A"));
            Same(a, store.FindLive(new HostKey("10.0.0.1", "a")));
            Same([a], store.List(HostQuery.All));
            var only = Assert.Single(store.History("01A"));
            Assert.Equal(occurred.UtcTicks, only.OccurredAt.UtcTicks);
            Same(a, only.State);
            // One microsecond either side of the event tells it apart.
            Assert.Null(store.GetAsOf("01A", occurred.AddMicroseconds(-1)));
            Same(a, store.GetAsOf("01A", occurred));
            Assert.Empty(store.ListAsOf(occurred.AddMicroseconds(-1)));
            Same([a], store.ListAsOf(occurred));
        }
        Check(Store);
        Check(Reopen());

        var takenAt = T0.AddSeconds(3).AddMicroseconds(500_001);
        var snapshot = Store.CreateSnapshot("s", "manual", [a], "text", takenAt);
        Assert.Equal(takenAt.UtcTicks, Store.GetSnapshot(snapshot.Id)!.CreatedAt.UtcTicks);
        Assert.Equal(takenAt.UtcTicks, Store.ListSnapshots(0, null).Single().CreatedAt.UtcTicks);
        Same([a], Store.GetSnapshotEntries(snapshot.Id));
        // Pruning by age compares at the same precision: a microsecond older goes, the same instant stays.
        Assert.Equal(0, Store.PruneSnapshots(10, takenAt));
        Assert.Equal(1, Store.PruneSnapshots(10, takenAt.AddMicroseconds(1)));
    }

    // ---------------------------------------------------------------- compaction

    /// <summary>Host 01A: created at 1, updated at 2 and 3, deleted at 4, restored at 5; 01B created at 2.</summary>
    protected (HostEntry[] A, HostEntry B) CompactionHistory()
    {
        var a1 = Entry("01A", "10.0.0.1", "a", "one", at: T(1));
        var a2 = a1 with { Comment = "two", Version = 2, UpdatedAt = T(2) };
        var a3 = a2 with { Tags = ["t"], Version = 3, UpdatedAt = T(3) };
        var a4 = a3 with { Version = 4, UpdatedAt = T(4) };
        var a5 = a3 with { Version = 5, UpdatedAt = T(5) };
        var b = Entry("01B", "10.0.0.2", "b", at: T(2));
        Append(T(1), Created(a1));
        Append(T(2), new PendingEvent(HostEventType.Updated, a2), Created(b));
        Append(T(3), new PendingEvent(HostEventType.Updated, a3));
        Append(T(4), new PendingEvent(HostEventType.Deleted, a4));
        Append(T(5), new PendingEvent(HostEventType.Restored, a5));
        return ([a1, a2, a3, a4, a5], b);
    }

    [Fact]
    public void Compact_folds_the_events_at_or_before_the_horizon_into_one_baseline()
    {
        var (a, b) = CompactionHistory();
        var changeId = Store.LastChangeId();
        var live = Store.StreamAll().ToList();

        var folded = Store.Compact(hostId: null, overThreshold: null, horizon: T(3), dryRun: false);

        Assert.Equal([new CompactedHost("01A", 5, 3, 5)], folded); // 01B has one event: nothing to fold
        var history = Store.History("01A");
        Assert.Equal([3L, 4, 5], history.Select(h => h.Version));
        var baseline = history[0];
        Assert.True(baseline.IsBaseline);
        Assert.Equal(T(3), baseline.Horizon);
        Assert.Equal(3, baseline.Folded);
        Assert.Equal(HostEventType.Updated, baseline.Type);
        Assert.Equal(T(3), baseline.OccurredAt);
        Same(a[2], baseline.State);
        Assert.False(history[1].IsBaseline);
        Assert.Equal(1, history[1].Folded);
        Assert.Single(Store.History("01B"));

        // The live state, the change id and the later history are untouched; as_of at or after the horizon still replays.
        Same(live, Store.StreamAll());
        Assert.Equal(changeId, Store.LastChangeId());
        Same(a[2], Store.GetAsOf("01A", T(3)));
        Assert.Null(Store.GetAsOf("01A", T(4)));
        Same([a[2], b], Store.ListAsOf(T(3)));
        Assert.Equal(T(3), Store.CompactionHorizon("01A"));
        Assert.Equal(T(3), Store.CompactionHorizon(null));
        Assert.Null(Store.CompactionHorizon("01B"));
    }

    [Fact]
    public void Compacting_again_folds_the_baseline_with_what_followed_and_counts_every_original_event()
    {
        CompactionHistory();
        Store.Compact(null, null, T(3), false);
        var again = Store.Compact("01A", null, T(5), false);
        Assert.Equal([new CompactedHost("01A", 3, 1, 5)], again);
        var only = Assert.Single(Store.History("01A"));
        Assert.Equal(5, only.Folded);
        Assert.Equal(HostEventType.Restored, only.Type);
        Assert.Equal(T(5), Store.CompactionHorizon(null));
        // Nothing left to fold: the named host is reported unchanged.
        Assert.Equal([new CompactedHost("01A", 1, 1, 5)], Store.Compact("01A", null, T(5), false));
    }

    [Fact]
    public void A_dry_run_reports_the_same_and_changes_nothing()
    {
        CompactionHistory();
        var dry = Store.Compact(null, null, T(5), dryRun: true);
        Assert.Equal([new CompactedHost("01A", 5, 1, 5)], dry);
        Assert.Equal(5, Store.History("01A").Count);
        Assert.All(Store.History("01A"), h => Assert.False(h.IsBaseline));
        Assert.Null(Store.CompactionHorizon(null));
        Assert.Equal(dry, Store.Compact(null, null, T(5), dryRun: false));
    }

    [Fact]
    public void Compact_over_a_threshold_takes_only_hosts_with_more_events_than_it()
    {
        CompactionHistory();
        var c = Entry("01C", "10.0.0.3", "c", at: T(6));
        Append(T(6), Created(c));
        Append(T(7), new PendingEvent(HostEventType.Updated, c with { Version = 2, UpdatedAt = T(7) }));
        Assert.Equal(["01A"], Store.Compact(null, overThreshold: 2, T(10), false).Select(h => h.HostId));
        Assert.Equal(2, Store.History("01C").Count);
        Assert.Equal(["01C"], Store.Compact(null, overThreshold: 1, T(10), false).Select(h => h.HostId));
    }

    [Fact]
    public void A_host_deleted_before_the_horizon_keeps_a_deleted_baseline_and_stays_deleted()
    {
        var a = Entry("01A", "10.0.0.1", "a", at: T(1));
        Append(T(1), Created(a));
        Append(T(2), new PendingEvent(HostEventType.Deleted, a with { Version = 2, UpdatedAt = T(2) }));
        Store.Compact(null, null, T(2), false);
        var only = Assert.Single(Store.History("01A"));
        Assert.Equal(HostEventType.Deleted, only.Type);
        Assert.Null(Store.Get("01A"));
        Assert.NotNull(Store.Get("01A", includeDeleted: true));
        Assert.Null(Store.GetAsOf("01A", T(3)));
        Assert.Empty(Store.ListAsOf(T(3)));
        // The next write continues the host's versions (a restore after compaction).
        Append(T(3), new PendingEvent(HostEventType.Restored, a with { Version = 3, UpdatedAt = T(3) }));
        Assert.Equal([2L, 3], Store.History("01A").Select(h => h.Version));
    }

    [Fact]
    public void Snapshots_keep_full_entries_through_a_compaction_and_compaction_survives_reopen()
    {
        var (a, b) = CompactionHistory();
        var snapshot = Store.CreateSnapshot("s", "manual", Store.StreamAll().ToList(), "", T(6));
        Store.Compact(null, null, T(5), false);
        Same([a[4], b], Store.GetSnapshotEntries(snapshot.Id));
        Reopen();
        var only = Assert.Single(Store.History("01A"));
        Assert.True(only.IsBaseline);
        Assert.Equal(T(5), Store.CompactionHorizon("01A"));
    }

    // ---------------------------------------------------------------- snapshots

    [Fact]
    public void Snapshots_are_created_listed_newest_first_read_and_deleted()
    {
        var e1 = new[] { Entry("01A", "10.0.0.1", "a", "c", ["t"], ["al"], T(1), version: 3) };
        var e2 = new[] { e1[0], Entry("01B", "::1", "b", at: T(2)) };
        var s1 = Store.CreateSnapshot("first", "manual", e1, "text1", T(100));
        var s2 = Store.CreateSnapshot("second", "pre-edit", e2, "text2", T(200));
        var s3 = Store.CreateSnapshot("empty", "pre-rollback", [], "", T(300));

        Assert.Equal(3, new[] { s1.Id, s2.Id, s3.Id }.Distinct().Count());
        Assert.Equal(new SnapshotInfo(s2.Id, "second", "pre-edit", T(200), 2), s2);
        Assert.Equal([s3.Id, s2.Id, s1.Id], Store.ListSnapshots(0, null).Select(s => s.Id));
        Assert.Equal([s2.Id], Store.ListSnapshots(1, 1).Select(s => s.Id));
        Assert.Equal([s1.Id], Store.ListSnapshots(2, 10).Select(s => s.Id));
        Assert.Empty(Store.ListSnapshots(3, null));
        Assert.Empty(Store.ListSnapshots(0, 0));

        Assert.Equal(s1, Store.GetSnapshot(s1.Id));
        Assert.Equal(s3, Store.GetSnapshot(s3.Id));
        Assert.Null(Store.GetSnapshot("nope"));
        Same(e2, Store.GetSnapshotEntries(s2.Id));
        Same(e1, Store.GetSnapshotEntries(s1.Id));
        Assert.Empty(Store.GetSnapshotEntries(s3.Id));
        Assert.Empty(Store.GetSnapshotEntries("nope"));

        Assert.True(Store.DeleteSnapshot(s2.Id));
        Assert.False(Store.DeleteSnapshot(s2.Id));
        Assert.Null(Store.GetSnapshot(s2.Id));
        Assert.Empty(Store.GetSnapshotEntries(s2.Id));
        Assert.Equal([s3.Id, s1.Id], Store.ListSnapshots(0, null).Select(s => s.Id));
    }

    [Fact]
    public void Snapshots_do_not_change_hosts_or_the_change_id()
    {
        Append(T(1), Created(Entry("01A", "10.0.0.1", "a", at: T(1))));
        var before = Store.LastChangeId();
        Store.CreateSnapshot("s", "manual", Store.StreamAll().ToList(), "x", T(2));
        Assert.Equal(before, Store.LastChangeId());
        Assert.Equal(1, Store.CountLive());
    }

    [Fact]
    public void Append_with_a_snapshot_stores_the_snapshot_and_the_change_together()
    {
        var a = Entry("01A", "10.0.0.1", "a", at: T(1));
        Append(T(1), Created(a));
        var snapshot = new PendingSnapshot(new SnapshotInfo("01S00000000000000000000001", "before", "pre-edit", T(2), 1), [a], "rendered");

        var changeId = Store.Append([Created(Entry("01B", "10.0.0.2", "b", at: T(2)))], "tester", T(2), snapshot);

        Assert.Equal(changeId, Store.LastChangeId());
        Assert.Equal(2, Store.CountLive());
        Assert.Equal(snapshot.Info, Assert.Single(Store.ListSnapshots(0, null)));
        Same([a], Store.GetSnapshotEntries(snapshot.Info.Id));
    }

    [Fact]
    public void A_failed_append_leaves_no_snapshot_behind()
    {
        var a = Entry("01A", "10.0.0.1", "a", at: T(1));
        Append(T(1), Created(a));
        var before = Store.LastChangeId();
        var snapshot = new PendingSnapshot(new SnapshotInfo("01S00000000000000000000001", "before", "pre-edit", T(2), 1), [a], "rendered");

        // Another host with a live host's address and name: the unique key refuses the change.
        Assert.Throws<CoreException>(() =>
            Store.Append([Created(Entry("01B", "10.0.0.1", "a", at: T(2)))], "tester", T(2), snapshot));

        Assert.Empty(Store.ListSnapshots(0, null));
        Assert.Null(Store.GetSnapshot(snapshot.Info.Id));
        Assert.Equal(before, Store.LastChangeId());
        Assert.Null(Store.Get("01B", includeDeleted: true));
    }

    [Fact]
    public void PruneSnapshots_keeps_the_newest_by_count()
    {
        var ids = Enumerable.Range(1, 6).Select(i => Store.CreateSnapshot($"s{i}", "manual", [], "", T(i * 10)).Id).ToList();
        Assert.Equal(4, Store.PruneSnapshots(2, T(0)));
        Assert.Equal([ids[5], ids[4]], Store.ListSnapshots(0, null).Select(s => s.Id));
        Assert.Equal(0, Store.PruneSnapshots(2, T(0)));
        Assert.Equal(2, Store.PruneSnapshots(0, T(0)));
        Assert.Empty(Store.ListSnapshots(0, null));
    }

    [Fact]
    public void PruneSnapshots_drops_those_created_before_the_cutoff()
    {
        var ids = Enumerable.Range(1, 5).Select(i => Store.CreateSnapshot($"s{i}", "manual", [], "", T(i * 10)).Id).ToList();
        // Created at 10,20,30,40,50; cutoff 30: 10 and 20 go, 30 (not before) stays.
        Assert.Equal(2, Store.PruneSnapshots(100, T(30)));
        Assert.Equal([ids[4], ids[3], ids[2]], Store.ListSnapshots(0, null).Select(s => s.Id));
        // Both rules at once: count 1 and cutoff 45 leave only the newest.
        Assert.Equal(2, Store.PruneSnapshots(1, T(45)));
        Assert.Equal([ids[4]], Store.ListSnapshots(0, null).Select(s => s.Id));
    }

    // ---------------------------------------------------------------- durability and schema

    [Fact]
    public void Everything_survives_dispose_and_reopen()
    {
        var a = Entry("01A", "10.0.0.1", "a", "c", ["t"], ["x"], T(1));
        var b = Entry("01B", "2001:db8::2", "b", at: T(2));
        Append(T(1), Created(a));
        Append(T(2), Created(b));
        var a2 = a with { Comment = "c2", Version = 2, UpdatedAt = T(3) };
        Append(T(3), new PendingEvent(HostEventType.Updated, a2));
        var deleted = b with { Version = 2, UpdatedAt = T(4) };
        var lastChange = Append(T(4), new PendingEvent(HostEventType.Deleted, deleted));
        var snapshot = Store.CreateSnapshot("keep", "manual", [a2], "rendered", T(5));
        var historyBefore = Store.History("01A").Select(h => $"{h.EventId} {h.Type} {Describe(h.State)}").ToList();

        Reopen();

        Same([a2], Store.StreamAll());
        Same(a2, Store.Get("01A"));
        Same(deleted, Store.Get("01B", includeDeleted: true));
        Assert.Null(Store.Get("01B"));
        Assert.Equal(lastChange, Store.LastChangeId());
        Assert.Equal(historyBefore, Store.History("01A").Select(h => $"{h.EventId} {h.Type} {Describe(h.State)}"));
        Assert.Equal(snapshot, Assert.Single(Store.ListSnapshots(0, null)));
        Same([a2], Store.GetSnapshotEntries(snapshot.Id));
        Same([a, b], Store.ListAsOf(T(2)));

        // And it keeps working: new changes get larger change ids, the key index is intact.
        Assert.True(Append(T(6), Created(Entry("01C", "10.0.0.3", "c", at: T(6)))) > lastChange);
        Assert.ThrowsAny<CoreException>(() => Append(T(7), Created(Entry("01D", "10.0.0.1", "A", at: T(7)))));
    }

    [Fact]
    public void Opening_an_existing_database_again_migrates_nothing_and_loses_nothing()
    {
        Append(T(1), Created(Entry("01A", "10.0.0.1", "a", at: T(1))));
        Reopen();
        Reopen();
        Assert.Equal(1, Store.CountLive());
        Assert.Single(Store.History("01A"));
        Store.Ping();
        Assert.False(string.IsNullOrEmpty(Store.BackendName));
    }
}

/// <summary>A few hundred entries written the way the writer writes them, with updates and deletes, plus queries over them.</summary>
public static class GeneratedSet
{
    private static readonly string[] TagPool = ["prod", "Prod", "dev", "iot", "k8s:node", "rack/1", "owner@ops", "a=b", "v6", "dns"];
    private static readonly string[] Words = ["alpha", "Beta", "gamma", "web", "db", "printer", "nas", "cam", "node", "gw"];
    private static readonly string[] CommentPool =
        ["front door", "[not tags] literal", "Café ☕ Ünïcödé", "says \"hi\", ok", "ticket #42; see it", "  padded  ",
         "KELVIN \u212A sign", "İstanbul office", "x", "[", "comma, separated, words"];

    public static Dictionary<string, HostEntry> Populate(IHostStore store, int seed)
    {
        var random = new Random(seed);
        var at = Hosts.T0;
        var ips = new List<string>();
        for (var i = 0; i < 120; i++)
        {
            ips.Add(random.Next(4) switch
            {
                0 => $"10.{random.Next(3)}.{random.Next(256)}.{random.Next(256)}",
                1 => $"192.168.{random.Next(2)}.{random.Next(1, 255)}",
                2 => $"2001:db8::{random.Next(0x10000):x}",
                _ => random.Next(6) switch
                {
                    0 => "::1", 1 => "fe80::1", 2 => $"9.{random.Next(10)}.0.1", 3 => "::ffff:10.0.0.1",
                    4 => $"fd00:{random.Next(100):x}::{random.Next(0x10000):x}", _ => "255.255.255.255",
                },
            });
        }
        var added = new List<string>();
        for (var batch = 0; batch < 40; batch++)
        {
            at = at.AddSeconds(1);
            Hosts.Commit(store, at, set =>
            {
                for (var i = 0; i < 10; i++)
                {
                    var name = $"{Words[random.Next(Words.Length)]}{random.Next(40)}" + (random.Next(3) == 0 ? ".lan" : "");
                    if (random.Next(5) == 0) name = name.ToUpperInvariant();
                    var tags = Enumerable.Range(0, random.Next(4)).Select(_ => TagPool[random.Next(TagPool.Length)]).ToArray();
                    var aliases = Enumerable.Range(0, random.Next(3)).Select(k => $"{name.Split('.')[0]}-a{k}{(random.Next(2) == 0 ? ".home" : "")}").ToArray();
                    var comment = random.Next(3) == 0 ? null : CommentPool[random.Next(CommentPool.Length)];
                    try
                    {
                        added.Add(set.Add(new HostDraft(ips[random.Next(ips.Count)], name, comment, tags, aliases)).Id);
                    }
                    catch (CoreException) { /* a generated duplicate key: skip it */ }
                }
                return 0;
            });
        }
        // Some updates (including moves and cleared lists) and deletes, so the projection holds history and tombstones.
        for (var round = 0; round < 8; round++)
        {
            at = at.AddSeconds(1);
            Hosts.Commit(store, at, set =>
            {
                for (var i = 0; i < 12; i++)
                {
                    var id = added[random.Next(added.Count)];
                    if (set.Get(id) is null) continue;
                    try
                    {
                        switch (random.Next(4))
                        {
                            case 0: set.Delete(id, null); break;
                            case 1: set.Update(id, new HostPatch(Comment: CommentPool[random.Next(CommentPool.Length)]), null); break;
                            case 2: set.Update(id, new HostPatch(Tags: [], Aliases: []), null); break;
                            default: set.Update(id, new HostPatch(IpAddress: ips[random.Next(ips.Count)]), null); break;
                        }
                    }
                    catch (CoreException) { }
                }
                return 0;
            });
        }
        return store.StreamAll().ToDictionary(e => e.Id);
    }

    public static IEnumerable<HostQuery> Queries(IReadOnlyList<HostEntry> entries, int seed)
    {
        var random = new Random(seed);
        string Pick(IReadOnlyList<string> from) => from[random.Next(from.Count)];
        var hostnames = entries.Select(e => e.Hostname).ToList();
        var ipsPresent = entries.Select(e => e.IpAddress).Distinct().ToList();
        var texts = new List<string>
        {
            "192.168", "10.", "::", "db8", "2001:DB8", "WEB", "web1", "lan", ".home", "-a1", "prod", "PROD", "k8s", "rack/",
            "@ops", "=b", "café", "CAFÉ", "ünïcödé", "\"hi\"", "#42", "[not", "tags]", "comma, sep", "  pad", "zzz-none",
            "k", "\u212A", "i", "İ", "istanbul", "a\nb", "1\n", "e", "255", "fe80", "::1", "ffff",
        };
        texts.AddRange(entries.Take(20).Select(e => e.Hostname.Substring(0, Math.Min(3, e.Hostname.Length))));
        var patterns = new List<string>
        {
            "*", "web*", "WEB*", "*.lan", "*.LAN", "?eta*", "*-a?", "*-a0.home", "db1?", "a*a*", "*[*", "[a]*", "*\u212A*",
            "node3", "NODE3", "*e*", "gw??.lan", "nas*.*", "zz*",
        };
        patterns.AddRange(hostnames.Take(15));
        var tags = new List<string> { "prod", "PROD", "Prod", "dev", "k8s:node", "K8S:NODE", "rack/1", "v6", "none", "pro", "\u212A8s:node" };
        var ips = new List<string>(ipsPresent.Take(20)) { "10.9.9.9", "::2" };

        for (var i = 0; i < 600; i++)
        {
            var q = new HostQuery(
                Text: random.Next(3) == 0 ? Pick(texts) : null,
                HostnamePattern: random.Next(4) == 0 ? Pick(patterns) : null,
                IpAddress: random.Next(6) == 0 ? Pick(ips) : null,
                Tag: random.Next(4) == 0 ? Pick(tags) : null,
                Offset: random.Next(4) == 0 ? random.Next(0, 40) : 0,
                Limit: random.Next(3) == 0 ? random.Next(0, 30) : null);
            yield return q;
        }
        // Every single criterion on its own too.
        foreach (var t in texts) yield return new HostQuery(Text: t);
        foreach (var p in patterns) yield return new HostQuery(HostnamePattern: p);
        foreach (var t in tags) yield return new HostQuery(Tag: t);
        foreach (var ip in ips) yield return new HostQuery(IpAddress: ip);
        yield return new HostQuery(Offset: 5, Limit: 7);
        yield return new HostQuery(Offset: 10_000);
    }
}
