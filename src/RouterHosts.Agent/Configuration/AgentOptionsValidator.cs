using System.Globalization;
using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;
using RouterHosts.Agent.Grpc;
using RouterHosts.Core.Hooks;
using RouterHosts.Core.HostsFile;
using RouterHosts.Core.Writes;
using RouterHosts.Transport;
using RouterHosts.Transport.Server;

namespace RouterHosts.Agent.Configuration;

/// <summary>
/// Every check of the agent's configuration, in one place: values first (ports,
/// modes, log levels, roles, positive numbers), then what the paths point at
/// (directories that must exist and be writable, certificates that must be
/// readable, a key that must match its certificate). Each problem names the key
/// and the file; all are reported at once.
/// </summary>
public static class AgentOptionsValidator
{
    public const int MinMessageBytes = 64 * 1024;
    public const int MaxMessageBytes = 256 * 1024 * 1024;
    public const int MaxShutdownGraceSeconds = 600;
    public const double MaxHookTimeoutSeconds = 3600;

    public static readonly string[] LogLevels = ["Trace", "Debug", "Information", "Warning", "Error", "Critical", "None"];

    /// <summary>Values and paths; <paramref name="settings"/>, the values parsed, when nothing is wrong (null otherwise).</summary>
    public static IReadOnlyList<string> Validate(AgentOptions options, ConfigurationSources sources, out AgentSettings? settings)
    {
        var problems = ValidateValues(options, sources, out settings).ToList();
        if (problems.Count == 0) problems.AddRange(CheckPaths(options, sources));
        if (problems.Count > 0) settings = null;
        return problems;
    }

    // ---- values ----

