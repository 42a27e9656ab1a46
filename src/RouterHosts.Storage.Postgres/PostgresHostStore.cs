using Npgsql;
using RouterHosts.Core.Hosts;
using RouterHosts.Core.Storage;

namespace RouterHosts.Storage.Postgres;

/// <summary>
/// The PostgreSQL backend. Every call takes a pooled connection. Writes from any number
/// of agents sharing the database are serialised by one transaction-scoped advisory
/// lock: under it the next event ids are known (the log has no gaps and commits in id
/// order, so a reader that catches up by id misses nothing), and the events and the
/// projection change in the same transaction. Timestamps are timestamptz (microseconds).
/// A server that cannot be reached is <see cref="CoreErrorKind.Unavailable"/>, naming the database.
/// </summary>
public sealed class PostgresHostStore : IHostStore, ISharedStore, IAgentRegistry, ISharedEditSessions
{
    /// <summary>The channel every commit notifies (delivered when the transaction commits, with the change id).</summary>
    public const string ChangesChannel = "routerhosts_changes";

    /// <summary>The advisory lock key every writer takes ("rh" "wr").</summary>
    private const long WriteLock = 0x7268_7772;

    private readonly NpgsqlDataSource _source;

    public PostgresHostStore(NpgsqlConnectionStringBuilder settings)
    {
        Description = PostgresUrl.Describe(settings);
        _source = NpgsqlDataSource.Create(settings);
        try { Run(() => { PostgresSchema.Migrate(_source); return 0; }); }
        catch
        {
            _source.Dispose();
            throw;
        }
    }

    /// <summary>The database as a log line may show it: no password.</summary>
    public string Description { get; }
    public string BackendName => "postgres";

    private const string HostColumns = "id, ip_address, hostname, comment, tags, aliases, created_at, updated_at, version, deleted";
    private const string EventColumns = "event_id, host_id, version, type, ip_address, hostname, comment, tags, aliases, created_at, updated_at, occurred_at, actor";
    private const string ReadEventColumns = EventColumns + ", horizon, folded";

    /// <summary>Runs a database call, turning what the server says into the core's errors.</summary>
    private T Run<T>(Func<T> call)
    {
        try
        {
            return call();
        }
        catch (PostgresException e) when (e.SqlState is PostgresErrorCodes.UniqueViolation or PostgresErrorCodes.SerializationFailure
                                              or PostgresErrorCodes.DeadlockDetected)
        {
            throw new CoreException(CoreErrorKind.Conflict, "the change conflicts with the stored state: " + e.MessageText);
        }
        catch (Exception e) when (e is NpgsqlException { InnerException: not PostgresException } or PostgresException { IsTransient: true }
                                      or TimeoutException)
        {
            throw new CoreException(CoreErrorKind.Unavailable, $"the database {Description} is unavailable: {e.Message}");
        }
    }

    private NpgsqlCommand Command(NpgsqlConnection connection, string sql, params (string Name, object? Value)[] parameters)
    {
        var command = new NpgsqlCommand(sql, connection);
        foreach (var (name, value) in parameters) command.Parameters.AddWithValue(name, value ?? DBNull.Value);
        return command;
    }

    private List<T> Query<T>(string sql, Func<NpgsqlDataReader, T> read, params (string Name, object? Value)[] parameters) => Run(() =>
    {
        using var connection = _source.OpenConnection();
        using var command = Command(connection, sql, parameters);
        using var reader = command.ExecuteReader();
        var result = new List<T>();
        while (reader.Read()) result.Add(read(reader));
        return result;
    });

    private object? Scalar(string sql, params (string Name, object? Value)[] parameters) => Run(() =>
    {
        using var connection = _source.OpenConnection();
        using var command = Command(connection, sql, parameters);
        return command.ExecuteScalar();
    });

    private int Execute(string sql, params (string Name, object? Value)[] parameters) => Run(() =>
    {
        using var connection = _source.OpenConnection();
        using var command = Command(connection, sql, parameters);
        return command.ExecuteNonQuery();
    });

