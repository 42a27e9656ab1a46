using Microsoft.Data.Sqlite;
using SQLitePCL;

namespace RouterHosts.Storage.Sqlite;

/// <summary>
/// One prepared statement run many times with positional parameters, straight
/// through SQLite's C API on the connection's handle. The bulk write path uses it:
/// binding by position skips the per-execution name lookups of SqliteCommand,
/// which were most of the cost of appending 100,000 events.
/// </summary>
internal sealed class RawStatement : IDisposable
{
    private readonly sqlite3 _db;
    private readonly sqlite3_stmt _statement;

    public RawStatement(SqliteConnection connection, string sql)
    {
        _db = connection.Handle!;
        Check(raw.sqlite3_prepare_v2(_db, sql, out _statement));
    }

    /// <summary>Binds the values to ?1, ?2, ... and steps the statement to completion.</summary>
    public void Run(params object?[] values)
    {
        for (var i = 0; i < values.Length; i++)
        {
            var rc = values[i] switch
            {
                null => raw.sqlite3_bind_null(_statement, i + 1),
                long l => raw.sqlite3_bind_int64(_statement, i + 1, l),
                int n => raw.sqlite3_bind_int64(_statement, i + 1, n),
                string text => raw.sqlite3_bind_text(_statement, i + 1, text),
                byte[] blob => raw.sqlite3_bind_blob(_statement, i + 1, blob),
                var other => throw new ArgumentException($"cannot bind {other.GetType()}"),
            };
            Check(rc);
        }
        var step = raw.sqlite3_step(_statement);
        raw.sqlite3_reset(_statement);
        if (step != raw.SQLITE_DONE) Check(step);
    }

    private void Check(int rc)
    {
        if (rc is raw.SQLITE_OK or raw.SQLITE_DONE or raw.SQLITE_ROW) return;
        // The same exception SqliteCommand would throw, so callers handle both alike.
        throw new SqliteException(raw.sqlite3_errmsg(_db).utf8_to_string(), rc, raw.sqlite3_extended_errcode(_db));
    }

    public void Dispose() => _statement.Dispose();
}
