using RouterHosts.Client;

namespace RouterHosts.EndToEnd.Tests;

public sealed class SlowWatcherTests
{
    /// <summary>
    /// A watcher that stops reading (its HTTP/2 window fills, the agent's send blocks) must
    /// not hold up writers; when it reads again it gets a set that includes their changes.
    /// </summary>
    [Fact]
    public async Task A_watcher_that_does_not_read_never_slows_a_writer()
    {
        await using var agent = await AgentProcess.StartDevAsync();
        using var client = agent.Connect();
        var seed = Enumerable.Range(0, 20_000).Select(i => new RouterHostInput
        {
            IPAddress = $"10.60.{i / 250}.{i % 250 + 1}", Hostname = $"seed{i}", Comment = "padding to fill the watcher's window",
        });
        await foreach (var r in client.BulkAddAsync(seed.ToAsyncEnumerable())) Assert.True(r.Succeeded);

        using var watcherClient = agent.Connect();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(120));
        await using var watch = watcherClient.WatchAsync(follow: true, cts.Token).GetAsyncEnumerator(cts.Token);
        var first = watch.MoveNextAsync().AsTask(); // starts the call; we then stop reading

        var writes = System.Diagnostics.Stopwatch.StartNew();
        for (var i = 0; i < 30; i++) await client.AddHostAsync(new RouterHostInput { IPAddress = $"10.61.0.{i + 1}", Hostname = $"while-watching{i}" });
        writes.Stop();
        Assert.True(writes.Elapsed < TimeSpan.FromSeconds(20), $"30 writes took {writes.Elapsed} beside a stalled watcher");

        Assert.True(await first);
        var latest = watch.Current;
        while (!latest.Hosts.Any(h => h.Hostname == "while-watching29"))
        {
            Assert.True(await watch.MoveNextAsync());
            latest = watch.Current;
        }
        Assert.Equal(20_030, latest.Count);
        cts.Cancel();
    }
}
