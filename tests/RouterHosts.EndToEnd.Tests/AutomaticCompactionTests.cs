using System.Diagnostics;
using System.Text.Json.Nodes;
using RouterHosts.Client;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>compaction.automatic: the agent folds history older than keep_days by itself, every interval.</summary>
public sealed class AutomaticCompactionTests
{
    [Fact]
    public async Task The_agent_folds_history_older_than_keep_days_by_itself()
    {
        await using var agent = await AgentProcess.StartWithConfigAsync((config, _) =>
            config["compaction"] = new JsonObject { ["automatic"] = true, ["keep_days"] = 1.0 / 86400, ["interval_seconds"] = 1 });
        using var client = agent.Connect();
        var host = await client.AddHostAsync(new RouterHostInput { IPAddress = "10.81.0.1", Hostname = "auto-compact" });
        await client.UpdateHostAsync(host.Id, new RouterHostUpdate { Comment = "two" });
        var beforeLast = DateTimeOffset.UtcNow;
        await client.UpdateHostAsync(host.Id, new RouterHostUpdate { Comment = "three" });

        // Once every event is older than a second, a run folds all three into one baseline.
        var waited = Stopwatch.StartNew();
        List<RouterHostHistoryEntry> history;
        while ((history = await client.GetHostHistoryAsync(host.Id).ToListAsync()) is not [{ EventType: "baseline", FoldedEvents: 3 }])
        {
            Assert.True(waited.Elapsed < TimeSpan.FromSeconds(60), $"not folded after 60 s: {string.Join(", ", history.Select(h => h.EventType))}\n{agent.Output}");
            await Task.Delay(200);
        }
        Assert.Equal("three", history[0].Host.Comment);
        Assert.Equal("3", history[0].Version);
        Assert.NotNull(history[0].Horizon);
        await agent.WaitForLineAsync("automatic compaction up to");

        var refused = await Assert.ThrowsAsync<RouterHostsException>(() => client.GetHostAsync(host.Id, asOf: beforeLast));
        Assert.Equal(RouterHostsErrorCode.FailedPrecondition, refused.Code);
        Assert.Equal("before-compaction-horizon", refused.Reason);
        Assert.Equal("three", (await client.GetHostAsync(host.Id)).Comment);
    }
}
