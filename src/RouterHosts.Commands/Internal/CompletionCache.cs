using System.Collections.Concurrent;

namespace RouterHosts.Commands.Internal;

/// <summary>What a completer offers: the value and a tooltip.</summary>
internal readonly record struct CompletionCandidate(string Value, string ToolTip);

/// <summary>The text to insert for a candidate, and what the menu shows.</summary>
internal readonly record struct CompletionItem(string CompletionText, string ListItemText, string ToolTip);

internal enum CompletionKind
{
    HostId,
    Hostname,
    Tag,
    SnapshotId,
    IPAddress,
    SnapshotName,
}

/// <summary>
/// Values for tab completion, kept per connection. Completion only ever reads what is
/// here; when it is stale a refresh starts in the background with a short timeout (one
/// at a time), so a keystroke never waits on the network. Cmdlet results also feed it.
/// </summary>
internal sealed class CompletionCache
{
    public static readonly TimeSpan DefaultMaxAge = TimeSpan.FromSeconds(30);
    public static readonly TimeSpan DefaultFetchTimeout = TimeSpan.FromSeconds(3);

    private readonly Func<DateTimeOffset> _clock;
    private ConcurrentDictionary<string, string>[] _values = NewSets();
    private DateTimeOffset _refreshedAt = DateTimeOffset.MinValue;
    private int _refreshing;

    public CompletionCache(Func<DateTimeOffset>? clock = null) => _clock = clock ?? (() => DateTimeOffset.UtcNow);

    public TimeSpan MaxAge { get; init; } = DefaultMaxAge;
    public TimeSpan FetchTimeout { get; init; } = DefaultFetchTimeout;
    public bool IsRefreshing => Volatile.Read(ref _refreshing) != 0;
    public bool IsStale => _clock() - _refreshedAt >= MaxAge;

    /// <summary>True until the first refresh ends: the first completion after Connect waits for it, briefly.</summary>
    public bool NeverRefreshed => _refreshedAt == DateTimeOffset.MinValue && !_everRefreshed;

    private volatile bool _everRefreshed;

    /// <summary>The last background refresh, for tests and diagnostics.</summary>
    public Task LastRefresh { get; private set; } = Task.CompletedTask;

    private static ConcurrentDictionary<string, string>[] NewSets() =>
        Enumerable.Range(0, Enum.GetValues<CompletionKind>().Length).Select(_ => new ConcurrentDictionary<string, string>(StringComparer.OrdinalIgnoreCase)).ToArray();

    public IReadOnlyList<CompletionCandidate> Candidates(CompletionKind kind) =>
        Volatile.Read(ref _values)[(int)kind].Select(p => new CompletionCandidate(p.Key, p.Value)).ToList();

    public void Observe(RouterHost host) => Add(Volatile.Read(ref _values), host);

    public void Observe(RouterHostsSnapshot snapshot) => Add(Volatile.Read(ref _values), snapshot);

    public void ForgetHost(string id) => Volatile.Read(ref _values)[(int)CompletionKind.HostId].TryRemove(id, out _);

    public void ForgetSnapshot(string id) => Volatile.Read(ref _values)[(int)CompletionKind.SnapshotId].TryRemove(id, out _);

    /// <summary>Marks the cache stale, so the next completion refreshes it (after bulk changes).</summary>
    public void Invalidate() => _refreshedAt = DateTimeOffset.MinValue;

