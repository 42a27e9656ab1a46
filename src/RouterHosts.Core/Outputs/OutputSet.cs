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

/// <summary>An output's state, for Health: like the hosts file's (its drift too), plus the names the format could not carry.</summary>
public sealed record OutputState(
    string Path, OutputFormat Format, bool Current, long RenderedChangeId, string? LastError, DateTimeOffset? LastWrittenAt,
    IReadOnlyList<string> Refused, IReadOnlyList<HookRunResult> LastHookRuns, DriftStatus? Drift = null);

/// <summary>
/// The outputs besides the hosts file (DNS server files). They follow the committed state on
/// their own, off the write path: after each change (bursts coalesce) every output is rendered
/// from one read of the live entries, written atomically when its bytes change, and its own
/// hooks are told. A write that fails is retried with backoff, as for the hosts file; the change
/// stays committed. Drift is handled as for the hosts file, by hosts_file.drift: every
/// <see cref="HostsFileDrift.BackstopInterval"/> (and before each pass) each output is compared with what was last
/// written to it (its stat first, so an unchanged file is not read); a hand edit or deletion is logged with a line
/// diff, shown in Health, and in restore (and adopt: an output is made from the hosts, never read back) put back
/// with its hooks run, in report mode left alone until the next change.
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

    public OutputSet(IReadOnlyList<OutputDefinition> outputs, IHostStore store, ChangeFeed feed, ILogger log,
        DriftPolicy drift = DriftPolicy.Restore, TimeProvider? clock = null)
    {
        _store = store;
        _feed = feed;
        _log = log;
        _outputs = outputs.Select(d => new Output(d, new HookRunner(d.Hooks, log), drift, log, clock ?? TimeProvider.System)).ToArray();
        foreach (var output in _outputs) RemoveLeftoverTempFiles(output.Definition.Path);
    }

    public IReadOnlyList<OutputState> States =>
        _outputs.Select(o => o.State with { LastHookRuns = o.Hooks.LastRuns, Drift = o.Drift.Status }).ToList();

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
        var render = true;
        long changeId = 0;
        while (!_stop.IsCancellationRequested)
        {
            // A hand edit is noticed before a pass overwrites it, and between passes on the backstop's tick.
            foreach (var output in _outputs) output.CheckDrift();
            if (render)
            {
                try { changeId = RenderAll(); }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    // The store could not be read (database down): nothing was written; try again.
                    _log.LogError("outputs: could not read the hosts to render: {Error}; retrying in {Seconds:0.#} s", e.Message, retry.TotalSeconds);
                    changeId = -1;
                }
                Interlocked.Increment(ref _renders);
            }
            var failed = changeId < 0 || _outputs.Any(o => !o.State.Current);
            using var wait = CancellationTokenSource.CreateLinkedTokenSource(_stop.Token);
            wait.CancelAfter(failed ? retry : HostsFileDrift.BackstopInterval);
            retry = failed ? TimeSpan.FromTicks(Math.Min(retry.Ticks * 2, MaxRetry.Ticks)) : FirstRetry;
            var changed = _feed.WaitAfterAsync(Math.Max(changeId, 0), wait.Token);
            var asked = _recheck.WaitAsync(wait.Token);
            await Task.WhenAny(changed, asked);
            render = failed || changed.IsCompletedSuccessfully || asked.IsCompletedSuccessfully;
            await wait.CancelAsync(); // the wait that did not end gives up (a stale waiter would take the next Recheck)
        }
    }

    /// <summary>One pass over every output from one read of the live entries; returns the change it reflects.</summary>
    private long RenderAll()
    {
        // The id first: a commit racing the read shows in the entries early, and the next pass catches the id up.
        var changeId = _store.LastChangeId();
        var entries = _store.StreamAll().ToList();
        foreach (var output in _outputs) output.Render(entries, changeId);
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

    private sealed class Output(OutputDefinition definition, HookRunner hooks, DriftPolicy policy, ILogger log, TimeProvider clock)
    {
        public OutputDefinition Definition { get; } = definition;
        public HookRunner Hooks { get; } = hooks;
        public OutputState State { get; private set; } =
            new(Path.GetFullPath(definition.Path), definition.Format, false, 0, null, null, [], []);
        public DriftRecorder Drift { get; } =
            new("output", Path.GetFullPath(definition.Path), OutputRenderer.Name(definition.Format), policy, log, clock);
        private byte[]? _written;
        private int _writtenEntries;
        private FileStat? _cleanStat; // the file as it was when it last held what was written: not read again while unchanged

        /// <summary>Compares the file with what was last written to it and acts by the policy (see <see cref="OutputSet"/>).</summary>
        public void CheckDrift()
        {
            if (_written is null) return;
            var path = State.Path;
            try
            {
                var stat = FileStat.Of(path);
                if (stat is not null && stat == _cleanStat) return;
                var onDisk = stat is null ? null : AtomicFile.TryRead(path);
                if (onDisk is not null && onDisk.AsSpan().SequenceEqual(_written))
                {
                    _cleanStat = stat;
                    Drift.Clear("it matches what the agent wrote again");
                    return;
                }
                IReadOnlyList<string> kinds = [onDisk is null ? DriftKinds.FileDeleted : DriftKinds.FileChanged];
                var diff = HostsFileDrift.LineDiff(LinesOf(_written), onDisk is null ? [] : LinesOf(onDisk)).ToList();
                var signature = string.Join('\n', kinds.Concat(diff));
                if (signature == Drift.Handled) return;
                if (Drift.Policy == DriftPolicy.Report)
                {
                    Drift.Record(kinds, diff, signature, stat?.Uid, "reported", [], [], null, drifted: true);
                    return;
                }
                AtomicFile.Replace(path, _written);
                _cleanStat = FileStat.Of(path);
                Drift.Record(kinds, diff, signature, stat?.Uid, Drift.Policy == DriftPolicy.Adopt ? "restored (an output is never adopted)" : "restored",
                    [], [], null, drifted: false);
                Drift.Clear("restored");
                Hooks.Trigger(new HookTrigger(true, _writtenEntries, null, path, State.RenderedChangeId));
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                log.LogWarning("checking output {Path} for drift failed: {Error}", path, e.Message);
            }
        }

        private static string[] LinesOf(byte[] content) => System.Text.Encoding.UTF8.GetString(content).TrimEnd('\n').Split('\n');

        public void Render(IReadOnlyList<Core.Hosts.HostEntry> entries, long changeId)
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
                var wrote = onDisk is null || !onDisk.AsSpan().SequenceEqual(rendered.Content);
                if (wrote) AtomicFile.Replace(state.Path, rendered.Content);
                RouterHostsTelemetry.RecordRender(format, timer.Elapsed, rendered.Content.Length, wrote ? "written" : "unchanged");
                (_written, _writtenEntries, _cleanStat) = (rendered.Content, rendered.Entries, FileStat.Of(state.Path));
                Drift.Clear("a write replaced it");
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
