using System.Diagnostics;
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
/// Each command runs as /bin/sh -c in its own process group (via setsid). Its result
/// is the shell's exit; then whatever it started is ended (see <see cref="HookProcesses"/>),
/// and at a timeout the shell with it. Output is read in fixed chunks, of which only
/// the last <see cref="OutputTailBytes"/> bytes are kept.
/// </summary>
public sealed class HookRunner : IAsyncDisposable
{
    public const int OutputTailBytes = 4096;
    private const int ReadChunkBytes = 16 * 1024;
    private static readonly TimeSpan KilledOutputWait = TimeSpan.FromSeconds(2);
    private static long s_runCount;

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
        HookProcesses.BecomeSubreaper();
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
        var marker = $"{Environment.ProcessId}.{Interlocked.Increment(ref s_runCount)}";
        info.Environment[HookProcesses.RunMarkerVariable] = marker;

        int exitCode;
        var timedOut = false;
        try
        {
            using var process = new Process { StartInfo = info };
            process.Start();
            process.StandardInput.Close();
            // Read the raw bytes ourselves, in fixed chunks: no line is ever assembled, and
            // WaitForExitAsync then waits for the shell alone, not for the pipes' end.
            var output = Task.WhenAll(
                PumpAsync(process.StandardOutput.BaseStream, tail), PumpAsync(process.StandardError.BaseStream, tail));
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
                exitCode = -1;
            }
            // The shell's exit is the hook's result; nothing it started outlives it.
            var leftovers = await HookProcesses.EndAllAsync(process.Id, marker);
            if (leftovers > 0 && !timedOut)
                _log.LogInformation("hook {Hook} ({Event}): ended {Count} process(es) it left running", hook.Name, eventName, leftovers);
            using var drain = new CancellationTokenSource(KilledOutputWait);
            try
            {
                if (timedOut || stop.IsCancellationRequested) await process.WaitForExitAsync(drain.Token);
                await output.WaitAsync(drain.Token);
            }
            catch (OperationCanceledException) { tail.Note("(output still held open by a process outside the hook's reach)"); }
        }
        catch (Exception e) when (e is System.ComponentModel.Win32Exception or InvalidOperationException)
        {
            tail.Note(e.Message);
            exitCode = -1;
        }

        var result = new HookRunResult(hook.Name, eventName, exitCode, timedOut, start.Elapsed, DateTimeOffset.UtcNow, tail.ToString());
        Telemetry.RouterHostsTelemetry.HookDuration.Record(result.Duration.TotalSeconds,
            Telemetry.RouterHostsTelemetry.Tag("result", timedOut ? "timeout" : exitCode == 0 ? "success" : "failure"),
            Telemetry.RouterHostsTelemetry.Tag("event", eventName));
        if (exitCode == 0)
            _log.LogInformation("hook {Hook} ({Event}) exited 0 in {Ms} ms", hook.Name, eventName, (long)result.Duration.TotalMilliseconds);
        else
            _log.LogWarning("hook {Hook} ({Event}) {Outcome} after {Ms} ms; output tail: {Tail}", hook.Name, eventName,
                timedOut ? $"timed out ({hook.Timeout.TotalSeconds:0.#} s) and was killed" : $"exited {exitCode}",
                (long)result.Duration.TotalMilliseconds, result.OutputTail);
        return result;
    }

    private static async Task PumpAsync(Stream stream, OutputTail tail)
    {
        var buffer = new byte[ReadChunkBytes];
        try
        {
            int read;
            while ((read = await stream.ReadAsync(buffer)) > 0) tail.Add(buffer.AsSpan(0, read));
        }
        catch (Exception e) when (e is IOException or ObjectDisposedException or OperationCanceledException) { }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        try { await _loop; } catch (OperationCanceledException) { }
        _stop.Dispose();
    }

    /// <summary>Keeps the last <c>capacity</c> bytes of a process's output (both streams, in arrival order).</summary>
    private sealed class OutputTail(int capacity)
    {
        private readonly byte[] _bytes = new byte[capacity];
        private int _length;

        public void Add(ReadOnlySpan<byte> data)
        {
            lock (_bytes)
            {
                if (data.Length >= capacity)
                {
                    data[^capacity..].CopyTo(_bytes);
                    _length = capacity;
                    return;
                }
                var keep = Math.Min(_length, capacity - data.Length);
                _bytes.AsSpan(_length - keep, keep).CopyTo(_bytes);
                data.CopyTo(_bytes.AsSpan(keep));
                _length = keep + data.Length;
            }
        }

        public void Note(string text) => Add(Encoding.UTF8.GetBytes(text + "\n"));

        public int Length { get { lock (_bytes) return _length; } }

        public override string ToString()
        {
            lock (_bytes)
            {
                // The cut may fall inside a UTF-8 sequence: drop its continuation bytes.
                var start = 0;
                while (start < _length && (_bytes[start] & 0xC0) == 0x80) start++;
                return Encoding.UTF8.GetString(_bytes, start, _length - start);
            }
        }
    }
}
