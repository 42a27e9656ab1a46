using System.Text;
using RouterHosts.Core.Hosts;
using RouterHosts.Core.Storage;

namespace RouterHosts.Core.HostsFile;

/// <summary>
/// The hosts-file line of every live entry, kept in file order and updated from
/// the events the writer commits, so that regenerating the file after a change
/// costs one pass over ready-made lines instead of a read of the whole table.
/// Loaded once from the store at start; the writer applies each committed change.
/// </summary>
public sealed class RenderedLines
{
    private readonly object _gate = new();
    private readonly SortedDictionary<LineKey, string> _lines = new();
    private readonly Dictionary<string, LineKey> _keyById = new();
    private long _changeId;
    private int _characters;
    private int _utf8Bytes;
    private byte[] _buffer = [];
    private static readonly byte[] HeadUtf8 = Encoding.UTF8.GetBytes(HostsFileRenderer.BlockHead);
    private static readonly byte[] TailUtf8 = Encoding.UTF8.GetBytes(HostsFileRenderer.BlockTail);

    /// <summary>The change the lines reflect.</summary>
    public long ChangeId { get { lock (_gate) return _changeId; } }

    public void Load(IEnumerable<HostEntry> entries, long changeId)
    {
        lock (_gate)
        {
            _lines.Clear();
            _keyById.Clear();
            _characters = 0;
            _utf8Bytes = 0;
            foreach (var entry in entries) Put(entry);
            _changeId = changeId;
        }
    }

    /// <summary>Applies committed events in their order; <paramref name="changeId"/> is what they were committed as.</summary>
    public void Apply(IReadOnlyList<PendingEvent> events, long changeId)
    {
        lock (_gate)
        {
            foreach (var e in events)
            {
                Remove(e.State.Id);
                if (e.Type != HostEventType.Deleted) Put(e.State);
            }
            _changeId = Math.Max(_changeId, changeId);
        }
    }

    /// <summary>The marked block with every line, the number of entries, and the change it reflects.</summary>
    public (string Block, int Count, long ChangeId) RenderBlock()
    {
        lock (_gate)
        {
            var sb = new StringBuilder(_characters + 256);
            sb.Append(HostsFileRenderer.BlockHead);
            foreach (var line in _lines.Values) sb.Append(line);
            sb.Append(HostsFileRenderer.BlockTail);
            return (sb.ToString(), _lines.Count, _changeId);
        }
    }

    /// <summary>
    /// The same block as UTF-8, encoded line by line into a buffer kept from one render to the next, so that a render
    /// at 100,000 hosts allocates no 10 MB string and no second copy of it. Valid until the next call: one renderer
    /// (<see cref="HostsFileSync"/>, under its gate) uses it.
    /// </summary>
    public (ReadOnlyMemory<byte> Block, int Count, long ChangeId) RenderBlockUtf8()
    {
        lock (_gate)
        {
            var size = HeadUtf8.Length + _utf8Bytes + TailUtf8.Length;
            if (_buffer.Length < size) _buffer = new byte[size + size / 8]; // room to grow before the next allocation
            var span = _buffer.AsSpan();
            HeadUtf8.CopyTo(span);
            var at = HeadUtf8.Length;
            foreach (var line in _lines.Values) at += Encoding.UTF8.GetBytes(line, span[at..]);
            TailUtf8.CopyTo(span[at..]);
            return (_buffer.AsMemory(0, at + TailUtf8.Length), _lines.Count, _changeId);
        }
    }

    private void Put(HostEntry entry)
    {
        var key = new LineKey(HostValidator.SortKey(entry.IpAddress), entry.Hostname.ToLowerInvariant(), entry.Id);
        var sb = new StringBuilder(64);
        HostsFileRenderer.AppendLine(sb, entry);
        var line = sb.ToString();
        _lines[key] = line;
        _keyById[entry.Id] = key;
        _characters += line.Length;
        _utf8Bytes += Encoding.UTF8.GetByteCount(line);
    }

    private void Remove(string id)
    {
        if (!_keyById.Remove(id, out var key)) return;
        if (!_lines.Remove(key, out var line)) return;
        _characters -= line.Length;
        _utf8Bytes -= Encoding.UTF8.GetByteCount(line);
    }

    /// <summary>The file order of <see cref="HostQuery.Order"/>: IP numerically, then hostname, then id.</summary>
    private readonly record struct LineKey(byte[] Ip, string Hostname, string Id) : IComparable<LineKey>
    {
        public int CompareTo(LineKey other)
        {
            var byIp = ((ReadOnlySpan<byte>)Ip).SequenceCompareTo(other.Ip);
            if (byIp != 0) return byIp;
            var byName = string.CompareOrdinal(Hostname, other.Hostname);
            return byName != 0 ? byName : string.CompareOrdinal(Id, other.Id);
        }
    }
}
