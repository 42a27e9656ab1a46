using Microsoft.Extensions.Logging.Abstractions;
using RouterHosts.Core.Hooks;

namespace RouterHosts.Core.Tests;

/// <summary>Real /bin/sh hooks. Waits poll HookRunner.CompletedBatches (or a file) against a deadline.</summary>
public sealed class HookRunnerTests : IDisposable
{
    private readonly TempDir _temp = new();

    public void Dispose() => _temp.Dispose();

    private static HookDefinition Hook(string name, string command, double timeoutSeconds = 10) =>
        new(name, command, TimeSpan.FromSeconds(timeoutSeconds));

    private static HookTrigger Success(long changeId, int count = 3) => new(true, count, null, "/etc/hosts", changeId);

    private static string Q(string path) => "'" + path.Replace("'", "'\\''") + "'";

    [Fact]
    public async Task A_success_hook_sees_the_ROUTER_HOSTS_variables()
    {
        var envFile = _temp.File("env");
        await using var runner = new HookRunner(
            new HookSet([Hook("dump", $"env | grep -E '^ROUTER_HOSTS_(EVENT|ENTRY_COUNT|ERROR|HOSTS_FILE|CHANGE_ID)=' | sort > {Q(envFile)}")], []), NullLogger.Instance);

        runner.Trigger(new HookTrigger(true, 42, null, "/tmp/some hosts", 17));
        await Wait.UntilAsync(() => runner.CompletedBatches >= 1, "the hook batch");

        Assert.Equal(
        [
            "ROUTER_HOSTS_CHANGE_ID=17",
            "ROUTER_HOSTS_ENTRY_COUNT=42",
            "ROUTER_HOSTS_ERROR=",
            "ROUTER_HOSTS_EVENT=success",
            "ROUTER_HOSTS_HOSTS_FILE=/tmp/some hosts",
        ], File.ReadAllLines(envFile));
        var run = Assert.Single(runner.LastRuns);
        Assert.Equal("dump", run.Name);
        Assert.Equal("success", run.Event);
        Assert.Equal(0, run.ExitCode);
        Assert.False(run.TimedOut);
    }

    [Fact]
    public async Task Failure_triggers_run_only_the_failure_hooks_with_the_error()
    {
        var successFile = _temp.File("success");
        var failureFile = _temp.File("failure");
        await using var runner = new HookRunner(new HookSet(
            [Hook("ok", $"echo ran > {Q(successFile)}")],
            [Hook("alert", $"echo \"$ROUTER_HOSTS_EVENT|$ROUTER_HOSTS_ERROR\" > {Q(failureFile)}")]), NullLogger.Instance);

        runner.Trigger(new HookTrigger(false, 0, "disk full", "/etc/hosts", 5));
        await Wait.UntilAsync(() => runner.CompletedBatches >= 1, "the failure batch");

        Assert.Equal("failure|disk full\n", File.ReadAllText(failureFile));
        Assert.False(File.Exists(successFile));
    }

    [Fact]
    public async Task A_failing_hook_records_its_exit_code_and_both_output_streams()
    {
        await using var runner = new HookRunner(new HookSet(
            [Hook("bad", "echo to-stdout; echo to-stderr >&2; exit 3")], []), NullLogger.Instance);

        runner.Trigger(Success(1));
        await Wait.UntilAsync(() => runner.CompletedBatches >= 1, "the failing hook");

        var run = Assert.Single(runner.LastRuns);
        Assert.Equal(3, run.ExitCode);
        Assert.False(run.TimedOut);
        Assert.Contains("to-stdout\n", run.OutputTail);
        Assert.Contains("to-stderr\n", run.OutputTail);
    }

