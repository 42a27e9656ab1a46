using Microsoft.Extensions.Logging;
using RouterHosts.Core.Hooks;
using RouterHosts.Core.Hosts;
using RouterHosts.Core.Storage;

namespace RouterHosts.Core.HostsFile;

public sealed record HostsFileState(
    string Path,
    HostsFileMode Mode,
    bool Current,
    long RenderedChangeId,
    string? LastError,
    DateTimeOffset? LastWrittenAt);

/// <summary>
/// Brings the hosts file up to the committed state: renders from the projection,
/// writes atomically (only when the bytes change), then hands the hook runner one
/// trigger. When writing fails the change stays committed and the failure hooks run;
/// the <see cref="Writes.HostWriter"/>, which asks for every render, retries with backoff.
/// </summary>
public sealed class HostsFileSync : IDisposable
{
    private static readonly System.Text.RegularExpressions.Regex TempFileName = new(@"\.routerhosts-[0-9a-f]{32}\.tmp");

    private readonly HookRunner _hooks;
    private readonly ILogger _log;
    private readonly SemaphoreSlim _gate = new(1, 1);
    private HostsFileState _state;

    /// <param name="takeOver">
    /// File mode only: a file holding lines the agent did not write is refused
    /// (<see cref="ForeignHostsFileException"/>) unless this is set; then its loopback lines are kept and the rest dropped.
    /// </param>
    /// <param name="loadAfter">The lines load once this has completed (the agent's start: the database's integrity check, which they would slow).</param>
    public HostsFileSync(string path, HostsFileMode mode, IHostStore store, HookRunner hooks, ILogger log, bool takeOver = false, Task? loadAfter = null)
    {
        _hooks = hooks;
        _log = log;
        _state = new HostsFileState(System.IO.Path.GetFullPath(path), mode, false, 0, null, null);
        RemoveLeftoverTempFiles();
        if (mode == HostsFileMode.File) _kept = KeptLines(_state.Path, takeOver);
        // In the background: the agent can say it is ready before the lines are in (see HostsFileDrift.CheckAtStartAsync);
        // a render or a write waits for them.
        var loading = System.Diagnostics.Stopwatch.StartNew();
        LinesLoaded = Lines.LoadInBackground(store, loadAfter).ContinueWith(t =>
        {
            if (t.IsCanceled) _log.LogDebug("the hosts file's lines were not loaded: the database failed its check");
            else if (t.Exception is { } e) _log.LogError("loading the hosts file's lines from the database failed: {Error}", e.GetBaseException().Message);
            else _log.LogInformation("hosts file lines loaded in the background, {Milliseconds:0} ms after the hosts file was opened", loading.Elapsed.TotalMilliseconds);
            return loading.Elapsed;
        }, TaskScheduler.Default);
    }

    /// <summary>Completes when the lines are loaded (with how long it took); a failed load is logged.</summary>
    public Task<TimeSpan> LinesLoaded { get; }

    public HostsFileState State => Volatile.Read(ref _state);

    /// <summary>File mode: the loopback lines written above the block, kept from the file the agent took over.</summary>
    private readonly IReadOnlyList<string> _kept = [];

    private IReadOnlyList<string> KeptLines(string path, bool takeOver)
    {
        var content = HostsFileRenderer.InspectFileMode(AtomicFile.TryRead(path));
        if (content.Foreign.Count == 0) return content.Kept;
        if (!takeOver) throw new ForeignHostsFileException(path, content.Foreign);
        var loopback = content.Foreign.Where(HostsFileRenderer.IsLoopbackLine).ToList();
        _log.LogWarning("taking over {Path}: keeping {Kept} loopback line(s), dropping {Dropped} line(s) RouterHosts did not write: {Lines}",
            path, content.Kept.Count + loopback.Count, content.Foreign.Count - loopback.Count,
            string.Join(" | ", content.Foreign.Where(l => !HostsFileRenderer.IsLoopbackLine(l)).Take(20)));
        return [.. content.Kept, .. loopback];
    }

