using RouterHosts.Core.Hosts;

namespace RouterHosts.Core.Writes;

/// <summary>
/// Changes validated against a base (the committed state, or that plus an edit
/// session's staged changes) and held as pending events. Each operation either
/// succeeds and records its event, or throws a <see cref="CoreException"/> and
/// leaves the set as it was. Nothing here touches storage: the writer commits
/// <see cref="Events"/> in one transaction.
/// </summary>
public sealed class ChangeSet(IHostLookup baseLookup, DateTimeOffset now) : IHostLookup
{
    // id -> state in this set (IsLive false for deleted); key -> live id, or null when freed here.
    private readonly Dictionary<string, (HostEntry State, bool IsLive)> _byId = new();
    private readonly Dictionary<HostKey, string?> _byKey = new();
    private readonly List<Storage.PendingEvent> _events = new();
    // id -> the live state in the base before this set first touched it (null: absent or deleted there).
    private readonly Dictionary<string, HostEntry?> _before = new();
    // key -> the base's live entry holding it, as looked up by Prefetch (the base does not change under a set).
    private readonly Dictionary<HostKey, HostEntry?> _baseByKey = new();

    public IReadOnlyList<Storage.PendingEvent> Events => _events;

    /// <summary>Net effect on the live set: entries that appear, change, or go (an entry added then removed counts nowhere).</summary>
    public (int Added, int Changed, int Removed) NetCounts()
    {
        int added = 0, changed = 0, removed = 0;
        foreach (var (id, (state, isLive)) in _byId)
        {
            var before = _before[id];
            if (before is null && isLive) added++;
            else if (before is not null && !isLive) removed++;
            else if (before is not null && isLive && !SameContent(before, state)) changed++;
        }
        return (added, changed, removed);
    }
    public DateTimeOffset Now => now;

    /// <summary>Ids this set touched, with their final state (null = deleted).</summary>
    public IEnumerable<KeyValuePair<string, HostEntry?>> Overlay =>
        _byId.Select(p => KeyValuePair.Create(p.Key, p.Value.IsLive ? p.Value.State : null));

    public HostEntry? Get(string id, bool includeDeleted = false)
    {
        if (_byId.TryGetValue(id, out var own)) return own.IsLive || includeDeleted ? own.State : null;
        return baseLookup.Get(id, includeDeleted);
    }

    /// <summary>
    /// Looks up in one call the base entries holding the keys of <paramref name="drafts"/>, which the adds that
    /// follow then check against without a lookup each (invalid drafts are left to fail in their add).
    /// </summary>
    public void Prefetch(IEnumerable<HostDraft> drafts)
    {
        var keys = new HashSet<HostKey>();
        foreach (var draft in drafts)
        {
            try
            {
                var valid = HostValidator.Normalize(draft);
                var key = new HostKey(valid.IpAddress, valid.Hostname);
                if (!_baseByKey.ContainsKey(key)) keys.Add(key);
            }
            catch (CoreException) { }
        }
        foreach (var key in keys) _baseByKey[key] = null;
        foreach (var entry in baseLookup.FindLiveMany(keys)) _baseByKey[entry.Key] = entry;
    }

    /// <summary>
    /// What <see cref="FindLive"/> answers for each key, with the keys this set knows nothing of asked of the base in one
    /// call: a set planned over another (a group commit's later write) keeps a bulk batch's prefetch one query.
    /// </summary>
    public IReadOnlyList<HostEntry> FindLiveMany(IReadOnlyCollection<HostKey> keys)
    {
        var found = new List<HostEntry>();
        var unknown = new List<HostKey>();
        foreach (var key in keys)
        {
            if (!_byKey.ContainsKey(key) && !_baseByKey.ContainsKey(key)) unknown.Add(key);
            else if (FindLive(key) is { } entry) found.Add(entry);
        }
        foreach (var entry in baseLookup.FindLiveMany(unknown))
            if (!_byId.TryGetValue(entry.Id, out var own) || (own.IsLive && own.State.Key == entry.Key)) found.Add(entry);
        return found;
    }

    public HostEntry? FindLive(HostKey key)
    {
        if (_byKey.TryGetValue(key, out var id)) return id is null ? null : Get(id);
        var found = _baseByKey.TryGetValue(key, out var known) ? known : baseLookup.FindLive(key);
        // A base entry found by key may have moved or gone within this set.
        if (found is not null && _byId.TryGetValue(found.Id, out var own) && (!own.IsLive || own.State.Key != key)) return null;
        return found;
    }

