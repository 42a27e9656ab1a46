using System.Runtime.CompilerServices;
using RouterHosts.Agent.Tests.Harness;
using RouterHosts.Client;

namespace RouterHosts.Agent.Tests;

/// <summary>
/// SIGTERM in the middle of a bulk add: a call in flight is finished within
/// shutdown_grace_seconds (or cut off after it), and after a restart nothing is
/// half-applied: the hosts read from the projection equal the hosts replayed from
/// the event log (ListHosts vs ListHosts as of now), every acknowledged item is
/// there, and the hosts file lists exactly those hosts.
/// </summary>
public sealed class ShutdownTests : IDisposable
{
    private readonly AgentSite _site = AgentSite.CreateAsync().GetAwaiter().GetResult();

    public void Dispose() => _site.Dispose();

    private static RouterHostInput Item(int i) => new() { IPAddress = $"10.{50 + i / 65536}.{i / 256 % 256}.{i % 256}", Hostname = $"bulk{i:D6}" };

    /// <summary>Items 0..first-1, then waits for <paramref name="resume"/>, then the rest up to <paramref name="total"/>.</summary>
    private static async IAsyncEnumerable<RouterHostInput> Items(int first, int total, Task resume, [EnumeratorCancellation] CancellationToken ct = default)
    {
        for (var i = 0; i < total; i++)
        {
            if (i == first) await resume.WaitAsync(ct);
            yield return Item(i);
        }
    }

    private async Task AssertConsistentAfterRestartAsync(string clientJson, IReadOnlyCollection<string> acknowledged, int? expectedCount)
    {
        await using var again = await _site.StartReadyAsync();
        using var client = AgentSite.Connect(clientJson);
        var projection = await client.ListHostsAsync().ToListAsync();
        var replayed = await client.ListHostsAsync(new RouterHostsQuery { AsOf = DateTimeOffset.UtcNow }).ToListAsync();
        Assert.Equal(projection.Select(h => (h.Id, h.Hostname, h.Version)).Order(), replayed.Select(h => (h.Id, h.Hostname, h.Version)).Order());
        if (expectedCount is { } count) Assert.Equal(count, projection.Count);
        Assert.Empty(acknowledged.Except(projection.Select(h => h.Id)));
        Assert.Equal(projection.Select(h => (h.IPAddress, h.Hostname)).Order(), _site.HostsFileEntries().Order());
        Assert.Equal(projection.Count, (await client.GetAgentStatusAsync()).HostCount);
    }

    [Fact]
    public async Task A_bulk_add_in_flight_is_finished_within_the_grace_period()
    {
        const int total = 6_000;
        _site.Config["shutdown_grace_seconds"] = 60; // generous: the call is expected to finish well before
        _site.WriteConfig();
        var clientJson = await _site.IssueClientAsync("bulk", "writer");
        var agent = await _site.StartReadyAsync();
        var sigtermSent = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var acknowledged = new List<string>();
        // A followed watch never ends by itself: it must not hold the agent for the whole grace period.
        // It is read all along, as a real watcher does.
        using var watcher = AgentSite.Connect(clientJson);
        var watchStarted = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var watching = Task.Run(async () =>
        {
            try
            {
                await foreach (var _ in watcher.WatchAsync(follow: true)) watchStarted.TrySetResult();
                return null;
            }
            catch (RouterHostsException e) { return e; }
        });
        await watchStarted.Task.WaitAsync(TimeSpan.FromSeconds(20));
        using (var client = AgentSite.Connect(clientJson))
        try
        {
            await foreach (var result in client.BulkAddAsync(Items(2_000, total, sigtermSent.Task)))
            {
                Assert.Null(result.Error);
                acknowledged.Add(result.Host!.Id);
                if (acknowledged.Count == 1_000)
                {
                    // The call is in flight (2,000 items sent, 1,000 acknowledged, the rest held back): stop the agent.
                    Assert.False(watching.IsCompleted, $"the watch ended early: {(watching.IsCompleted ? watching.Result : null)}\n{agent.Output}");
                    agent.Signal(15);
                    await agent.WaitForLineAsync("stopping: no new calls; 2 call(s) in flight (BulkAddHosts, WatchHosts)");
                    // The bulk add is held back, so the agent is still waiting for it: a new call is refused, with the reason.
                    using (var late = AgentSite.Connect(clientJson))
                    {
                        var refused = await Assert.ThrowsAsync<RouterHostsException>(() => late.GetAgentStatusAsync());
                        Assert.True(refused.Code == RouterHostsErrorCode.Unavailable && refused.Message.Contains("the agent is stopping"), refused.ToString());
                    }
                    sigtermSent.SetResult();
                }
            }
        }
        catch (RouterHostsException e)
        {
            throw new Exception($"after {acknowledged.Count} results; agent output:\n{agent.Output}", e);
        }
        Assert.Equal(total, acknowledged.Count);
        // Well before the 60 s grace: the watch was ended when the agent began to stop.
        Assert.Equal(0, await agent.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        var ended = await watching.WaitAsync(TimeSpan.FromSeconds(20));
        Assert.NotNull(ended);
        Assert.True(ended!.Code == RouterHostsErrorCode.Unavailable, $"{ended}\n{agent.Output}");
        Assert.Contains("the agent is stopping", ended.Message);
        Assert.Contains("stopped cleanly", agent.Output);
        await agent.DisposeAsync();

        await AssertConsistentAfterRestartAsync(clientJson, acknowledged, total);
    }

    [Fact]
    public async Task A_bulk_add_stalled_past_the_grace_period_is_cut_off_without_a_half_applied_commit()
    {
        _site.Config["shutdown_grace_seconds"] = 1;
        _site.WriteConfig();
        var clientJson = await _site.IssueClientAsync("bulk", "writer");
        var agent = await _site.StartReadyAsync();
        var never = new TaskCompletionSource();
        var acknowledged = new List<string>();
        using var client = AgentSite.Connect(clientJson);
        // An edit session left open: reported in the log at shutdown.
        using (var editor = AgentSite.Connect(clientJson))
        {
            await editor.StartEditAsync();
            await editor.AddHostAsync(new RouterHostInput { IPAddress = "10.99.0.1", Hostname = "staged-only" });
        }

        var failure = await Assert.ThrowsAsync<RouterHostsException>(async () =>
        {
            await foreach (var result in client.BulkAddAsync(Items(3_000, 10_000, never.Task)))
            {
                acknowledged.Add(result.Host!.Id);
                if (acknowledged.Count == 1_000) agent.Signal(15); // the client then stalls: it never sends the rest
            }
        });
        Assert.True(failure.Code is RouterHostsErrorCode.Unavailable or RouterHostsErrorCode.Cancelled or RouterHostsErrorCode.Internal
            or RouterHostsErrorCode.Unknown, failure.ToString());
        Assert.Equal(0, await agent.WaitForExitAsync(TimeSpan.FromSeconds(30)));
        Assert.Contains("stopping with an open edit session held by CN=bulk, OU=writer", agent.Output);
        Assert.Contains("1 staged change(s) are discarded", agent.Output);
        await agent.DisposeAsync();

        never.TrySetCanceled(); // releases the client's stalled writer
        await AssertConsistentAfterRestartAsync(clientJson, acknowledged, expectedCount: null);
    }
}
