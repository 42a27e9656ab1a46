using Npgsql;
using RouterHosts.Storage.Postgres;

namespace RouterHosts.Agent.Configuration;

/// <summary>
/// What the <c>database</c> key names: a SQLite file (<c>sqlite:///var/lib/router-hosts/hosts.db</c>
/// or a plain path) or a PostgreSQL database (<c>postgres://user@host:5432/db?pool_size=10&amp;sslmode=verify-full</c>,
/// its password from <c>database_password_file</c> or <c>database_password_env</c>). Any other
/// scheme is refused. Only a value with "://" is a URL, so every plain path keeps working.
/// </summary>
public sealed record DatabaseUrl(string? SqlitePath, string? PostgresUrl)
{
    public const string SqliteScheme = "sqlite://";

    public bool IsPostgres => PostgresUrl is not null;

    /// <summary>The value of the key, classified; <see cref="ArgumentException"/> for an unknown scheme.</summary>
    public static DatabaseUrl Parse(string value)
    {
        if (value.StartsWith(SqliteScheme, StringComparison.OrdinalIgnoreCase)) return new(value[SqliteScheme.Length..], null);
        if (Storage.Postgres.PostgresUrl.HasScheme(value)) return new(null, value);
        if (value.IndexOf("://", StringComparison.Ordinal) is var end and > 0)
            throw new ArgumentException(
                $"'{value[..end]}' is not a database scheme this agent knows (use sqlite:///path/hosts.db, a plain path, or postgres://user@host:5432/db)");
        return new(value, null);
    }

    /// <summary>The value with a relative SQLite path made absolute (URLs and unknown schemes stay as given).</summary>
    public static string ResolveRelative(string value, Func<string, string> resolvePath)
    {
        try
        {
            var url = Parse(value);
            return url.SqlitePath is { Length: > 0 } path ? resolvePath(path) : value;
        }
        catch (ArgumentException)
        {
            return value; // the validator reports it, naming the key
        }
    }

    /// <summary>The database for a log line: the full path of a SQLite file, or the URL (which never holds a password).</summary>
    public static string Describe(string value) => Parse(value).SqlitePath is { } path ? Path.GetFullPath(path) : value;

    /// <summary>PostgreSQL's settings with the password read from where the configuration says.</summary>
    public static NpgsqlConnectionStringBuilder PostgresSettings(AgentOptions options) =>
        Storage.Postgres.PostgresUrl.Parse(Parse(options.Database).PostgresUrl!, ReadPassword(options));

    /// <summary>The password from database_password_file (its first line) or the variable database_password_env; null when neither is set.</summary>
    public static string? ReadPassword(AgentOptions options)
    {
        if (options.DatabasePasswordFile is { Length: > 0 } file)
            return File.ReadAllText(file).Split('\n')[0].TrimEnd('\r');
        if (options.DatabasePasswordEnv is { Length: > 0 } variable)
            return Environment.GetEnvironmentVariable(variable);
        return null;
    }
}
