using System.Diagnostics;
using Npgsql;
using RouterHosts.Client;
using RouterHosts.Storage.Postgres.Tests;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>
/// The README's HA recipe, run: a primary with a streaming replica (tests/postgres/ha-pair.sh, Debian's
/// PostgreSQL 15 on loopback ports), two agents whose URL lists both hosts with
/// target_session_attrs=read-write; the primary stops, the replica is promoted, and the agents write
/// to it and follow it by themselves.
/// </summary>
public sealed class PostgresFailoverTests : IDisposable
{
    private readonly string _state = Path.Combine(Path.GetTempPath(), $"rh-pg-ha-{Guid.NewGuid():N}.state");
    private readonly int _replicaPort = AgentProcess.FreePort();
    private readonly TestDatabase _database;

    public PostgresFailoverTests()
    {
        var url = Pair("start", AgentProcess.FreePort().ToString(), _replicaPort.ToString()).Split('=', 2)[1].Trim();
        _database = new TestDatabase(url);
    }

    private string Pair(params string[] arguments)
    {
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(AgentProcess.RepositoryRoot, "tests", "postgres", "ha-pair.sh"));
        foreach (var argument in arguments) info.ArgumentList.Add(argument);
        info.Environment["ROUTERHOSTS_TEST_POSTGRES_STATE"] = _state;
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"ha-pair.sh {string.Join(' ', arguments)} failed: {error}");
        return output;
    }

    public void Dispose()
    {
        try { _database.Dispose(); }
        finally { Pair("stop"); }
    }

    private static RouterHostInput Host(string ip, string name) => new() { IPAddress = ip, Hostname = name };

    /// <summary>How many live hosts the replica has replayed (a hot standby answers reads).</summary>
    private long ReplicaHostCount()
    {
        using var connection = new NpgsqlConnection(
            $"Host=127.0.0.1;Port={_replicaPort};Username=postgres;Database={_database.Name};Pooling=false;Timeout=5");
        connection.Open();
        using var command = new NpgsqlCommand("SELECT count(*) FROM hosts WHERE NOT deleted", connection);
        return Convert.ToInt64(command.ExecuteScalar());
    }

    private static async Task UntilAsync(Func<Task<bool>> condition, string what, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        while (!await condition())
        {
            if (clock.Elapsed > limit) Assert.Fail($"after {limit.TotalSeconds} s still not: {what}");
            await Task.Delay(100);
        }
    }

    [Fact]
    public async Task After_the_replica_is_promoted_the_agents_write_to_it_and_follow_it_by_themselves()
    {
        await using var first = await AgentProcess.StartWithConfigAsync((config, _) => config["database"] = _database.Url);
        await using var second = await AgentProcess.StartWithConfigAsync((config, _) => config["database"] = _database.Url);
        using var toFirst = first.Connect();
        using var toSecond = second.Connect();
        await toFirst.AddHostAsync(Host("10.74.0.1", "before-failover"));
        await SharedPostgresTests.TimeUntilFileHasAsync(second, "before-failover", TimeSpan.FromSeconds(15));
        await UntilAsync(() => Task.FromResult(ReplicaHostCount() == 1), "the replica has the host", TimeSpan.FromSeconds(30));

        Pair("stop-primary");
        // No server takes writes now (the replica is read-only): the write is refused, not lost or half-done.
        var refused = await Assert.ThrowsAsync<RouterHostsException>(() => toFirst.AddHostAsync(Host("10.74.0.2", "no-primary")));
        Assert.Equal(RouterHostsErrorCode.Unavailable, refused.Code);

        Pair("promote");
        // The same agents, unchanged: the next connection that asks for read-write finds the promoted replica.
        RouterHost? after = null;
        await UntilAsync(async () =>
        {
            try { after = await toFirst.AddHostAsync(Host("10.74.0.3", "after-failover")); return true; }
            catch (RouterHostsException e) when (e.Code == RouterHostsErrorCode.Unavailable) { return false; }
        }, "a write through the first agent succeeds on the promoted replica", TimeSpan.FromSeconds(90));
        await SharedPostgresTests.TimeUntilFileHasAsync(second, "after-failover", TimeSpan.FromSeconds(30));
        await toSecond.AddHostAsync(Host("10.74.0.4", "second-after-failover"));
        await SharedPostgresTests.TimeUntilFileHasAsync(first, "second-after-failover", TimeSpan.FromSeconds(30));

        var names = (await toSecond.ListHostsAsync().ToListAsync()).Select(h => h.Hostname).Order().ToList();
        Assert.Equal(["after-failover", "before-failover", "second-after-failover"], names);
        Assert.Equal(3L, ReplicaHostCount()); // read straight from the promoted replica: it is the database now
    }
}
