using System.Diagnostics;
using Microsoft.Extensions.Logging;
using RouterHosts.Core.Hooks;
using RouterHosts.Core.HostsFile;
using RouterHosts.Core.Storage;
using RouterHosts.Core.Telemetry;
using RouterHosts.Core.Writes;

namespace RouterHosts.Core.Outputs;

/// <summary>One configured output: where it goes, in which format, and its own hooks.</summary>
public sealed record OutputDefinition(string Path, OutputFormat Format, HookSet Hooks);

/// <summary>An output's state, for Health: like the hosts file's, plus the names the format could not carry.</summary>
public sealed record OutputState(
    string Path, OutputFormat Format, bool Current, long RenderedChangeId, string? LastError, DateTimeOffset? LastWrittenAt,
    IReadOnlyList<string> Refused, IReadOnlyList<HookRunResult> LastHookRuns);

/// <summary>
/// The outputs besides the hosts file (DNS server files). They follow the committed state on
/// their own, off the write path: after each change (bursts coalesce) every output is rendered
/// from one read of the live entries, written atomically when its bytes change, and its own
/// hooks are told. A write that fails is retried with backoff, as for the hosts file; the change
/// stays committed. A file changed by hand is put back on the next render (<see cref="Recheck"/> asks for one).
/// </summary>
public sealed class OutputSet : IAsyncDisposable
{
    private static readonly TimeSpan FirstRetry = TimeSpan.FromMilliseconds(500);
    private static readonly TimeSpan MaxRetry = TimeSpan.FromSeconds(60);
    private static readonly System.Text.RegularExpressions.Regex TempFileName = new(@"\.routerhosts-[0-9a-f]{32}\.tmp");

    private readonly Output[] _outputs;
    private readonly IHostStore _store;
    private readonly ChangeFeed _feed;
    private readonly ILogger _log;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _recheck = new(0, 1);
    private Task _loop = Task.CompletedTask;
    private long _renders;

    public OutputSet(IReadOnlyList<OutputDefinition> outputs, IHostStore store, ChangeFeed feed, ILogger log)
    {
        _store = store;
        _feed = feed;
        _log = log;
        _outputs = outputs.Select(d => new Output(d, new HookRunner(d.Hooks, log))).ToArray();
        foreach (var output in _outputs) RemoveLeftoverTempFiles(output.Definition.Path);
    }

    public IReadOnlyList<OutputState> States => _outputs.Select(o => o.State with { LastHookRuns = o.Hooks.LastRuns }).ToList();

    /// <summary>How many render passes have finished: lets tests wait for a real pass, not a guessed time.</summary>
    public long Renders => Interlocked.Read(ref _renders);

    /// <summary>Starts following the committed state; the first pass renders at once.</summary>
    public void Start()
    {
        if (_outputs.Length > 0) _loop = Task.Run(RunAsync);
    }

    /// <summary>Asks for a render pass now even without a change (a drift check): a file changed by hand is put back.</summary>
    public void Recheck()
    {
        lock (_recheck) if (_recheck.CurrentCount == 0) _recheck.Release();
    }

    private async Task RunAsync()
    {
        var retry = FirstRetry;
        while (!_stop.IsCancellationRequested)
        {
            long changeId;
            try { changeId = RenderAll(); }
            catch (Exception e) when (e is not OperationCanceledException)
            {
                // The store could not be read (database down): nothing was written; try again.
                _log.LogError("outputs: could not read the hosts to render: {Error}; retrying in {Seconds:0.#} s", e.Message, retry.TotalSeconds);
                changeId = -1;
            }
            Interlocked.Increment(ref _renders);
            var failed = changeId < 0 || _outputs.Any(o => !o.State.Current);
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            if (failed) wait.CancelAfter(retry);
            retry = failed ? TimeSpan.FromTicks(Math.Min(retry.Ticks * 2, MaxRetry.Ticks)) : FirstRetry;
            await Task.WhenAny(_feed.WaitAfterAsync(Math.Max(changeId, 0), wait.Token), _recheck.WaitAsync(wait.Token));
            await wait.CancelAsync(); // the wait that did not end gives up (a stale waiter would take the next Recheck)
        }
    }

