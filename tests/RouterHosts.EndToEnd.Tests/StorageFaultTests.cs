using System.Text.Json.Nodes;
using RouterHosts.Client;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>
/// Real faults under the real agent: garbage in a real database file, a real full
/// filesystem (tmpfs) under the database and under the hosts file.
/// </summary>
public sealed class StorageFaultTests
{
    private static RouterHostInput Host(string ip, string name) => new() { IPAddress = ip, Hostname = name };

    private static async Task AddManyAsync(RouterHostsClient client, int count, int thirdOctet)
    {
        var inputs = Enumerable.Range(0, count)
            .Select(i => new RouterHostInput { IPAddress = $"10.{thirdOctet}.{i / 250}.{i % 250 + 1}", Hostname = $"bulk{thirdOctet}-{i}", Comment = "padding " + new string('x', 60) });
        var results = await client.BulkAddAsync(inputs.ToAsyncEnumerable()).ToListAsync();
        Assert.All(results, r => Assert.Null(r.Error));
    }

    private static string ConfigPath(AgentProcess agent) => Path.Combine(agent.DataDirectory, "agent.json");
    private static string DatabasePath(AgentProcess agent) => Path.Combine(agent.DataDirectory, "routerhosts.db");

    private static async Task StopAsync(AgentProcess agent)
    {
        agent.Signal(15);
        Assert.Equal(0, await agent.WaitForExitAsync(TimeSpan.FromSeconds(30)));
    }

    [Fact]
    public async Task A_corrupt_database_stops_the_agent_at_start_naming_the_file_and_the_recovery_and_the_hosts_file_is_untouched()
    {
        await using var first = await AgentProcess.StartWithConfigAsync();
        using (var client = first.Connect()) await AddManyAsync(client, 3000, 70);
        await StopAsync(first); // a clean stop checkpoints: the database file is whole on its own
        var database = DatabasePath(first);
        var hostsBefore = await File.ReadAllBytesAsync(first.HostsFilePath);
        var hostsWritten = File.GetLastWriteTimeUtc(first.HostsFilePath);

        var garbage = new byte[8 * 1024];
        new Random(10).NextBytes(garbage);
        await using (var file = new FileStream(database, FileMode.Open, FileAccess.Write))
        {
            Assert.True(file.Length > 16 * garbage.Length, $"the database is only {file.Length} bytes");
            file.Position = file.Length / 2;
            await file.WriteAsync(garbage);
        }

        await using var second = AgentProcess.Launch(["--config", ConfigPath(first)], first.DataDirectory, first.Port);
        var exit = await second.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.True(exit == 3, $"exit {exit}:\n{second.Output}");
        Assert.Contains($"the database {database} is corrupt", second.Output);
        Assert.Contains("restore the database from a backup", second.Output);
        Assert.Contains("README", second.Output);
        Assert.Equal(hostsBefore, await File.ReadAllBytesAsync(first.HostsFilePath));
        Assert.Equal(hostsWritten, File.GetLastWriteTimeUtc(first.HostsFilePath));
    }

    [Fact]
    public async Task Corruption_found_while_running_is_DATA_LOSS_naming_the_database_never_a_bare_INTERNAL()
    {
        await using var first = await AgentProcess.StartWithConfigAsync();
        string someId;
        using (var client = first.Connect())
        {
            await AddManyAsync(client, 2000, 71);
            someId = (await client.ListHostsAsync(new RouterHostsQuery { HostnamePattern = "bulk71-1999" }).SingleAsync()).Id;
        }
        await StopAsync(first);
        await using var agent = AgentProcess.Launch(["--config", ConfigPath(first)], first.DataDirectory, first.Port);
        await agent.WaitUntilReadyAsync();
        var database = DatabasePath(first);

        // Garbage over every page but the header page, under the running agent.
        await using (var file = new FileStream(database, FileMode.Open, FileAccess.Write, FileShare.ReadWrite))
        {
            var garbage = new byte[file.Length - 4096];
            new Random(11).NextBytes(garbage);
            file.Position = 4096;
            await file.WriteAsync(garbage);
        }

        using var client2 = agent.Connect();
        var errors = new List<RouterHostsException>();
        async Task Try(Func<Task> call)
        {
            try { await call(); }
            catch (RouterHostsException e) { errors.Add(e); }
        }
        await Try(() => client2.AddHostAsync(Host("10.72.0.1", "after-corruption"))); // a commit makes the other connections re-read the file
        await Try(async () => await client2.GetHostHistoryAsync(someId).ToListAsync());
        await Try(async () => await client2.ListHostsAsync(new RouterHostsQuery()).ToListAsync());
        await Try(async () => await client2.ListHostsAsync(new RouterHostsQuery { AsOf = DateTimeOffset.UtcNow }).ToListAsync());
        await Try(() => client2.ExportAsync("csv", new MemoryStream()));

        Assert.NotEmpty(errors);
        Assert.All(errors, e =>
        {
            Assert.Equal(RouterHostsErrorCode.DataLoss, e.Code);
            Assert.Contains($"the database {database} is corrupt", e.Message);
            Assert.Equal("database-corrupt", e.Reason);
        });
        var status = await client2.GetAgentStatusAsync();
        Assert.False(status.Healthy);
        Assert.Contains("is corrupt", status.DatabaseError);
        var (ready, reason) = await client2.TestAsync();
        Assert.False(ready);
        Assert.Contains("is corrupt", reason);
    }

