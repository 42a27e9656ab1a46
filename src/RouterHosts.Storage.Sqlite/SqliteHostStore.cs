using System.IO.Compression;
using System.Text.Json;
using Microsoft.Data.Sqlite;
using RouterHosts.Core.Hosts;
using RouterHosts.Core.Storage;

namespace RouterHosts.Storage.Sqlite;

/// <summary>
/// The SQLite backend: WAL with synchronous=FULL (an acknowledged write survives
/// kill -9 and power loss), foreign keys on, schema migrated at open. One primary
/// connection does all writes and the point lookups the writer validates with
/// (prepared statements, under a lock); lists and cursors use pooled connections,
/// which WAL lets read while a write is under way.
/// </summary>
public sealed class SqliteHostStore : IHostStore
{
    private readonly string _connectionString;
    private readonly SqliteConnection _primary = null!;
    private readonly object _primaryLock = new();
    private readonly SqliteCommand _getById = null!;
    private readonly SqliteCommand _findLive = null!;

    public SqliteHostStore(string databasePath) : this(databasePath, deferIntegrityCheck: false)
    {
    }

    /// <param name="deferIntegrityCheck">
    /// The caller runs <see cref="CheckIntegrity()"/> itself, beside other work, and uses the store only once it passed
    /// (the agent's start). Only when the schema is at the latest version: a file that needs migrating is checked first,
    /// since a damaged file is never migrated. <see cref="IntegrityCheckDeferred"/> says whether it was deferred.
    /// </param>
    public SqliteHostStore(string databasePath, bool deferIntegrityCheck)
    {
        DatabasePath = Path.GetFullPath(databasePath);
        _connectionString = new SqliteConnectionStringBuilder
        {
            DataSource = DatabasePath,
            Mode = SqliteOpenMode.ReadWriteCreate,
            Pooling = true,
            DefaultTimeout = 30,
        }.ToString();
        try
        {
            _primary = Open();
            Pragma(_primary, "PRAGMA journal_mode = WAL");
            if (deferIntegrityCheck && SqliteSchema.IsLatest(_primary)) IntegrityCheckDeferred = true;
            else CheckIntegrity(_primary);
            // The writer's connection gets a larger page cache: bulk writes at 100,000 hosts touch every index.
            Pragma(_primary, "PRAGMA cache_size = -65536");
            SqliteSchema.Migrate(_primary);
            _getById = Prepare(_primary, $"SELECT {HostColumns} FROM hosts WHERE id = $id", "$id");
            _findLive = Prepare(_primary, $"SELECT {HostColumns} FROM hosts WHERE ip_address = $ip AND hostname_lc = $name AND deleted = 0", "$ip", "$name");
        }
        catch (SqliteException e) when (SqliteFaults.Translate(e, DatabasePath) is { } fault)
        {
            _primary?.Dispose();
            SqliteConnection.ClearPool(new SqliteConnection(_connectionString));
            throw fault;
        }
        catch
        {
            _primary?.Dispose();
            SqliteConnection.ClearPool(new SqliteConnection(_connectionString));
            throw;
        }
    }

    /// <summary>Whether opening left the integrity check to the caller (see the constructor).</summary>
    public bool IntegrityCheckDeferred { get; }

    /// <summary>The check opening makes, on a connection of its own (so it can run beside other reads); throws when the file is damaged.</summary>
    public void CheckIntegrity()
    {
        try
        {
            using var connection = Open();
            CheckIntegrity(connection);
        }
        catch (SqliteException e) when (SqliteFaults.Translate(e, DatabasePath) is { } fault)
        {
            throw fault;
        }
    }

    /// <summary>Files up to this size get a full integrity_check at open; larger ones the quicker quick_check.</summary>
    public const long FullCheckMaxBytes = 32 * 1024 * 1024;