    /// <summary>A write cut short (kill -9, power loss) leaves its temp file beside the hosts file; on a router that is /etc.</summary>
    private void RemoveLeftoverTempFiles()
    {
        try
        {
            foreach (var removed in AtomicFile.RemoveLeftoverTempFiles(_state.Path))
                _log.LogWarning("removed {Temp}, left behind by an earlier write of the hosts file that did not finish", removed);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.LogWarning("could not remove leftover temp files beside {Path}: {Error}", _state.Path, e.Message);
        }
    }

    /// <summary>The rendered lines; the writer applies every committed change to them.</summary>
    public RenderedLines Lines { get; } = new();

    /// <summary>
    /// Makes the file reflect at least <paramref name="changeId"/>. Concurrent callers
    /// coalesce: one render covers every change committed before it started. 0 renders in any case.
    /// </summary>
    /// <param name="retryIn">When the caller retries a failed render (said in the failure's log line).</param>
    public async Task<HostsFileState> EnsureCurrentAsync(long changeId, CancellationToken ct, TimeSpan? retryIn = null)
    {
        await _gate.WaitAsync(ct);
        try
        {
            var state = State;
            if (state.Current && state.RenderedChangeId >= changeId && changeId > 0) return state;
            // Report mode: a drifted file is left alone until the next write (a change id) or a repair.
            if (changeId == 0 && Observer is { LeavesFileAlone: true }) return state;
            return await RenderAsync(retryIn, ct);
        }
        finally { _gate.Release(); }
    }

    /// <summary>Drift detection (see <see cref="HostsFileDrift"/>): told before each render and what each render left in the file.</summary>
    public IHostsFileObserver? Observer { get; set; }

    /// <summary>Runs <paramref name="action"/> holding the gate renders hold, so that it never sees the file between a render's read and its write.</summary>
    public async Task ExclusiveAsync(Func<Task> action, CancellationToken ct)
    {
        await _gate.WaitAsync(ct);
        try { await action(); }
        finally { _gate.Release(); }
    }

    private volatile bool _hooksRequested;

    /// <summary>The next successful render runs the hooks even if the bytes do not change (a repair of the mode or owner).</summary>
    public void RequestHooks() => _hooksRequested = true;

    /// <summary>
    /// Renders, after the observer looked at the file. When someone else writes the file while the agent does (the
    /// observer notices just before the rename), nothing is written, the observer looks again, and the render starts
    /// again (the last try always completes).
    /// </summary>
    private async Task<HostsFileState> RenderAsync(TimeSpan? retryIn, CancellationToken ct)
    {
        for (var attempt = 1; ; attempt++)
        {
            if (Observer is { } observer) await observer.BeforeRenderAsync(ct);
            try { return Render(retryIn, guard: attempt < 5); }
            catch (HostsFileChangedException) { }
        }
    }

    /// <summary>What a render would write now: the file as it is, with the block from the rendered lines.</summary>
    public byte[] ComposeNow()
    {
        var (before, after) = HostsFileRenderer.Surround(State.Mode, AtomicFile.TryRead(State.Path), _kept);
        return new RenderedContent(before, Lines.Snapshot(), after).ToArray();
    }

    /// <summary>
    /// The file as the last render left it (its stat just after), and what surrounds the block in it: while the file
    /// still has that stat it holds exactly what the agent wrote, and is not read again.
    /// </summary>
    private sealed record Written(FileStat Stat, ReadOnlyMemory<byte> Before, ReadOnlyMemory<byte> After, long Version);

    private Written? _written;

    /// <summary>
    /// At start, before any render: drift detection found the file holding what the agent last wrote for the database's
    /// latest change (<paramref name="changeId"/>), so it is current without rendering it. The hooks run as after a
    /// start's render.
    /// </summary>
    public void StartedCurrent(byte[] content, FileStat stat, long changeId, int count)
    {
        var state = State;
        var (before, after) = HostsFileRenderer.Surround(state.Mode, content, _kept);
        _written = new Written(stat, before.ToArray(), after.ToArray(), Version: -1); // -1: the next render writes
        _state = state with { Current = true, RenderedChangeId = changeId, LastError = null, LastWrittenAt = state.LastWrittenAt ?? DateTimeOffset.UtcNow };
        _hooks.Trigger(new HookTrigger(true, count, null, state.Path, changeId));
    }

