using RouterHosts.Client;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>An acknowledged write survives kill -9; the projection matches the log after restart.</summary>
public sealed class DurabilityTests
{
    [Fact]
    public async Task Acknowledged_writes_survive_kill_9()
    {
        var dir = AgentProcess.NewTempDirectory();
        var port = AgentProcess.FreePort();
        var ids = new List<string>();
        await using (var agent = await AgentProcess.StartDevAsync(dir, port))
        {
            using var client = agent.Connect();
            for (var i = 0; i < 20; i++)
                ids.Add((await client.AddHostAsync(new RouterHostInput { IPAddress = $"10.40.0.{i + 1}", Hostname = $"durable{i}" })).Id);
            await client.UpdateHostAsync(ids[0], new RouterHostUpdate { Comment = "last acknowledged write" });
            await agent.KillHardAsync();
        }
        await using (var restarted = await AgentProcess.StartDevAsync(dir, port))
        {
            using var client = restarted.Connect();
            var hosts = await client.ListHostsAsync(new RouterHostsQuery { HostnamePattern = "durable*" }).ToListAsync();
            Assert.Equal(ids.Order(), hosts.Select(h => h.Id).Order());
            Assert.Equal("last acknowledged write", hosts.Single(h => h.Id == ids[0]).Comment);
            foreach (var host in hosts)
            {
                // The projection's version is the number of events the log holds for the host.
                var history = await client.GetHostHistoryAsync(host.Id).ToListAsync();
                Assert.Equal(host.Version, history.Count.ToString());
                Assert.Equal(host.Comment, history[^1].Host.Comment);
            }
            var file = await File.ReadAllTextAsync(restarted.HostsFilePath);
            Assert.Equal(20, file.Split('\n').Count(l => l.Contains("\tdurable")));
        }
        Directory.Delete(dir, recursive: true);
    }
}
