using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using RouterHosts.Core.Formats;
using RouterHosts.Core.Hosts;
using RouterHosts.Core.Storage;
using RouterHosts.Core.Writes;

namespace RouterHosts.Core.HostsFile;

/// <summary>What <see cref="HostsFileSync"/> tells drift detection; every call is made holding the file's gate.</summary>
public interface IHostsFileObserver
{
    /// <summary>Before a render replaces the file: a hand edit it would overwrite is noticed (and, to adopt it, committed) here.</summary>
    Task BeforeRenderAsync(CancellationToken ct);

    /// <summary>Just before a render's new file replaces the old: throws <see cref="HostsFileChangedException"/> when someone changed the file since it was looked at.</summary>
    void BeforeReplace();

    /// <summary>
    /// A render wrote <paramref name="content"/> (or found it already there). <paramref name="written"/>: the file as the
    /// render knows it holds that content (see <see cref="AtomicFile.StillWritten"/>), null when it does not know.
    /// </summary>
    void Rendered(RenderedContent content, FileStat? written);

    /// <summary>True while a drift is being reported and not acted on: renders not asked for by a change leave the file alone.</summary>
    bool LeavesFileAlone { get; }
}

/// <summary>The file changed while the agent was writing it: the write is dropped and done again after a look at the change.</summary>
public sealed class HostsFileChangedException() : Exception("the hosts file changed while the agent was writing it");

/// <summary>What the agent does when the file no longer holds what it wrote (config key hosts_file.drift).</summary>
public enum DriftPolicy { Restore, Adopt, Report }

public static class DriftKinds
{
    public const string BlockChanged = "block-changed";
    public const string BlockRemoved = "block-removed";
    public const string FileDeleted = "file-deleted";
    public const string FileReplaced = "file-replaced";
    public const string ModeChanged = "mode-changed";
    public const string OwnerChanged = "owner-changed";
    /// <summary>An output (a DNS server file, owned whole) holds something else than was written to it.</summary>
    public const string FileChanged = "file-changed";
}

/// <summary>
/// One drift noticed: what changed (<paramref name="Kinds"/>), the line diff ("- line" the agent wrote and is
/// gone, "+ line" found instead, "mode 0644 -> 0600", "owner 0:0 -> 1000:1000"), what was done about it, and for
/// an adoption the events made ("+ / ~ / - line") and the lines refused. <paramref name="OwnerUid"/> is the file's
/// owner as the kernel reported it then.
/// </summary>
public sealed record DriftEvent(long Sequence, DateTimeOffset DetectedAt, IReadOnlyList<string> Kinds, IReadOnlyList<string> Diff,
    string Action, IReadOnlyList<string> Applied, IReadOnlyList<string> InvalidLines, uint? OwnerUid, string? Actor);

/// <summary><paramref name="Drifted"/>: the file differs from what the agent wrote right now; <paramref name="Last"/>: the last drift noticed.</summary>
public sealed record DriftStatus(bool Drifted, DriftPolicy Policy, DriftEvent? Last)
{
    public string State => Drifted ? "drifted" : "clean";
}

/// <summary>What a repair did (or, dry, would do): the diff put back, or the events adopted, and the lines refused.</summary>
public sealed record RepairResult(bool Changed, IReadOnlyList<string> Actions, IReadOnlyList<string> InvalidLines, DriftStatus Status,
    long ChangeId, HostsFileState File);

/// <summary>
/// Drift detection. The file is compared with what the agent last wrote to it (its managed block in block
/// mode, the whole file in file mode; its mode and owner), never with event timing: each check runs under the
/// gate renders hold (<see cref="HostsFileSync.ExclusiveAsync"/>), and each render records what it wrote before
/// the gate opens, so the agent's own writes, however many, are never drift. Lines outside the block are the
/// user's. Checks run on watcher events (settled briefly) and every <see cref="BackstopInterval"/>, since
/// watchers miss events; an unchanged stat skips reading the file.
/// </summary>
public sealed class HostsFileDrift : IHostsFileObserver
{
    /// <summary>How often the file is checked without a watcher event.</summary>
    public static readonly TimeSpan BackstopInterval = TimeSpan.FromSeconds(1);

