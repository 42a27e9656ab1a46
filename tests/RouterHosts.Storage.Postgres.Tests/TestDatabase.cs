using Npgsql;
using RouterHosts.Storage.Postgres;

namespace RouterHosts.Storage.Postgres.Tests;

/// <summary>
/// A fresh, empty database on the test server, dropped on dispose. The server is the
/// one ROUTERHOSTS_TEST_POSTGRES_URL names (tests/postgres/throwaway.sh start prints it);
/// without it the test fails: these tests never pass without having run.
/// </summary>
public sealed class TestDatabase : IDisposable
{
    public const string UrlVariable = "ROUTERHOSTS_TEST_POSTGRES_URL";

    private readonly string? _serverUrl;

    /// <param name="serverUrl">The server's URL; by default the one ROUTERHOSTS_TEST_POSTGRES_URL names.</param>
    public TestDatabase(string? serverUrl = null)
    {
        _serverUrl = serverUrl;
        Name = "rh_test_" + Guid.NewGuid().ToString("N");
        using var admin = new NpgsqlConnection(ServerSettings().ConnectionString);
        admin.Open();
        using var create = new NpgsqlCommand($"CREATE DATABASE {Name}", admin);
        create.ExecuteNonQuery();
    }

    public string Name { get; }

    /// <summary>The server's URL as given, with this database's name in place of the server's.</summary>
    public string Url
    {
        get
        {
            var server = _serverUrl ?? ServerUrl();
            var q = server.IndexOf('?');
            var query = q >= 0 ? server[q..] : "";
            var path = q >= 0 ? server[..q] : server;
            var slash = path.IndexOf('/', path.IndexOf("://", StringComparison.Ordinal) + 3);
            return (slash < 0 ? path : path[..slash]) + "/" + Name + query;
        }
    }

    public NpgsqlConnectionStringBuilder Settings => PostgresUrl.Parse(Url);

    public PostgresHostStore OpenStore() => new(Settings);

    public static string ServerUrl() =>
        Environment.GetEnvironmentVariable(UrlVariable) is { Length: > 0 } url
            ? url
            : throw new InvalidOperationException(
                $"{UrlVariable} is not set: these tests need a PostgreSQL server. Start the throwaway one with " +
                $"`tests/postgres/throwaway.sh start` and export the variable it prints.");

    private NpgsqlConnectionStringBuilder ServerSettings() => PostgresUrl.Parse(_serverUrl ?? ServerUrl());

    /// <summary>Runs SQL in this database (for tests that look at or change the schema directly).</summary>
    public object? Scalar(string sql)
    {
        using var connection = new NpgsqlConnection(Settings.ConnectionString + ";Pooling=false");
        connection.Open();
        using var command = new NpgsqlCommand(sql, connection);
        return command.ExecuteScalar();
    }

    public void Dispose()
    {
        NpgsqlConnection.ClearAllPools();
        using var admin = new NpgsqlConnection(ServerSettings().ConnectionString);
        admin.Open();
        using var drop = new NpgsqlCommand($"DROP DATABASE IF EXISTS {Name} WITH (FORCE)", admin);
        drop.ExecuteNonQuery();
    }
}
