using System.Net.Sockets;
using System.Runtime.InteropServices;
using RouterHosts.Agent.Configuration;
using RouterHosts.Agent.Grpc;
using RouterHosts.Agent.Lifecycle;
using RouterHosts.Agent.Systemd;
using RouterHosts.Core.Hosts;
using RouterHosts.Core.HostsFile;
using RouterHosts.Transport.Server;

namespace RouterHosts.Agent;

/// <summary>How the agent was started: the validated configuration, how to read it again (SIGHUP), and --dev's directory.</summary>
public sealed record AgentStartup(LoadedConfiguration Configuration, Func<LoadedConfiguration>? Reload, string? DevDataDirectory)
{
    public AgentOptions Options => Configuration.Options;
}

/// <summary>
/// Wires the configuration, the core, Kestrel and the gRPC service, and runs until
/// stopped. Start: open the database, bring the hosts file up to date, bind the
/// listeners, then READY=1. SIGHUP: <see cref="ConfigurationReloader"/>. SIGTERM:
/// STOPPING=1, stop accepting, give calls in flight shutdown_grace_seconds, wait for
/// their handlers (and any commit) to return, make sure the hosts file matches the
/// database, close the database.
/// </summary>
public static class AgentHost
{
    /// <summary>How long, after the grace period, handlers get to unwind (a batch commit in progress) before the database closes.</summary>
    private static readonly TimeSpan UnwindTimeout = TimeSpan.FromSeconds(5);

