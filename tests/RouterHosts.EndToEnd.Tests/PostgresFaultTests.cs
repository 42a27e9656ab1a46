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
}