    [Fact]
    public async Task Only_the_tail_of_a_long_output_is_kept()
    {
        await using var runner = new HookRunner(new HookSet(
            [Hook("chatty", "i=0; while [ $i -lt 2000 ]; do echo line$i; i=$((i+1)); done; exit 1")], []), NullLogger.Instance);

        runner.Trigger(Success(1));
        await Wait.UntilAsync(() => runner.CompletedBatches >= 1, "the chatty hook");

        var run = Assert.Single(runner.LastRuns);
        Assert.Equal(1, run.ExitCode);
        Assert.EndsWith("line1998\nline1999\n", run.OutputTail);
        Assert.DoesNotContain("line0\n", run.OutputTail);
        Assert.True(run.OutputTail.Length <= HookRunner.OutputTailBytes);
        Assert.True(run.OutputTail.Length > HookRunner.OutputTailBytes - 20);
    }

    [Fact]
    public async Task A_hook_that_hangs_is_killed_at_its_timeout_with_its_children()
    {
        var pidFile = _temp.File("child.pid");
        await using var runner = new HookRunner(new HookSet(
            [Hook("hang", $"sleep 30 & echo $! > {Q(pidFile)}; sleep 30", timeoutSeconds: 1)], []), NullLogger.Instance);

        var started = DateTime.UtcNow;
        runner.Trigger(Success(1));
        await Wait.UntilAsync(() => runner.CompletedBatches >= 1, "the timed-out hook", seconds: 20);
        var elapsed = DateTime.UtcNow - started;

        var run = Assert.Single(runner.LastRuns);
        Assert.True(run.TimedOut);
        Assert.Equal(-1, run.ExitCode);
        Assert.True(elapsed < TimeSpan.FromSeconds(15), $"took {elapsed}, not killed at its 1 s timeout");
        Assert.True(run.Duration >= TimeSpan.FromSeconds(0.9), $"killed after {run.Duration}, before its timeout");

        var childPid = int.Parse(File.ReadAllText(pidFile).Trim());
        await Wait.UntilAsync(() => !IsRunning(childPid), $"background child {childPid} to be gone", seconds: 10);
    }

    [Fact]
    public async Task A_timed_out_hook_whose_child_left_its_process_group_is_ended_with_it_and_does_not_wedge_the_runner()
    {
        var pidFile = _temp.File("escaped.pid");
        var after = _temp.File("after");
        // The child starts its own session, out of reach of the group kill, and keeps the output pipe open.
        await using var runner = new HookRunner(new HookSet(
            [Hook("escape", $"setsid sleep 30 & echo $! > {Q(pidFile)}; sleep 30", timeoutSeconds: 1)], []), NullLogger.Instance);
        runner.Trigger(Success(1));
        await Wait.UntilAsync(() => runner.CompletedBatches >= 1, "the timed-out hook to be given up on", seconds: 15);
        Assert.True(Assert.Single(runner.LastRuns).TimedOut);
        var escaped = int.Parse(File.ReadAllText(pidFile).Trim());
        Assert.False(IsRunning(escaped), $"the escaped child {escaped} outlived its hook");

        // And the runner still runs the next batch.
        runner.Reconfigure(new HookSet([Hook("next", $"touch {Q(after)}")], []));
        runner.Trigger(Success(2));
        await Wait.UntilAsync(() => runner.CompletedBatches >= 2, "the next batch");
        Assert.True(File.Exists(after));
    }

    [Theory]
    [InlineData("setsid sh -c 'exec sleep 3000' & echo $! > {0}; echo started")]
    [InlineData("setsid sh -c 'exec sleep 3000' >/dev/null 2>&1 & echo $! > {0}; echo started")]
    [InlineData("setsid sh -c 'sleep 3000 >/dev/null 2>&1 & echo $! > {0}'; echo started")] // double fork: an orphan
    public async Task A_hooks_result_is_the_shells_exit_and_a_daemon_it_left_is_ended_and_reaped(string command)
    {
        var pidFile = _temp.File("daemon.pid");
        await using var runner = new HookRunner(new HookSet(
            [Hook("daemon", string.Format(command, Q(pidFile)), timeoutSeconds: 60)], []), NullLogger.Instance);
        runner.Trigger(Success(1));
        await Wait.UntilAsync(() => runner.CompletedBatches >= 1, "the hook", seconds: 30);

        var run = Assert.Single(runner.LastRuns);
        Assert.Equal((0, false), (run.ExitCode, run.TimedOut));
        Assert.True(run.Duration < TimeSpan.FromSeconds(20), $"took {run.Duration}: waited for the daemon, not the shell");
        var daemon = int.Parse(File.ReadAllText(pidFile).Trim());
        Assert.False(IsRunning(daemon), $"daemon {daemon} outlived its hook");
        // Reaped too: the agent is the subreaper of a hook's orphans, so no zombie is left.
        await Wait.UntilAsync(() => !Directory.Exists($"/proc/{daemon}"), $"daemon {daemon} to be reaped", seconds: 10);
    }