    /// <summary>How long the file must be quiet after a watcher event before it is checked (an editor writes in steps).</summary>
    public static readonly TimeSpan Settle = TimeSpan.FromMilliseconds(150);

    public const string ActorName = "hosts-file";

    private readonly HostsFileSync _file;
    private readonly HostWriter _writer;
    private readonly IHostStore _store;
    private readonly ILogger _log;
    private readonly TimeProvider _clock;
    private readonly string _path;
    private readonly HostsFileMode _mode;
    private readonly Channel<bool> _signal = Channel.CreateBounded<bool>(new BoundedChannelOptions(1) { FullMode = BoundedChannelFullMode.DropWrite });

    // Guarded by the file's gate.
    private Baseline? _baseline;
    private FileStat? _lastCleanStat;
    private FileStat? _inspected; // the file as the last look saw it (null: missing, or not looked at)
    private bool _looked;
    private FileStat? _adoptedStat; // adopting: the mode and owner the next render keeps
    private readonly DriftRecorder _drift;

    public HostsFileDrift(HostsFileSync file, HostWriter writer, IHostStore store, DriftPolicy policy, ILogger log, TimeProvider clock)
    {
        _file = file;
        _writer = writer;
        _store = store;
        _log = log;
        _clock = clock;
        _path = file.State.Path;
        _mode = file.State.Mode;
        _drift = new DriftRecorder("hosts file", _path, "hosts_file", policy, log, clock);
        file.Observer = this;
    }

    public DriftPolicy Policy => _drift.Policy;
    public DriftStatus Status => _drift.Status;

    public bool LeavesFileAlone => Policy == DriftPolicy.Report && Status.Drifted;

    /// <summary>Publishes each new <see cref="DriftEvent.Sequence"/> (for Watch).</summary>
    public ChangeFeed Events => _drift.Events;

    public static DriftPolicy ParsePolicy(string? value) => (value ?? "restore").ToLowerInvariant() switch
    {
        "restore" => DriftPolicy.Restore,
        "adopt" => DriftPolicy.Adopt,
        "report" => DriftPolicy.Report,
        _ => throw new ArgumentException($"hosts_file.drift: '{value}' is not restore, adopt or report"),
    };

    /// <summary>
    /// What the agent last wrote: the bytes of the lines it owns (<see cref="OwnedRange"/>) as pieces, the file's stat, and
    /// the change it reflects. The lines as text are made only when a file that differs is looked at.
    /// </summary>
    private sealed class Baseline(IReadOnlyList<ReadOnlyMemory<byte>> owned, FileStat stat, long changeId)
    {
        private IReadOnlyList<string>? _lines;
        public IReadOnlyList<ReadOnlyMemory<byte>> Owned => owned;
        public FileStat Stat => stat;
        public long ChangeId => changeId;
        public IReadOnlyList<string> Lines => _lines ??= Encoding.UTF8.GetString(Chunks.Concat(owned)).Split('\n');
        public Baseline With(FileStat newStat) => new(owned, newStat, changeId) { _lines = _lines };
    }

    /// <param name="BlockLines">The block's lines as found (null when it is gone), from <paramref name="FirstLine"/> on: what adopting reads.</param>
    private sealed record Finding(IReadOnlyList<string> Kinds, List<string> Diff, FileStat? Stat, IReadOnlyList<string>? BlockLines, int FirstLine)
    {
        public string Signature => string.Join('\n', Kinds.Concat(Diff));
        public bool BlockGone => BlockLines is null;
    }

    // ---- the watcher ----

