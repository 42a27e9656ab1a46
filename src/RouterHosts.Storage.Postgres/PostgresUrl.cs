using Npgsql;

namespace RouterHosts.Storage.Postgres;

/// <summary>
/// A libpq-style URL, <c>postgres://user@host:5432/db?pool_size=10&amp;sslmode=verify-full</c>,
/// turned into Npgsql's connection settings. Several hosts (<c>h1:5432,h2:5432</c>) and
/// <c>target_session_attrs</c> work as in libpq; a host that starts with '/' (percent-encoded
/// in the URL, or given as <c>?host=/run/postgresql</c>) is a Unix socket directory.
/// The password never comes from the URL: the caller passes it (from a file or a variable).
/// </summary>
public static class PostgresUrl
{
    public static readonly string[] Schemes = ["postgres", "postgresql"];
    public static readonly string[] SslModes = ["disable", "allow", "prefer", "require", "verify-ca", "verify-full"];
    public static readonly string[] Parameters = ["pool_size", "sslmode", "sslrootcert", "target_session_attrs", "connect_timeout", "host", "application_name"];
    private static readonly string[] SessionAttributes = ["any", "read-write", "read-only", "primary", "standby", "prefer-standby"];

    public static bool HasScheme(string url) =>
        Schemes.Any(s => url.StartsWith(s + "://", StringComparison.OrdinalIgnoreCase));

    /// <summary>The settings, or <see cref="ArgumentException"/> saying what is wrong (never echoing a password).</summary>
    public static NpgsqlConnectionStringBuilder Parse(string url, string? password = null)
    {
        if (!HasScheme(url)) throw new ArgumentException("is not a postgres:// URL");
        var rest = url[(url.IndexOf("://", StringComparison.Ordinal) + 3)..];
        var query = "";
        if (rest.IndexOf('?') is var q and >= 0) (rest, query) = (rest[..q], rest[(q + 1)..]);
        var slash = rest.IndexOf('/');
        var authority = slash < 0 ? rest : rest[..slash];
        var database = slash < 0 ? "" : Uri.UnescapeDataString(rest[(slash + 1)..]);
        var user = "";
        if (authority.LastIndexOf('@') is var at and >= 0)
        {
            var userInfo = authority[..at];
            authority = authority[(at + 1)..];
            if (userInfo.Contains(':'))
                throw new ArgumentException("holds a password: give it in database_password_file or database_password_env, never in the URL");
            user = Uri.UnescapeDataString(userInfo);
        }

        var builder = new NpgsqlConnectionStringBuilder
        {
            // Commands wait at most this long for the server; a stopped server fails fast instead of hanging a write.
            Timeout = 5,
            CommandTimeout = 30,
            ApplicationName = "routerhosts-agent",
        };
        if (user.Length > 0) builder.Username = user;
        if (database.Length > 0) builder.Database = database;
        if (password is not null) builder.Password = password;
        var hosts = authority.Length == 0 ? [] : authority.Split(',').Select(Uri.UnescapeDataString).ToArray();

        foreach (var pair in query.Split('&', StringSplitOptions.RemoveEmptyEntries))
        {
            var eq = pair.IndexOf('=');
            var key = Uri.UnescapeDataString(eq < 0 ? pair : pair[..eq]);
            var value = eq < 0 ? "" : Uri.UnescapeDataString(pair[(eq + 1)..]);
            switch (key)
            {
                case "pool_size":
                    builder.MaxPoolSize = int.TryParse(value, out var size) && size is >= 1 and <= 1000
                        ? size : throw new ArgumentException($"pool_size '{value}' is not a number from 1 to 1000");
                    break;
                case "sslmode":
                    builder.SslMode = value switch
                    {
                        "disable" => SslMode.Disable,
                        "allow" => SslMode.Allow,
                        "prefer" => SslMode.Prefer,
                        "require" => SslMode.Require,
                        "verify-ca" => SslMode.VerifyCA,
                        "verify-full" => SslMode.VerifyFull,
                        _ => throw new ArgumentException($"sslmode '{value}' is not one of libpq's: {string.Join(", ", SslModes)}"),
                    };
                    break;
                case "sslrootcert": builder.RootCertificate = value; break;
                case "application_name": builder.ApplicationName = value; break;
                case "connect_timeout":
                    builder.Timeout = int.TryParse(value, out var seconds) && seconds is >= 1 and <= 1024
                        ? seconds : throw new ArgumentException($"connect_timeout '{value}' is not a number of seconds from 1 to 1024");
                    break;
                case "target_session_attrs":
                    if (!SessionAttributes.Contains(value))
                        throw new ArgumentException($"target_session_attrs '{value}' is not one of {string.Join(", ", SessionAttributes)}");
                    builder.TargetSessionAttributes = value;
                    break;
                case "host": hosts = value.Split(','); break;
                default:
                    throw new ArgumentException($"has the unknown parameter '{key}' (known: {string.Join(", ", Parameters)})");
            }
        }
        if (hosts.Length == 0) throw new ArgumentException("names no host (postgres://user@host:5432/db)");
        var endpoints = hosts.Select(SplitPort).ToList();
        if (endpoints.Count == 1)
        {
            builder.Host = endpoints[0].Host;
            if (endpoints[0].Port is { } port) builder.Port = port;
        }
        else builder.Host = string.Join(',', endpoints.Select(e => e.Port is { } port ? $"{e.Host}:{port}" : e.Host));
        if (builder.Database is null or "") throw new ArgumentException("names no database (postgres://user@host:5432/db)");
        if (builder.Username is null or "") throw new ArgumentException("names no user (postgres://user@host:5432/db)");
        return builder;
    }

    private static (string Host, int? Port) SplitPort(string host)
    {
        // "[::1]:5432", "db.example:5432", "/run/postgresql:5432" (a socket directory) or no port.
        var colon = host.LastIndexOf(':');
        if (colon < 0 || (host.StartsWith('[') && host.EndsWith(']'))) return (host.Trim('[', ']'), null);
        var portText = host[(colon + 1)..];
        if (!int.TryParse(portText, out var port) || port is < 1 or > 65535)
            throw new ArgumentException($"port '{portText}' is not a number from 1 to 65535");
        return (host[..colon].Trim('[', ']'), port);
    }

    /// <summary>The URL fit for a log line: the settings without any password.</summary>
    public static string Describe(NpgsqlConnectionStringBuilder settings) =>
        $"postgres://{settings.Username}@{settings.Host}{(settings.Host!.Contains(',') ? "" : ":" + settings.Port)}/{settings.Database}";
}