    /// <summary>The values, each parsed once; <paramref name="settings"/> holds them when nothing is wrong (null otherwise).</summary>
    public static IReadOnlyList<string> ValidateValues(AgentOptions o, ConfigurationSources s, out AgentSettings? settings)
    {
        var problems = new List<string>();
        void Problem(string key, string message) => problems.Add(s.Describe(key, message));

        var endpoints = new List<IPEndPoint>();
        for (var i = 0; i < o.Listen.Count; i++)
        {
            var text = o.Listen[i];
            if (ParseEndpoint(text, out var why) is { } endpoint)
            {
                if (endpoints.Contains(endpoint)) Problem($"listen:{i}", $"'{text}' is listed twice");
                endpoints.Add(endpoint);
            }
            else Problem($"listen:{i}", why!);
        }
        var unixPath = o.UnixSocket?.Path;
        if (o.Listen.Count == 0 && string.IsNullOrWhiteSpace(unixPath))
            Problem("listen", "nothing to listen on: give TCP endpoints in listen (mTLS) and/or unix_socket:path");
        if (o.Listen.Count > 0)
        {
            if (o.Tls is null) Problem("tls", "TCP listeners need tls:certificate, tls:key and tls:ca");
            else
            {
                if (string.IsNullOrWhiteSpace(o.Tls.Certificate)) Problem("tls:certificate", "is required for TCP listeners (the server certificate, PEM)");
                if (string.IsNullOrWhiteSpace(o.Tls.Key)) Problem("tls:key", "is required for TCP listeners (the server key, PEM)");
                if (string.IsNullOrWhiteSpace(o.Tls.Ca)) Problem("tls:ca", "is required for TCP listeners (the CA bundle clients must chain to, PEM)");
            }
        }
        UnixSocketListener? unixSocket = null;
        if (o.UnixSocket is { } unix)
        {
            if (string.IsNullOrWhiteSpace(unix.Path)) Problem("unix_socket:path", "is required when unix_socket is given");
            if (ParseMode(unix.Mode) is { } socketMode) unixSocket = new UnixSocketListener(unix.Path, socketMode, unix.Group);
            else Problem("unix_socket:mode", $"'{unix.Mode}' is not a file mode (write it in octal like \"0660\"; at most 0777)");
            if (unix.Group is { Length: > 0 } group)
            {
                try { UnixGroups.GroupId(group); }
                catch (ArgumentException) { Problem("unix_socket:group", $"there is no group '{group}' on this system"); }
            }
        }

        var database = DatabaseValues(o, Problem);
        if (string.IsNullOrWhiteSpace(o.HostsFile.Path)) Problem("hosts_file:path", "is required");
        var hostsFileMode = ParseHostsFileMode(o.HostsFile.Mode);
        if (hostsFileMode is null)
            Problem("hosts_file:mode", $"'{o.HostsFile.Mode}' is not block (own only the marked block) or file (own the whole file)");
        if (o.HostsFile.TakeOver && hostsFileMode != HostsFileMode.File)
            Problem("hosts_file:take_over", "applies to hosts_file:mode file only (block mode keeps every line outside its block anyway)");
        if (database?.SqlitePath is { Length: > 0 } sqlitePath && !string.IsNullOrWhiteSpace(o.HostsFile.Path) &&
            Path.GetFullPath(sqlitePath) == Path.GetFullPath(o.HostsFile.Path))
            Problem("hosts_file:path", "is the same file as database");

        var hookNames = new Dictionary<string, string>(StringComparer.Ordinal);
        var hookSet = new Dictionary<string, List<HookDefinition>> { ["on_success"] = [], ["on_failure"] = [] };
        foreach (var (list, hooks) in new[] { ("on_success", o.Hooks.OnSuccess), ("on_failure", o.Hooks.OnFailure) })
        {
            for (var i = 0; i < hooks.Count; i++)
            {
                var hook = hooks[i];
                var key = $"hooks:{list}:{i}";
                if (string.IsNullOrWhiteSpace(hook.Name)) Problem($"{key}:name", "every hook needs a name");
                else if (!hookNames.TryAdd(hook.Name, key)) Problem($"{key}:name", $"'{hook.Name}' is also the name of {hookNames[hook.Name]}");
                if (string.IsNullOrWhiteSpace(hook.Command)) Problem($"{key}:command", "every hook needs a command (run with /bin/sh -c)");
                if (!(hook.TimeoutSeconds > 0 && hook.TimeoutSeconds <= MaxHookTimeoutSeconds))
                    Problem($"{key}:timeout_seconds", $"{Number(hook.TimeoutSeconds)} is not a number of seconds above 0 and at most {MaxHookTimeoutSeconds}");
                hookSet[list].Add(new HookDefinition(hook.Name, hook.Command, TimeSpan.FromSeconds(hook.TimeoutSeconds)));
            }
        }

        if (o.Snapshots.MaxSnapshots < 1) Problem("snapshots:max_snapshots", $"{o.Snapshots.MaxSnapshots} must be at least 1");
        if (o.Snapshots.MaxAgeDays < 1) Problem("snapshots:max_age_days", $"{o.Snapshots.MaxAgeDays} must be at least 1");
        if (!(o.Compaction.KeepDays > 0 && o.Compaction.KeepDays <= 36500))
            Problem("compaction:keep_days", $"{o.Compaction.KeepDays} is not above 0 and at most 36500 (fractions of a day are allowed)");
        if (o.Compaction.IntervalSeconds is < 1 or > 366 * 86400)
            Problem("compaction:interval_seconds", $"{o.Compaction.IntervalSeconds} is not between 1 and {366 * 86400} (a year)");
        if (o.EditSession.IdleTimeoutSeconds is < 1 or > 7 * 86400)
            Problem("edit_session:idle_timeout_seconds", $"{o.EditSession.IdleTimeoutSeconds} is not between 1 and {7 * 86400} (a week)");

        foreach (var (key, problem) in AccessPolicy.Check(o.Access)) Problem(key, problem);

        var logLevel = ParseLogLevel(o.LogLevel);
        if (logLevel is null)
            Problem("log_level", $"'{o.LogLevel}' is not a log level (use {string.Join(", ", LogLevels)})");
        if (o.MaxMessageBytes is < MinMessageBytes or > MaxMessageBytes)
            Problem("max_message_bytes", $"{o.MaxMessageBytes} is not between {MinMessageBytes} (64 KiB) and {MaxMessageBytes} (256 MiB)");
        if (o.ShutdownGraceSeconds is < 1 or > MaxShutdownGraceSeconds)
            Problem("shutdown_grace_seconds", $"{o.ShutdownGraceSeconds} is not between 1 and {MaxShutdownGraceSeconds}");

        settings = problems.Count == 0 && database is not null && hostsFileMode is { } mode && logLevel is { } level
            ? new AgentSettings(o, endpoints, o.Listen.Count > 0 ? o.Tls : null, unixSocket, database, mode,
                new HookSet(hookSet["on_success"], hookSet["on_failure"]),
                new SnapshotPolicy(o.Snapshots.MaxSnapshots, o.Snapshots.MaxAgeDays),
                TimeSpan.FromSeconds(o.EditSession.IdleTimeoutSeconds), level, TimeSpan.FromSeconds(o.ShutdownGraceSeconds))
            : null;
        return problems;
    }

