using System.Text.Json.Nodes;
using RouterHosts.Client;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>Hooks run by the real agent: bounded output, the shell's exit as the result, nothing left running.</summary>
public sealed class HookProcessTests
{
    // Each hook acts only after a change (entry count > 0), so the start-up render's run stays quiet.
    private const string AfterAChange = "[ \"$ROUTER_HOSTS_ENTRY_COUNT\" -gt 0 ] || exit 0; ";

    [Fact]
    public async Task A_hook_printing_100_MB_without_a_newline_leaves_the_agents_peak_memory_nearly_unchanged()
    {
        await using var agent = await AgentProcess.StartWithConfigAsync((config, _) =>
            config["hooks"] = new JsonObject
            {
                ["on_success"] = new JsonArray(new JsonObject
                {
                    ["name"] = "flood", ["timeout_seconds"] = 120,
                    ["command"] = AfterAChange + "head -c 100000000 /dev/zero | tr '\\0' x",
                }),
            });
        using var client = agent.Connect();
        await WaitFor(client, s => s.LastHookRuns.Any(r => r.Name == "flood"));
        var peakBefore = PeakRssMiB(agent.Pid);

        await client.AddHostAsync(new RouterHostInput { IPAddress = "10.57.0.1", Hostname = "flooded" });
        var status = await WaitFor(client, s => s.LastHookRuns.Any(r => r.Name == "flood" && r.OutputTail.Length > 0), TimeSpan.FromSeconds(120));

        var growth = PeakRssMiB(agent.Pid) - peakBefore;
        var run = status.LastHookRuns.Single(r => r.Name == "flood");
        Assert.Equal(0, run.ExitCode);
        Assert.Equal(new string('x', 4096), run.OutputTail);
        // Read as one 100 MB line this grew the agent by about 587 MiB.
        Assert.True(growth < 64, $"the agent's peak RSS grew by {growth} MiB while the hook printed 100 MB");
    }

    [Fact]
    public async Task A_hook_that_starts_a_daemon_reports_the_shells_exit_at_once_and_no_process_it_started_survives()
    {
        string Pids(string dir, string name) => Path.Combine(dir, name + ".pid");
        await using var agent = await AgentProcess.StartWithConfigAsync((config, dir) =>
            config["hooks"] = new JsonObject
            {
                ["on_success"] = new JsonArray(
                    new JsonObject
                    {
                        ["name"] = "daemon", ["timeout_seconds"] = 30,
                        ["command"] = AfterAChange + $"setsid sh -c 'exec sleep 3000' & echo $! > {Pids(dir, "daemon")}; echo started",
                    },
                    new JsonObject
                    {
                        ["name"] = "quiet-daemon", ["timeout_seconds"] = 30,
                        ["command"] = AfterAChange + $"setsid sh -c 'exec sleep 3000' >/dev/null 2>&1 & echo $! > {Pids(dir, "quiet")}; echo started",
                    },
                    new JsonObject
                    {
                        ["name"] = "group-child", ["timeout_seconds"] = 30,
                        ["command"] = AfterAChange + $"sleep 3000 >/dev/null 2>&1 & echo $! > {Pids(dir, "child")}",
                    }),
            });
        using var client = agent.Connect();
        await WaitFor(client, s => s.LastHookRuns.Length == 3);
        var firstBatch = (await client.GetAgentStatusAsync()).LastHookRuns.Max(r => r.FinishedAt);

        await client.AddHostAsync(new RouterHostInput { IPAddress = "10.57.0.2", Hostname = "daemonised" });
        // 3 x 30 s of timeouts if the agent waited for the daemons or their pipes.
        var status = await WaitFor(client, s => s.LastHookRuns.Length == 3 && s.LastHookRuns.All(r => r.FinishedAt > firstBatch), TimeSpan.FromSeconds(120));

        foreach (var run in status.LastHookRuns)
        {
            Assert.Equal((run.Name, 0, false), (run.Name, run.ExitCode, run.TimedOut));
            Assert.True(run.Duration < TimeSpan.FromSeconds(15), $"{run.Name} took {run.Duration}: it waited for what the shell left");
        }
        Assert.Equal("started\n", status.LastHookRuns.Single(r => r.Name == "daemon").OutputTail);
        foreach (var name in new[] { "daemon", "quiet", "child" })
        {
            var pid = int.Parse((await File.ReadAllTextAsync(Pids(agent.DataDirectory, name))).Trim());
            // Gone from /proc altogether: killed, and reaped by the agent as their subreaper.
            await WaitUntil(() => !Directory.Exists($"/proc/{pid}"), $"{name} ({pid}) to be gone");
        }
    }

    private static long PeakRssMiB(int pid) =>
        long.Parse(File.ReadLines($"/proc/{pid}/status").First(l => l.StartsWith("VmHWM:")).Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024;

    private static async Task<RouterHostsAgentStatus> WaitFor(RouterHostsClient client, Func<RouterHostsAgentStatus, bool> condition, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        while (true)
        {
            var status = await client.GetAgentStatusAsync();
            if (condition(status)) return status;
            if (DateTime.UtcNow > deadline) throw new TimeoutException("condition not reached; last status: " + System.Text.Json.JsonSerializer.Serialize(status));
            await Task.Delay(100);
        }
    }

    private static async Task WaitUntil(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(15);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"timed out waiting for {what}");
            await Task.Delay(50);
        }
    }
}
