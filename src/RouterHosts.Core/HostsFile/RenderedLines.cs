using System.Buffers.Binary;
using System.Text;
using RouterHosts.Core.Hosts;
using RouterHosts.Core.Storage;

namespace RouterHosts.Core.HostsFile;

/// <summary>
/// The managed block, kept ready to write: the hosts-file line of every live entry as UTF-8, in file order, held in
/// segments of a few hundred lines, each with its lines encoded into one buffer. A committed change re-encodes only
/// the segments it touched, and a render is the list of segment buffers (<see cref="Snapshot"/>), gathered into the
/// file. A segment's buffer is never changed once made (a change makes a new one), so a snapshot stays valid after
/// later changes. Loaded from the store at start, possibly in the background (<see cref="LoadInBackground"/>):
/// every member waits for that load.
/// </summary>
public sealed class RenderedLines
{
    /// <summary>Lines per segment: a change re-encodes about this many lines; a render gathers about count / this buffers.</summary>
    public const int SegmentLines = 256;

    private static readonly byte[] HeadUtf8 = Encoding.UTF8.GetBytes(HostsFileRenderer.BlockHead);
    private static readonly byte[] TailUtf8 = Encoding.UTF8.GetBytes(HostsFileRenderer.BlockTail);

    private readonly object _gate = new();
    private readonly List<Segment> _segments = [];
    private readonly Dictionary<string, LineKey> _keyById = new();
    private long _changeId;
    private long _version;
    private Task _loading = Task.CompletedTask;

    /// <summary>The change the lines reflect.</summary>
    public long ChangeId { get { lock (Loaded()) return _changeId; } }