    /// <summary>The database key and its password keys; null when the key cannot be read.</summary>
    private static DatabaseUrl? DatabaseValues(AgentOptions o, Action<string, string> problem)
    {
        if (string.IsNullOrWhiteSpace(o.Database))
        {
            problem("database", "is required (a SQLite file, or postgres://user@host:5432/db)");
            return null;
        }
        DatabaseUrl url;
        try { url = DatabaseUrl.Parse(o.Database); }
        catch (ArgumentException e)
        {
            problem("database", e.Message);
            return null;
        }
        if (url.SqlitePath is { Length: 0 }) problem("database", "sqlite:// names no file (write sqlite:///var/lib/router-hosts/hosts.db)");
        var hasFile = !string.IsNullOrEmpty(o.DatabasePasswordFile);
        var hasEnv = !string.IsNullOrEmpty(o.DatabasePasswordEnv);
        if (!url.IsPostgres)
        {
            if (hasFile) problem("database_password_file", "is only for a postgres:// database");
            if (hasEnv) problem("database_password_env", "is only for a postgres:// database");
            return url;
        }
        try { Storage.Postgres.PostgresUrl.Parse(url.PostgresUrl!); }
        catch (ArgumentException e) { problem("database", $"the PostgreSQL URL {e.Message}"); }
        if (hasFile && hasEnv) problem("database_password_env", "is given with database_password_file: give one of them");
        if (hasEnv)
        {
            if (!System.Text.RegularExpressions.Regex.IsMatch(o.DatabasePasswordEnv!, "^[A-Za-z_][A-Za-z0-9_]*$"))
                problem("database_password_env", $"'{o.DatabasePasswordEnv}' is not an environment variable name");
            else if (string.IsNullOrEmpty(Environment.GetEnvironmentVariable(o.DatabasePasswordEnv!)))
                problem("database_password_env", $"the variable {o.DatabasePasswordEnv} is not set");
        }
        return url;
    }

    // ---- paths ----

    /// <summary>What the paths point at. Run after <see cref="ValidateValues"/> found nothing.</summary>
    public static IReadOnlyList<string> CheckPaths(AgentOptions o, ConfigurationSources s)
    {
        var problems = new List<string>();
        void Problem(string key, string message) => problems.Add(s.Describe(key, message));

        if (o.Listen.Count > 0 && o.Tls is { } tls) problems.AddRange(CheckTls(tls, s));

        var database = DatabaseUrl.Parse(o.Database);
        if (database.SqlitePath is { } sqlitePath)
        {
            if (DirectoryProblem(Path.GetDirectoryName(Path.GetFullPath(sqlitePath))!, mayCreate: true, "the database") is { } databaseDir)
                Problem("database", databaseDir);
            else if (Directory.Exists(sqlitePath)) Problem("database", $"{sqlitePath} is a directory");
            else if (File.Exists(sqlitePath) && !Posix.Can(sqlitePath, Posix.R_OK | Posix.W_OK))
                Problem("database", $"{sqlitePath} is not readable and writable by this user");
        }
        if (o.DatabasePasswordFile is { Length: > 0 } passwordFile)
        {
            if (!File.Exists(passwordFile)) Problem("database_password_file", $"{passwordFile} does not exist");
            else if (!Posix.Can(passwordFile, Posix.R_OK)) Problem("database_password_file", $"{passwordFile} is not readable by this user");
            else if (DatabaseUrl.ReadPassword(o) is not { Length: > 0 }) Problem("database_password_file", $"{passwordFile} holds no password on its first line");
        }

        var hostsPath = Path.GetFullPath(o.HostsFile.Path);
        if (DirectoryProblem(Path.GetDirectoryName(hostsPath)!, mayCreate: false, "the hosts file (replaced atomically: a temp file is renamed over it)")
            is { } hostsDir)
            Problem("hosts_file:path", hostsDir);
        else if (Directory.Exists(hostsPath)) Problem("hosts_file:path", $"{hostsPath} is a directory");
        else if (File.Exists(hostsPath) && !Posix.Can(hostsPath, Posix.R_OK))
            Problem("hosts_file:path", $"{hostsPath} is not readable by this user");
        else if (ForeignLinesProblem(o.HostsFile, hostsPath) is { } foreign)
            Problem("hosts_file:path", foreign);

        if (o.UnixSocket is { Path.Length: > 0 } unix &&
            DirectoryProblem(Path.GetDirectoryName(Path.GetFullPath(unix.Path))!, mayCreate: true, "the Unix socket") is { } socketDir)
            Problem("unix_socket:path", socketDir);
        return problems;
    }

