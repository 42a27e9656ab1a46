using RouterHosts.Core.Hosts;
using RouterHosts.Storage.Sqlite;
using static RouterHosts.Core.Tests.Hosts;
using RouterHosts.Core.Tests;
using RouterHosts.Core.Tests.Storage;

namespace RouterHosts.Storage.Sqlite.Tests;

/// <summary>The SQLite store on a damaged file: refused at open, named as corrupt (DATA_LOSS) when found later.</summary>
public sealed class SqliteFaultTests : IDisposable
{
    private readonly TempDir _temp = new();

    public void Dispose() => _temp.Dispose();

    private string DatabaseWithHosts(int count)
    {
        var path = _temp.File("hosts.db");
        using var store = new SqliteHostStore(path);
        Commit(store, T0, set =>
        {
            for (var i = 0; i < count; i++) set.Add(new HostDraft($"10.1.{i / 250}.{i % 250 + 1}", $"h{i}", new string('c', 200)));
            return 0;
        });
        return path;
    }

    private static void Scribble(string path, long offset, int length)
    {
        using var file = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        var garbage = new byte[length];
        new Random(1).NextBytes(garbage);
        file.Position = offset;
        file.Write(garbage);
    }

    [Fact]
    public void A_corrupt_file_is_refused_at_open_naming_it_and_the_recovery()
    {
        var path = DatabaseWithHosts(2000);
        Scribble(path, new FileInfo(path).Length / 2, 8192);
        var e = Assert.Throws<CoreException>(() => new SqliteHostStore(path));
        Assert.Equal(CoreErrorKind.DataLoss, e.Kind);
        Assert.Equal(RouterHostsReasons.DatabaseCorrupt, e.Reason);
        Assert.Contains($"the database {path} is corrupt", e.Message);
        Assert.Contains("restore the database from a backup", e.Message);
    }

    [Fact]
    public void A_file_that_is_not_a_database_is_refused_as_corrupt()
    {
        var path = DatabaseWithHosts(10);
        Scribble(path, 0, 100);
        Assert.Equal(CoreErrorKind.DataLoss, Assert.Throws<CoreException>(() => new SqliteHostStore(path)).Kind);
    }

    [Fact]
    public void Corruption_met_later_is_DataLoss_and_a_standing_problem()
    {
        var path = DatabaseWithHosts(2000);
        using var store = new SqliteHostStore(path);
        Assert.Null(store.Problem());
        Scribble(path, 4096, (int)new FileInfo(path).Length - 4096);
        Microsoft.Data.Sqlite.SqliteConnection.ClearAllPools(); // pooled connections would answer from their caches
        var e = Assert.Throws<CoreException>(() => store.History(store.StreamAll().First().Id));
        Assert.Equal(CoreErrorKind.DataLoss, e.Kind);
        Assert.Contains("is corrupt", store.Problem());
    }
}
