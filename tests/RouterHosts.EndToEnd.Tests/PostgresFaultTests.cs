using System.Diagnostics;
using RouterHosts.Client;
using RouterHosts.Storage.Postgres.Tests;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>
/// Faults of a real PostgreSQL under two real agents. The test runs its own throwaway
/// server (tests/postgres/throwaway.sh with its own state file), since it stops it.
/// </summary>
public sealed class PostgresFaultTests : IDisposable
{
    private readonly string _state = Path.Combine(Path.GetTempPath(), $"rh-pg-fault-{Guid.NewGuid():N}.state");
    private readonly TestDatabase _database;

    public PostgresFaultTests()
    {
        var url = Server("start").Split('=', 2)[1].Trim();
        _database = new TestDatabase(url);
    }

    private string Server(string command)
    {
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(AgentProcess.RepositoryRoot, "tests", "postgres", "throwaway.sh"));
        info.ArgumentList.Add(command);
        info.Environment["ROUTERHOSTS_TEST_POSTGRES_STATE"] = _state;
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, $"throwaway.sh {command} failed: {error}");
        return output;
    }

    public void Dispose()
    {
        try { _database.Dispose(); }
        finally { Server("stop"); }
    }

    private static RouterHostInput Host(string ip, string name) => new() { IPAddress = ip, Hostname = name };

    private static async Task UntilFileHasAsync(AgentProcess agent, string line, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        while (!File.ReadAllText(agent.HostsFilePath).Contains(line))
        {
            if (clock.Elapsed > limit)
                Assert.Fail($"{agent.HostsFilePath} still lacks '{line}' after {limit.TotalSeconds} s:\n{File.ReadAllText(agent.HostsFilePath)}\n{agent.Output}");
            await Task.Delay(50);
        }
    }

    [Fact]
    public async Task A_stopped_server_makes_writes_unavailable_keeps_the_files_and_both_agents_catch_up_when_it_returns()
    {
        await using var first = await AgentProcess.StartWithConfigAsync((config, _) => config["database"] = _database.Url);
        await using var second = await AgentProcess.StartWithConfigAsync((config, _) => config["database"] = _database.Url);
        using var toFirst = first.Connect();
        await toFirst.AddHostAsync(Host("10.70.0.1", "before-the-fault"));
        await UntilFileHasAsync(second, "before-the-fault", TimeSpan.FromSeconds(15));
        var firstFile = File.ReadAllText(first.HostsFilePath);
        var secondFile = File.ReadAllText(second.HostsFilePath);

        Server("halt");
        var e = await Assert.ThrowsAsync<RouterHostsException>(() => toFirst.AddHostAsync(Host("10.70.0.2", "during-the-fault")));
        Assert.Equal(RouterHostsErrorCode.Unavailable, e.Code);
        Assert.Contains(_database.Name, e.Message);
        // Reads fail the same way (the database is the only projection the agent answers from); health says why.
        var read = await Assert.ThrowsAsync<RouterHostsException>(() => toFirst.ListHostsAsync().ToListAsync().AsTask());
        Assert.Equal(RouterHostsErrorCode.Unavailable, read.Code);
        Assert.Contains(_database.Name, read.Message);
        var status = await toFirst.GetAgentStatusAsync();
        Assert.False(status.Healthy);
        Assert.False(status.DatabaseConnected);
        Assert.False((await toFirst.TestAsync()).Ready);
        // Neither file is emptied or rolled back while the database is away.
        Assert.Equal(firstFile, File.ReadAllText(first.HostsFilePath));
        Assert.Equal(secondFile, File.ReadAllText(second.HostsFilePath));

        Server("resume");
        // The pool reconnects by itself for the write; the other agent's listener comes back and catches up.
        await toFirst.AddHostAsync(Host("10.70.0.3", "after-the-fault"));
        await UntilFileHasAsync(second, "after-the-fault", TimeSpan.FromSeconds(30));
        Assert.Contains("before-the-fault", File.ReadAllText(second.HostsFilePath));
        Assert.DoesNotContain("during-the-fault", File.ReadAllText(second.HostsFilePath));
    }

    /// <summary>The advisory lock every writer holds for its whole transaction (PostgresHostStore.WriteLock).</summary>
    private const long WriteLock = 0x7268_7772;

    [Fact]
    public async Task A_server_killed_with_9_mid_commit_loses_nothing_acknowledged_and_applies_nothing_by_half()
    {
        await using var first = await AgentProcess.StartWithConfigAsync((config, _) => config["database"] = _database.Url);
        await using var second = await AgentProcess.StartWithConfigAsync((config, _) => config["database"] = _database.Url);
        using var toFirst = first.Connect();
        using var toSecond = second.Connect();

        // Single writes through the second agent until the crash: every one acknowledged must survive it.
        var acknowledged = new List<string>();
        using var crashed = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            for (var i = 0; !crashed.IsCancellationRequested; i++)
            {
                try { acknowledged.Add((await toSecond.AddHostAsync(Host($"10.71.{i / 250}.{i % 250 + 1}", $"acked-{i}"))).Hostname); }
                catch (RouterHostsException) when (crashed.IsCancellationRequested) { return; }
            }
        });
        while (acknowledged.Count < 20) await Task.Delay(20);

        // One import of 50,000 hosts through the first agent: one transaction, killed while it holds the writers' lock.
        var lines = string.Join('\n', Enumerable.Range(0, 50_000).Select(i => $"10.72.{i / 250}.{i % 250 + 1} imported-{i}"));
        var import = toFirst.ImportAsync(new MemoryStream(System.Text.Encoding.UTF8.GetBytes(lines)), "hosts");
        using (var watch = new Npgsql.NpgsqlConnection(_database.Settings.ConnectionString + ";Pooling=false"))
        {
            await watch.OpenAsync();
            var clock = Stopwatch.StartNew();
            while (true)
            {
                // The import is mid-commit once it holds the lock and has written into the log inside its transaction.
                await using var probe = new Npgsql.NpgsqlCommand(
                    "SELECT count(*) FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid " +
                    $"WHERE l.locktype = 'advisory' AND l.granted AND ((l.classid::bigint << 32) | l.objid::bigint) = {WriteLock} " +
                    "AND a.query LIKE 'INSERT INTO events%'", watch);
                if (Convert.ToInt64(await probe.ExecuteScalarAsync()) > 0) break;
                Assert.False(import.IsCompleted, "the import finished before the test saw it commit; nothing was killed mid-commit");
                Assert.True(clock.Elapsed < TimeSpan.FromSeconds(120), "the import never started its commit");
                await Task.Delay(5);
            }
        }
        await crashed.CancelAsync();
        Server("crash");
        var failed = await Assert.ThrowsAnyAsync<RouterHostsException>(() => import);
        Assert.NotEqual(RouterHostsErrorCode.OK, failed.Code);
        await writer;

        Server("resume");
        // After crash recovery: every acknowledged write is there, the import is not there at all.
        var hosts = await UntilAsync(() => toFirst.ListHostsAsync().ToListAsync().AsTask());
        var names = hosts.Select(h => h.Hostname).ToHashSet();
        Assert.All(acknowledged, name => Assert.Contains(name, names));
        Assert.DoesNotContain(hosts, h => h.Hostname.StartsWith("imported-", StringComparison.Ordinal));
        // The log and the projection agree: ids without gaps, each host's row is its last event.
        Assert.Equal(_database.Scalar("SELECT count(*) FROM events"), _database.Scalar("SELECT COALESCE(max(event_id), 0) FROM events"));
        Assert.Equal(0L, _database.Scalar(
            "SELECT count(*) FROM hosts h WHERE NOT EXISTS (SELECT 1 FROM events e WHERE e.event_id = h.last_event_id AND e.host_id = h.id AND e.version = h.version)"));
        Assert.Equal((long)hosts.Count, _database.Scalar("SELECT count(*) FROM hosts WHERE NOT deleted"));

        // Both agents go on: a write after the crash reaches both files, which hold every acknowledged host.
        await UntilAsync(() => toFirst.AddHostAsync(Host("10.73.0.1", "after-the-crash")));
        foreach (var agent in new[] { first, second })
        {
            await UntilFileHasAsync(agent, "after-the-crash", TimeSpan.FromSeconds(30));
            var file = File.ReadAllText(agent.HostsFilePath);
            var words = file.Split(['\n', '\t', ' ']).ToHashSet();
            Assert.All(acknowledged, name => Assert.Contains(name, words));
            Assert.DoesNotContain("imported-", file);
        }
    }

    /// <summary>
    /// Retries <paramref name="call"/> while the agent says the database is unavailable (the pool finds the
    /// restarted server on a later attempt), up to a generous deadline.
    /// </summary>
    private static async Task<T> UntilAsync<T>(Func<Task<T>> call)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            try { return await call(); }
            catch (RouterHostsException e) when (e.Code == RouterHostsErrorCode.Unavailable && clock.Elapsed < TimeSpan.FromSeconds(60))
            {
                await Task.Delay(100);
            }
        }
    }
}