    [Fact]
    public async Task When_the_database_disk_is_full_writes_are_RESOURCE_EXHAUSTED_health_says_so_and_the_agent_recovers_by_itself()
    {
        using var disk = new Tmpfs();
        await using var agent = await AgentProcess.StartWithConfigAsync((config, _) => config["database"] = Path.Combine(disk.Path, "hosts.db"));
        using var client = agent.Connect();
        await client.AddHostAsync(Host("10.73.0.1", "before-full"));

        disk.Fill();
        var error = await Assert.ThrowsAsync<RouterHostsException>(() => client.AddHostAsync(Host("10.73.0.2", "while-full")));
        Assert.Equal(RouterHostsErrorCode.ResourceExhausted, error.Code);
        Assert.Contains("no space left on device", error.Message);
        Assert.Contains(Path.Combine(disk.Path, "hosts.db"), error.Message);
        Assert.Equal("no-space", error.Reason);
        var snapshotError = await Assert.ThrowsAsync<RouterHostsException>(() => client.CreateSnapshotAsync("while-full"));
        Assert.Equal(RouterHostsErrorCode.ResourceExhausted, snapshotError.Code);

        var status = await client.GetAgentStatusAsync();
        Assert.False(status.Healthy);
        Assert.Contains("no space left on device", status.DatabaseError);
        var (ready, reason) = await client.TestAsync();
        Assert.False(ready);
        Assert.Contains("no space left on device", reason);
        Assert.Empty(await client.ListHostsAsync(new RouterHostsQuery { HostnamePattern = "while-full" }).ToListAsync());
        Assert.DoesNotContain("while-full", await File.ReadAllTextAsync(agent.HostsFilePath));

        disk.Free(); // no restart, no write needed: health sees the space come back
        status = await client.GetAgentStatusAsync();
        Assert.True(status.Healthy, System.Text.Json.JsonSerializer.Serialize(status));
        Assert.Null(status.DatabaseError);
        Assert.True((await client.TestAsync()).Ready);
        await client.AddHostAsync(Host("10.73.0.2", "while-full"));
        Assert.Contains("10.73.0.2\twhile-full", await File.ReadAllTextAsync(agent.HostsFilePath));
    }

    [Fact]
    public async Task An_agent_stopped_while_the_database_disk_is_full_stops_cleanly_and_loses_nothing()
    {
        using var disk = new Tmpfs();
        await using var first = await AgentProcess.StartWithConfigAsync((config, _) => config["database"] = Path.Combine(disk.Path, "hosts.db"));
        using (var client = first.Connect())
        {
            await AddManyAsync(client, 1000, 75);
            disk.Fill();
            await Assert.ThrowsAsync<RouterHostsException>(() => client.AddHostAsync(Host("10.75.9.1", "while-full")));
        }
        first.Signal(15);
        var exit = await first.WaitForExitAsync(TimeSpan.FromSeconds(30));
        Assert.True(exit == 0, $"exit {exit}:\n{first.Output}");

        disk.Free();
        await using var again = AgentProcess.Launch(["--config", ConfigPath(first)], first.DataDirectory, first.Port);
        await again.WaitUntilReadyAsync();
        using var reader = again.Connect();
        Assert.Equal(1000, await reader.ListHostsAsync(new RouterHostsQuery { HostnamePattern = "bulk75-*" }).CountAsync());
    }

    [Fact]
    public async Task When_the_hosts_file_disk_is_full_the_change_is_kept_health_names_no_space_and_the_file_catches_up_by_itself()
    {
        using var disk = new Tmpfs();
        var hostsPath = Path.Combine(disk.Path, "hosts");
        await using var agent = await AgentProcess.StartWithConfigAsync((config, _) =>
        {
            File.WriteAllText(hostsPath, "127.0.0.1\tlocalhost\n");
            config["hosts_file"] = new JsonObject { ["path"] = hostsPath, ["mode"] = "block" };
        });
        using var client = agent.Connect();
        await AddManyAsync(client, 500, 74); // a file of some size, so that a new copy needs room

        disk.Fill();
        var added = await client.AddHostAsync(Host("10.74.9.1", "while-full"));
        Assert.Equal("while-full", (await client.GetHostAsync(added.Id)).Hostname);
        var status = await client.GetAgentStatusAsync();
        Assert.False(status.Healthy);
        Assert.False(status.HostsFileCurrent);
        Assert.Contains("no space left on device", status.HostsFileError);
        var (ready, reason) = await client.TestAsync();
        Assert.False(ready);
        Assert.Contains("no space left on device", reason);
        Assert.DoesNotContain("while-full", await File.ReadAllTextAsync(hostsPath));
        Assert.DoesNotContain(Directory.EnumerateFiles(disk.Path), f => f.EndsWith(".tmp", StringComparison.Ordinal));

        disk.Free(); // the retry with backoff writes the file without another change
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(90);
        while (!(status = await client.GetAgentStatusAsync()).HostsFileCurrent)
        {
            Assert.True(DateTime.UtcNow < deadline, "the hosts file did not catch up: " + status.HostsFileError);
            await Task.Delay(200);
        }
        Assert.True(status.Healthy);
        Assert.True((await client.TestAsync()).Ready);
        Assert.Contains("10.74.9.1\twhile-full", await File.ReadAllTextAsync(hostsPath));
    }
}