    // ---- point lookups ----

    public HostEntry? Get(string id, bool includeDeleted = false) =>
        Query($"SELECT {HostColumns} FROM hosts WHERE id = @id{(includeDeleted ? "" : " AND NOT deleted")}", ReadHost, ("id", id))
            .SingleOrDefault();

    public HostEntry? FindLive(HostKey key) =>
        Query($"SELECT {HostColumns} FROM hosts WHERE ip_address = @ip AND hostname_lc = @name AND NOT deleted", ReadHost,
            ("ip", key.IpAddress), ("name", key.Hostname)).SingleOrDefault();

    public IReadOnlyList<HostEntry> FindLiveMany(IReadOnlyCollection<HostKey> keys) =>
        keys.Count == 0 ? [] : Query($"""
            SELECT {string.Join(", ", HostColumns.Split(", ").Select(c => "h." + c))}
            FROM unnest(@ips::text[], @names::text[]) AS k(ip, name)
            JOIN hosts h ON h.ip_address = k.ip AND h.hostname_lc = k.name COLLATE "C" AND NOT h.deleted
            """, ReadHost, ("ips", keys.Select(k => k.IpAddress).ToArray()), ("names", keys.Select(k => k.Hostname).ToArray()));

    // ---- lists ----

    public IReadOnlyList<HostEntry> List(HostQuery query)
    {
        var (sql, parameters) = ListQuery(query);
        return Query(sql, ReadHost, parameters);
    }

    /// <summary>The SELECT that answers <paramref name="query"/>, in <see cref="HostQuery.Order"/>.</summary>
    private static (string Sql, (string, object?)[] Parameters) ListQuery(HostQuery query)
    {
        var where = new List<string> { "NOT deleted" };
        var parameters = new List<(string, object?)>();
        if (query.Text is { Length: > 0 } text)
        {
            // search_text joins the fields with '\n', which no field holds (the validator
            // refuses control characters): a needle with '\n' would only match across fields.
            // LIKE '%...%' (its own characters escaped) means what strpos does, and can use the trigram index.
            where.Add(text.Contains('\n') ? "false" : "search_text LIKE @text");
            parameters.Add(("text", "%" + EscapeLike(HostQuery.Fold(text)) + "%"));
        }
        if (query.HostnamePattern is { Length: > 0 } pattern)
        {
            where.Add("(hostname_lc LIKE @like OR EXISTS (SELECT 1 FROM unnest(aliases_lc) AS alias WHERE alias LIKE @like))");
            parameters.Add(("like", LikePattern(pattern)));
        }
        if (query.IpAddress is { Length: > 0 } ip)
        {
            where.Add("ip_address = @ip");
            parameters.Add(("ip", ip));
        }
        if (query.Tag is { Length: > 0 } tag)
        {
            where.Add("tags_lc @> ARRAY[@tag]");
            parameters.Add(("tag", HostQuery.Fold(tag)));
        }
        parameters.Add(("limit", query.Limit is { } limit ? (long)limit : null));
        parameters.Add(("offset", (long)query.Offset));
        return ($"SELECT {HostColumns} FROM hosts WHERE {string.Join(" AND ", where)} " +
                "ORDER BY ip_sort, hostname_lc, id LIMIT @limit OFFSET @offset", parameters.ToArray());
    }

    /// <summary>The wildcard pattern (* and ?) as LIKE on lowercased names; LIKE's own characters escaped.</summary>
    private static string LikePattern(string pattern) => EscapeLike(HostQuery.Fold(pattern)).Replace('*', '%').Replace('?', '_');

