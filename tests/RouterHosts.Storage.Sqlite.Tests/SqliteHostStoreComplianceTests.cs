using Microsoft.Data.Sqlite;
using RouterHosts.Core.Storage;
using RouterHosts.Storage.Sqlite;
using RouterHosts.Core.Tests;
using RouterHosts.Core.Tests.Storage;

namespace RouterHosts.Storage.Sqlite.Tests;

public sealed class SqliteHostStoreComplianceTests : HostStoreComplianceTests
{
    protected override IHostStore CreateStore(string directory) => new SqliteHostStore(Path.Combine(directory, "hosts.db"));

    private string DatabasePath => Path.Combine(Temp.Path, "hosts.db");

    private List<long> SchemaVersions()
    {
        using var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT version FROM schema_version ORDER BY version";
        using var reader = command.ExecuteReader();
        var versions = new List<long>();
        while (reader.Read()) versions.Add(reader.GetInt64(0));
        return versions;
    }

    [Fact]
    public void Migration_runs_once_and_records_its_version()
    {
        Assert.Equal([1L, 2L, 3L], SchemaVersions());
        Reopen();
        Reopen();
        Assert.Equal([1L, 2L, 3L], SchemaVersions());
        Assert.Equal("sqlite", Store.BackendName);
    }

    [Fact]
    public void A_version_1_database_gains_the_compaction_columns_and_keeps_its_events()
    {
        Hosts.Commit(Store, Hosts.T0, set => set.Add(new Core.Hosts.HostDraft("10.0.0.1", "a"), "01ZZZZZZZZZZZZZZZZZZZZZZZZ"));
        CloseStore();
        using (var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "ALTER TABLE events DROP COLUMN horizon; ALTER TABLE events DROP COLUMN folded; " + DropSearchIndex +
                                  "DELETE FROM schema_version WHERE version >= 2";
            command.ExecuteNonQuery();
        }
        Reopen();
        Assert.Equal([1L, 2L, 3L], SchemaVersions());
        var only = Assert.Single(Store.History("01ZZZZZZZZZZZZZZZZZZZZZZZZ"));
        Assert.False(only.IsBaseline);
        Assert.Equal(1, only.Folded);
    }

    [Fact]
    public void A_version_2_database_gains_the_search_index_over_the_rows_it_holds_and_keeps_it_with_every_change()
    {
        Hosts.Commit(Store, Hosts.T0, set =>
        {
            set.Add(new Core.Hosts.HostDraft("10.0.0.1", "printer", "Second Floor", ["office"], ["lp1.lan"]), "01ZZZZZZZZZZZZZZZZZZZZZZZA");
            return set.Add(new Core.Hosts.HostDraft("10.0.0.2", "nas", null, ["storage"]), "01ZZZZZZZZZZZZZZZZZZZZZZZB");
        });
        CloseStore();
        using (var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = DropSearchIndex + "DELETE FROM schema_version WHERE version = 3";
            command.ExecuteNonQuery();
        }
        Reopen();
        Assert.Equal([1L, 2L, 3L], SchemaVersions());
        string Ids(Core.Hosts.HostQuery q) => string.Join(",", Store.List(q).Select(e => e.Id[^1]));
        Assert.Equal("A", Ids(new(Text: "FLOOR")));            // rows written before the index are in it
        Assert.Equal("A", Ids(new(HostnamePattern: "lp1.*")));
        Assert.Equal("B", Ids(new(Tag: "Storage")));
        Assert.Equal(2, IndexedRows("\"10.0.0\""));

        Hosts.Commit(Store, Hosts.T0.AddSeconds(1), set =>
        {
            set.Update("01ZZZZZZZZZZZZZZZZZZZZZZZA", new Core.Hosts.HostPatch(Comment: "basement"), null);
            set.Delete("01ZZZZZZZZZZZZZZZZZZZZZZZB", null);
            return set.Add(new Core.Hosts.HostDraft("10.0.0.3", "floorwax"), "01ZZZZZZZZZZZZZZZZZZZZZZZC");
        });
        Assert.Equal("C", Ids(new(Text: "floor")));            // the update left the index, the add entered it
        Assert.Equal("A", Ids(new(Text: "basement")));
        Assert.Equal("", Ids(new(Tag: "storage")));              // deleted
        Assert.Equal(0, IndexedRows("\"second floor\""));
    }

    /// <summary>Undoes migration 3 (the search index and its triggers).</summary>
    private const string DropSearchIndex = "DROP TRIGGER hosts_search_insert; DROP TRIGGER hosts_search_delete; " +
                                           "DROP TRIGGER hosts_search_update; DROP TABLE hosts_search; ";

    /// <summary>Rows the trigram index itself names for an FTS5 query.</summary>
    private long IndexedRows(string match)
    {
        using var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False;Mode=ReadOnly");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT COUNT(*) FROM hosts_search WHERE hosts_search MATCH $m";
        command.Parameters.AddWithValue("$m", match);
        return (long)command.ExecuteScalar()!;
    }

    [Fact]
    public void A_database_from_a_newer_agent_is_refused()
    {
        CloseStore();
        using (var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False"))
        {
            connection.Open();
            using var command = connection.CreateCommand();
            command.CommandText = "INSERT INTO schema_version (version) VALUES (99)";
            command.ExecuteNonQuery();
        }
        var e = Assert.Throws<InvalidOperationException>(() => new SqliteHostStore(DatabasePath));
        Assert.Contains("99", e.Message);
    }

    [Fact]
    public void Uses_wal_and_leaves_a_whole_database_file_after_dispose()
    {
        Hosts.Commit(Store, Hosts.T0, set => set.Add(new Core.Hosts.HostDraft("10.0.0.1", "a")));
        CloseStore();
        // After a clean stop the WAL has been checkpointed into the main file.
        var wal = DatabasePath + "-wal";
        Assert.True(!File.Exists(wal) || new FileInfo(wal).Length == 0, "WAL not checkpointed on dispose");
        using var connection = new SqliteConnection($"Data Source={DatabasePath};Pooling=False");
        connection.Open();
        using var command = connection.CreateCommand();
        command.CommandText = "PRAGMA journal_mode";
        Assert.Equal("wal", command.ExecuteScalar());
        command.CommandText = "SELECT COUNT(*) FROM hosts WHERE deleted = 0";
        Assert.Equal(1L, command.ExecuteScalar());
    }
}