    /// <summary>
    /// A damaged database must not be served: history reads and writes would fail later, one by one.
    /// quick_check reads every page and checks the b-trees; integrity_check also checks that every
    /// index matches its table, which is cheap for the small files a router holds.
    /// </summary>
    private void CheckIntegrity(SqliteConnection connection)
    {
        var full = new FileInfo(DatabasePath) is { Exists: true } file && file.Length <= FullCheckMaxBytes;
        using var command = connection.CreateCommand();
        command.CommandText = full ? "PRAGMA integrity_check(20)" : "PRAGMA quick_check(20)";
        var problems = new List<string>();
        using (var reader = command.ExecuteReader())
            while (reader.Read()) problems.Add(reader.GetString(0));
        if (problems is ["ok"]) return;
        throw SqliteFaults.Corrupt(DatabasePath, $"{(full ? "integrity_check" : "quick_check")}: {string.Join("; ", problems)}");
    }

    // ---- faults: every call translates a full disk or a corrupt file, and remembers it for health ----

    private volatile string? _noSpace;
    private volatile string? _corrupt;

    /// <summary>Free space that ends a "no space left" problem without waiting for the next write to succeed.</summary>
    private const long RecoveredFreeBytes = 1024 * 1024;

    public string? Problem()
    {
        if (_corrupt is { } corrupt) return corrupt;
        if (_noSpace is not { } noSpace) return null;
        try
        {
            if (new DriveInfo(Path.GetDirectoryName(DatabasePath)!).AvailableFreeSpace >= RecoveredFreeBytes) _noSpace = null;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException) { }
        return _noSpace;
    }

    private T Guard<T>(Func<T> action, bool write = false)
    {
        try
        {
            var result = action();
            if (write) _noSpace = null;
            return result;
        }
        catch (SqliteException e) when (SqliteFaults.Translate(e, DatabasePath) is { } fault)
        {
            if (fault.Reason == RouterHostsReasons.NoSpace) _noSpace = fault.Message;
            else _corrupt = fault.Message;
            throw fault;
        }
    }

    public string DatabasePath { get; }
    public string BackendName => "sqlite";

    private const string HostColumns = "id, ip_address, hostname, comment, tags, aliases, created_at, updated_at, version, deleted";

    private SqliteConnection Open()
    {
        var connection = new SqliteConnection(_connectionString);
        connection.Open();
        // cache_size: 2 MiB of pages. Pooled connections only read (lists stream pages in key order,
        // which the OS page cache serves), and one is held per open stream; the writer sets its own.
        Pragma(connection, "PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = 30000; PRAGMA cache_size = -2048");
        return connection;
    }

    private static void Pragma(SqliteConnection connection, string sql)
    {
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        command.ExecuteNonQuery();
    }

    private static SqliteCommand Prepare(SqliteConnection connection, string sql, params string[] parameters)
    {
        var command = connection.CreateCommand();
        command.CommandText = sql;
        foreach (var name in parameters) command.Parameters.Add(new SqliteParameter(name, null));
        command.Prepare();
        return command;
    }

    // ---- point lookups (primary connection) ----

    public HostEntry? Get(string id, bool includeDeleted = false)
    {
        return Guard(() =>
        {
            lock (_primaryLock)
            {
                _getById.Parameters[0].Value = id;
                using var reader = _getById.ExecuteReader();
                if (!reader.Read()) return null;
                return reader.GetInt64(9) != 0 && !includeDeleted ? null : ReadHost(reader);
            }
        });
    }

    public HostEntry? FindLive(HostKey key)
    {
        return Guard(() =>
        {
            lock (_primaryLock)
            {
                _findLive.Parameters[0].Value = key.IpAddress;
                _findLive.Parameters[1].Value = key.Hostname;
                using var reader = _findLive.ExecuteReader();
                return reader.Read() ? ReadHost(reader) : null;
            }
        });
    }

    // ---- lists (pooled connections) ----

    public IReadOnlyList<HostEntry> List(HostQuery query) => Stream(query).ToList();

    public IEnumerable<HostEntry> StreamAll() => Stream(HostQuery.All);

    /// <summary>Rows per page of a stream: what one stream holds in memory at most.</summary>
    public const int StreamPageSize = 256;

