using RouterHosts.Core.Hosts;
using RouterHosts.Core.Storage;
using RouterHosts.Core.Tests;
using RouterHosts.Core.Tests.Storage;

namespace RouterHosts.Storage.Postgres.Tests;

/// <summary>The compliance suite on a real PostgreSQL, each test on a fresh database.</summary>
public sealed class PostgresHostStoreComplianceTests : HostStoreComplianceTests
{
    // Initialised before the base constructor opens the first store.
    private readonly TestDatabase _database = new();

    // The suite's directory names the database; this test's database is the one.
    protected override IHostStore CreateStore(string directory) => _database.OpenStore();

    public override void Dispose()
    {
        base.Dispose();
        _database.Dispose();
    }

    [Fact]
    public void Migration_runs_once_and_records_its_version()
    {
        Assert.Equal("1,2,3,4", _database.Scalar("SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_version"));
        Reopen();
        Reopen();
        Assert.Equal("1,2,3,4", _database.Scalar("SELECT string_agg(version::text, ',' ORDER BY version) FROM schema_version"));
        Assert.Equal("postgres", Store.BackendName);
    }

    [Fact]
    public void EventsAfter_gives_the_later_events_in_order_and_after_compaction_still_ends_each_host_as_it_is()
    {
        var (a, _) = CompactionHistory();
        var all = Store.History("01A").Concat(Store.History("01B")).OrderBy(e => e.EventId).ToList();
        var postgres = (PostgresHostStore)Store;
        Assert.Equal(all.Select(e => e.EventId), postgres.EventsAfter(0, 100).Select(e => e.EventId));
        Assert.Equal(all.Skip(2).Take(2).Select(e => e.EventId), postgres.EventsAfter(all[1].EventId, 2).Select(e => e.EventId));
        Assert.Empty(postgres.EventsAfter(Store.LastChangeId(), 100));

        // A follower at change 1, after the log was compacted up to T(3): the events it gets leave each host as the projection has it.
        Store.Compact(hostId: null, overThreshold: null, horizon: T(3), dryRun: false);
        var state = new Dictionary<string, HostEntry?> { ["01A"] = a[0] };
        foreach (var e in postgres.EventsAfter(all[0].EventId, 100)) state[e.HostId] = e.Type == HostEventType.Deleted ? null : e.State;
        Assert.Equal(Store.StreamAll().Select(Hosts.Describe).Order(), state.Values.OfType<HostEntry>().Select(Hosts.Describe).Order());
        Assert.Equal(Store.LastChangeId(), postgres.EventsAfter(0, 100)[^1].EventId);
    }

    [Fact]
    public void Text_and_tag_searches_can_use_the_trigram_and_tag_indexes()
    {
        // Enough rows, and statistics (GIN's come from VACUUM), that the planner prefers an index for a rare text or tag.
        Store.Append(Enumerable.Range(0, 5000).Select(i => new PendingEvent(HostEventType.Created,
            Hosts.Entry($"01{i:D5}", $"10.0.{i / 250}.{i % 250 + 1}", $"host{i}", comment: i == 4321 ? "zebra-quux" : null,
                tags: [i == 7 ? "rare" : "lab"]))).ToList(), "t", Hosts.T0);
        _database.Scalar("VACUUM ANALYZE hosts");
        Assert.Equal(1L, _database.Scalar("SELECT COUNT(*) FROM pg_extension WHERE extname = 'pg_trgm'"));
        Assert.Contains("hosts_search_trgm", Plan("search_text LIKE '%zebra-qu%'"));
        Assert.Contains("hosts_tags", Plan("tags_lc @> ARRAY['rare']"));
        Assert.Equal(["host4321"], Store.List(new HostQuery(Text: "ZEBRA-QU")).Select(e => e.Hostname));
        Assert.Equal(["host7"], Store.List(new HostQuery(Tag: "rare")).Select(e => e.Hostname));
    }

    private string Plan(string condition)
    {
        using var connection = new Npgsql.NpgsqlConnection(_database.Settings.ConnectionString);
        connection.Open();
        using var explain = new Npgsql.NpgsqlCommand($"EXPLAIN (FORMAT JSON) SELECT id FROM hosts WHERE NOT deleted AND {condition}", connection);
        return explain.ExecuteScalar()!.ToString()!;
    }

    [Fact]
    public void A_database_from_a_newer_agent_is_refused()
    {
        CloseStore();
        _database.Scalar("INSERT INTO schema_version (version) VALUES (99)");
        var e = Assert.Throws<InvalidOperationException>(() => _database.OpenStore());
        Assert.Contains("99", e.Message);
    }

    [Fact]
    public void Timestamps_are_timestamptz_columns()
    {
        Assert.Equal(7L, _database.Scalar(
            "SELECT COUNT(*) FROM information_schema.columns WHERE data_type = 'timestamp with time zone' " +
            "AND table_name IN ('events', 'hosts', 'snapshots')"));
    }

    [Fact]
    public async Task Two_stores_on_one_database_serialise_writes_one_wins_the_other_conflicts()
    {
        // Two agents' stores: both saw version 1 and both write version 2 of the same host.
        using var other = _database.OpenStore();
        var a = Hosts.Entry("01A", "10.0.0.1", "a");
        Store.Append([new PendingEvent(HostEventType.Created, a)], "one", Hosts.T0);
        Assert.Equal(1, other.Get("01A")!.Version);

        var first = a with { Comment = "first", Version = 2 };
        var second = a with { Comment = "second", Version = 2 };
        static CoreErrorKind? Write(IHostStore store, HostEntry state)
        {
            try
            {
                store.Append([new PendingEvent(HostEventType.Updated, state)], "writer", Hosts.T0);
                return null;
            }
            catch (CoreException e) { return e.Kind; }
        }
        var results = await Task.WhenAll(Task.Run(() => Write(Store, first)), Task.Run(() => Write(other, second)));

        Assert.Single(results, r => r is null);
        Assert.Single(results, r => r == CoreErrorKind.Conflict);
        var stored = Store.Get("01A")!;
        Assert.Equal(2, stored.Version);
        Assert.Equal(2, Store.History("01A").Count);
        Assert.Equal(Store.LastChangeId(), other.LastChangeId());
    }

    [Fact]
    public void A_stopped_server_is_unavailable_naming_the_database()
    {
        var settings = _database.Settings;
        settings.Port = 1; // nothing listens there
        settings.Host = "127.0.0.1";
        var e = Assert.Throws<CoreException>(() => new PostgresHostStore(settings));
        Assert.Equal(CoreErrorKind.Unavailable, e.Kind);
        Assert.Contains(_database.Name, e.Message);
    }
}
