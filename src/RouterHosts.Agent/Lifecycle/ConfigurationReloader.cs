using System.Text.Json;
using Microsoft.Extensions.Hosting.Systemd;
using RouterHosts.Agent.Configuration;
using RouterHosts.Agent.Grpc;
using RouterHosts.Agent.Systemd;
using RouterHosts.Transport.Server;

namespace RouterHosts.Agent.Lifecycle;

/// <summary>
/// SIGHUP: reads the configuration again and applies what can change while
/// connections stay open: the TLS certificate, key and CA bundle (for new
/// handshakes), the hooks, the access policy (for calls that start afterwards),
/// the log level, the snapshot policy and the edit-session idle timeout. A file
/// that fails its checks is not taken: the one in use stays and the log says why.
/// Keys that need a restart (listeners, database, hosts file, limits) are named in
/// the log. In --dev mode there is no file: the dev TLS files are read again.
/// </summary>
public sealed class ConfigurationReloader(
    Func<LoadedConfiguration>? load,
    LoadedConfiguration running,
    ServerTlsMaterial? tls,
    AgentServices services,
    AccessPolicy policy,
    AgentLogging logging,
    AgentNotifier notifier,
    ILogger log)
{
    private readonly SemaphoreSlim _gate = new(1, 1);
    private long _completed;

    /// <summary>How many reloads have finished (taken or refused).</summary>
    public long Completed => Interlocked.Read(ref _completed);

    public async Task ReloadAsync()
    {
        await _gate.WaitAsync();
        try
        {
            notifier.Notify("RELOADING=1\n" + AgentNotifier.MonotonicUsec());
            Reload();
        }
        catch (Exception e)
        {
            log.LogError(e, "reload failed; the running configuration stays in use");
        }
        finally
        {
            notifier.Notify(ServiceState.Ready); // with the STATUS= line
            Interlocked.Increment(ref _completed);
            _gate.Release();
        }
    }

    private void Reload()
    {
        LoadedConfiguration next;
        AgentSettings? settings = null;
        if (load is null)
        {
            log.LogInformation("SIGHUP: reloading the TLS files");
            next = running;
        }
        else
        {
            log.LogInformation("SIGHUP: reloading {File}", running.Sources.File);
            try
            {
                next = load();
            }
            catch (ConfigurationError e)
            {
                foreach (var problem in e.Problems) log.LogError("reload refused: {Problem}", problem);
                log.LogError("the running configuration stays in use (nothing was changed)");
                return;
            }
            var problems = AgentOptionsValidator.ValidateValues(next.Options, next.Sources, out settings);
            if (settings is null)
            {
                foreach (var problem in problems) log.LogError("reload refused: {Problem}", problem);
                log.LogError("the running configuration stays in use (nothing was changed)");
                return;
            }
        }
        var options = next.Options;

        if (tls is not null)
        {
            if (options.Listen.Count > 0 && options.Tls is { } files) ReloadTls(files, next.Sources);
            else log.LogWarning("the new configuration has no TCP listeners or no tls section; the TLS material in use stays until a restart");
        }

        if (settings is null) return; // --dev: only the TLS files

        services.Hooks.Reconfigure(settings.Hooks);
        log.LogInformation("hooks: {Success} on success, {Failure} on failure", options.Hooks.OnSuccess.Count, options.Hooks.OnFailure.Count);
        policy.Replace(options.Access);
        log.LogInformation("{Policy}", policy.Describe());
        logging.Level = settings.LogLevel;
        services.Writer.SnapshotPolicy = settings.Snapshots;
        services.Engine.Sessions.IdleTimeout = settings.EditSessionIdleTimeout;

        var needRestart = RestartOnlyKeys(running.Options, options);
        if (needRestart.Count > 0)
            log.LogWarning("changed keys that take effect only after a restart: {Keys}", string.Join(", ", needRestart));
    }

    private void ReloadTls(TlsOptions files, ConfigurationSources sources)
    {
        var problems = AgentOptionsValidator.CheckTls(files, sources).ToList();
        if (problems.Count == 0)
        {
            try
            {
                var material = TlsMaterial.Load(files.Certificate, files.Key, files.Ca);
                tls!.Replace(material);
                log.LogInformation("TLS: now serving certificate {Subject} serial {Serial} (valid until {NotAfter:u}); CA bundle of {Count}",
                    material.Certificate.Subject, material.Certificate.SerialNumber, material.Certificate.NotAfter.ToUniversalTime(),
                    material.TrustedCa.Count);
                return;
            }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException
                                           or System.Security.Cryptography.CryptographicException)
            {
                problems.Add($"{sources.File}: tls: {e.Message}");
            }
        }
        foreach (var problem in problems) log.LogError("TLS reload refused: {Problem}", problem);
        log.LogError("TLS: keeping the certificate in use (serial {Serial}) and its CA bundle", tls!.Current.Certificate.SerialNumber);
    }

    private static List<string> RestartOnlyKeys(AgentOptions before, AgentOptions after)
    {
        var changed = new List<string>();
        void Compare<T>(string key, T a, T b, System.Text.Json.Serialization.Metadata.JsonTypeInfo<T> json)
        {
            if (JsonSerializer.Serialize(a, json) != JsonSerializer.Serialize(b, json)) changed.Add(key);
        }
        Compare("listen", before.Listen, after.Listen, AgentJson.Default.ListString);
        Compare("unix_socket", before.UnixSocket, after.UnixSocket, AgentJson.Default.UnixSocketOptions!);
        Compare("database", before.Database, after.Database, AgentJson.Default.String);
        Compare("database_password_file", before.DatabasePasswordFile ?? "", after.DatabasePasswordFile ?? "", AgentJson.Default.String);
        Compare("database_password_env", before.DatabasePasswordEnv ?? "", after.DatabasePasswordEnv ?? "", AgentJson.Default.String);
        Compare("hosts_file", before.HostsFile, after.HostsFile, AgentJson.Default.HostsFileOptions);
        Compare("max_message_bytes", before.MaxMessageBytes, after.MaxMessageBytes, AgentJson.Default.Int32);
        Compare("shutdown_grace_seconds", before.ShutdownGraceSeconds, after.ShutdownGraceSeconds, AgentJson.Default.Int32);
        if ((before.Tls is null) != (after.Tls is null)) changed.Add("tls");
        return changed;
    }
}