    /// <summary>
    /// Pages by keyset on the list order (ip_sort, hostname_lc, id), each page a short
    /// indexed range read, all inside one read transaction held for the stream: WAL gives
    /// it one consistent view while writers go on, at the cost that the WAL cannot be
    /// checkpointed past it until the stream ends. The query's offset is applied on the first page only.
    /// </summary>
    public IEnumerable<HostEntry> Stream(HostQuery query)
    {
        // A cursor cannot yield from inside a try with a catch: each page is read under a guard instead.
        using var connection = Guard(() => Open());
        using var snapshot = Guard(() => connection.BeginTransaction(deferred: true));
        // Two statements, each prepared once for the whole stream: the first page (with the
        // query's offset) and the pages after a key.
        using var first = connection.CreateCommand();
        using var next = connection.CreateCommand();
        first.Transaction = next.Transaction = snapshot;
        var narrowing = Guard(() => Narrowing(query, snapshot));
        var where = Filters(query, narrowing, first);
        Filters(query, narrowing, next);
        const string select = $"SELECT {HostColumns} FROM hosts WHERE ";
        const string order = " ORDER BY ip_sort, hostname_lc, id LIMIT $limit";
        first.CommandText = select + where + order + " OFFSET $offset";
        first.Parameters.AddWithValue("$offset", query.Offset);
        next.CommandText = select + where + " AND (ip_sort, hostname_lc, id) > ($after_ip, $after_name, $after_id)" + order;
        var afterIp = next.Parameters.AddWithValue("$after_ip", DBNull.Value);
        var afterName = next.Parameters.AddWithValue("$after_name", DBNull.Value);
        var afterId = next.Parameters.AddWithValue("$after_id", DBNull.Value);
        var firstLimit = first.Parameters.AddWithValue("$limit", 0);
        var nextLimit = next.Parameters.AddWithValue("$limit", 0);
        var remaining = query.Limit ?? long.MaxValue;
        var page = new List<HostEntry>(StreamPageSize);
        var command = first;
        while (remaining > 0)
        {
            (command == first ? firstLimit : nextLimit).Value = Math.Min(StreamPageSize, remaining);
            page.Clear();
            Guard(() =>
            {
                using var reader = command.ExecuteReader();
                while (reader.Read()) page.Add(ReadHost(reader));
                return 0;
            });
            foreach (var entry in page) yield return entry;
            remaining -= page.Count;
            if (page.Count < StreamPageSize) yield break;
            // The key of the last row, computed as Append stores it (cheaper than reading it per row).
            var last = page[^1];
            afterIp.Value = HostValidator.SortKey(last.IpAddress);
            afterName.Value = last.Hostname.ToLowerInvariant();
            afterId.Value = last.Id;
            command = next;
        }
    }

    /// <summary>Matches of the trigram index up to which a filter reads only the rows it names; past it, a scan in list order.</summary>
    public const int NarrowingMaxRows = 4096;

    /// <summary>
    /// The trigram-index query for the texts every match of <paramref name="query"/> must contain
    /// (the text, the tag, the longest literal run of the pattern), or null when none has the 3
    /// characters the index needs, the IP's own index serves, or the texts are so common (more than
    /// <see cref="NarrowingMaxRows"/> rows) that reading the rows in list order until the page is
    /// full costs less than collecting and sorting them all.
    /// </summary>
    private static string? Narrowing(HostQuery query, SqliteTransaction snapshot)
    {
        if (query.IpAddress is { Length: > 0 }) return null;
        var texts = new List<string>();
        if (query.Text is { Length: > 0 } text) texts.Add(HostQuery.Fold(text));
        if (query.HostnamePattern is { Length: > 0 } pattern) texts.Add(pattern.ToLowerInvariant().Split('*', '?').MaxBy(part => part.Length)!);
        if (query.Tag is { Length: > 0 } tag) texts.Add(tag.ToLowerInvariant());
        var phrases = texts.Where(t => !t.Contains('\n') && t.EnumerateRunes().Count() >= 3)
            .Select(t => "\"" + t.Replace("\"", "\"\"") + "\"").ToList();
        if (phrases.Count == 0) return null;
        var match = string.Join(" AND ", phrases);
        using var probe = snapshot.Connection!.CreateCommand();
        probe.Transaction = snapshot;
        probe.CommandText = "SELECT COUNT(*) FROM (SELECT 1 FROM hosts_search WHERE hosts_search MATCH $match LIMIT $most)";
        probe.Parameters.AddWithValue("$match", match);
        probe.Parameters.AddWithValue("$most", NarrowingMaxRows + 1);
        return Convert.ToInt64(probe.ExecuteScalar()) <= NarrowingMaxRows ? match : null;
    }

