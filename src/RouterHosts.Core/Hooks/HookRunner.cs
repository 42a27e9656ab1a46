using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Extensions.Logging;

namespace RouterHosts.Core.Hooks;

public sealed record HookDefinition(string Name, string Command, TimeSpan Timeout);

public sealed record HookSet(IReadOnlyList<HookDefinition> OnSuccess, IReadOnlyList<HookDefinition> OnFailure)
{
    public static readonly HookSet None = new([], []);
    public IEnumerable<HookDefinition> All => OnSuccess.Concat(OnFailure);
}

/// <summary>What the hooks are told, through environment variables only.</summary>
public sealed record HookTrigger(bool Success, int EntryCount, string? Error, string HostsFile, long ChangeId);

public sealed record HookRunResult(
    string Name, string Event, int ExitCode, bool TimedOut, TimeSpan Duration, DateTimeOffset FinishedAt, string OutputTail);

/// <summary>
/// Runs the configured hooks off the request path, one batch at a time. Triggers
/// that arrive while a batch runs are coalesced: only the latest is run next.
/// Each command runs as /bin/sh -c in its own process group (via setsid) so that
/// a timeout kills everything it started.
/// </summary>
public sealed class HookRunner : IAsyncDisposable
{
    public const int OutputTailBytes = 4096;
    private static readonly TimeSpan KilledOutputWait = TimeSpan.FromSeconds(2);

    private readonly ILogger _log;
    private readonly object _gate = new();
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly Dictionary<string, HookRunResult> _lastRuns = new();
    private readonly Task _loop;
    private HookTrigger? _pending;
    private HookSet _hooks;
    private long _completedBatches;

    public HookRunner(HookSet hooks, ILogger log)
    {
        _hooks = hooks;
        _log = log;
        _loop = Task.Run(RunLoopAsync);
    }

    public HookSet Hooks { get { lock (_gate) return _hooks; } }

    /// <summary>Replaces the hooks (configuration reload); a batch already running finishes with the old ones.</summary>
    public void Reconfigure(HookSet hooks) { lock (_gate) _hooks = hooks; }

    public IReadOnlyList<HookRunResult> LastRuns { get { lock (_gate) return _lastRuns.Values.ToList(); } }

    /// <summary>How many batches have finished: lets tests wait for hooks without sleeping blindly.</summary>
    public long CompletedBatches => Interlocked.Read(ref _completedBatches);

    public void Trigger(HookTrigger trigger)
    {
        lock (_gate)
        {
            _pending = trigger;
            if (_wake.CurrentCount == 0) _wake.Release();
        }
    }

    private async Task RunLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            try { await _wake.WaitAsync(_stop.Token); }
            catch (OperationCanceledException) { return; }
            HookTrigger? trigger;
            HookSet hooks;
            lock (_gate) { trigger = _pending; _pending = null; hooks = _hooks; }
            if (trigger is null) continue;
            foreach (var hook in trigger.Success ? hooks.OnSuccess : hooks.OnFailure)
            {
                var result = await RunOneAsync(hook, trigger, _stop.Token);
                lock (_gate) _lastRuns[hook.Name] = result;
            }
            Interlocked.Increment(ref _completedBatches);
        }
    }

    private async Task<HookRunResult> RunOneAsync(HookDefinition hook, HookTrigger trigger, CancellationToken stop)
    {
        var eventName = trigger.Success ? "success" : "failure";
        var start = Stopwatch.StartNew();
        var tail = new OutputTail(OutputTailBytes);
        var info = new ProcessStartInfo("setsid")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
        };
        foreach (var arg in new[] { "/bin/sh", "-c", hook.Command }) info.ArgumentList.Add(arg);
        info.Environment["ROUTER_HOSTS_EVENT"] = eventName;
        info.Environment["ROUTER_HOSTS_ENTRY_COUNT"] = trigger.EntryCount.ToString();
        info.Environment["ROUTER_HOSTS_ERROR"] = trigger.Error ?? "";
        info.Environment["ROUTER_HOSTS_HOSTS_FILE"] = trigger.HostsFile;
        info.Environment["ROUTER_HOSTS_CHANGE_ID"] = trigger.ChangeId.ToString();

        int exitCode;
        var timedOut = false;
        try
        {
            using var process = new Process { StartInfo = info };
            process.OutputDataReceived += (_, e) => tail.Add(e.Data);
            process.ErrorDataReceived += (_, e) => tail.Add(e.Data);
            process.Start();
            process.StandardInput.Close();
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            using var timeout = CancellationTokenSource.CreateLinkedTokenSource(stop);
            timeout.CancelAfter(hook.Timeout);
            try
            {
                await process.WaitForExitAsync(timeout.Token);
                exitCode = process.ExitCode;
            }
            catch (OperationCanceledException)
            {
                timedOut = !stop.IsCancellationRequested;
                KillProcessGroup(process.Id);
                // A descendant that left the group (setsid, daemonised) may hold the output pipes open,
                // and WaitForExitAsync also waits for their end: bound that wait, the shell itself is dead.
                using var drain = new CancellationTokenSource(KilledOutputWait);
                try { await process.WaitForExitAsync(drain.Token); }
                catch (OperationCanceledException) { tail.Add("(output still held open by a process outside the hook's group)"); }
                exitCode = -1;
            }
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            tail.Add(e.Message);
            exitCode = -1;
        }

        var result = new HookRunResult(hook.Name, eventName, exitCode, timedOut, start.Elapsed, DateTimeOffset.UtcNow, tail.ToString());
        if (exitCode == 0)
            _log.LogInformation("hook {Hook} ({Event}) exited 0 in {Ms} ms", hook.Name, eventName, (long)result.Duration.TotalMilliseconds);
        else
            _log.LogWarning("hook {Hook} ({Event}) {Outcome} after {Ms} ms; output tail: {Tail}", hook.Name, eventName,
                timedOut ? $"timed out ({hook.Timeout.TotalSeconds:0.#} s) and was killed" : $"exited {exitCode}",
                (long)result.Duration.TotalMilliseconds, result.OutputTail);
        return result;
    }

    private static void KillProcessGroup(int leaderPid)
    {
        // setsid made the shell a session and process-group leader, so -pid names its whole group.
        if (kill(-leaderPid, 9) != 0) kill(leaderPid, 9);
    }

    [DllImport("libc", SetLastError = true)] private static extern int kill(int pid, int signal);

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        try { await _loop; } catch (OperationCanceledException) { }
        _stop.Dispose();
    }

    /// <summary>Keeps the last <c>capacity</c> characters of a process's output.</summary>
    private sealed class OutputTail(int capacity)
    {
        private readonly StringBuilder _text = new();

        public void Add(string? line)
        {
            if (line is null) return;
            lock (_text)
            {
                _text.Append(line).Append('\n');
                if (_text.Length > capacity) _text.Remove(0, _text.Length - capacity);
            }
        }

        public override string ToString() { lock (_text) return _text.ToString(); }
    }
}