    /// <summary>
    /// The TLS files: each readable, the certificate a PEM certificate, the key an
    /// unencrypted PEM private key not readable by others and matching the
    /// certificate, the CA bundle PEM, and the certificate valid now, for serverAuth,
    /// and signed by the bundle. Used at start and on reload.
    /// </summary>
    public static IReadOnlyList<string> CheckTls(TlsOptions tls, ConfigurationSources s)
    {
        var problems = new List<string>();
        void Problem(string key, string message) => problems.Add(s.Describe(key, message));

        var certificateText = ReadPem(tls.Certificate, "tls:certificate", "server certificate", Problem);
        var keyText = ReadPem(tls.Key, "tls:key", "server key", Problem);
        var caText = ReadPem(tls.Ca, "tls:ca", "CA bundle", Problem);

        X509Certificate2? certificate = null;
        if (certificateText is not null)
        {
            try { certificate = X509Certificate2.CreateFromPem(certificateText); }
            catch (CryptographicException) { Problem("tls:certificate", $"{tls.Certificate} holds no PEM certificate"); }
        }
        AsymmetricAlgorithm? key = null;
        if (keyText is not null)
        {
            if (!OperatingSystem.IsWindows() && (File.GetUnixFileMode(tls.Key) & (UnixFileMode.OtherRead | UnixFileMode.OtherWrite)) != 0)
                Problem("tls:key", $"{tls.Key} is readable or writable by others; fix with: chmod o-rwx {tls.Key}");
            if (keyText.Contains("ENCRYPTED PRIVATE KEY", StringComparison.Ordinal))
                Problem("tls:key", $"{tls.Key} is encrypted; the agent needs an unencrypted PEM key (protect it with mode 0600 or 0640)");
            else key = ImportKey(keyText);
            if (key is null && !keyText.Contains("ENCRYPTED PRIVATE KEY", StringComparison.Ordinal))
                Problem("tls:key", $"{tls.Key} holds no PEM private key (PKCS#8, SEC1 EC or PKCS#1 RSA)");
        }
        X509Certificate2Collection? ca = null;
        if (caText is not null)
        {
            try { ca = TlsTrust.LoadBundle(tls.Ca); }
            catch (Exception e) when (e is CryptographicException or InvalidDataException)
            {
                Problem("tls:ca", $"{tls.Ca} holds no PEM certificate");
            }
        }
        using (key)
        {
            if (certificate is not null && key is not null && !KeyMatches(certificate, key))
                Problem("tls:key", $"{tls.Key} does not match the certificate {tls.Certificate} (was one of them replaced without the other?)");
        }
        if (certificate is not null && ca is not null && TlsTrust.Validate(certificate, ca, TlsTrust.ServerAuthOid) is { } unusable)
            Problem("tls:certificate", $"{tls.Certificate} is not usable with the CA bundle {tls.Ca}: {unusable}");
        certificate?.Dispose();
        return problems;
    }

    private static string? ReadPem(string path, string key, string what, Action<string, string> problem)
    {
        try
        {
            if (Directory.Exists(path)) { problem(key, $"{path} is a directory, not the {what}"); return null; }
            return File.ReadAllText(path);
        }
        catch (FileNotFoundException) { problem(key, $"the {what} {path} does not exist"); }
        catch (DirectoryNotFoundException) { problem(key, $"the {what} {path} does not exist (nor does its directory)"); }
        catch (UnauthorizedAccessException) { problem(key, $"the {what} {path} is not readable by this user"); }
        catch (IOException e) { problem(key, $"the {what} {path} cannot be read: {e.Message}"); }
        return null;
    }

    private static AsymmetricAlgorithm? ImportKey(string pem)
    {
        foreach (var create in new Func<AsymmetricAlgorithm>[] { ECDsa.Create, RSA.Create })
        {
            var algorithm = create();
            try
            {
                algorithm.ImportFromPem(pem);
                return algorithm;
            }
            catch (Exception e) when (e is CryptographicException or ArgumentException)
            {
                algorithm.Dispose();
            }
        }
        return null;
    }

    private static bool KeyMatches(X509Certificate2 certificate, AsymmetricAlgorithm key)
    {
        try
        {
            using var paired = key switch
            {
                ECDsa ec => certificate.CopyWithPrivateKey(ec),
                RSA rsa => certificate.CopyWithPrivateKey(rsa),
                _ => null,
            };
            return paired is not null;
        }
        catch (Exception e) when (e is ArgumentException or CryptographicException or InvalidOperationException)
        {
            return false;
        }
    }

