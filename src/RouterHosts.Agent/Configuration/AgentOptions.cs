using Microsoft.Extensions.Configuration;

namespace RouterHosts.Agent.Configuration;

/// <summary>
/// The agent's configuration (one JSON file, default /etc/router-hosts/agent.json;
/// environment variables ROUTERHOSTS_AGENT_section__key and --section:key=value override it).
/// </summary>
public sealed class AgentOptions
{
    /// <summary>TCP endpoints ("127.0.0.1:50051", "[::1]:50051", "0.0.0.0:50051"), each with mTLS.</summary>
    [ConfigurationKeyName("listen")] public List<string> Listen { get; set; } = [];
    [ConfigurationKeyName("unix_socket")] public UnixSocketOptions? UnixSocket { get; set; }
    [ConfigurationKeyName("tls")] public TlsOptions? Tls { get; set; }
    /// <summary>A SQLite file (a path or sqlite:///path) or postgres://user@host:5432/db?pool_size=10&amp;sslmode=... (see <see cref="DatabaseUrl"/>).</summary>
    [ConfigurationKeyName("database")] public string Database { get; set; } = "/var/lib/router-hosts/hosts.db";
    /// <summary>A file holding the PostgreSQL password (first line), for a postgres:// database.</summary>
    [ConfigurationKeyName("database_password_file")] public string? DatabasePasswordFile { get; set; }
    /// <summary>The name of an environment variable holding the PostgreSQL password, for a postgres:// database.</summary>
    [ConfigurationKeyName("database_password_env")] public string? DatabasePasswordEnv { get; set; }
    [ConfigurationKeyName("hosts_file")] public HostsFileOptions HostsFile { get; set; } = new();
    [ConfigurationKeyName("hooks")] public HooksOptions Hooks { get; set; } = new();
    /// <summary>Files for the router's DNS server, written besides the hosts file (see <see cref="OutputOptions"/>).</summary>
    [ConfigurationKeyName("outputs")] public List<OutputOptions> Outputs { get; set; } = [];
    [ConfigurationKeyName("snapshots")] public SnapshotOptions Snapshots { get; set; } = new();
    [ConfigurationKeyName("edit_session")] public EditSessionOptions EditSession { get; set; } = new();
    [ConfigurationKeyName("compaction")] public CompactionOptions Compaction { get; set; } = new();
    [ConfigurationKeyName("access")] public AccessOptions Access { get; set; } = new();
    /// <summary>Metrics and traces: a Prometheus scrape endpoint and/or OTLP export; both off by default.</summary>
    [ConfigurationKeyName("telemetry")] public TelemetryOptions Telemetry { get; set; } = new();
    [ConfigurationKeyName("log_level")] public string LogLevel { get; set; } = "Information";
    [ConfigurationKeyName("max_message_bytes")] public int MaxMessageBytes { get; set; } = 4 * 1024 * 1024;
    /// <summary>How long in-flight calls get to finish on SIGTERM.</summary>
    [ConfigurationKeyName("shutdown_grace_seconds")] public int ShutdownGraceSeconds { get; set; } = 10;
    /// <summary>The agent's name among those sharing a database (with its hosts file's path); default: the machine's host name.</summary>
    [ConfigurationKeyName("name")] public string? Name { get; set; }
}

public sealed class UnixSocketOptions
{
    [ConfigurationKeyName("path")] public string Path { get; set; } = "";
    [ConfigurationKeyName("mode")] public string Mode { get; set; } = "0660";
    [ConfigurationKeyName("group")] public string? Group { get; set; }
}

public sealed class TlsOptions
{
    [ConfigurationKeyName("certificate")] public string Certificate { get; set; } = "";
    [ConfigurationKeyName("key")] public string Key { get; set; } = "";
    [ConfigurationKeyName("ca")] public string Ca { get; set; } = "";
    /// <summary>
    /// Roots the server certificate may chain to besides <see cref="Ca"/>: an ACME CA's root (Let's Encrypt's, pebble's).
    /// Client certificates are still checked against <see cref="Ca"/> alone.
    /// </summary>
    [ConfigurationKeyName("server_ca")] public string? ServerCa { get; set; }
}