    /// <summary>
    /// The query's criteria as SQL over the projection, parameters added to <paramref name="command"/>.
    /// Each criterion is checked exactly; a <paramref name="narrowing"/> from <see cref="Narrowing"/>
    /// first limits the rows read to those the trigram index holds the texts in.
    /// </summary>
    private static string Filters(HostQuery query, string? narrowing, SqliteCommand command)
    {
        var where = new List<string> { "deleted = 0" };
        if (query.Text is { Length: > 0 } text)
        {
            // search_text joins the fields with '\n', which no field holds (the validator
            // refuses control characters): a needle with '\n' would only match across fields.
            where.Add(text.Contains('\n') ? "0" : "instr(search_text, $text) > 0");
            command.Parameters.AddWithValue("$text", HostQuery.Fold(text));
        }
        if (query.HostnamePattern is { Length: > 0 } pattern)
        {
            // GLOB on the lowercased names; the pattern's own [ and ] are escaped as classes.
            where.Add("(hostname_lc GLOB $glob OR EXISTS (SELECT 1 FROM json_each(hosts.aliases) WHERE lower(value) GLOB $glob))");
            command.Parameters.AddWithValue("$glob", pattern.ToLowerInvariant().Replace("[", "[[]"));
        }
        if (query.IpAddress is { Length: > 0 } ip)
        {
            where.Add("ip_address = $ip");
            command.Parameters.AddWithValue("$ip", ip);
        }
        if (query.Tag is { Length: > 0 } tag)
        {
            where.Add("EXISTS (SELECT 1 FROM json_each(hosts.tags) WHERE lower(value) = $tag)");
            command.Parameters.AddWithValue("$tag", tag.ToLowerInvariant());
        }
        if (narrowing is not null)
        {
            where.Add("hosts.rowid IN (SELECT rowid FROM hosts_search WHERE hosts_search MATCH $narrowing)");
            command.Parameters.AddWithValue("$narrowing", narrowing);
        }
        return string.Join(" AND ", where);
    }

    public int CountLive() => Convert.ToInt32(ScalarOnPool("SELECT COUNT(*) FROM hosts WHERE deleted = 0"));

    public long LastChangeId() => Convert.ToInt64(ScalarOnPool("SELECT COALESCE(MAX(event_id), 0) FROM events"));

    public void Ping() => ScalarOnPool("SELECT 1");