    /// <summary>One pass over every output from one read of the live entries; returns the change it reflects.</summary>
    private long RenderAll()
    {
        // The id first: a commit racing the read shows in the entries early, and the next pass catches the id up.
        var changeId = _store.LastChangeId();
        var entries = _store.StreamAll().ToList();
        foreach (var output in _outputs) output.Render(entries, changeId, _log);
        return changeId;
    }

    private void RemoveLeftoverTempFiles(string path)
    {
        try
        {
            foreach (var removed in AtomicFile.RemoveLeftoverTempFiles(path))
                _log.LogWarning("removed {Temp}, left behind by an earlier write of the output that did not finish", removed);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.LogWarning("could not remove leftover temp files beside {Path}: {Error}", path, e.Message);
        }
    }

    public async ValueTask DisposeAsync()
    {
        await _stop.CancelAsync();
        try { await _loop; } catch (OperationCanceledException) { }
        foreach (var output in _outputs) await output.Hooks.DisposeAsync();
        _stop.Dispose();
    }

    private sealed class Output(OutputDefinition definition, HookRunner hooks)
    {
        public OutputDefinition Definition { get; } = definition;
        public HookRunner Hooks { get; } = hooks;
        public OutputState State { get; private set; } =
            new(Path.GetFullPath(definition.Path), definition.Format, false, 0, null, null, [], []);
        private byte[]? _written;

        public void Render(IReadOnlyList<Core.Hosts.HostEntry> entries, long changeId, ILogger log)
        {
            var state = State;
            var format = OutputRenderer.Name(Definition.Format);
            var timer = Stopwatch.StartNew();
            var rendered = OutputRenderer.Render(Definition.Format, entries);
            if (!rendered.Refused.SequenceEqual(state.Refused))
                foreach (var refused in rendered.Refused)
                    log.LogWarning("output {Path} ({Format}): left out {Name}", state.Path, format, refused);
            try
            {
                var onDisk = AtomicFile.TryRead(state.Path);
                // Our last bytes, unchanged in the store, but not what the file holds: someone edited it.
                if (_written is not null && onDisk is not null && _written.AsSpan().SequenceEqual(rendered.Content) &&
                    !onDisk.AsSpan().SequenceEqual(rendered.Content))
                {
                    log.LogWarning("output {Path} ({Format}) was changed outside the agent; writing it back", state.Path, format);
                    RouterHostsTelemetry.RecordDrift(format);
                }
                var wrote = onDisk is null || !onDisk.AsSpan().SequenceEqual(rendered.Content);
                if (wrote) AtomicFile.Replace(state.Path, rendered.Content);
                RouterHostsTelemetry.RecordRender(format, timer.Elapsed, rendered.Content.Length, wrote ? "written" : "unchanged");
                _written = rendered.Content;
                var now = DateTimeOffset.UtcNow;
                State = state with
                {
                    Current = true, RenderedChangeId = changeId, LastError = null, Refused = rendered.Refused,
                    LastWrittenAt = wrote ? now : state.LastWrittenAt ?? now,
                };
                if (wrote || !state.Current) Hooks.Trigger(new HookTrigger(true, rendered.Entries, null, state.Path, changeId));
                if (wrote)
                    log.LogDebug("output {Path} ({Format}) written: {Entries} entries, {Bytes} bytes in {Ms:0.#} ms", state.Path, format,
                        rendered.Entries, rendered.Content.Length, timer.Elapsed.TotalMilliseconds);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                var error = TempFileName.Replace(e.Message, ".routerhosts-*.tmp");
                RouterHostsTelemetry.RecordRender(format, timer.Elapsed, rendered.Content.Length, "failed");
                var firstFailure = state.Current || state.LastError != error;
                State = state with { Current = false, LastError = error, Refused = rendered.Refused };
                log.LogError("output {Path} ({Format}) could not be written: {Error}", state.Path, format, error);
                if (firstFailure) Hooks.Trigger(new HookTrigger(false, rendered.Entries, error, state.Path, changeId));
            }
        }
    }
}