    /// <param name="id">A fixed id (imports, staged adds); null makes a new one.</param>
    /// <param name="idIsNew">True when <paramref name="id"/> was just generated, so no entry can hold it (saves a lookup).</param>
    public HostEntry Add(HostDraft draft, string? id = null, bool idIsNew = false)
    {
        var valid = HostValidator.Normalize(draft);
        var key = new HostKey(valid.IpAddress, valid.Hostname);
        EnsureKeyFree(key, exceptId: null);
        long version = 1;
        var type = HostEventType.Created;
        if (id is not null && !idIsNew)
        {
            var existing = Get(id, includeDeleted: true);
            if (existing is not null && Get(id) is not null)
                throw new CoreException(CoreErrorKind.AlreadyExists, $"host id {CoreException.Quote(id)} already exists");
            if (existing is not null) { version = existing.Version + 1; type = HostEventType.Restored; }
        }
        // An empty comment is no comment, as in Update.
        var entry = new HostEntry(id ?? Ulid.New(now), valid.IpAddress, valid.Hostname, string.IsNullOrEmpty(valid.Comment) ? null : valid.Comment,
            valid.Tags!, valid.Aliases!, now, now, version);
        Record(type, entry, previous: null);
        return entry;
    }

    public HostEntry Update(string id, HostPatch patch, string? expectedVersion)
    {
        var current = RequireLive(id, expectedVersion);
        var hostname = patch.Hostname is null ? current.Hostname : HostValidator.CheckHostname("hostname", patch.Hostname);
        var merged = HostValidator.Normalize(new HostDraft(
            patch.IpAddress ?? current.IpAddress,
            hostname,
            patch.Comment ?? current.Comment,
            patch.Tags ?? current.Tags,
            patch.Aliases ?? current.Aliases));
        // An empty comment clears it.
        var comment = string.IsNullOrEmpty(merged.Comment) ? null : merged.Comment;
        var updated = current with
        {
            IpAddress = merged.IpAddress,
            Hostname = merged.Hostname,
            Comment = comment,
            Tags = merged.Tags!,
            Aliases = merged.Aliases!,
        };
        if (SameContent(updated, current)) return current;
        if (updated.Key != current.Key) EnsureKeyFree(updated.Key, exceptId: id);
        updated = updated with { UpdatedAt = now, Version = current.Version + 1 };
        Record(HostEventType.Updated, updated, current);
        return updated;
    }

    public HostEntry Delete(string id, string? expectedVersion)
    {
        var current = RequireLive(id, expectedVersion);
        var tombstone = current with { UpdatedAt = now, Version = current.Version + 1 };
        Record(HostEventType.Deleted, tombstone, current);
        return tombstone;
    }

    /// <summary>
    /// Makes an entry exactly as recorded (id included), for rollback: updates a live
    /// entry, brings back a deleted one, or creates it. Key uniqueness is the caller's
    /// concern (a snapshot is a set that was valid as a whole).
    /// </summary>
    public void Restore(HostEntry recorded)
    {
        var current = Get(recorded.Id, includeDeleted: true);
        var isLive = current is not null && Get(recorded.Id) is not null;
        if (isLive && SameContent(current!, recorded)) return;
        var state = recorded with
        {
            CreatedAt = current?.CreatedAt ?? recorded.CreatedAt,
            UpdatedAt = now,
            Version = (current?.Version ?? 0) + 1,
        };
        Record(isLive ? HostEventType.Updated : HostEventType.Restored, state, isLive ? current : null);
    }

    private HostEntry RequireLive(string id, string? expectedVersion)
    {
        if (string.IsNullOrEmpty(id)) throw CoreException.Invalid("id", id, "an id is required");
        var current = Get(id) ?? throw CoreException.NotFound(id);
        if (expectedVersion is not null && expectedVersion != current.Version.ToString())
            throw new CoreException(CoreErrorKind.Conflict,
                $"version mismatch for host {id}: expected {expectedVersion}, current {current.Version}");
        return current;
    }

    private void EnsureKeyFree(HostKey key, string? exceptId)
    {
        var holder = FindLive(key);
        if (holder is not null && holder.Id != exceptId)
            throw new CoreException(CoreErrorKind.AlreadyExists,
                $"host {holder.IpAddress} {holder.Hostname} already exists (id {holder.Id})");
    }

    private void Record(HostEventType type, HostEntry state, HostEntry? previous)
    {
        // The first touch of an id: what the base held (previous is the live state we replaced, if any).
        if (!_byId.ContainsKey(state.Id)) _before[state.Id] = previous;
        var live = type != HostEventType.Deleted;
        // Free the previous key only if this entry still holds it: a Restore may already have given it to another.
        if (previous is not null && (!_byKey.TryGetValue(previous.Key, out var holder) || holder == previous.Id))
            _byKey[previous.Key] = null;
        if (live) _byKey[state.Key] = state.Id;
        _byId[state.Id] = (state, live);
        _events.Add(new Storage.PendingEvent(type, state));
    }

    public static bool SameContent(HostEntry a, HostEntry b) =>
        a.IpAddress == b.IpAddress && a.Hostname == b.Hostname && a.Comment == b.Comment
        && a.Tags.SequenceEqual(b.Tags) && a.Aliases.SequenceEqual(b.Aliases);
}
