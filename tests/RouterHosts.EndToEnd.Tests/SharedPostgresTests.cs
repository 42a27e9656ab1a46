using System.Diagnostics;
using RouterHosts.Client;
using RouterHosts.Storage.Postgres.Tests;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>
/// Two real agents, each with its own hosts file, on one database of the throwaway
/// PostgreSQL (ROUTERHOSTS_TEST_POSTGRES_URL; without it these tests fail, saying so).
/// </summary>
public sealed class SharedPostgresTests : IDisposable
{
    private readonly TestDatabase _database = new();

    public void Dispose() => _database.Dispose();

    private Task<AgentProcess> StartAgentAsync() =>
        AgentProcess.StartWithConfigAsync((config, _) => config["database"] = _database.Url);

    private static RouterHostInput Host(string ip, string name) => new() { IPAddress = ip, Hostname = name };

    /// <summary>How long until the agent's hosts file has the line; fails after <paramref name="limit"/>.</summary>
    internal static async Task<TimeSpan> TimeUntilFileHasAsync(AgentProcess agent, string line, TimeSpan limit)
    {
        var clock = Stopwatch.StartNew();
        while (!File.ReadAllText(agent.HostsFilePath).Contains(line))
        {
            if (clock.Elapsed > limit)
                Assert.Fail($"{agent.HostsFilePath} still lacks '{line}' after {limit.TotalSeconds} s:\n{File.ReadAllText(agent.HostsFilePath)}\n{agent.Output}");
            await Task.Delay(20);
        }
        return clock.Elapsed;
    }

    [Fact]
    public async Task A_write_through_either_agent_reaches_the_other_agents_file_when_notified()
    {
        await using var first = await StartAgentAsync();
        await using var second = await StartAgentAsync();
        using var toFirst = first.Connect();
        using var toSecond = second.Connect();

        // The notification wakes the other agent; without it only the 5 s catch-up poll would,
        // so a limit under that proves the wake-up path (the target is 1 s; the limit allows a loaded machine).
        var limit = TimeSpan.FromSeconds(4);
        await toFirst.AddHostAsync(Host("10.60.0.1", "from-first"));
        await TimeUntilFileHasAsync(first, "from-first", limit);
        var delay = await TimeUntilFileHasAsync(second, "from-first", limit);

        var added = await toSecond.AddHostAsync(Host("10.60.0.2", "from-second"));
        delay = TimeSpan.FromTicks(Math.Max(delay.Ticks, (await TimeUntilFileHasAsync(first, "from-second", limit)).Ticks));
        Console.WriteLine($"propagation delay (slowest of two): {delay.TotalMilliseconds:0} ms");

        // Both agents read the same store: the second's host through the first, down to the microsecond.
        var readBack = await toFirst.GetHostAsync(added.Id);
        Assert.Equal(added.CreatedAt, readBack.CreatedAt);
        Assert.Equal(added.Version, readBack.Version);
        Assert.Equal(2, (await toFirst.ListHostsAsync().ToListAsync()).Count);

        // A change made through one agent to a host the other one wrote reaches both files.
        await toFirst.UpdateHostAsync(added.Id, new RouterHostUpdate { Hostname = "renamed-by-first" });
        await TimeUntilFileHasAsync(second, "renamed-by-first", limit);
        Assert.DoesNotContain("from-second", File.ReadAllText(second.HostsFilePath));
    }

    [Fact]
    public async Task An_agent_that_was_down_catches_up_when_it_starts()
    {
        await using var first = await StartAgentAsync();
        using var toFirst = first.Connect();
        await toFirst.AddHostAsync(Host("10.61.0.1", "before-second-started"));
        await using var second = await StartAgentAsync(); // ready means its file is rendered
        Assert.Contains("before-second-started", File.ReadAllText(second.HostsFilePath));
    }

    [Fact]
    public async Task Two_agents_writing_one_host_at_once_one_wins_the_other_is_aborted_and_nothing_is_lost()
    {
        await using var first = await StartAgentAsync();
        await using var second = await StartAgentAsync();
        using var toFirst = first.Connect();
        using var toSecond = second.Connect();
        var host = await toFirst.AddHostAsync(Host("10.62.0.1", "contended"));

        async Task<RouterHostsErrorCode?> Update(RouterHostsClient client, string comment)
        {
            try
            {
                await client.UpdateHostAsync(host.Id, new RouterHostUpdate { Comment = comment }, host.Version);
                return null;
            }
            catch (RouterHostsException e) { return e.Code; }
        }
        var results = await Task.WhenAll(Update(toFirst, "by-first"), Update(toSecond, "by-second"));

        Assert.Single(results, r => r is null);
        Assert.Single(results, r => r == RouterHostsErrorCode.Aborted);
        var history = await toSecond.GetHostHistoryAsync(host.Id).ToListAsync();
        Assert.Equal(2, history.Count);
        var winner = results[0] is null ? "by-first" : "by-second";
        Assert.Equal(winner, (await toFirst.GetHostAsync(host.Id)).Comment);
    }
}
