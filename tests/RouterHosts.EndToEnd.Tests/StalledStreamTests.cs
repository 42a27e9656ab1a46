using System.Diagnostics;
using RouterHosts.Client;

namespace RouterHosts.EndToEnd.Tests;

public sealed class StalledStreamTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private const int HostCount = 30_000;
    private const int StalledClients = 20;

    /// <summary>
    /// 20 clients each open a 30,000-host ListHosts and stop reading after the first
    /// entry. Each costs the agent a bounded amount (a page of rows and a flush of
    /// messages, not the whole list), a write meanwhile is not slowed, and a stalled
    /// stream, read at last, is the consistent set from when it started.
    /// </summary>
    [Fact]
    public async Task Clients_that_open_big_lists_and_never_read_cost_a_bounded_amount_and_do_not_slow_writers()
    {
        await using var agent = await AgentProcess.StartDevAsync();
        using var writer = agent.Connect();
        var seed = Enumerable.Range(0, HostCount).Select(i => new RouterHostInput
        {
            IPAddress = $"10.62.{i / 250}.{i % 250 + 1}", Hostname = $"stall{i}", Comment = "padding so that 30,000 entries weigh some megabytes",
            Tags = ["lab", "stall"], Aliases = [$"s{i}.lan"],
        });
        await foreach (var r in writer.BulkAddAsync(seed.ToAsyncEnumerable())) Assert.True(r.Succeeded);
        Assert.Equal(HostCount, await writer.ListHostsAsync().CountAsync()); // warms the list path up
        var before = RssMiB(agent.Pid);

        using var cts = new CancellationTokenSource(TimeSpan.FromMinutes(5));
        var clients = Enumerable.Range(0, StalledClients).Select(_ => agent.Connect()).ToList();
        var streams = clients.Select(c => c.ListHostsAsync(ct: cts.Token).GetAsyncEnumerator(cts.Token)).ToList();
        try
        {
            foreach (var stream in streams) Assert.True(await stream.MoveNextAsync()); // open, then stop reading
            var stalled = await SettledRssMiB(agent.Pid);

            var write = Stopwatch.StartNew();
            var added = await writer.AddHostAsync(new RouterHostInput { IPAddress = "10.63.0.1", Hostname = "during-the-stall" });
            write.Stop();

            var growth = stalled - before;
            output.WriteLine($"RSS {before:0} -> {stalled:0} MiB with {StalledClients} stalled streams; a write took {write.Elapsed.TotalMilliseconds:0} ms");
            // Building each list whole cost about 37 MiB per stream.
            Assert.True(growth < 150, $"20 stalled streams grew the agent by {growth:0} MiB ({growth / StalledClients:0.0} MiB each)");
            // A write held up by the streams would wait until they are cancelled (5 min); the bound is far
            // from both that and a loaded machine's slow write, so it tells blocked from slow.
            Assert.True(write.Elapsed < TimeSpan.FromSeconds(60), $"a write beside 20 stalled streams took {write.Elapsed.TotalMilliseconds:0} ms");

            // One of them, read at last: the set as it stood when the stream began.
            var rest = 1;
            var sawNew = false;
            while (await streams[0].MoveNextAsync())
            {
                rest++;
                sawNew |= streams[0].Current.Id == added.Id;
            }
            Assert.Equal(HostCount, rest);
            Assert.False(sawNew, "a stream opened before the write showed it: not one consistent view");
        }
        finally
        {
            cts.Cancel();
            foreach (var stream in streams)
            {
                try { await stream.DisposeAsync(); } catch (Exception) { }
            }
            foreach (var client in clients) client.Dispose();
        }
        Assert.Equal(HostCount + 1, await writer.ListHostsAsync().CountAsync());
    }

    /// <summary>The agent's RSS once it stops moving (two readings a second apart within 2 MiB), bounded at 30 s.</summary>
    private static async Task<double> SettledRssMiB(int pid)
    {
        var deadline = Stopwatch.StartNew();
        var last = RssMiB(pid);
        while (deadline.Elapsed < TimeSpan.FromSeconds(30))
        {
            await Task.Delay(1000);
            var now = RssMiB(pid);
            if (Math.Abs(now - last) < 2) return now;
            last = now;
        }
        return last;
    }

    private static double RssMiB(int pid) =>
        File.ReadLines($"/proc/{pid}/status").Where(l => l.StartsWith("VmRSS:"))
            .Select(l => double.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024).Single();
}