    private static string EscapeLike(string text) => text.Replace(@"\", @"\\").Replace("%", @"\%").Replace("_", @"\_");

    public IEnumerable<HostEntry> StreamAll() => Stream(HostQuery.All);

    /// <summary>
    /// One query read row by row from the server (Npgsql holds one row at a time), so memory
    /// stays bounded; the statement's snapshot is the one consistent view, and MVCC keeps writers going.
    /// </summary>
    public IEnumerable<HostEntry> Stream(HostQuery query)
    {
        var (sql, parameters) = ListQuery(query);
        using var connection = Run(() => _source.OpenConnection());
        using var command = Command(connection, sql, parameters);
        using var reader = Run(() => command.ExecuteReader());
        while (Run(() => reader.Read())) yield return ReadHost(reader);
    }

    public int CountLive() => Convert.ToInt32(Scalar("SELECT COUNT(*) FROM hosts WHERE NOT deleted"));

    public long LastChangeId() => Convert.ToInt64(Scalar("SELECT COALESCE(MAX(event_id), 0) FROM events"));

    public void Ping() => Scalar("SELECT 1");

    public DateTimeOffset? CommittedAt(long changeId) =>
        Scalar("SELECT occurred_at FROM events WHERE event_id = @id", ("id", changeId)) is DateTime at ? new DateTimeOffset(at.Ticks, TimeSpan.Zero) : null;

    // ---- the write ----

    // The column types of the rows each write inserts, in column order (see InsertRows).
    private static readonly string[] EventTypes =
        ["bigint", "text", "bigint", "text", "text", "text", "text", "text[]", "text[]", "timestamptz", "timestamptz", "timestamptz", "text"];
    private const string HostWriteColumns = "id, ip_address, ip_sort, hostname, hostname_lc, comment, tags, tags_lc, aliases, aliases_lc, " +
                                            "search_text, created_at, updated_at, version, deleted, last_event_id";
    private static readonly string[] HostWriteTypes =
        ["text", "text", "bytea", "text", "text", "text", "text[]", "text[]", "text[]", "text[]", "text", "timestamptz", "timestamptz", "bigint", "boolean", "bigint"];
    private const string UpsertHostTail = """
        ON CONFLICT (id) DO UPDATE SET
            ip_address = excluded.ip_address, ip_sort = excluded.ip_sort, hostname = excluded.hostname,
            hostname_lc = excluded.hostname_lc, comment = excluded.comment, tags = excluded.tags, tags_lc = excluded.tags_lc,
            aliases = excluded.aliases, aliases_lc = excluded.aliases_lc, search_text = excluded.search_text,
            created_at = excluded.created_at, updated_at = excluded.updated_at,
            version = excluded.version, deleted = excluded.deleted, last_event_id = excluded.last_event_id
        """;

    public long Append(IReadOnlyList<PendingEvent> events, string actor, DateTimeOffset now, PendingSnapshot? snapshotBefore = null) =>
        AppendGroup([new PendingChange(events, actor, now, snapshotBefore)])[0];

    public IReadOnlyList<long> AppendGroup(IReadOnlyList<PendingChange> changes) => Run(() =>
    {
        using var connection = _source.OpenConnection();
        using var tx = connection.BeginTransaction();
        using (var lockCommand = Command(connection, $"SELECT pg_advisory_xact_lock({WriteLock})")) lockCommand.ExecuteNonQuery();
        foreach (var change in changes)
            if (change.SnapshotBefore is { } snapshot) InsertSnapshot(connection, snapshot.Info, snapshot.Entries, snapshot.RenderedHosts);
        // Under the lock this transaction is the only writer, so the ids the log will give are known in advance.
        long eventId;
        using (var next = Command(connection, "SELECT COALESCE(MAX(event_id), 0) + 1 FROM events"))
            eventId = Convert.ToInt64(next.ExecuteScalar());

        // The log takes the events in the order given; the projection takes each host's
        // last state. The rows the group touches first give up their keys, so that the
        // unique index judges only the final states (a key freed or swapped within the
        // group can be taken by another entry in it).
        var finals = new Dictionary<string, (PendingEvent Event, long EventId)>();
        var rows = new List<object?[]>(changes.Sum(c => c.Events.Count));
        var changeIds = new long[changes.Count];
        for (var c = 0; c < changes.Count; c++)
        {
            var change = changes[c];
            foreach (var pending in change.Events)
            {
                var s = pending.State;
                rows.Add([eventId, s.Id, s.Version, TypeName(pending.Type), s.IpAddress, s.Hostname, s.Comment, s.Tags.ToArray(),
                    s.Aliases.ToArray(), s.CreatedAt.UtcDateTime, s.UpdatedAt.UtcDateTime, change.Now.UtcDateTime, change.Actor]);
                finals[s.Id] = (pending, eventId);
                eventId++;
            }
            changeIds[c] = eventId - 1;
        }
        InsertRows(connection, "events", EventColumns, EventTypes, rows);

        using (var release = Command(connection, "UPDATE hosts SET deleted = true WHERE NOT deleted AND id = ANY (@ids)",
                   ("ids", finals.Keys.ToArray())))
            release.ExecuteNonQuery();

        InsertRows(connection, "hosts", HostWriteColumns, HostWriteTypes, finals.Values.Select(f =>
        {
            var s = f.Event.State;
            return new object?[]
            {
                s.Id, s.IpAddress, HostValidator.SortKey(s.IpAddress), s.Hostname, HostQuery.Fold(s.Hostname), s.Comment,
                s.Tags.ToArray(), s.Tags.Select(HostQuery.Fold).ToArray(), s.Aliases.ToArray(), s.Aliases.Select(HostQuery.Fold).ToArray(),
                SearchText(s), s.CreatedAt.UtcDateTime, s.UpdatedAt.UtcDateTime, s.Version, f.Event.Type == HostEventType.Deleted, f.EventId,
            };
        }).ToList(), UpsertHostTail);
        using (var notify = Command(connection, $"SELECT pg_notify('{ChangesChannel}', @id)", ("id", changeIds[^1].ToString())))
            notify.ExecuteNonQuery();
        tx.Commit();
        return (IReadOnlyList<long>)changeIds;
    });

    /// <summary>No field holds control characters (the validator refuses them), so lists travel joined by this one.</summary>
    private const char ListSeparator = '\u001f';

    /// <summary>
    /// Inserts the rows in one statement: each column goes as one array parameter, unnested by the server,
    /// so a change of any size is one parse and one round trip. A text[] column travels as its items joined
    /// by <see cref="ListSeparator"/> and is split back (an empty list is an empty string: string_to_array gives '{}').
    /// </summary>
    private static void InsertRows(NpgsqlConnection connection, string table, string columns, string[] types, IReadOnlyList<object?[]> rows,
        string tail = "")
    {
        if (rows.Count == 0) return;
        var values = string.Join(", ", types.Select((type, i) => type == "text[]" ? $"string_to_array(c{i}, chr(31))" : $"c{i}"));
        var arrays = string.Join(", ", types.Select((type, i) => $"${i + 1}::{(type == "text[]" ? "text" : type)}[]"));
        var names = string.Join(", ", types.Select((_, i) => $"c{i}"));
        using var command = new NpgsqlCommand($"INSERT INTO {table} ({columns}) SELECT {values} FROM unnest({arrays}) AS r({names}) {tail}", connection);
        for (var i = 0; i < types.Length; i++)
        {
            var at = i;
            var column = rows.Select(row => row[at]);
            command.Parameters.Add(new NpgsqlParameter
            {
                Value = types[i] switch
                {
                    "bigint" => column.Select(Convert.ToInt64).ToArray(),
                    "integer" => column.Select(Convert.ToInt32).ToArray(),
                    "boolean" => column.Select(v => (bool)v!).ToArray(),
                    "timestamptz" => column.Select(v => (DateTime)v!).ToArray(),
                    "bytea" => column.Select(v => (byte[])v!).ToArray(),
                    "text[]" => column.Select(v => string.Join(ListSeparator, (string[])v!)).ToArray(),
                    _ => (Array)column.Select(v => (string?)v).ToArray(),
                },
            });
        }
        command.ExecuteNonQuery();
    }

    private static string SearchText(HostEntry e) =>
        HostQuery.Fold(string.Join('\n', [e.IpAddress, e.Hostname, .. e.Aliases, e.Comment ?? "", .. e.Tags]));

    private static string TypeName(HostEventType type) => type.ToString().ToLowerInvariant();

    // ---- history ----

    public IReadOnlyList<HostEvent> EventsAfter(long changeId, int limit) =>
        Query($"SELECT {ReadEventColumns} FROM events WHERE event_id > @after ORDER BY event_id LIMIT @limit", ReadEvent,
            ("after", changeId), ("limit", (long)limit));

    public IReadOnlyList<HostEvent> History(string id) =>
        Query($"SELECT {ReadEventColumns} FROM events WHERE host_id = @id ORDER BY version", ReadEvent, ("id", id));

    public HostEntry? GetAsOf(string id, DateTimeOffset asOf)
    {
        var last = Query($"SELECT {ReadEventColumns} FROM events WHERE host_id = @id AND occurred_at <= @at ORDER BY version DESC LIMIT 1",
            ReadEvent, ("id", id), ("at", asOf.UtcDateTime)).SingleOrDefault();
        return last is null || last.Type == HostEventType.Deleted ? null : last.State;
    }

    public IReadOnlyList<HostEntry> ListAsOf(DateTimeOffset asOf) =>
        Query($"""
            SELECT * FROM (SELECT DISTINCT ON (host_id) {ReadEventColumns} FROM events WHERE occurred_at <= @at
                           ORDER BY host_id, version DESC) last
            WHERE type <> 'deleted'
            """, ReadEvent, ("at", asOf.UtcDateTime))
            .Select(e => e.State).Order(HostQuery.Order).ToList();

    // ---- compaction ----

    public IReadOnlyList<CompactedHost> Compact(string? hostId, long? overThreshold, DateTimeOffset horizon, bool dryRun) => Run(() =>
    {
        using var connection = _source.OpenConnection();
        using var tx = connection.BeginTransaction();
        // Under the writers' lock: no append interleaves with the fold.
        using (var lockCommand = Command(connection, $"SELECT pg_advisory_xact_lock({WriteLock})")) lockCommand.ExecuteNonQuery();
        var result = new List<CompactedHost>();
        // Per host: all its events, those at or before the horizon, and its current version.
        using (var select = Command(connection, """
                   SELECT e.host_id, COUNT(*), COUNT(*) FILTER (WHERE e.occurred_at <= @horizon), h.version
                   FROM events e JOIN hosts h ON h.id = e.host_id
                   WHERE (@id::text IS NULL OR e.host_id = @id::text)
                   GROUP BY e.host_id, h.version
                   HAVING (@threshold::bigint IS NULL OR COUNT(*) > @threshold::bigint)
                      AND (@id::text IS NOT NULL OR COUNT(*) FILTER (WHERE e.occurred_at <= @horizon) >= 2)
                   ORDER BY e.host_id
                   """, ("horizon", horizon.UtcDateTime), ("id", hostId), ("threshold", overThreshold)))
        using (var reader = select.ExecuteReader())
        {
            while (reader.Read())
            {
                var (total, folding) = (reader.GetInt64(1), reader.GetInt64(2));
                result.Add(new CompactedHost(reader.GetString(0), total, folding >= 2 ? total - folding + 1 : total, reader.GetInt64(3)));
            }
        }
        if (dryRun) return result;
        foreach (var host in result.Where(h => h.EventsAfter < h.EventsBefore))
        {
            // The last event at or before the horizon becomes the baseline, standing for all of them.
            using var mark = Command(connection, """
                UPDATE events SET horizon = @horizon,
                    folded = (SELECT SUM(f.folded) FROM events f WHERE f.host_id = @id AND f.occurred_at <= @horizon)
                WHERE host_id = @id AND version = (SELECT MAX(version) FROM events WHERE host_id = @id AND occurred_at <= @horizon);
                DELETE FROM events WHERE host_id = @id AND occurred_at <= @horizon
                    AND version < (SELECT MAX(version) FROM events WHERE host_id = @id AND occurred_at <= @horizon);
                """, ("horizon", horizon.UtcDateTime), ("id", host.HostId));
            mark.ExecuteNonQuery();
        }
        tx.Commit();
        return result;
    });

    public DateTimeOffset? CompactionHorizon(string? hostId) =>
        Scalar("SELECT MAX(horizon) FROM events WHERE @id::text IS NULL OR host_id = @id::text", ("id", hostId)) is DateTime at
            ? new DateTimeOffset(at.Ticks, TimeSpan.Zero)
            : null;

    /// <summary>Problems the health check reports; an unreachable server shows as a failed <see cref="Ping"/> instead.</summary>
    public string? Problem() => null;

    // ---- snapshots ----

    private const string SnapshotEntryColumns = "snapshot_id, position, id, ip_address, hostname, comment, tags, aliases, created_at, updated_at, version";
    private static readonly string[] SnapshotEntryTypes =
        ["text", "integer", "text", "text", "text", "text", "text[]", "text[]", "timestamptz", "timestamptz", "bigint"];

    public SnapshotInfo CreateSnapshot(string name, string trigger, IReadOnlyList<HostEntry> entries, string renderedHosts, DateTimeOffset now) => Run(() =>
    {
        var info = new SnapshotInfo(Ulid.New(now), name, trigger, now, entries.Count);
        using var connection = _source.OpenConnection();
        using var tx = connection.BeginTransaction();
        InsertSnapshot(connection, info, entries, renderedHosts);
        tx.Commit();
        return info;
    });

    /// <summary>Inside the connection's open transaction (its own, or a change's).</summary>
    private void InsertSnapshot(NpgsqlConnection connection, SnapshotInfo info, IReadOnlyList<HostEntry> entries, string renderedHosts)
    {
        using (var command = Command(connection,
                   "INSERT INTO snapshots (id, name, trigger, created_at, entry_count, hosts_text) VALUES (@id, @name, @trigger, @at, @count, @text)",
                   ("id", info.Id), ("name", info.Name), ("trigger", info.Trigger), ("at", info.CreatedAt.UtcDateTime),
                   ("count", info.EntryCount), ("text", renderedHosts)))
            command.ExecuteNonQuery();
        InsertRows(connection, "snapshot_entries", SnapshotEntryColumns, SnapshotEntryTypes, entries.Select((e, i) => new object?[]
        {
            info.Id, i, e.Id, e.IpAddress, e.Hostname, e.Comment, e.Tags.ToArray(), e.Aliases.ToArray(),
            e.CreatedAt.UtcDateTime, e.UpdatedAt.UtcDateTime, e.Version,
        }).ToList());
    }

    public IReadOnlyList<SnapshotInfo> ListSnapshots(int offset, int? limit) =>
        Query("SELECT id, name, trigger, created_at, entry_count FROM snapshots ORDER BY created_at DESC, id DESC LIMIT @limit OFFSET @offset",
            ReadSnapshot, ("limit", limit is { } l ? (long)l : null), ("offset", (long)offset));

    public SnapshotInfo? GetSnapshot(string snapshotId) =>
        Query("SELECT id, name, trigger, created_at, entry_count FROM snapshots WHERE id = @id", ReadSnapshot, ("id", snapshotId))
            .SingleOrDefault();

    public IReadOnlyList<HostEntry> GetSnapshotEntries(string snapshotId) =>
        Query("SELECT id, ip_address, hostname, comment, tags, aliases, created_at, updated_at, version FROM snapshot_entries " +
              "WHERE snapshot_id = @id ORDER BY position", ReadHost, ("id", snapshotId));

    public bool DeleteSnapshot(string snapshotId) => Execute("DELETE FROM snapshots WHERE id = @id", ("id", snapshotId)) > 0;

    public int PruneSnapshots(int maxCount, DateTimeOffset olderThan) =>
        Execute("""
            DELETE FROM snapshots WHERE created_at < @before
               OR id NOT IN (SELECT id FROM snapshots ORDER BY created_at DESC, id DESC LIMIT @max)
            """, ("before", olderThan.UtcDateTime), ("max", (long)maxCount));

    // ---- reading rows ----

    private static DateTimeOffset Time(NpgsqlDataReader r, int ordinal) => new(r.GetDateTime(ordinal).Ticks, TimeSpan.Zero);

    /// <summary>id, ip_address, hostname, comment, tags, aliases, created_at, updated_at, version (as <see cref="HostColumns"/> starts).</summary>
    private static HostEntry ReadHost(NpgsqlDataReader r) => new(
        r.GetString(0), r.GetString(1), r.GetString(2), r.IsDBNull(3) ? null : r.GetString(3),
        r.GetFieldValue<string[]>(4), r.GetFieldValue<string[]>(5), Time(r, 6), Time(r, 7), r.GetInt64(8));

    private static HostEvent ReadEvent(NpgsqlDataReader r)
    {
        var hostId = r.GetString(1);
        var version = r.GetInt64(2);
        var state = new HostEntry(hostId, r.GetString(4), r.GetString(5), r.IsDBNull(6) ? null : r.GetString(6),
            r.GetFieldValue<string[]>(7), r.GetFieldValue<string[]>(8), Time(r, 9), Time(r, 10), version);
        return new HostEvent(r.GetInt64(0), hostId, version, Enum.Parse<HostEventType>(r.GetString(3), ignoreCase: true), state,
            Time(r, 11), r.GetString(12), r.IsDBNull(13) ? null : Time(r, 13), r.GetInt64(14));
    }

    private static SnapshotInfo ReadSnapshot(NpgsqlDataReader r) =>
        new(r.GetString(0), r.GetString(1), r.GetString(2), Time(r, 3), r.GetInt32(4));

    // ---- the agents sharing the database ----

    public void Report(AgentRecord a) => Execute("""
        INSERT INTO agents (name, hosts_file, version, applied_change_id, file_current, file_error, started_at, seen_at)
        VALUES (@name, @file, @version, @applied, @current, @error, @started, now())
        ON CONFLICT (name, hosts_file) DO UPDATE SET version = excluded.version, applied_change_id = excluded.applied_change_id,
            file_current = excluded.file_current, file_error = excluded.file_error, started_at = excluded.started_at, seen_at = now()
        """, ("name", a.Name), ("file", a.HostsFile), ("version", a.Version), ("applied", a.AppliedChangeId), ("current", a.FileCurrent),
        ("error", a.FileError), ("started", a.StartedAt.UtcDateTime));

    public IReadOnlyList<AgentRecord> Agents() =>
        Query("SELECT name, hosts_file, version, applied_change_id, file_current, file_error, started_at, seen_at FROM agents ORDER BY name, hosts_file",
            r => new AgentRecord(r.GetString(0), r.GetString(1), r.GetString(2), r.GetInt64(3), r.GetBoolean(4), r.IsDBNull(5) ? null : r.GetString(5),
                Time(r, 6), Time(r, 7)));

    // ---- the database's one edit session ----

    /// <summary>A session is live while not ended and used within its idle timeout, by the database's clock.</summary>
    private const string SessionLive = "edit_session.ended_by IS NULL AND edit_session.last_used + edit_session.idle_timeout_seconds * interval '1 second' > now()";

    public SharedEditSession? TryClaim(SharedEditSession s)
    {
        // A live session recorded for the claiming agent itself is a leftover (it would know its own session).
        // One statement: the slot's row lock makes two agents' claims take turns, and the second sees the first's session.
        var claimed = Scalar($"""
            INSERT INTO edit_session (slot, session_id, owner, holder, agent, started_at, last_used, idle_timeout_seconds, staged_changes, ended_by)
            VALUES (1, @id, @owner, @holder, @agent, @started, now(), @timeout, 0, NULL)
            ON CONFLICT (slot) DO UPDATE SET session_id = excluded.session_id, owner = excluded.owner, holder = excluded.holder,
                agent = excluded.agent, started_at = excluded.started_at, last_used = now(), idle_timeout_seconds = excluded.idle_timeout_seconds,
                staged_changes = 0, ended_by = NULL
            WHERE NOT ({SessionLive}) OR edit_session.agent = excluded.agent
            RETURNING session_id
            """, ("id", s.SessionId), ("owner", s.Owner), ("holder", s.Holder), ("agent", s.Agent), ("started", s.StartedAt.UtcDateTime),
            ("timeout", (int)s.IdleTimeout.TotalSeconds));
        return claimed is null ? Read() : null;
    }

    public SharedEditSession? Read() =>
        Query($"""
            SELECT session_id, owner, holder, agent, started_at, last_used, idle_timeout_seconds, staged_changes, ended_by, {SessionLive}
            FROM edit_session WHERE slot = 1
            """,
            r => new SharedEditSession(r.GetString(0), r.GetString(1), r.GetString(2), r.GetString(3), Time(r, 4), Time(r, 5),
                TimeSpan.FromSeconds(r.GetInt32(6)), r.GetInt32(7), r.IsDBNull(8) ? null : r.GetString(8), r.GetBoolean(9))).SingleOrDefault();

    public bool Touch(string sessionId, int stagedChanges) =>
        Execute($"UPDATE edit_session SET last_used = now(), staged_changes = @count WHERE slot = 1 AND session_id = @id AND {SessionLive}",
            ("id", sessionId), ("count", stagedChanges)) > 0;

    public bool End(string sessionId, string endedBy) =>
        Execute($"UPDATE edit_session SET ended_by = @by WHERE slot = 1 AND session_id = @id AND {SessionLive}",
            ("id", sessionId), ("by", endedBy)) > 0;

    public void EndHeldBy(string agent, string endedBy) =>
        Execute($"UPDATE edit_session SET ended_by = @by WHERE slot = 1 AND agent = @agent AND {SessionLive}", ("agent", agent), ("by", endedBy));

    // ---- other agents' changes ----

    private readonly SemaphoreSlim _listenGate = new(1, 1);
    private NpgsqlConnection? _listener;

    /// <summary>
    /// Waits for a notification on <see cref="ChangesChannel"/> on a connection kept for it.
    /// A broken connection is dropped and opened again on the next call; meanwhile the caller's
    /// timeout still wakes it to catch up by change id.
    /// </summary>
    public async Task WaitForChangeAsync(TimeSpan timeout, CancellationToken ct)
    {
        await _listenGate.WaitAsync(ct);
        try
        {
            if (_listener is null)
            {
                var connection = await _source.OpenConnectionAsync(ct);
                await using (var listen = new NpgsqlCommand($"LISTEN {ChangesChannel}", connection)) await listen.ExecuteNonQueryAsync(ct);
                _listener = connection;
                return; // changes before LISTEN took effect are found by the caller's catch-up
            }
            await _listener.WaitAsync(timeout, ct);
        }
        catch (Exception e) when (e is NpgsqlException or IOException or TimeoutException or InvalidOperationException)
        {
            await DropListenerAsync();
            await Task.Delay(timeout, ct);
        }
        finally { _listenGate.Release(); }
    }

    private async Task DropListenerAsync()
    {
        if (_listener is { } connection)
        {
            _listener = null;
            try { await connection.DisposeAsync(); }
            catch (Exception e) when (e is NpgsqlException or IOException) { }
        }
    }

    public void Dispose()
    {
        _listener?.Dispose();
        _source.Dispose();
    }
}