    /// <summary>Watches the file's directory and checks on each event, and every <see cref="BackstopInterval"/>, until cancelled.</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        using var watcher = StartWatcher();
        _log.LogInformation("watching {Path} for drift (hosts_file.drift: {Policy})", _path, Policy.ToString().ToLowerInvariant());
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (await WaitForSignalAsync(BackstopInterval, ct)) await SettleAsync(ct);
                await CheckAsync(ct);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested) { return; }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or CoreException)
            {
                _log.LogWarning("checking the hosts file {Path} for drift failed: {Error}", _path, e.Message);
            }
        }
    }

    private FileSystemWatcher? StartWatcher()
    {
        var directory = Path.GetDirectoryName(_path)!;
        var name = Path.GetFileName(_path);
        try
        {
            var watcher = new FileSystemWatcher(directory)
            {
                NotifyFilter = NotifyFilters.FileName | NotifyFilters.LastWrite | NotifyFilters.Size | NotifyFilters.Attributes |
                               NotifyFilters.Security | NotifyFilters.CreationTime,
            };
            void OnEvent(object _, FileSystemEventArgs e)
            {
                if (e.Name == name || e is RenamedEventArgs { OldName: var old } && old == name) _signal.Writer.TryWrite(true);
            }
            watcher.Changed += OnEvent;
            watcher.Created += OnEvent;
            watcher.Deleted += OnEvent;
            watcher.Renamed += (s, e) => OnEvent(s, e);
            watcher.Error += (_, e) => _log.LogWarning("watching {Directory} failed ({Error}); the periodic check goes on", directory, e.GetException().Message);
            watcher.EnableRaisingEvents = true;
            return watcher;
        }
        catch (Exception e) when (e is IOException or ArgumentException or UnauthorizedAccessException)
        {
            _log.LogWarning("cannot watch {Directory} ({Error}); the hosts file is checked for drift every {Seconds} s", directory, e.Message,
                BackstopInterval.TotalSeconds);
            return null;
        }
    }

    /// <summary>True when a watcher event came, false when the interval passed.</summary>
    private async Task<bool> WaitForSignalAsync(TimeSpan interval, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(interval);
        try
        {
            await _signal.Reader.WaitToReadAsync(timeout.Token);
            return _signal.Reader.TryRead(out _);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested) { return false; }
    }

    /// <summary>Waits until no event came for <see cref="Settle"/> (at most a few rounds, to stay within the 2 s promise).</summary>
    private async Task SettleAsync(CancellationToken ct)
    {
        for (var round = 0; round < 5; round++)
        {
            await Task.Delay(Settle, ct);
            if (!_signal.Reader.TryRead(out _)) return;
        }
    }

    // ---- at start: what the agent wrote before it stopped ----

    /// <summary>
    /// Where the agent records what it last wrote to the file (the lines it owns, the mode and owner), beside the file
    /// (the directory is writable, since every write renames a temp file into it): so that a hand edit made while the
    /// agent was stopped is drift at its next start, and its own last write is not.
    /// </summary>
    public static string RecordPath(string path)
    {
        var target = AtomicFile.TargetPath(path);
        return Path.Combine(Path.GetDirectoryName(target)!, $".{Path.GetFileName(target)}.routerhosts-written");
    }

    private const string RecordHeader = "# RouterHosts: what the agent last wrote to the file beside this one (for drift found at start). v2";
    /// <summary>Version 1 had no change id (after "gid N").</summary>
    private const string RecordHeaderV1 = "# RouterHosts: what the agent last wrote to the file beside this one (for drift found at start). v1";
    private Baseline? _recorded;

    /// <summary>
    /// Before the first render at start: the file compared with what the agent last wrote (its record) and the drift
    /// handled by the policy, as a check while running would. Restore and adopt render; report leaves the file alone
    /// (the start's render too) until the next write or a repair. A file that holds what the database says now is
    /// clean even when the record is older (the agent stopped between writing the file and its record). Without a
    /// record (the first start) there is nothing to compare with.
    /// </summary>
    public async Task CheckAtStartAsync(CancellationToken ct)
    {
        var render = false;
        await _file.ExclusiveAsync(async () =>
        {
            try
            {
                if (ReadRecord() is not { } recorded) return;
                _recorded = recorded; // what the record file holds: a render writes it again when it differs
                var stat = FileStat.Of(_path);
                var found = stat is null ? null : AtomicFile.TryRead(_path);
                var owned = found is null ? null : OwnedRange(found, _mode);
                var asRecorded = owned is { } o && Chunks.SequenceEqual(recorded.Owned, found.AsSpan(o.Start, o.Length));
                // Only here are the lines needed before the agent is ready: to compare with what the database says now.
                if (owned is { } r && !asRecorded && _file.ComposeNow() is var fresh && OwnedRange(fresh, _mode) is { } now &&
                    found.AsSpan(r.Start, r.Length).SequenceEqual(fresh.AsSpan(now.Start, now.Length)))
                    recorded = new Baseline([found.AsMemory(r.Start, r.Length)], recorded.Stat, recorded.ChangeId);
                // The mode and owner recorded; the file's identity as it is (a file replaced while stopped with the same content is no drift).
                var identity = stat ?? recorded.Stat;
                _baseline = recorded.With(identity with { Mode = recorded.Stat.Mode, Uid = recorded.Stat.Uid, Gid = recorded.Stat.Gid });
                if (Inspect() is { } finding) render = (await ActAsync(finding, Policy, ct)).Render;
                else if (asRecorded && recorded.ChangeId > 0 && recorded.ChangeId == _store.LastChangeId() && stat is { } current)
                {
                    // The file holds what the agent wrote for the database's latest change: no render (nor the lines) needed to be ready.
                    var block = _mode == HostsFileMode.File ? OwnedRange(found!, HostsFileMode.Block) : owned;
                    var count = block is { } b ? found.AsSpan(b.Start, b.Length).Count((byte)'\n') - 2 : 0;
                    _file.StartedCurrent(found!, current, recorded.ChangeId, Math.Max(count, 0));
                }
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                _log.LogWarning("checking the hosts file {Path} for drift at start failed: {Error}", _path, e.Message);
            }
        }, ct);
        if (render) await RenderAsync();
    }

    private Baseline? ReadRecord()
    {
        var bytes = AtomicFile.TryRead(RecordPath(_path));
        if (bytes is null) return null;
        // Two lines of header, then the owned bytes as they were in the file.
        var first = Array.IndexOf(bytes, (byte)'\n');
        var second = first < 0 ? -1 : Array.IndexOf(bytes, (byte)'\n', first + 1);
        var header = first < 0 ? "" : Encoding.UTF8.GetString(bytes, 0, first);
        var stat = second < 0 ? [] : Encoding.UTF8.GetString(bytes, first + 1, second - first - 1).Split(' ');
        long changeId = 0;
        if (header is not (RecordHeader or RecordHeaderV1) || stat.Length != (header == RecordHeader ? 8 : 6) || stat[0] != "mode" ||
            stat[2] != "uid" || stat[4] != "gid" || !uint.TryParse(stat[3], out var uid) || !uint.TryParse(stat[5], out var gid) ||
            header == RecordHeader && (stat[6] != "change" || !long.TryParse(stat[7], out changeId)))
        {
            _log.LogWarning("{Record} is not a record RouterHosts wrote; not checking {Path} for drift made while the agent was stopped",
                RecordPath(_path), _path);
            return null;
        }
        var mode = (UnixFileMode)Convert.ToInt32(stat[1], 8);
        return new Baseline([bytes.AsMemory(second + 1)], default(FileStat) with { Mode = mode, Uid = uid, Gid = gid }, changeId);
    }

    /// <summary>Records what a render left in the file (when it differs from the record), for the next start.</summary>
    private void WriteRecord(Baseline baseline)
    {
        if (_recorded is { } last && last.ChangeId == baseline.ChangeId && last.Stat.Mode == baseline.Stat.Mode &&
            last.Stat.Uid == baseline.Stat.Uid && last.Stat.Gid == baseline.Stat.Gid && Chunks.SequenceEqual(last.Owned, baseline.Owned)) return;
        var head = $"{RecordHeader}\nmode {baseline.Stat.ModeText} uid {baseline.Stat.Uid} gid {baseline.Stat.Gid} change {baseline.ChangeId}\n";
        try
        {
            // Not fsynced: after a power cut a stale or missing record only means a start that renders (and
            // compares with the database) instead of trusting it; the hosts file itself is written durably.
            AtomicFile.Replace(RecordPath(_path), [Encoding.UTF8.GetBytes(head), .. baseline.Owned], durable: false);
            _recorded = baseline;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.LogWarning("could not record what was written to {Path} in {Record} ({Error}); drift made while the agent is stopped may go unnoticed",
                _path, RecordPath(_path), e.Message);
        }
    }

    // ---- checks and actions ----

    /// <summary>Compares the file with what the agent wrote and acts by the policy.</summary>
    public async Task CheckAsync(CancellationToken ct)
    {
        var render = false;
        await _file.ExclusiveAsync(async () =>
        {
            var finding = Inspect();
            if (finding is null) _drift.Clear("it matches what the agent wrote again");
            else if (finding.Signature != _drift.Handled) render = (await ActAsync(finding, Policy, ct)).Render;
        }, ct);
        if (render) await RenderAsync();
    }

    /// <summary>
    /// The file written again through the writer (which retries a failed write), hooks included. Its render looks at
    /// the file first: the drift just handled is not handled again, a newer one is.
    /// </summary>
    private Task<HostsFileState> RenderAsync()
    {
        _file.RequestHooks();
        return _writer.RenderForDriftAsync();
    }

    /// <summary>Checks now (so the answer is current), then the state.</summary>
    public async Task<DriftStatus> GetAsync(CancellationToken ct)
    {
        await CheckAsync(ct);
        return Status;
    }

    /// <summary>
    /// Restores the file from the database, or adopts its block's lines as events. With
    /// <paramref name="dryRun"/> only says what it would do.
    /// </summary>
    public async Task<RepairResult> RepairAsync(bool adopt, bool dryRun, CancellationToken ct)
    {
        IReadOnlyList<string> actions = [], invalid = [];
        var changed = false;
        var render = false;
        long changeId = 0;
        await _file.ExclusiveAsync(async () =>
        {
            var finding = Inspect();
            if (finding is null) return;
            if (dryRun)
            {
                if (adopt && Adoptable(finding))
                    (actions, invalid) = PlanAdoption(new ChangeSet(_store, _clock.GetUtcNow()), finding);
                else actions = finding.Diff;
                return;
            }
            var acted = await ActAsync(finding, adopt ? DriftPolicy.Adopt : DriftPolicy.Restore, ct);
            (changed, render, changeId) = (true, acted.Render, acted.ChangeId);
            actions = adopt && Adoptable(finding) ? acted.Event.Applied : finding.Diff;
            invalid = acted.Event.InvalidLines;
        }, ct);
        var state = render ? await RenderAsync() : _file.State;
        return new RepairResult(changed, actions, invalid, Status, changeId, state);
    }

    public async Task BeforeRenderAsync(CancellationToken ct)
    {
        try
        {
            var finding = Inspect();
            if (finding is null || finding.Signature == _drift.Handled) return; // handled already; Rendered says the write replaced it
            // A hand edit this render is about to overwrite: adopt it first, or at least say what is lost.
            if (Policy == DriftPolicy.Adopt) await ActAsync(finding, DriftPolicy.Adopt, ct);
            else Record(finding, Policy == DriftPolicy.Report ? "overwritten by a write" : "restored", [], [], null, drifted: false);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            _log.LogWarning("checking the hosts file {Path} for drift before writing it failed: {Error}", _path, e.Message);
        }
    }

    public void BeforeReplace()
    {
        if (_looked && FileStat.Of(_path) != _inspected) throw new HostsFileChangedException();
    }

    public void Rendered(RenderedContent content, FileStat? written)
    {
        var stat = FileStat.Of(_path);
        if (stat is null) return;
        // The mode and owner are those the agent last saw as right: a render puts them back too.
        var adopted = _adoptedStat;
        _adoptedStat = null;
        if ((adopted ?? _baseline?.Stat) is { } expected && (stat.Value.Mode != expected.Mode || stat.Value.Uid != expected.Uid || stat.Value.Gid != expected.Gid))
        {
            if (!expected.TryApplyModeAndOwner(_path, out var error))
                _log.LogWarning("could not give {Path} back its mode {Mode} and owner {Uid}:{Gid} ({Error}); keeping what it has",
                    _path, expected.ModeText, expected.Uid, expected.Gid, error);
            stat = FileStat.Of(_path) ?? stat;
        }
        _baseline = new Baseline(Owned(content), stat.Value, content.Block.ChangeId);
        WriteRecord(_baseline);
        // Taken as clean by its stat only while it is still the file the render wrote (not one put in its place
        // since the rename, nor written since); otherwise the next look reads it once.
        _lastCleanStat = written is { } w && AtomicFile.StillWritten(stat.Value, w) ? stat : null;
        _drift.Clear("a write replaced it");
    }

    /// <summary>What differs from what the agent last wrote; null when nothing does (or nothing was written yet).</summary>
    private Finding? Inspect()
    {
        if (_baseline is not { } baseline) return null;
        var stat = FileStat.Of(_path);
        (_inspected, _looked) = (stat, true);
        if (stat is not null && stat == _lastCleanStat) return null;
        var content = stat is null ? null : AtomicFile.TryRead(_path);
        if (stat is null || content is null)
            return new Finding([DriftKinds.FileDeleted], baseline.Lines.Select(l => "- " + l).ToList(), null, null, 0);
        var owned = OwnedRange(content, _mode);
        var kinds = new List<string>();
        var diff = new List<string>();
        if (owned is null)
        {
            kinds.Add(DriftKinds.BlockRemoved);
            diff.AddRange(LineDiff(baseline.Lines, []));
        }
        else if (!Chunks.SequenceEqual(baseline.Owned, content.AsSpan(owned.Value.Start, owned.Value.Length)))
        {
            kinds.Add(DriftKinds.BlockChanged);
            diff.AddRange(LineDiff(baseline.Lines, ManagedLines(content, _mode).Lines!));
        }
        var now = stat.Value;
        if (now.Mode != baseline.Stat.Mode)
        {
            kinds.Add(DriftKinds.ModeChanged);
            diff.Add($"mode {baseline.Stat.ModeText} -> {now.ModeText}");
        }
        if (now.Uid != baseline.Stat.Uid || now.Gid != baseline.Stat.Gid)
        {
            kinds.Add(DriftKinds.OwnerChanged);
            diff.Add($"owner {baseline.Stat.Uid}:{baseline.Stat.Gid} -> {now.Uid}:{now.Gid}");
        }
        if (kinds.Count == 0)
        {
            // The same block, mode and owner (say `sed -i` on the user's own lines): not drift.
            _lastCleanStat = now;
            return null;
        }
        if (!now.SameFileAs(baseline.Stat)) kinds.Insert(0, DriftKinds.FileReplaced);
        // File mode owns the whole file, but only its block holds hosts.
        var (block, blockFirst) = ManagedLines(content, HostsFileMode.Block);
        return new Finding(kinds, diff, now, block, blockFirst);
    }

    /// <summary>A changed block can be adopted; a removed block or a deleted file cannot (it would remove every host).</summary>
    private static bool Adoptable(Finding f) => !f.BlockGone && f.Kinds.Contains(DriftKinds.BlockChanged);

    private async Task<(bool Render, DriftEvent Event, long ChangeId)> ActAsync(Finding finding, DriftPolicy how, CancellationToken ct)
    {
        switch (how)
        {
            case DriftPolicy.Report:
                return (false, Record(finding, "reported", [], [], null, drifted: true), 0);
            case DriftPolicy.Restore:
                return (true, Record(finding, "restored", [], [], null, drifted: false), 0);
        }
        if (finding.BlockGone)
            return (true, Record(finding, "restored: a removed block or a deleted file is not adopted (it would remove every host)",
                [], [], null, drifted: false), 0);
        // The mode and owner found are taken as the right ones from now on: at once when nothing is rendered, else by the render
        // (the baseline stays until then, so that the render's own look sees this same drift, already handled).
        if (!Adoptable(finding))
        {
            _baseline = _baseline!.With(finding.Stat!.Value);
            WriteRecord(_baseline);
            return (false, Record(finding, "adopted", [], [], null, drifted: false), 0);
        }
        _adoptedStat = finding.Stat;
        var actor = $"{ActorName}:uid={finding.Stat!.Value.Uid}";
        try
        {
            // Committed without waiting for the file (the gate is held here); the render that follows writes it.
            (IReadOnlyList<string> Applied, IReadOnlyList<string> Invalid) planned = ([], []);
            var outcome = await _writer.StartBulk().WriteBatchAsync(actor, set => planned = PlanAdoption(set, finding), ct);
            return (true, Record(finding, "adopted", planned.Applied, planned.Invalid, actor, drifted: false), outcome.ChangeId);
        }
        catch (CoreException e)
        {
            return (true, Record(finding, $"restored: adopting failed: {e.Message}", [], [], actor, drifted: false), 0);
        }
    }

    /// <summary>
    /// The hand edit as events, keyed by IP and hostname like an import: a line added adds a host, or updates the
    /// host with that key (its comment, tags or aliases); a host whose line the agent wrote is gone is removed. Only
    /// what changed from what the agent wrote is taken, so a change committed since (by another agent sharing the
    /// database, or while the agent was stopped) is not undone. Each line is validated like any write; an invalid one
    /// is reported and never applied, and while there is one no host is removed (it may be a host's own line, edited wrongly).
    /// </summary>
    private (IReadOnlyList<string> Applied, IReadOnlyList<string> Invalid) PlanAdoption(ChangeSet set, Finding finding)
    {
        var invalid = new List<string>();
        var records = ParseBlock(finding.BlockLines!, finding.FirstLine, invalid);
        var (wrote, _) = BlockOf(_baseline!.Lines);
        var diff = LineDiff(wrote ?? [], finding.BlockLines!).ToList();
        var added = Counts(diff.Where(l => l[0] == '+').Select(l => l[2..]).ToList());
        var applied = new List<string>();
        var lines = new Dictionary<HostKey, int>();
        foreach (var record in records)
        {
            try
            {
                var draft = HostValidator.Normalize(record.Draft);
                var key = new HostKey(draft.IpAddress, draft.Hostname);
                if (!lines.TryAdd(key, record.Line))
                {
                    invalid.Add($"line {record.Line}: {key} repeats line {lines[key]}");
                    continue;
                }
                if (!Take(added, finding.BlockLines![record.Line - finding.FirstLine])) continue; // a line the agent wrote, unchanged
                if (set.FindLive(key) is not { } existing)
                {
                    applied.Add("+ " + LineOf(set.Add(draft, Ulid.New(set.Now), idIsNew: true)));
                    continue;
                }
                var updated = set.Update(existing.Id, new HostPatch(null, null, draft.Comment ?? "", draft.Tags, draft.Aliases), null);
                if (!ChangeSet.SameContent(updated, existing)) applied.Add("~ " + LineOf(updated));
            }
            catch (CoreException e)
            {
                invalid.Add($"line {record.Line}: {e.Message}");
            }
        }
        if (invalid.Count > 0) return (applied, invalid);
        // The agent's lines that are gone, for hosts no line in the file names any more.
        foreach (var gone in ParseBlock(diff.Where(l => l[0] == '-').Select(l => l[2..]).ToList(), 1, []))
        {
            var key = new HostKey(gone.Draft.IpAddress, gone.Draft.Hostname);
            if (lines.ContainsKey(key) || set.FindLive(key) is not { } live) continue;
            set.Delete(live.Id, null);
            applied.Add("- " + LineOf(live));
        }
        return (applied, invalid);
    }

    /// <summary>Hosts-file lines as records, numbered from <paramref name="firstLine"/> (the file's line numbers).</summary>
    private static IReadOnlyList<ImportRecord> ParseBlock(IReadOnlyList<string> lines, int firstLine, List<string> invalid) =>
        HostFormats.Parse(HostFormats.Get("hosts"), Encoding.UTF8.GetBytes(new string('\n', firstLine - 1) + string.Join('\n', lines)), invalid);

    /// <summary>The block within lines the agent owns (all of them in block mode; in file mode they hold the kept lines too).</summary>
    private (IReadOnlyList<string>? Lines, int FirstLine) BlockOf(IReadOnlyList<string> owned) =>
        _mode == HostsFileMode.File ? ManagedLines(Encoding.UTF8.GetBytes(string.Join('\n', owned)), HostsFileMode.Block) : (owned, 1);

    private static string LineOf(HostEntry entry)
    {
        var sb = new StringBuilder();
        HostsFileRenderer.AppendLine(sb, entry);
        return sb.ToString().TrimEnd('\n');
    }

    private DriftEvent Record(Finding finding, string action, IReadOnlyList<string> applied, IReadOnlyList<string> invalid, string? actor,
        bool drifted) =>
        _drift.Record(finding.Kinds, finding.Diff, finding.Signature, finding.Stat?.Uid, action, applied, invalid, actor, drifted);

    /// <summary>
    /// The lines the agent owns in <paramref name="content"/>: in block mode from its BEGIN marker to its END marker
    /// (to the end of the file when END is missing), null when there is no BEGIN; in file mode every line.
    /// <c>FirstLine</c> is the 1-based line number of the first.
    /// </summary>
    public static (IReadOnlyList<string>? Lines, int FirstLine) ManagedLines(byte[] content, HostsFileMode mode) =>
        OwnedRange(content, mode) is { } r ? (Encoding.UTF8.GetString(content, r.Start, r.Length).Split('\n'), r.FirstLine) : (null, 0);

    private static readonly byte[] BeginUtf8 = Encoding.UTF8.GetBytes(HostsFileRenderer.BeginMarker);
    private static readonly byte[] EndUtf8 = Encoding.UTF8.GetBytes(HostsFileRenderer.EndMarker);

    /// <summary>
    /// Where the lines of <see cref="ManagedLines"/> are in <paramref name="content"/>, as bytes (the lines and the
    /// newlines between them, none after the last), so that they are compared without splitting the file.
    /// </summary>
    public static (int Start, int Length, int FirstLine)? OwnedRange(byte[] content, HostsFileMode mode)
    {
        if (mode == HostsFileMode.File) return (0, content.Length, 1);
        int? begin = null;
        for (var at = 0; at <= content.Length;)
        {
            var newline = Array.IndexOf(content, (byte)'\n', at);
            var end = newline < 0 ? content.Length : newline;
            var line = content.AsSpan(at, end - at).TrimEnd((byte)'\r');
            if (begin is null && line.SequenceEqual(BeginUtf8)) begin = at;
            else if (begin is { } b && line.SequenceEqual(EndUtf8)) return (b, end - b, FirstLine(content, b));
            if (newline < 0) break;
            at = newline + 1;
        }
        return begin is { } start ? (start, content.Length - start, FirstLine(content, start)) : null;
    }

    private static int FirstLine(byte[] content, int offset) => content.AsSpan(0, offset).Count((byte)'\n') + 1;

    /// <summary>The owned bytes of a rendered content: the block without its last newline (block mode), or all of it.</summary>
    private IReadOnlyList<ReadOnlyMemory<byte>> Owned(RenderedContent content)
    {
        if (_mode == HostsFileMode.File) return content.Chunks;
        var block = content.Block.Chunks;
        return [.. block.Take(block.Count - 1), block[^1][..^1]];
    }

    /// <summary>A line diff that ignores order (the block is sorted): "- line" for each expected line not found, then "+ line" for each found one not expected.</summary>
    public static IEnumerable<string> LineDiff(IReadOnlyList<string> expected, IReadOnlyList<string> found)
    {
        var foundCounts = Counts(found);
        foreach (var line in expected)
            if (!Take(foundCounts, line)) yield return "- " + line;
        var expectedCounts = Counts(expected);
        foreach (var line in found)
            if (!Take(expectedCounts, line)) yield return "+ " + line;
    }

    private static Dictionary<string, int> Counts(IReadOnlyList<string> lines)
    {
        var counts = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var line in lines) counts[line] = counts.GetValueOrDefault(line) + 1;
        return counts;
    }

    private static bool Take(Dictionary<string, int> counts, string line)
    {
        if (counts.GetValueOrDefault(line) == 0) return false;
        counts[line]--;
        return true;
    }
}