    /// <summary>
    /// Starts loading from <paramref name="store"/> on a thread of its own, once <paramref name="after"/> (if given) has
    /// completed successfully; every member waits for it (and throws what it threw, or that it never ran).
    /// </summary>
    public Task LoadInBackground(IHostStore store, Task? after = null)
    {
        // The change id first: a commit racing the read shows in the lines early, never in the id before the lines.
        return _loading = (after ?? Task.CompletedTask).ContinueWith(_ => { var id = store.LastChangeId(); Load(store.StreamAll(), id); },
            CancellationToken.None, TaskContinuationOptions.LongRunning | TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
    }

    /// <summary>
    /// Waits for the loading, and throws if it failed: the writer calls this before it commits, so that a
    /// failed load fails each write before anything is committed, never after (committed but reported failed).
    /// </summary>
    public void WaitUntilLoaded()
    {
        try { Loaded(); }
        catch (Exception e) when (e is not CoreException)
        {
            throw new CoreException(CoreErrorKind.Unavailable,
                $"the hosts file's lines could not be loaded from the database at start ({e.Message}); restart the agent");
        }
    }

    /// <summary>Waits for the loading (if any): once done, every later call goes straight on.</summary>
    private object Loaded()
    {
        var loading = _loading;
        if (!loading.IsCompletedSuccessfully) loading.GetAwaiter().GetResult();
        return _gate;
    }

    public void Load(IEnumerable<HostEntry> entries, long changeId)
    {
        // Encoded outside the lock; entries come in file order (HostQuery.Order) from the store, sorted again to be sure.
        var lines = entries.Select(e => (Key: KeyOf(e), Line: Encode(e))).ToList();
        lines.Sort((a, b) => a.Key.CompareTo(b.Key));
        lock (_gate)
        {
            _segments.Clear();
            _keyById.Clear();
            for (var at = 0; at < lines.Count; at += SegmentLines)
            {
                var segment = new Segment();
                foreach (var (key, line) in lines.Skip(at).Take(SegmentLines)) segment.Add(key, line);
                segment.Encode();
                _segments.Add(segment);
            }
            foreach (var (key, _) in lines) _keyById[key.Id] = key;
            _changeId = changeId;
            _version++;
        }
    }

    /// <summary>Applies committed events in their order; <paramref name="changeId"/> is what they were committed as.</summary>
    public void Apply(IReadOnlyList<PendingEvent> events, long changeId)
    {
        lock (Loaded())
        {
            foreach (var e in events)
            {
                Remove(e.State.Id);
                if (e.Type != HostEventType.Deleted) Put(e.State);
            }
            _changeId = Math.Max(_changeId, changeId);
            _version++;
        }
    }

    /// <summary>
    /// The marked block as it is now: its UTF-8 pieces in order (the head, each segment, the tail), the number of
    /// entries, the change it reflects, and a version that changes with every change to the lines.
    /// </summary>
    public BlockSnapshot Snapshot()
    {
        lock (Loaded())
        {
            var chunks = new List<ReadOnlyMemory<byte>>(_segments.Count + 2) { HeadUtf8 };
            var count = 0;
            foreach (var segment in _segments)
            {
                chunks.Add(segment.Encode());
                count += segment.Count;
            }
            chunks.Add(TailUtf8);
            return new BlockSnapshot(chunks, count, _changeId, _version);
        }
    }

    /// <summary>The marked block as text (for snapshots), the number of entries, and the change it reflects.</summary>
    public (string Block, int Count, long ChangeId) RenderBlock()
    {
        var snapshot = Snapshot();
        return (Encoding.UTF8.GetString(Chunks.Concat(snapshot.Chunks)), snapshot.Count, snapshot.ChangeId);
    }

    private void Put(HostEntry entry)
    {
        var key = KeyOf(entry);
        _keyById[entry.Id] = key;
        if (_segments.Count == 0) _segments.Add(new Segment());
        var index = SegmentFor(key);
        var segment = _segments[index];
        segment.Insert(key, Encode(entry));
        if (segment.Count > 2 * SegmentLines) _segments.Insert(index + 1, segment.SplitOff());
    }

    private void Remove(string id)
    {
        if (!_keyById.Remove(id, out var key)) return;
        var index = SegmentFor(key);
        var segment = _segments[index];
        if (!segment.Remove(key)) return;
        if (segment.Count == 0) _segments.RemoveAt(index);
    }

    /// <summary>The segment a key belongs in: the first whose last key is not below it, else the last one.</summary>
    private int SegmentFor(LineKey key)
    {
        int low = 0, high = _segments.Count - 1;
        while (low < high)
        {
            var mid = (low + high) / 2;
            if (_segments[mid].LastKey.CompareTo(key) < 0) low = mid + 1;
            else high = mid;
        }
        return low;
    }

    private static LineKey KeyOf(HostEntry entry)
    {
        var sort = HostValidator.SortKey(entry.IpAddress);
        var ip = sort[0] == 4 ? BinaryPrimitives.ReadUInt32BigEndian(sort.AsSpan(1)) : BinaryPrimitives.ReadUInt128BigEndian(sort.AsSpan(1));
        return new LineKey(sort[0], ip, entry.Hostname.ToLowerInvariant(), entry.Id);
    }

    private static byte[] Encode(HostEntry entry)
    {
        var sb = new StringBuilder(64);
        HostsFileRenderer.AppendLine(sb, entry);
        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    /// <summary>
    /// A run of lines in file order: their keys, and their bytes as slices of one buffer. A change puts a line of its
    /// own in (or takes one out) and drops the buffer; <see cref="Encode"/> makes a new one when the block is next rendered.
    /// </summary>
    private sealed class Segment
    {
        private readonly List<LineKey> _keys = [];
        private readonly List<ReadOnlyMemory<byte>> _lines = [];
        private byte[]? _buffer;

        public int Count => _keys.Count;
        public LineKey LastKey => _keys[^1];

        public void Add(LineKey key, byte[] line)
        {
            _keys.Add(key);
            _lines.Add(line);
            _buffer = null;
        }

        public void Insert(LineKey key, byte[] line)
        {
            var at = _keys.BinarySearch(key);
            if (at < 0) at = ~at;
            _keys.Insert(at, key);
            _lines.Insert(at, line);
            _buffer = null;
        }

        public bool Remove(LineKey key)
        {
            var at = _keys.BinarySearch(key);
            if (at < 0) return false;
            _keys.RemoveAt(at);
            _lines.RemoveAt(at);
            _buffer = null;
            return true;
        }

        /// <summary>Moves the upper half of the lines into a new segment (which follows this one).</summary>
        public Segment SplitOff()
        {
            var half = Count / 2;
            var upper = new Segment();
            for (var i = half; i < Count; i++) upper.Add(_keys[i], _lines[i].ToArray());
            _keys.RemoveRange(half, Count - half);
            _lines.RemoveRange(half, _lines.Count - half);
            _buffer = null;
            return upper;
        }

        /// <summary>The lines as one buffer, made again only after a change; the lines become slices of it (one array, not one per line).</summary>
        public byte[] Encode()
        {
            if (_buffer is { } buffer) return buffer;
            var size = 0;
            foreach (var line in _lines) size += line.Length;
            buffer = new byte[size];
            var at = 0;
            for (var i = 0; i < _lines.Count; i++)
            {
                _lines[i].Span.CopyTo(buffer.AsSpan(at));
                _lines[i] = buffer.AsMemory(at, _lines[i].Length);
                at += _lines[i].Length;
            }
            return _buffer = buffer;
        }
    }

    /// <summary>The file order of <see cref="HostQuery.Order"/>: IP numerically (IPv4 first), then hostname, then id.</summary>
    private readonly record struct LineKey(byte Family, UInt128 Ip, string Hostname, string Id) : IComparable<LineKey>
    {
        public int CompareTo(LineKey other)
        {
            var byFamily = Family.CompareTo(other.Family);
            if (byFamily != 0) return byFamily;
            var byIp = Ip.CompareTo(other.Ip);
            if (byIp != 0) return byIp;
            var byName = string.CompareOrdinal(Hostname, other.Hostname);
            return byName != 0 ? byName : string.CompareOrdinal(Id, other.Id);
        }
    }
}

/// <summary>
/// The managed block at one moment (<see cref="RenderedLines.Snapshot"/>): its UTF-8 pieces in order, which are never
/// changed afterwards; <paramref name="Version"/> differs whenever the lines do.
/// </summary>
public sealed record BlockSnapshot(IReadOnlyList<ReadOnlyMemory<byte>> Chunks, int Count, long ChangeId, long Version);

/// <summary>Byte sequences held as pieces (a file gathered from buffers).</summary>
public static class Chunks
{
    public static int Length(IEnumerable<ReadOnlyMemory<byte>> chunks) => chunks.Sum(c => c.Length);

    public static byte[] Concat(IEnumerable<ReadOnlyMemory<byte>> chunks)
    {
        var list = chunks as IReadOnlyList<ReadOnlyMemory<byte>> ?? chunks.ToList();
        var result = new byte[Length(list)];
        var at = 0;
        foreach (var chunk in list)
        {
            chunk.Span.CopyTo(result.AsSpan(at));
            at += chunk.Length;
        }
        return result;
    }

    /// <summary>Whether the pieces hold exactly <paramref name="bytes"/>, compared without joining them.</summary>
    public static bool SequenceEqual(IEnumerable<ReadOnlyMemory<byte>> chunks, ReadOnlySpan<byte> bytes)
    {
        var at = 0;
        foreach (var chunk in chunks)
        {
            if (at + chunk.Length > bytes.Length || !chunk.Span.SequenceEqual(bytes.Slice(at, chunk.Length))) return false;
            at += chunk.Length;
        }
        return at == bytes.Length;
    }

    /// <summary>Whether two piece lists hold the same bytes (the pieces may be cut differently).</summary>
    public static bool SequenceEqual(IReadOnlyList<ReadOnlyMemory<byte>> a, IReadOnlyList<ReadOnlyMemory<byte>> b)
    {
        if (Length(a) != Length(b)) return false;
        int ai = 0, bi = 0, aAt = 0, bAt = 0;
        while (ai < a.Count && bi < b.Count)
        {
            var x = a[ai].Span[aAt..];
            var y = b[bi].Span[bAt..];
            var n = Math.Min(x.Length, y.Length);
            if (!x[..n].SequenceEqual(y[..n])) return false;
            aAt += n;
            bAt += n;
            if (aAt == a[ai].Length) { ai++; aAt = 0; }
            if (bAt == b[bi].Length) { bi++; bAt = 0; }
        }
        return true;
    }
}
