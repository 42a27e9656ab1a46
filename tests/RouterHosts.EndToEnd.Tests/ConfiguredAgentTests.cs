using System.Text.Json.Nodes;
using RouterHosts.Client;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>The real agent started from a configuration file: Unix socket, hooks, file failures, expiry, retention.</summary>
public sealed class ConfiguredAgentTests
{
    private static RouterHostInput Host(string ip, string name) => new() { IPAddress = ip, Hostname = name };

    [Fact]
    public async Task The_unix_socket_speaks_h2c_with_mode_0660_and_names_the_peer_as_actor()
    {
        await using var agent = await AgentProcess.StartWithConfigAsync((config, dir) =>
            config["unix_socket"] = new JsonObject { ["path"] = Path.Combine(dir, "agent.sock"), ["mode"] = "0660" });
        var socket = Path.Combine(agent.DataDirectory, "agent.sock");
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite,
            File.GetUnixFileMode(socket));
        using var client = RouterHostsClient.Connect(new RouterHostsConnectionOptions { UnixSocket = socket });
        var added = await client.AddHostAsync(Host("10.50.0.1", "via-socket"));
        var actor = (await client.GetHostHistoryAsync(added.Id).SingleAsync()).Actor;
        Assert.StartsWith($"unix:uid={Environment.GetEnvironmentVariable("SUDO_UID") ?? GetUid()}", actor);
    }

    private static string GetUid() => File.ReadLines("/proc/self/status").First(l => l.StartsWith("Uid:")).Split('\t', StringSplitOptions.RemoveEmptyEntries)[1];

    [Fact]
    public async Task Hooks_get_the_change_in_environment_variables_and_a_hanging_hook_is_killed_without_slowing_the_agent()
    {
        await using var agent = await AgentProcess.StartWithConfigAsync((config, dir) =>
            config["hooks"] = new JsonObject
            {
                ["on_success"] = new JsonArray(
                    new JsonObject { ["name"] = "record", ["command"] = $"env | grep ^ROUTER_HOSTS_ | sort > {dir}/hook-env; echo recorded", ["timeout_seconds"] = 5 },
                    new JsonObject { ["name"] = "hang", ["command"] = $"sleep 60 & echo $! > {dir}/hang-child.tmp; mv {dir}/hang-child.tmp {dir}/hang-child; wait", ["timeout_seconds"] = 15 }),
                ["on_failure"] = new JsonArray(
                    new JsonObject { ["name"] = "alarm", ["command"] = $"echo \"$ROUTER_HOSTS_ERROR\" > {dir}/failure; exit 3", ["timeout_seconds"] = 5 }),
            });
        using var client = agent.Connect();
        var envFile = Path.Combine(agent.DataDirectory, "hook-env");
        File.Delete(envFile); // the start-up render already ran the hooks once
        var added = await client.AddHostAsync(Host("10.51.0.1", "hooked"));

        // While "hang" sleeps, the agent keeps answering: a write made while the hook hangs
        // returns before the hook is killed (its child is still alive when the write is back).
        var childFile = Path.Combine(agent.DataDirectory, "hang-child");
        await WaitUntil(() => File.Exists(childFile));
        var child = int.Parse((await File.ReadAllTextAsync(childFile)).Trim());
        await client.AddHostAsync(Host("10.51.0.2", "meanwhile"));
        Assert.True(IsRunning(child), "the write waited until the hanging hook was killed");

        // The second batch: "record" runs again once the first batch's "hang" has been killed.
        await WaitUntil(() => File.Exists(envFile));
        var status = await WaitFor(client, s => s.LastHookRuns.Any(r => r.Name == "hang" && r.TimedOut));
        var env = await File.ReadAllLinesAsync(envFile);
        Assert.Contains("ROUTER_HOSTS_EVENT=success", env);
        Assert.Contains($"ROUTER_HOSTS_HOSTS_FILE={agent.HostsFilePath}", env);
        Assert.Contains(env, l => l.StartsWith("ROUTER_HOSTS_CHANGE_ID=") && long.Parse(l.Split('=')[1]) > 0);
        Assert.Contains(env, l => l.StartsWith("ROUTER_HOSTS_ENTRY_COUNT="));
        var record = status.LastHookRuns.Single(r => r.Name == "record");
        Assert.Equal((0, "recorded\n"), (record.ExitCode, record.OutputTail));
        // The hung hook's child went with its process group.
        await WaitUntil(() => !IsRunning(child));
        Assert.True((await client.TestAsync()).Ready);
        Assert.Equal("hooked", (await client.GetHostAsync(added.Id)).Hostname);
    }

    [Fact]
    public async Task When_the_hosts_file_cannot_be_written_the_write_succeeds_stale_failure_hooks_run_and_a_retry_catches_up()
    {
        await using var agent = await AgentProcess.StartWithConfigAsync((config, dir) =>
        {
            Directory.CreateDirectory(Path.Combine(dir, "etc"));
            config["hosts_file"] = new JsonObject { ["path"] = Path.Combine(dir, "etc", "hosts"), ["mode"] = "file" };
            config["hooks"] = new JsonObject
            {
                ["on_failure"] = new JsonArray(new JsonObject
                {
                    ["name"] = "alarm", ["command"] = $"printf '%s' \"$ROUTER_HOSTS_ERROR\" > {dir}/failure", ["timeout_seconds"] = 5,
                }),
            };
        });
        using var client = agent.Connect();
        var etc = Path.Combine(agent.DataDirectory, "etc");
        Directory.Delete(etc, recursive: true); // the hosts file's directory goes away

        var added = await client.AddHostAsync(Host("10.52.0.1", "committed-anyway"));
        Assert.Equal("committed-anyway", (await client.GetHostAsync(added.Id)).Hostname);
        var stale = await WaitFor(client, s => !s.HostsFileCurrent);
        Assert.NotNull(stale.HostsFileError);
        await WaitUntil(() => File.Exists(Path.Combine(agent.DataDirectory, "failure")));
        Assert.Contains("etc", await File.ReadAllTextAsync(Path.Combine(agent.DataDirectory, "failure")));

        Directory.CreateDirectory(etc); // the retry with backoff brings the file up to date
        await WaitFor(client, s => s.HostsFileCurrent, TimeSpan.FromSeconds(20));
        Assert.Contains("10.52.0.1\tcommitted-anyway", await File.ReadAllTextAsync(Path.Combine(etc, "hosts")));
    }

    [Fact]
    public async Task A_concurrent_reader_never_sees_a_partial_hosts_file_and_foreign_lines_are_kept()
    {
        await using var agent = await AgentProcess.StartWithConfigAsync();
        using var client = agent.Connect();
        using var stop = new CancellationTokenSource();
        var reads = 0;
        var reader = Task.Run(() =>
        {
            while (!stop.IsCancellationRequested)
            {
                var text = File.ReadAllText(agent.HostsFilePath);
                if (!text.StartsWith("127.0.0.1\tlocalhost\n# BEGIN router-hosts\n") || !text.EndsWith("# END router-hosts\n"))
                    throw new InvalidDataException("partial or foreign-damaged file:\n" + text);
                reads++;
            }
        });
        for (var i = 0; i < 150; i++) await client.AddHostAsync(Host($"10.53.0.{i + 1}", $"reader{i}"));
        stop.Cancel();
        await reader;
        Assert.True(reads > 10, $"only {reads} reads happened");
    }

    [Fact]
    public async Task An_idle_session_expires_and_says_so()
    {
        await using var agent = await AgentProcess.StartWithConfigAsync((config, _) =>
            config["edit_session"] = new JsonObject { ["idle_timeout_seconds"] = 1 });
        using var client = agent.Connect();
        var edit = await client.StartEditAsync();
        Assert.Equal(TimeSpan.FromSeconds(1), edit.IdleTimeout);
        Assert.Equal("CN=test-admin, OU=admin", (await client.GetAgentStatusAsync()).EditSession!.Holder);
        await Task.Delay(1500);
        var error = await Assert.ThrowsAsync<RouterHostsException>(() => client.AddHostAsync(Host("10.54.0.1", "too-late")));
        Assert.Equal(RouterHostsErrorCode.FailedPrecondition, error.Code);
        Assert.Equal("edit session expired", error.Message);
        Assert.Equal("edit-session-expired", error.Reason);
        Assert.Null(client.EditToken); // the client let go of the dead session: the next write is direct
        Assert.Null((await client.GetAgentStatusAsync()).EditSession);
        Assert.False((await client.AddHostAsync(Host("10.54.0.2", "direct-again"))).Staged);
    }

    [Fact]
    public async Task Snapshot_retention_keeps_the_newest_max_snapshots()
    {
        await using var agent = await AgentProcess.StartWithConfigAsync((config, _) =>
            config["snapshots"] = new JsonObject { ["max_snapshots"] = 3, ["max_age_days"] = 30 });
        using var client = agent.Connect();
        var made = new List<string>();
        for (var i = 0; i < 5; i++) made.Add((await client.CreateSnapshotAsync($"s{i}")).Id);
        var kept = await client.ListSnapshotsAsync().Select(s => s.Id).ToListAsync();
        Assert.Equal(made.TakeLast(3).Reverse(), kept);
    }

    private static async Task<RouterHostsAgentStatus> WaitFor(RouterHostsClient client, Func<RouterHostsAgentStatus, bool> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(60));
        while (true)
        {
            var status = await client.GetAgentStatusAsync();
            if (condition(status)) return status;
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not reached; last status: " + System.Text.Json.JsonSerializer.Serialize(status));
            await Task.Delay(100);
        }
    }

    /// <summary>Alive and not a zombie.</summary>
    private static bool IsRunning(int pid)
    {
        try { return File.ReadAllText($"/proc/{pid}/stat").Split(' ')[2] != "Z"; }
        catch (IOException) { return false; }
    }

    // Waits for real conditions: deadlines are generous because a loaded 2-core machine is slow, not wrong.
    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not reached");
            await Task.Delay(50);
        }
    }
}