    /// <summary>Starts a background refresh when stale and none is running; never blocks.</summary>
    public void RefreshIfStale(Func<CancellationToken, Task<(IReadOnlyList<RouterHost> Hosts, IReadOnlyList<RouterHostsSnapshot> Snapshots)>> fetch)
    {
        if (!IsStale || Interlocked.CompareExchange(ref _refreshing, 1, 0) != 0) return;
        LastRefresh = Task.Run(async () =>
        {
            try
            {
                using var timeout = new CancellationTokenSource(FetchTimeout);
                var (hosts, snapshots) = await fetch(timeout.Token).ConfigureAwait(false);
                var fresh = NewSets();
                foreach (var host in hosts) Add(fresh, host);
                foreach (var snapshot in snapshots) Add(fresh, snapshot);
                Volatile.Write(ref _values, fresh);
            }
            catch (Exception)
            {
                // Completion is best effort: an unreachable agent or a timeout leaves what we had.
            }
            finally
            {
                _refreshedAt = _clock();
                _everRefreshed = true;
                Volatile.Write(ref _refreshing, 0);
            }
        });
    }

    private static void Add(ConcurrentDictionary<string, string>[] sets, RouterHost host)
    {
        if (host.Id.Length > 0) sets[(int)CompletionKind.HostId][host.Id] = host.ToString();
        if (host.Hostname.Length > 0) sets[(int)CompletionKind.Hostname][host.Hostname] = host.IPAddress;
        if (host.IPAddress.Length > 0) sets[(int)CompletionKind.IPAddress].TryAdd(host.IPAddress, host.Hostname);
        foreach (var alias in host.Aliases) sets[(int)CompletionKind.Hostname].TryAdd(alias, $"alias of {host.Hostname} ({host.IPAddress})");
        foreach (var tag in host.Tags) sets[(int)CompletionKind.Tag].TryAdd(tag, "tag");
    }

    private static void Add(ConcurrentDictionary<string, string>[] sets, RouterHostsSnapshot snapshot)
    {
        if (snapshot.Id.Length > 0)
            sets[(int)CompletionKind.SnapshotId][snapshot.Id] = $"{snapshot.Name} ({snapshot.Trigger}, {snapshot.CreatedAt:u}, {snapshot.EntryCount} entries)";
        if (snapshot.Name.Length > 0) sets[(int)CompletionKind.SnapshotName].TryAdd(snapshot.Name, $"{snapshot.Id} ({snapshot.CreatedAt:u})");
    }
}

/// <summary>Filters and quotes completion candidates for the word being completed. Pure.</summary>
internal static class CompletionMatcher
{
    public const int MaxResults = 200;

    public static IReadOnlyList<CompletionItem> Match(IEnumerable<CompletionCandidate> candidates, string? wordToComplete, int max = MaxResults)
    {
        var word = wordToComplete ?? "";
        char? quote = word.Length > 0 && word[0] is '\'' or '"' ? word[0] : null;
        if (quote is not null) word = word[1..];
        if (word.Length > 0 && word[^1] == quote) word = word[..^1];
        var pattern = Wildcards.HasWildcard(word) ? word : word + "*";
        return candidates
            .Where(c => Wildcards.IsMatch(pattern, c.Value))
            .DistinctBy(c => c.Value, StringComparer.OrdinalIgnoreCase)
            .OrderBy(c => c.Value, StringComparer.OrdinalIgnoreCase)
            .Take(max)
            .Select(c => new CompletionItem(Quote(c.Value, quote), c.Value, string.IsNullOrEmpty(c.ToolTip) ? c.Value : c.ToolTip))
            .ToList();
    }

    /// <summary>Quotes a value when PowerShell would otherwise split or interpret it (or when the user opened a quote).</summary>
    public static string Quote(string value, char? openedWith = null)
    {
        var needsQuotes = openedWith is not null || value.Length == 0
            || value.Any(c => char.IsWhiteSpace(c) || c is '\'' or '"' or '`' or '$' or ';' or ',' or '(' or ')' or '{' or '}' or '@' or '#' or '|' or '&' or '<' or '>')
            || value[0] is '-';
        if (!needsQuotes) return value;
        if (openedWith == '"') return "\"" + value.Replace("`", "``").Replace("\"", "`\"").Replace("$", "`$") + "\"";
        return "'" + value.Replace("'", "''") + "'";
    }
}