    /// <summary>File mode on a file with lines the agent did not write, without take_over: what to do about it.</summary>
    public static string? ForeignLinesProblem(HostsFileOptions hostsFile, string hostsPath)
    {
        if (ParseHostsFileMode(hostsFile.Mode) != HostsFileMode.File || hostsFile.TakeOver) return null;
        var foreign = RouterHosts.Core.HostsFile.HostsFileRenderer.InspectFileMode(RouterHosts.Core.HostsFile.AtomicFile.TryRead(hostsPath)).Foreign;
        return foreign.Count == 0 ? null : ForeignLinesAdvice(hostsPath, foreign);
    }

    public static string ForeignLinesAdvice(string hostsPath, IReadOnlyList<string> foreign) =>
        RouterHosts.Core.HostsFile.ForeignHostsFileException.Describe(hostsPath, foreign) +
        ". Point hosts_file:path at a file of the agent's own, use hosts_file:mode block (keeps every line outside its block), " +
        "or take the file over on purpose with hosts_file:take_over true (once: --hosts_file:take_over=true): " +
        "its loopback lines (127.0.0.0/8, ::1) are kept, the others dropped";

    /// <summary>Null when files can be created in <paramref name="directory"/>; else why not.</summary>
    private static string? DirectoryProblem(string directory, bool mayCreate, string purpose)
    {
        if (File.Exists(directory)) return $"{directory} is a file, not a directory";
        if (Directory.Exists(directory))
        {
            return Posix.Can(directory, Posix.W_OK | Posix.X_OK)
                ? null
                : $"the directory {directory} is not writable by this user (needed for {purpose})";
        }
        if (!mayCreate) return $"the directory {directory} does not exist (needed for {purpose})";
        var ancestor = Path.GetDirectoryName(directory);
        while (ancestor is not null && !Directory.Exists(ancestor)) ancestor = Path.GetDirectoryName(ancestor);
        return ancestor is not null && Posix.Can(ancestor, Posix.W_OK | Posix.X_OK)
            ? null
            : $"the directory {directory} does not exist and cannot be created under {ancestor ?? "/"} (needed for {purpose})";
    }

    // ---- parsers shared with the host ----

    /// <summary>"IP:port" with a port of 1-65535 ("[::1]:50051" for IPv6); null and why when it is not one.</summary>
    public static IPEndPoint? ParseEndpoint(string? text, out string? why)
    {
        why = null;
        if (string.IsNullOrWhiteSpace(text)) { why = "an empty endpoint"; return null; }
        var colon = text.LastIndexOf(':');
        if (colon < 0 || colon == text.Length - 1)
        {
            why = $"'{text}' has no port (write IP:port, e.g. 0.0.0.0:50051 or [::]:50051)";
            return null;
        }
        var portText = text[(colon + 1)..];
        if (!int.TryParse(portText, NumberStyles.None, CultureInfo.InvariantCulture, out var port) || port is < 1 or > 65535)
        {
            why = $"'{portText}' in '{text}' is not a port (1-65535)";
            return null;
        }
        var host = text[..colon];
        if (host.StartsWith('[') && host.EndsWith(']')) host = host[1..^1];
        else if (host.Contains(':'))
        {
            why = $"'{text}': put an IPv6 address in brackets, e.g. [::1]:{port}";
            return null;
        }
        // IPAddress.TryParse takes "10" as 0.0.0.10: insist on four parts for IPv4.
        if (!IPAddress.TryParse(host, out var address) ||
            (address.AddressFamily == System.Net.Sockets.AddressFamily.InterNetwork && host.Count(c => c == '.') != 3))
        {
            why = $"'{host}' in '{text}' is not an IP address (host names are not resolved: use 0.0.0.0, 127.0.0.1, [::] ...)";
            return null;
        }
        return new IPEndPoint(address, port);
    }

    /// <summary>An octal mode of three or four digits, at most 0777 ("0660", "660"); null otherwise.</summary>
    public static UnixFileMode? ParseMode(string? text)
    {
        if (text is null || text.Length is < 3 or > 4 || text.Any(c => c is < '0' or > '7')) return null;
        var value = Convert.ToInt32(text, 8);
        return value > 0x1ff ? null : (UnixFileMode)value;
    }

    /// <summary>"block" or "file", in any case; null otherwise.</summary>
    public static HostsFileMode? ParseHostsFileMode(string? text) => text?.ToLowerInvariant() switch
    {
        "block" => HostsFileMode.Block,
        "file" => HostsFileMode.File,
        _ => null,
    };

    public static LogLevel? ParseLogLevel(string? text) =>
        LogLevels.FirstOrDefault(l => string.Equals(l, text?.Trim(), StringComparison.OrdinalIgnoreCase)) is { } name
            ? Enum.Parse<LogLevel>(name)
            : null;

    private static string Number(double value) => value.ToString("0.###", CultureInfo.InvariantCulture);
}