    public static async Task<int> RunAsync(AgentStartup startup)
    {
        var options = startup.Options;
        using var notifier = SystemdNotifier.FromEnvironment();
        var logging = new AgentLogging(AgentOptionsValidator.ParseLogLevel(options.LogLevel) ?? LogLevel.Information);
        var journal = AgentLogging.JournalAttached();
        using var logs = logging.CreateFactory(journal);
        var log = logs.CreateLogger("RouterHosts.Agent");
        var status = new ServiceStatus(notifier, logs.CreateLogger("RouterHosts.Systemd"));
        // Registered first: without a handler SIGHUP would end the process. Before the agent is ready there is nothing to reload.
        Func<Task>? reload = null;
        using var sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            context.Cancel = true;
            if (Volatile.Read(ref reload) is { } run) _ = Task.Run(run);
            else log.LogWarning("SIGHUP while starting: ignored (the configuration being started is the one just read)");
        });
        using var lifetimeStop = new CancellationTokenSource();
        // Pings start before the (possibly long) first render of the hosts file.
        var watchdog = status.RunWatchdogAsync(lifetimeStop.Token);
        if (notifier.WatchdogTimeout is { } watchdogTimeout)
            log.LogInformation("systemd watchdog: {Timeout:0.###} s, pinging every {Interval:0.###} s", watchdogTimeout.TotalSeconds,
                watchdogTimeout.TotalSeconds / 2);

        ServerTlsMaterial? tls = null;
        if (options.Listen.Count > 0)
        {
            try { tls = new ServerTlsMaterial(TlsMaterial.Load(options.Tls!.Certificate, options.Tls.Key, options.Tls.Ca)); }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException
                                           or System.Security.Cryptography.CryptographicException)
            {
                await AgentLogging.WriteFatalAsync($"{startup.Configuration.Sources.File}: tls: {e.Message}");
                return 2;
            }
        }

        AgentServices services;
        try
        {
            services = AgentServices.Create(options, logs);
        }
        catch (CoreException e) when (e.Reason == CoreReasons.DatabaseCorrupt)
        {
            // Restarting cannot help, and serving a damaged database would fail reads and writes one by one.
            await Console.Error.WriteLineAsync($"routerhosts-agent: refusing to start: {e.Message}");
            return AgentCommandLine.ExitDatabaseCorrupt;
        }
        catch (ForeignHostsFileException e)
        {
            await Console.Error.WriteLineAsync($"routerhosts-agent: {startup.Configuration.Sources.File}: hosts_file:path: " +
                                               AgentOptionsValidator.ForeignLinesAdvice(options.HostsFile.Path, e.Foreign));
            return 2;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or Microsoft.Data.Sqlite.SqliteException or CoreException
                                       or Npgsql.NpgsqlException or InvalidOperationException)
        {
            await AgentLogging.WriteFatalAsync($"cannot open the database {options.Database}: {e.Message}");
            return 1;
        }
        status.Engine = services.Engine;
        var policy = new AccessPolicy(options.Access);
        var calls = new InFlightCalls();

        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory, Args = [] });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(logs);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = TimeSpan.FromSeconds(options.ShutdownGraceSeconds));
        builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.Services.AddSingleton(services.Engine);
        var agentInfo = new AgentInfo { Name = services.Name };
        builder.Services.AddSingleton(agentInfo);
        builder.Services.AddSingleton(policy);
        builder.Services.AddSingleton(calls);
        builder.Services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = options.MaxMessageBytes;
            grpc.MaxSendMessageSize = options.MaxMessageBytes;
            grpc.EnableDetailedErrors = false;
            grpc.Interceptors.Add<CallGuard>();
        });

        UnixSocketListener? socket = null;
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.Http2.MaxStreamsPerConnection = 100;
            kestrel.Limits.Http2.InitialStreamWindowSize = 1024 * 1024;
            kestrel.Limits.Http2.InitialConnectionWindowSize = 2 * 1024 * 1024;
            kestrel.Limits.MaxRequestBodySize = null; // gRPC enforces the per-message limit itself
            kestrel.Limits.MinRequestBodyDataRate = null; // streams may idle (watch, slow pipelines)
            foreach (var endpoint in options.Listen)
                GrpcListeners.AddTcp(kestrel, AgentOptionsValidator.ParseEndpoint(endpoint, out _)!, tls!, log);
            if (options.UnixSocket is { Path.Length: > 0 } unix)
            {
                socket = new UnixSocketListener(unix.Path, AgentOptionsValidator.ParseMode(unix.Mode)!.Value, unix.Group);
                GrpcListeners.AddUnixSocket(kestrel, socket);
            }
        });

        var app = builder.Build();
        app.MapGrpcService<HostsServiceAdapter>();

        // The file must reflect the database before we say we are ready.
        var file = await services.HostsFile.EnsureCurrentAsync(0, CancellationToken.None);
        if (!file.Current) log.LogWarning("hosts file {Path} is stale: {Error}", file.Path, file.LastError);
        var registration = services.Store is Core.Storage.IAgentRegistry registry
            ? new AgentRegistration(registry, services.Name, agentInfo.Version, agentInfo.StartedAt, services.HostsFile)
            : null;
        registration?.Report(); // before READY: the others see this agent, and what its file holds, once it serves

        try
        {
            await app.StartAsync();
            if (socket is not null) GrpcListeners.SecureUnixSocket(socket);
        }
        catch (Exception e) when (e is IOException or SocketException or UnauthorizedAccessException or ArgumentException)
        {
            await AgentLogging.WriteFatalAsync($"cannot listen: {e.Message}");
            await lifetimeStop.CancelAsync();
            await app.DisposeAsync();
            await services.DisposeAsync();
            return 1;
        }

        var lifetime = app.Services.GetRequiredService<IHostApplicationLifetime>();
        lifetime.ApplicationStopping.Register(() =>
        {
            notifier.Notify("STOPPING=1\nSTATUS=stopping");
            var inFlight = calls.Methods; // before BeginStopping, which ends watches at once
            calls.BeginStopping();
            log.LogInformation("stopping: no new connections; {Count} call(s) in flight{Methods}, given up to {Grace} s to finish",
                inFlight.Count, inFlight.Count == 0 ? "" : $" ({string.Join(", ", inFlight)})", options.ShutdownGraceSeconds);
        });

        var reloader = new ConfigurationReloader(startup.Reload, startup.Configuration, tls, services, policy, logging, notifier,
            status.Describe, logs.CreateLogger("RouterHosts.Reload"));
        Volatile.Write(ref reload, reloader.ReloadAsync);

        // The first render of a large hosts file leaves garbage behind; give it back before idling (a router is short of memory).
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        var statusText = status.Describe();
        notifier.Notify("READY=1\nSTATUS=" + statusText);
        if (notifier.TakeLastError() is { } notifyError) log.LogWarning("{Problem}", notifyError);
        var statusLoop = status.RunStatusLoopAsync(services.Engine, lifetimeStop.Token);
        var follower = services.Store is Core.Storage.ISharedStore shared
            ? SharedStoreFollower.RunAsync(shared, services.Writer, logs.CreateLogger("RouterHosts.SharedStore"), lifetimeStop.Token)
            : Task.CompletedTask;
        var registering = registration?.RunAsync(logs.CreateLogger("RouterHosts.SharedStore"), lifetimeStop.Token) ?? Task.CompletedTask;
        var compaction = Task.Run(() => AutomaticCompaction.RunAsync(services.Engine, options.Compaction, TimeProvider.System,
            logs.CreateLogger("RouterHosts.Compaction"), lifetimeStop.Token));
        log.LogInformation("RouterHosts agent {Version} ready: listening on {Endpoints}; database {Database}; hosts file {Hosts} ({Mode} mode); {Status}; {Policy}",
            agentInfo.Version,
            string.Join(", ", options.Listen.Concat(socket is null ? [] : [$"unix:{socket.Path}"])), DatabaseUrl.Describe(options.Database),
            file.Path, options.HostsFile.Mode, statusText, policy.Describe());
        if (startup.DevDataDirectory is { } devDirectory)
        {
            Console.WriteLine($"""
                RouterHosts agent (dev) ready on {string.Join(", ", options.Listen)}.
                Connect from PowerShell:  Connect-RouterHostsAgent -ConfigPath {Path.Combine(devDirectory, "client.json")}
                Client files: {Path.Combine(devDirectory, "pki")} (client.crt, client.key, client.pfx, ca.crt)
                """);
        }

        await app.WaitForShutdownAsync();

        // Kestrel has stopped: calls that outlived the grace period were aborted. Their handlers
        // may still be inside a commit; the database closes only after they return.
        if (!await calls.WaitIdleAsync(UnwindTimeout))
            log.LogWarning("{Count} call handler(s) still running after the grace period ({Methods}); closing anyway",
                calls.Count, string.Join(", ", calls.Methods));
        if (services.Engine.Sessions.Current is { } session)
            log.LogWarning("stopping with an open edit session held by {Holder} since {Started:u}: its {Count} staged change(s) are discarded",
                session.Holder, session.StartedAt.UtcDateTime, session.StagedChanges);
        services.Engine.Sessions.Abandon($"agent {services.Label} stopping at {DateTimeOffset.UtcNow:u}");
        await lifetimeStop.CancelAsync();
        await Task.WhenAll(Quietly(statusLoop), Quietly(watchdog), Quietly(follower), Quietly(compaction), Quietly(registering));
        try
        {
            var before = services.HostsFile.State;
            if (!before.Current || before.RenderedChangeId < services.Store.LastChangeId())
            {
                var after = await services.HostsFile.EnsureCurrentAsync(0, CancellationToken.None);
                log.LogInformation("hosts file brought up to date before stopping ({State})", after.Current ? "current" : after.LastError);
            }
        }
        catch (Exception e)
        {
            log.LogError("could not bring the hosts file up to date before stopping: {Error}", e.Message);
        }
        await app.DisposeAsync();
        await services.DisposeAsync();
        log.LogInformation("stopped cleanly: database closed, hosts file {Path} matches it", file.Path);
        return 0;
    }

    private static async Task Quietly(Task task)
    {
        try { await task; }
        catch (OperationCanceledException) { }
    }
}