public sealed class HostsFileOptions
{
    [ConfigurationKeyName("path")] public string Path { get; set; } = "/etc/hosts";
    /// <summary>"block" (own only the marked block) or "file" (own the whole file).</summary>
    [ConfigurationKeyName("mode")] public string Mode { get; set; } = "block";
    /// <summary>
    /// File mode only: take over a file that holds lines the agent did not write, keeping its loopback
    /// lines and dropping the rest. Without it the agent refuses to start on such a file.
    /// </summary>
    [ConfigurationKeyName("take_over")] public bool TakeOver { get; set; }
    /// <summary>What to do when the file no longer holds what the agent wrote: "restore" (rewrite it), "adopt" (hand edits become events) or "report".</summary>
    [ConfigurationKeyName("drift")] public string Drift { get; set; } = "restore";
}

/// <summary>One more file the live entries are written to: format hosts, dnsmasq or unbound, with hooks of its own.</summary>
public sealed class OutputOptions
{
    [ConfigurationKeyName("format")] public string Format { get; set; } = "";
    [ConfigurationKeyName("path")] public string Path { get; set; } = "";
    [ConfigurationKeyName("hooks")] public HooksOptions Hooks { get; set; } = new();
}

public sealed class TelemetryOptions
{
    [ConfigurationKeyName("prometheus")] public PrometheusOptions Prometheus { get; set; } = new();
    [ConfigurationKeyName("otlp")] public OtlpOptions Otlp { get; set; } = new();
}

/// <summary>A plain-HTTP scrape endpoint (GET /metrics) on a listener of its own, never an mTLS port.</summary>
public sealed class PrometheusOptions
{
    [ConfigurationKeyName("enabled")] public bool Enabled { get; set; }
    /// <summary>Loopback by default; anything else exposes the metrics to that network without authentication.</summary>
    [ConfigurationKeyName("listen")] public string Listen { get; set; } = "127.0.0.1:9464";
}

/// <summary>OTLP export of metrics and traces to a collector; off while <see cref="Endpoint"/> is empty.</summary>
public sealed class OtlpOptions
{
    /// <summary>E.g. http://127.0.0.1:4317 (grpc) or http://collector:4318 (http/protobuf; /v1/metrics and /v1/traces are added).</summary>
    [ConfigurationKeyName("endpoint")] public string Endpoint { get; set; } = "";
    /// <summary>"grpc" or "http/protobuf".</summary>
    [ConfigurationKeyName("protocol")] public string Protocol { get; set; } = "grpc";
}

public sealed class HooksOptions
{
    [ConfigurationKeyName("on_success")] public List<HookOptions> OnSuccess { get; set; } = [];
    [ConfigurationKeyName("on_failure")] public List<HookOptions> OnFailure { get; set; } = [];
}

public sealed class HookOptions
{
    [ConfigurationKeyName("name")] public string Name { get; set; } = "";
    [ConfigurationKeyName("command")] public string Command { get; set; } = "";
    [ConfigurationKeyName("timeout_seconds")] public double TimeoutSeconds { get; set; } = 30;
}

public sealed class SnapshotOptions
{
    [ConfigurationKeyName("max_snapshots")] public int MaxSnapshots { get; set; } = 50;
    [ConfigurationKeyName("max_age_days")] public int MaxAgeDays { get; set; } = 30;
}

/// <summary>Automatic compaction: every interval, fold each host's events older than keep_days into a baseline.</summary>
public sealed class CompactionOptions
{
    [ConfigurationKeyName("automatic")] public bool Automatic { get; set; }
    /// <summary>History younger than this stays event by event (as_of reads reach back this far); fractions allowed.</summary>
    [ConfigurationKeyName("keep_days")] public double KeepDays { get; set; } = 365;
    [ConfigurationKeyName("interval_seconds")] public int IntervalSeconds { get; set; } = 86400;
}

public sealed class EditSessionOptions
{
    [ConfigurationKeyName("idle_timeout_seconds")] public int IdleTimeoutSeconds { get; set; } = 900;
}

public sealed class AccessOptions
{
    /// <summary>Client certificate subject (e.g. "CN=alice") to role (reader, writer, admin). Empty: every CA-signed client is admin.</summary>
    [ConfigurationKeyName("certificates")] public Dictionary<string, string> Certificates { get; set; } = new();
    /// <summary>Unix socket peers: "uid:1000" or "gid:27" to role. Root is admin unless listed.</summary>
    [ConfigurationKeyName("unix_peers")] public Dictionary<string, string> UnixPeers { get; set; } = new();
}