    private HostsFileState Render(TimeSpan? retryIn, bool guard = false)
    {
        var state = State;
        var timer = System.Diagnostics.Stopwatch.StartNew();
        var block = Lines.Snapshot();
        var (count, changeId) = (block.Count, block.ChangeId);
        try
        {
            // The file is read only when it is not what the last render left (at 100,000 hosts it is 5 MiB).
            var stat = FileStat.Of(state.Path);
            var last = _written;
            var ours = last is not null && stat == last.Stat;
            byte[]? existing = null;
            ReadOnlyMemory<byte> before, after;
            if (ours) (before, after) = (last!.Before, last.After);
            else
            {
                existing = AtomicFile.TryRead(state.Path);
                (before, after) = HostsFileRenderer.Surround(state.Mode, existing, _kept);
                (before, after) = (before.ToArray(), after.ToArray()); // not slices holding the whole file
            }
            var content = new RenderedContent(before, block, after);
            var wrote = ours ? last!.Version != block.Version : existing is null || !Chunks.SequenceEqual(content.Chunks, existing);
            var observer = guard ? Observer : null;
            // What the file is once this render is done, as far as the agent knows: what it wrote, or the file it found unchanged.
            var written = wrote ? AtomicFile.Replace(state.Path, content.Chunks, observer is null ? null : observer.BeforeReplace) : stat;
            Observer?.Rendered(content, written);
            var left = FileStat.Of(state.Path);
            _written = written is { } w && left is { } l && AtomicFile.StillWritten(l, w) ? new Written(l, before, after, block.Version) : null;
            Telemetry.RouterHostsTelemetry.RecordRender("hosts_file", timer.Elapsed, content.Length, wrote ? "written" : "unchanged");
            var now = DateTimeOffset.UtcNow;
            _state = state with
            {
                Current = true, RenderedChangeId = changeId, LastError = null,
                LastWrittenAt = wrote ? now : state.LastWrittenAt ?? now,
            };
            if (wrote || !state.Current || _hooksRequested)
            {
                _hooksRequested = false;
                _hooks.Trigger(new HookTrigger(true, count, null, state.Path, changeId));
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or MalformedHostsFileException)
        {
            _written = null;
            // The temp file's name is random; mask it so that the same failure reads the same on each retry.
            var error = TempFileName.Replace(e.Message, ".routerhosts-*.tmp");
            if (IsNoSpace(e))
                error = $"no space left on device: the hosts file {state.Path} cannot be written ({error}); " +
                        "the changes are committed and the file catches up by itself once there is room";
            Telemetry.RouterHostsTelemetry.RecordRender("hosts_file", timer.Elapsed, 0, "failed");
            var firstFailure = state.Current || state.LastError != error;
            _state = state with { Current = false, LastError = error };
            if (retryIn is { } retry)
                _log.LogError("hosts file {Path} could not be written: {Error}; retrying in {Seconds:0.#} s",
                    state.Path, error, retry.TotalSeconds);
            else _log.LogError("hosts file {Path} could not be written: {Error}", state.Path, error);
            if (firstFailure) _hooks.Trigger(new HookTrigger(false, count, error, state.Path, changeId));
        }
        return _state;
    }

    private const int ENOSPC = 28, EDQUOT = 122;

    /// <summary>On Unix an IOException carries the errno as its HResult.</summary>
    private static bool IsNoSpace(Exception e) => e is IOException { HResult: ENOSPC or EDQUOT };

    public void Dispose() => _gate.Dispose();
}

/// <summary>What a render puts in the file: what it keeps before the block, the block, what it keeps after.</summary>
public sealed record RenderedContent(ReadOnlyMemory<byte> Before, BlockSnapshot Block, ReadOnlyMemory<byte> After)
{
    public IReadOnlyList<ReadOnlyMemory<byte>> Chunks => [Before, .. Block.Chunks, After];

    public int Length => Before.Length + HostsFile.Chunks.Length(Block.Chunks) + After.Length;

    public byte[] ToArray() => HostsFile.Chunks.Concat(Chunks);
}