    private object? ScalarOnPool(string sql) => Guard(() =>
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = sql;
        return command.ExecuteScalar();
    });

    // ---- the write ----

    private const string InsertEvent =
        "INSERT INTO events (event_id, host_id, version, type, payload, occurred_at, actor) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)";
    private const string UpsertHost = """
        INSERT INTO hosts (id, ip_address, ip_sort, hostname, hostname_lc, comment, tags, aliases, search_text,
                           created_at, updated_at, version, deleted, last_event_id)
        VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
        ON CONFLICT (id) DO UPDATE SET
            ip_address = excluded.ip_address, ip_sort = excluded.ip_sort, hostname = excluded.hostname,
            hostname_lc = excluded.hostname_lc, comment = excluded.comment, tags = excluded.tags,
            aliases = excluded.aliases, search_text = excluded.search_text, created_at = excluded.created_at,
            updated_at = excluded.updated_at,
            version = excluded.version, deleted = excluded.deleted, last_event_id = excluded.last_event_id
        """;

    public long Append(IReadOnlyList<PendingEvent> events, string actor, DateTimeOffset now, PendingSnapshot? snapshotBefore = null) =>
        AppendGroup([new PendingChange(events, actor, now, snapshotBefore)])[0];

    public IReadOnlyList<long> AppendGroup(IReadOnlyList<PendingChange> changes)
    {
        var snapshotBlobs = changes.Select(c => c.SnapshotBefore is null ? null : CompressEntries(c.SnapshotBefore.Entries)).ToList();
        return Guard(() =>
        {
            lock (_primaryLock)
            {
                using var tx = _primary.BeginTransaction();
                try
                {
                    for (var c = 0; c < changes.Count; c++)
                        if (changes[c].SnapshotBefore is { } snapshot) InsertSnapshot(tx, snapshot.Info, snapshotBlobs[c]!, snapshot.RenderedHosts);
                    // This process is the only writer, so the ids the log will give are known in advance.
                    var eventId = ScalarLong(tx, "SELECT COALESCE(MAX(event_id), 0) + 1 FROM events");
                    // The log takes the events in the order given; the projection takes each host's
                    // last state. The rows the group touches first give up their keys, so that the
                    // unique index judges only the final states (a key freed or swapped within the
                    // group can be taken by another entry in it).
                    var finals = new Dictionary<string, (PendingEvent Event, long EventId)>();
                    var changeIds = new long[changes.Count];
                    using (var insert = new RawStatement(_primary, InsertEvent))
                    {
                        for (var c = 0; c < changes.Count; c++)
                        {
                            var change = changes[c];
                            foreach (var pending in change.Events)
                            {
                                var state = pending.State;
                                insert.Run(eventId, state.Id, state.Version, TypeName(pending.Type),
                                    JsonSerializer.Serialize(EventPayload.From(state), StoreJson.Default.EventPayload), change.Now.UtcTicks, change.Actor);
                                finals[state.Id] = (pending, eventId);
                                eventId++;
                            }
                            changeIds[c] = eventId - 1;
                        }
                    }
                    using (var release = _primary.CreateCommand())
                    {
                        release.Transaction = tx;
                        release.CommandText = "UPDATE hosts SET deleted = 1 WHERE deleted = 0 AND id IN (SELECT value FROM json_each($ids))";
                        release.Parameters.AddWithValue("$ids", JsonSerializer.Serialize<IReadOnlyList<string>>(finals.Keys.ToList(), StoreJson.Default.IReadOnlyListString));
                        release.ExecuteNonQuery();
                    }
                    using (var upsert = new RawStatement(_primary, UpsertHost))
                    {
                        foreach (var (pending, finalEventId) in finals.Values)
                        {
                            var state = pending.State;
                            upsert.Run(state.Id, state.IpAddress, HostValidator.SortKey(state.IpAddress), state.Hostname,
                                state.Hostname.ToLowerInvariant(), state.Comment, StoreJson.WriteList(state.Tags), StoreJson.WriteList(state.Aliases),
                                SearchText(state), state.CreatedAt.UtcTicks, state.UpdatedAt.UtcTicks, state.Version,
                                pending.Type == HostEventType.Deleted ? 1L : 0L, finalEventId);
                        }
                    }
                    tx.Commit();
                    return changeIds;
                }
                catch (SqliteException e) when (e.SqliteErrorCode == 19 /* SQLITE_CONSTRAINT */)
                {
                    throw new CoreException(CoreErrorKind.Conflict, "the change conflicts with the stored state: " + e.Message);
                }
            }
        }, write: true);
    }

    private long ScalarLong(SqliteTransaction tx, string sql)
    {
        using var command = _primary.CreateCommand();
        command.Transaction = tx;
        command.CommandText = sql;
        return Convert.ToInt64(command.ExecuteScalar());
    }

    private static string SearchText(HostEntry e) =>
        string.Join('\n', [e.IpAddress, e.Hostname, .. e.Aliases, e.Comment ?? "", .. e.Tags]).ToLowerInvariant();

    private static string TypeName(HostEventType type) => type.ToString().ToLowerInvariant();

    // ---- history ----

    private const string EventColumns = "event_id, host_id, version, type, payload, occurred_at, actor, horizon, folded";

    public IReadOnlyList<HostEvent> History(string id)
    {
        return Guard(() =>
        {
            using var connection = Open();
            using var command = connection.CreateCommand();
            command.CommandText = $"SELECT {EventColumns} FROM events WHERE host_id = $id ORDER BY version";
            command.Parameters.AddWithValue("$id", id);
            return ReadEvents(command);
        });
    }

    public HostEntry? GetAsOf(string id, DateTimeOffset asOf)
    {
        return Guard(() =>
        {
            using var connection = Open();
            using var command = connection.CreateCommand();
            command.CommandText = $"SELECT {EventColumns} FROM events " +
                                  "WHERE host_id = $id AND occurred_at <= $at ORDER BY version DESC LIMIT 1";
            command.Parameters.AddWithValue("$id", id);
            command.Parameters.AddWithValue("$at", asOf.UtcTicks);
            var last = ReadEvents(command).SingleOrDefault();
            return last is null || last.Type == HostEventType.Deleted ? null : last.State;
        });
    }

    public IReadOnlyList<HostEntry> ListAsOf(DateTimeOffset asOf)
    {
        return Guard(() =>
        {
            using var connection = Open();
            using var command = connection.CreateCommand();
            command.CommandText = """
                SELECT e.event_id, e.host_id, e.version, e.type, e.payload, e.occurred_at, e.actor, e.horizon, e.folded
                FROM events e
                JOIN (SELECT host_id, MAX(version) AS version FROM events WHERE occurred_at <= $at GROUP BY host_id) last
                  ON e.host_id = last.host_id AND e.version = last.version
                WHERE e.type <> 'deleted'
                """;
            command.Parameters.AddWithValue("$at", asOf.UtcTicks);
            return ReadEvents(command).Select(e => e.State).Order(HostQuery.Order).ToList();
        });
    }

    // ---- compaction ----

    public IReadOnlyList<CompactedHost> Compact(string? hostId, long? overThreshold, DateTimeOffset horizon, bool dryRun) =>
        Guard(() => CompactUnguarded(hostId, overThreshold, horizon, dryRun), write: !dryRun);

    private List<CompactedHost> CompactUnguarded(string? hostId, long? overThreshold, DateTimeOffset horizon, bool dryRun)
    {
        lock (_primaryLock)
        {
            using var tx = _primary.BeginTransaction();
            var result = new List<CompactedHost>();
            // Per host: all its events, those at or before the horizon, and the last of those (the one kept).
            using (var select = _primary.CreateCommand())
            {
                select.Transaction = tx;
                select.CommandText = """
                    SELECT e.host_id, COUNT(*), SUM(e.occurred_at <= $horizon), MAX(CASE WHEN e.occurred_at <= $horizon THEN e.version END),
                           h.version
                    FROM events e JOIN hosts h ON h.id = e.host_id
                    WHERE ($id IS NULL OR e.host_id = $id)
                    GROUP BY e.host_id
                    HAVING ($threshold IS NULL OR COUNT(*) > $threshold) AND ($id IS NOT NULL OR SUM(e.occurred_at <= $horizon) >= 2)
                    ORDER BY e.host_id
                    """;
                select.Parameters.AddWithValue("$horizon", horizon.UtcTicks);
                select.Parameters.AddWithValue("$id", (object?)hostId ?? DBNull.Value);
                select.Parameters.AddWithValue("$threshold", (object?)overThreshold ?? DBNull.Value);
                using var reader = select.ExecuteReader();
                while (reader.Read())
                {
                    var (total, folding) = (reader.GetInt64(1), reader.GetInt64(2));
                    var after = folding >= 2 ? total - folding + 1 : total;
                    result.Add(new CompactedHost(reader.GetString(0), total, after, reader.GetInt64(4)));
                }
            }
            if (!dryRun)
            {
                using var mark = _primary.CreateCommand();
                mark.Transaction = tx;
                // The last event at or before the horizon becomes the baseline, standing for all of them.
                mark.CommandText = """
                    UPDATE events SET horizon = $horizon,
                        folded = (SELECT SUM(f.folded) FROM events f WHERE f.host_id = $id AND f.occurred_at <= $horizon)
                    WHERE host_id = $id AND version = (SELECT MAX(version) FROM events WHERE host_id = $id AND occurred_at <= $horizon);
                    DELETE FROM events WHERE host_id = $id AND occurred_at <= $horizon
                        AND version < (SELECT MAX(version) FROM events WHERE host_id = $id AND occurred_at <= $horizon);
                    """;
                mark.Parameters.AddWithValue("$horizon", horizon.UtcTicks);
                var id = mark.Parameters.Add(new SqliteParameter("$id", null));
                foreach (var host in result.Where(h => h.EventsAfter < h.EventsBefore))
                {
                    id.Value = host.HostId;
                    mark.ExecuteNonQuery();
                }
                tx.Commit();
            }
            return result;
        }
    }

    public DateTimeOffset? CompactionHorizon(string? hostId) => Guard(() =>
    {
        using var connection = Open();
        using var command = connection.CreateCommand();
        command.CommandText = hostId is null
            ? "SELECT MAX(horizon) FROM events"
            : "SELECT MAX(horizon) FROM events WHERE host_id = $id";
        if (hostId is not null) command.Parameters.AddWithValue("$id", hostId);
        return command.ExecuteScalar() is long ticks ? new DateTimeOffset(ticks, TimeSpan.Zero) : (DateTimeOffset?)null;
    });

    // ---- snapshots ----

    public SnapshotInfo CreateSnapshot(string name, string trigger, IReadOnlyList<HostEntry> entries, string renderedHosts, DateTimeOffset now)
    {
        return Guard(() =>
        {
            var info = new SnapshotInfo(Ulid.New(now), name, trigger, now, entries.Count);
            var blob = CompressEntries(entries);
            lock (_primaryLock) InsertSnapshot(null, info, blob, renderedHosts);
            return info;
        }, write: true);
    }

    private static byte[] CompressEntries(IReadOnlyList<HostEntry> entries)
    {
        var compressed = new MemoryStream();
        using (var gzip = new GZipStream(compressed, CompressionLevel.Fastest))
            JsonSerializer.Serialize(gzip, entries.Select(SnapshotEntry.From).ToList(), StoreJson.Default.ListSnapshotEntry);
        return compressed.ToArray();
    }

    /// <summary>Under the primary lock; inside <paramref name="tx"/> when given (a snapshot taken with a change).</summary>
    private void InsertSnapshot(SqliteTransaction? tx, SnapshotInfo info, byte[] entries, string renderedHosts)
    {
        using var command = _primary.CreateCommand();
        command.Transaction = tx;
        command.CommandText = "INSERT INTO snapshots (id, name, trigger, created_at, entry_count, entries, hosts_text) " +
                              "VALUES ($id, $name, $trigger, $at, $count, $entries, $text)";
        command.Parameters.AddWithValue("$id", info.Id);
        command.Parameters.AddWithValue("$name", info.Name);
        command.Parameters.AddWithValue("$trigger", info.Trigger);
        command.Parameters.AddWithValue("$at", info.CreatedAt.UtcTicks);
        command.Parameters.AddWithValue("$count", info.EntryCount);
        command.Parameters.AddWithValue("$entries", entries);
        command.Parameters.AddWithValue("$text", renderedHosts);
        command.ExecuteNonQuery();
    }

    public IReadOnlyList<SnapshotInfo> ListSnapshots(int offset, int? limit)
    {
        return Guard(() =>
        {
            using var connection = Open();
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT id, name, trigger, created_at, entry_count FROM snapshots " +
                                  "ORDER BY created_at DESC, id DESC LIMIT $limit OFFSET $offset";
            command.Parameters.AddWithValue("$limit", limit ?? -1);
            command.Parameters.AddWithValue("$offset", offset);
            using var reader = command.ExecuteReader();
            var result = new List<SnapshotInfo>();
            while (reader.Read()) result.Add(ReadSnapshot(reader));
            return result;
        });
    }

    public SnapshotInfo? GetSnapshot(string snapshotId)
    {
        return Guard(() =>
        {
            using var connection = Open();
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT id, name, trigger, created_at, entry_count FROM snapshots WHERE id = $id";
            command.Parameters.AddWithValue("$id", snapshotId);
            using var reader = command.ExecuteReader();
            return reader.Read() ? ReadSnapshot(reader) : null;
        });
    }

    public IReadOnlyList<HostEntry> GetSnapshotEntries(string snapshotId)
    {
        return Guard(() =>
        {
            using var connection = Open();
            using var command = connection.CreateCommand();
            command.CommandText = "SELECT entries FROM snapshots WHERE id = $id";
            command.Parameters.AddWithValue("$id", snapshotId);
            if (command.ExecuteScalar() is not byte[] blob) return [];
            using var gzip = new GZipStream(new MemoryStream(blob), CompressionMode.Decompress);
            var entries = JsonSerializer.Deserialize(gzip, StoreJson.Default.ListSnapshotEntry) ?? [];
            return entries.Select(e => e.ToHost()).ToList();
        });
    }

    public bool DeleteSnapshot(string snapshotId)
    {
        return Guard(() =>
        {
            lock (_primaryLock)
            {
                using var command = _primary.CreateCommand();
                command.CommandText = "DELETE FROM snapshots WHERE id = $id";
                command.Parameters.AddWithValue("$id", snapshotId);
                return command.ExecuteNonQuery() > 0;
            }
        }, write: true);
    }

    public int PruneSnapshots(int maxCount, DateTimeOffset olderThan)
    {
        return Guard(() =>
        {
            lock (_primaryLock)
            {
                using var command = _primary.CreateCommand();
                command.CommandText = """
                    DELETE FROM snapshots WHERE created_at < $before
                       OR id NOT IN (SELECT id FROM snapshots ORDER BY created_at DESC, id DESC LIMIT $max)
                    """;
                command.Parameters.AddWithValue("$before", olderThan.UtcTicks);
                command.Parameters.AddWithValue("$max", maxCount);
                return command.ExecuteNonQuery();
            }
        }, write: true);
    }

    // ---- reading rows ----

    private static List<HostEntry> ReadAll(SqliteCommand command)
    {
        using var reader = command.ExecuteReader();
        var result = new List<HostEntry>();
        while (reader.Read()) result.Add(ReadHost(reader));
        return result;
    }

    private static HostEntry ReadHost(SqliteDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3),
        StoreJson.ReadList(r.GetString(4)),
        StoreJson.ReadList(r.GetString(5)),
        new DateTimeOffset(r.GetInt64(6), TimeSpan.Zero), new DateTimeOffset(r.GetInt64(7), TimeSpan.Zero), r.GetInt64(8));

    private static List<HostEvent> ReadEvents(SqliteCommand command)
    {
        using var reader = command.ExecuteReader();
        var result = new List<HostEvent>();
        while (reader.Read())
        {
            var hostId = reader.GetString(1);
            var version = reader.GetInt64(2);
            var payload = JsonSerializer.Deserialize(reader.GetString(4), StoreJson.Default.EventPayload)!;
            result.Add(new HostEvent(reader.GetInt64(0), hostId, version,
                Enum.Parse<HostEventType>(reader.GetString(3), ignoreCase: true), payload.ToHost(hostId, version),
                new DateTimeOffset(reader.GetInt64(5), TimeSpan.Zero), reader.GetString(6),
                reader.IsDBNull(7) ? null : new DateTimeOffset(reader.GetInt64(7), TimeSpan.Zero), reader.GetInt64(8)));
        }
        return result;
    }

    private static SnapshotInfo ReadSnapshot(SqliteDataReader r) =>
        new(r.GetString(0), r.GetString(1), r.GetString(2), new DateTimeOffset(r.GetInt64(3), TimeSpan.Zero), r.GetInt32(4));

    public void Dispose()
    {
        lock (_primaryLock)
        {
            _getById.Dispose();
            _findLive.Dispose();
            // Checkpoint so the database file is whole on its own after a clean stop. On a full disk
            // it cannot be; the WAL then stays beside the file and is replayed at the next open.
            try { Pragma(_primary, "PRAGMA wal_checkpoint(TRUNCATE)"); }
            catch (SqliteException e) when (SqliteFaults.IsNoSpace(e) || SqliteFaults.IsCorrupt(e)) { }
            _primary.Dispose();
        }
        SqliteConnection.ClearPool(new SqliteConnection(_connectionString));
    }
}