    [Fact]
    public async Task Triggers_that_arrive_while_a_hook_runs_coalesce_into_one_batch_with_the_latest()
    {
        var runs = _temp.File("runs");
        var startedMarker = _temp.File("started");
        var release = _temp.File("release");
        // Each run logs its change id, says it started, then waits until the test releases it.
        await using var runner = new HookRunner(new HookSet(
        [
            Hook("slow", $"echo $ROUTER_HOSTS_CHANGE_ID >> {Q(runs)}; touch {Q(startedMarker)}; " +
                         $"while [ ! -e {Q(release)} ]; do sleep 0.02; done", timeoutSeconds: 30),
        ], []), NullLogger.Instance);

        runner.Trigger(Success(1));
        await Wait.UntilAsync(() => File.Exists(startedMarker), "the first run to start");
        for (var id = 2; id <= 50; id++) runner.Trigger(Success(id));
        File.WriteAllText(release, "");

        await Wait.UntilAsync(() => runner.CompletedBatches >= 2, "the second batch");
        Assert.Equal(["1", "50"], File.ReadAllLines(runs));
        Assert.Equal(2, runner.CompletedBatches);
    }

    [Fact]
    public async Task Reconfigure_applies_to_the_next_batch()
    {
        var first = _temp.File("first");
        var second = _temp.File("second");
        await using var runner = new HookRunner(new HookSet([Hook("a", $"echo a >> {Q(first)}")], []), NullLogger.Instance);
        runner.Trigger(Success(1));
        await Wait.UntilAsync(() => runner.CompletedBatches >= 1, "batch 1");
        runner.Reconfigure(new HookSet([Hook("b", $"echo b >> {Q(second)}")], []));
        runner.Trigger(Success(2));
        await Wait.UntilAsync(() => runner.CompletedBatches >= 2, "batch 2");
        Assert.Equal(["a"], File.ReadAllLines(first));
        Assert.Equal(["b"], File.ReadAllLines(second));
        Assert.Equal(["b"], runner.Hooks.All.Select(h => h.Name));
    }

    [Fact]
    public async Task Disposing_stops_a_running_hook_and_its_children()
    {
        var pidFile = _temp.File("pid");
        var runner = new HookRunner(new HookSet(
            [Hook("long", $"sleep 30 & echo $! > {Q(pidFile)}; wait", timeoutSeconds: 60)], []), NullLogger.Instance);
        runner.Trigger(Success(1));
        await Wait.UntilAsync(() => File.Exists(pidFile) && File.ReadAllText(pidFile).EndsWith('\n'), "the hook to start");
        var dispose = runner.DisposeAsync().AsTask();
        Assert.Same(dispose, await Task.WhenAny(dispose, Task.Delay(TimeSpan.FromSeconds(15))));
        var childPid = int.Parse(File.ReadAllText(pidFile).Trim());
        await Wait.UntilAsync(() => !IsRunning(childPid), $"child {childPid} to be gone", seconds: 10);
    }

    /// <summary>A pid is running unless /proc has no entry or it is a zombie awaiting a reaper.</summary>
    private static bool IsRunning(int pid)
    {
        try
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var state = stat[(stat.LastIndexOf(')') + 2)..].Split(' ')[0];
            return state != "Z" && state != "X";
        }
        catch (IOException) { return false; }
    }
}
