using System.Net.Sockets;
using System.Runtime.InteropServices;
using Microsoft.Extensions.Hosting.Systemd;
using RouterHosts.Agent.Configuration;
using RouterHosts.Agent.Grpc;
using RouterHosts.Agent.Lifecycle;
using RouterHosts.Agent.Systemd;
using RouterHosts.Core.Hosts;
using RouterHosts.Core.HostsFile;
using RouterHosts.Transport.Server;

namespace RouterHosts.Agent;

/// <summary>
/// How the agent was started: the configuration as loaded and as parsed, how to read it again
/// (SIGHUP; null in --dev) and --dev's directory.
/// </summary>
public sealed record AgentStartup(LoadedConfiguration Configuration, AgentSettings Settings, Func<LoadedConfiguration>? Reload,
    string? DevDataDirectory);

/// <summary>
/// Runs the agent on the .NET Generic Host (ASP.NET Core's WebApplication: Kestrel and the gRPC
/// service). Start: open the database, bring the hosts file up to date, bind the listeners
/// (<see cref="AgentLifecycle"/> then secures the Unix socket), then READY=1 with the STATUS= line
/// (the package's <see cref="SystemdLifetime"/>, through <see cref="AgentNotifier"/>). SIGHUP:
/// <see cref="ConfigurationReloader"/>. SIGTERM: STOPPING=1, stop accepting, give calls in flight
/// shutdown_grace_seconds, wait for their handlers (and any commit) to return, make sure the hosts
/// file matches the database, close the database.
/// </summary>
public static class AgentHost
{
    /// <summary>How long, after the grace period, handlers get to unwind (a batch commit in progress) before the database closes.</summary>
    private static readonly TimeSpan UnwindTimeout = TimeSpan.FromSeconds(5);

    public static async Task<int> RunAsync(AgentStartup startup)
    {
        var settings = startup.Settings;
        var notifier = AgentNotifier.FromEnvironment();
        var logging = new AgentLogging(settings.LogLevel);
        using var logs = logging.CreateFactory(AgentLogging.JournalAttached());
        var log = logs.CreateLogger("RouterHosts.Agent");
        var status = new ServiceStatus(notifier, logs.CreateLogger("RouterHosts.Systemd"));
        notifier.StatusFrom(status.Describe);
        // Registered first: without a handler SIGHUP would end the process. Before the agent is ready there is nothing to reload.
        // SIGHUP means reload to this agent even when it was started with SIGHUP ignored (nohup, a shell job): .NET would
        // leave an ignored signal ignored, and every reload would be lost without a word.
        var hangupWasIgnored = Posix.RestoreDefaultAction(Posix.SIGHUP);
        Func<Task>? reload = null;
        using var sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            context.Cancel = true;
            if (Volatile.Read(ref reload) is { } run) _ = Task.Run(run);
            else log.LogWarning("SIGHUP while starting: ignored (the configuration being started is the one just read)");
        });
        if (hangupWasIgnored) log.LogInformation("SIGHUP was ignored when the agent started (nohup?); it reloads the configuration all the same");
        using var background = new CancellationTokenSource();
        // Pings start before the (possibly long) first render of the hosts file.
        var watchdog = status.RunWatchdogAsync(background.Token);
        if (notifier.WatchdogTimeout is { } watchdogTimeout)
            log.LogInformation("systemd watchdog: {Timeout:0.###} s, pinging every {Interval:0.###} s", watchdogTimeout.TotalSeconds,
                watchdogTimeout.TotalSeconds / 2);

        var beforeOpen = SinceProcessStart();
        ServerTlsMaterial? tls;
        AgentServices services;
        try
        {
            tls = LoadTls(startup);
            services = OpenServices(startup, logs);
        }
        catch (StartFailure e)
        {
            await AgentLogging.WriteFatalAsync(e.Message);
            return e.ExitCode;
        }
        status.Engine = services.Engine;
        var policy = new AccessPolicy(settings.Options.Access);
        var calls = new InFlightCalls();
        var reloader = new ConfigurationReloader(startup.Reload, startup.Configuration, tls, services, policy, logging, notifier,
            logs.CreateLogger("RouterHosts.Reload"));
        var agentInfo = new AgentInfo { Name = services.Name, Registry = services.Store as Core.Storage.IAgentRegistry, Tls = tls };
        var building = System.Diagnostics.Stopwatch.StartNew();
        var app = Build(settings, services, agentInfo, tls, policy, calls, notifier, logs,
            started: () => Volatile.Write(ref reload, reloader.ReloadAsync));
        var built = building.Elapsed;

        var waiting = System.Diagnostics.Stopwatch.StartNew();
        TimeSpan checkedIn;
        try
        {
            checkedIn = await services.IntegrityChecked;
        }
        catch (Exception e) when (e is CoreException or IOException or UnauthorizedAccessException or Microsoft.Data.Sqlite.SqliteException)
        {
            // As when the check runs at open (OpenServices): nothing was served and the hosts file is untouched.
            var corrupt = e is CoreException { Reason: RouterHostsReasons.DatabaseCorrupt };
            await AgentLogging.WriteFatalAsync(corrupt ? $"refusing to start: {e.Message}" : $"cannot open the database {settings.Options.Database}: {e.Message}");
            await background.CancelAsync();
            await app.DisposeAsync();
            await services.DisposeAsync();
            return corrupt ? AgentCommandLine.ExitDatabaseCorrupt : 1;
        }
        var checkWaited = waiting.Elapsed;

        // The file must reflect the database before we say we are ready; a hand edit made while the agent was stopped
        // is drift, handled first (in report mode the file is left alone, stale, until the next write or a repair).
        var rendering = System.Diagnostics.Stopwatch.StartNew();
        await services.Drift.CheckAtStartAsync(CancellationToken.None);
        // Current already when the check found the file holding what the agent wrote for the database's latest change.
        var file = services.HostsFile.State is { Current: true } current ? current : await services.Writer.RenderAtStartAsync();
        var rendered = rendering.Elapsed;
        if (services.Drift.LeavesFileAlone) log.LogWarning("hosts file {Path} drifted while the agent was stopped; left as it is (hosts_file.drift: report)", file.Path);
        else if (!file.Current) log.LogWarning("hosts file {Path} is stale: {Error}", file.Path, file.LastError);
        var registration = agentInfo.Registry is { } registry
            ? new AgentRegistration(registry, services.Name, agentInfo.Version, agentInfo.StartedAt, services.HostsFile)
            : null;
        registration?.Report(); // before READY: the others see this agent, and what its file holds, once it serves
        var listening = System.Diagnostics.Stopwatch.StartNew();
        try
        {
            await app.StartAsync(); // binds the listeners; READY=1 once started
        }
        catch (Exception e) when (e is IOException or SocketException or UnauthorizedAccessException or ArgumentException
                                       or System.Net.HttpListenerException)
        {
            await AgentLogging.WriteFatalAsync($"cannot listen: {e.Message}");
            await background.CancelAsync();
            await app.DisposeAsync();
            await services.DisposeAsync();
            return 1;
        }
        if (notifier.TakeLastError() is { } notifyError) log.LogWarning("{Problem}", notifyError);
        LogStartTimes(beforeOpen, services.OpenedIn, (checkedIn, checkWaited), built, rendered, listening.Elapsed, log);

        var loops = new[]
        {
            watchdog,
            status.RunStatusLoopAsync(services.Engine, background.Token),
            services.Store is Core.Storage.ISharedStore shared
                ? SharedStoreFollower.RunAsync(shared, services.Writer, logs.CreateLogger("RouterHosts.SharedStore"), background.Token)
                : Task.CompletedTask,
            Task.Run(() => AutomaticCompaction.RunAsync(services.Engine, settings.Options.Compaction, TimeProvider.System,
                logs.CreateLogger("RouterHosts.Compaction"), background.Token)),
            Task.Run(() => services.Drift.RunAsync(background.Token)),
            registration?.RunAsync(logs.CreateLogger("RouterHosts.SharedStore"), background.Token) ?? Task.CompletedTask,
        };
        LogReady(startup, file.Path, status.Describe(), policy, log);

        await app.WaitForShutdownAsync();
        await FinishAsync(app, services, calls, background, loops, log);
        log.LogInformation("stopped cleanly: database closed, hosts file {Path} matches it", file.Path);
        return 0;
    }

    /// <summary>
    /// After Kestrel has stopped (calls that outlived the grace period were aborted): wait for their
    /// handlers, which may still be inside a commit, then end the loops, bring the hosts file up to
    /// date and close the database.
    /// </summary>
    private static async Task FinishAsync(WebApplication app, AgentServices services, InFlightCalls calls,
        CancellationTokenSource background, Task[] loops, ILogger log)
    {
        if (!await calls.WaitIdleAsync(UnwindTimeout))
            log.LogWarning("{Count} call handler(s) still running after the grace period ({Methods}); closing anyway",
                calls.Count, string.Join(", ", calls.Methods));
        if (services.Engine.CurrentEdit is { } session)
            log.LogWarning("stopping with an open edit session held by {Holder} since {Started:u}: its {Count} staged change(s) are discarded",
                session.Holder, session.StartedAt.UtcDateTime, session.StagedChanges);
        services.Engine.AbandonEdit($"agent {services.Label} stopping at {DateTimeOffset.UtcNow:u}");
        await background.CancelAsync();
        await Task.WhenAll(loops.Select(Quietly));
        await BringHostsFileUpToDateAsync(services, log);
        await app.DisposeAsync();
        await services.DisposeAsync();
    }

    /// <summary>Why the agent cannot start, and the exit code that says so (see <see cref="AgentCommandLine"/>).</summary>
    private sealed class StartFailure(int exitCode, string message) : Exception(message)
    {
        public int ExitCode { get; } = exitCode;
    }

    private static ServerTlsMaterial? LoadTls(AgentStartup startup)
    {
        if (startup.Settings.Tls is not { } files) return null;
        try { return new ServerTlsMaterial(TlsMaterial.Load(files.Certificate, files.Key, files.Ca, files.ServerCa)); }
        catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException
                                       or System.Security.Cryptography.CryptographicException)
        {
            throw new StartFailure(2, $"{startup.Configuration.Sources.File}: tls: {e.Message}");
        }
    }

    private static AgentServices OpenServices(AgentStartup startup, ILoggerFactory logs)
    {
        var options = startup.Settings.Options;
        try
        {
            return AgentServices.Create(startup.Settings, logs);
        }
        catch (CoreException e) when (e.Reason == RouterHostsReasons.DatabaseCorrupt)
        {
            // Restarting cannot help, and serving a damaged database would fail reads and writes one by one.
            throw new StartFailure(AgentCommandLine.ExitDatabaseCorrupt, $"refusing to start: {e.Message}");
        }
        catch (ForeignHostsFileException e)
        {
            throw new StartFailure(2, $"{startup.Configuration.Sources.File}: hosts_file:path: " +
                                      AgentOptionsValidator.ForeignLinesAdvice(options.HostsFile.Path, e.Foreign));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or Microsoft.Data.Sqlite.SqliteException or CoreException
                                       or Npgsql.NpgsqlException or InvalidOperationException)
        {
            throw new StartFailure(1, $"cannot open the database {options.Database}: {e.Message}");
        }
    }

    /// <summary>The host: Kestrel with the listeners, the gRPC service and what its handlers need, the lifetime.</summary>
    private static WebApplication Build(AgentSettings settings, AgentServices services, AgentInfo agentInfo, ServerTlsMaterial? tls, AccessPolicy policy,
        InFlightCalls calls, AgentNotifier notifier, ILoggerFactory logs, Action started)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions { ContentRootPath = AppContext.BaseDirectory, Args = [] });
        builder.Logging.ClearProviders();
        builder.Services.AddSingleton(logs);
        builder.Services.Configure<HostOptions>(o => o.ShutdownTimeout = settings.ShutdownGrace);
        // Under systemd (or whoever set $NOTIFY_SOCKET) the package's lifetime says READY=1 and STOPPING=1 and stops on
        // SIGTERM; otherwise the console lifetime stops on SIGTERM, SIGINT and SIGQUIT.
        builder.Services.AddSingleton<ISystemdNotifier>(notifier);
        if (notifier.IsEnabled) builder.Services.AddSingleton<IHostLifetime, SystemdLifetime>();
        else builder.Services.Configure<ConsoleLifetimeOptions>(o => o.SuppressStatusMessages = true);
        builder.Services.AddSingleton(services.Engine);
        builder.Services.AddSingleton(services.Drift);
        builder.Services.AddSingleton(services.Outputs);
        builder.Services.AddAgentTelemetry(settings.Options.Telemetry, services);
        builder.Services.AddSingleton(agentInfo);
        builder.Services.AddSingleton(policy);
        builder.Services.AddSingleton(calls);
        builder.Services.AddHostedService(_ => new AgentLifecycle(settings, calls, started, logs.CreateLogger("RouterHosts.Agent")));
        builder.Services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = settings.Options.MaxMessageBytes;
            grpc.MaxSendMessageSize = settings.Options.MaxMessageBytes;
            grpc.EnableDetailedErrors = false;
            grpc.Interceptors.Add<CallGuard>();
        });
        var log = logs.CreateLogger("RouterHosts.Agent");
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.Http2.MaxStreamsPerConnection = 100;
            kestrel.Limits.Http2.InitialStreamWindowSize = 1024 * 1024;
            kestrel.Limits.Http2.InitialConnectionWindowSize = 2 * 1024 * 1024;
            kestrel.Limits.MaxRequestBodySize = null; // gRPC enforces the per-message limit itself
            kestrel.Limits.MinRequestBodyDataRate = null; // streams may idle (watch, slow pipelines)
            if (tls is not null)
                foreach (var endpoint in settings.Listen) GrpcListeners.AddTcp(kestrel, endpoint, tls, log);
            if (settings.UnixSocket is { } socket) GrpcListeners.AddUnixSocket(kestrel, socket);
        });
        var app = builder.Build();
        app.Use(calls.CountCalls);
        app.MapGrpcService<HostsServiceAdapter>();
        return app;
    }

    /// <summary>Where the start went (the bench reads this line): from process start to listening, and the parts that grow with the hosts.</summary>
    private static void LogStartTimes(TimeSpan beforeOpen, (TimeSpan Database, TimeSpan Lines) opened, (TimeSpan Took, TimeSpan Waited) check,
        TimeSpan built, TimeSpan rendered, TimeSpan listening, ILogger log) =>
        log.LogInformation("started in {Total:0} ms from process start: runtime start and configuration {Before:0} ms, database opened " +
                           "{Database:0} ms, hosts file lines loading started {Lines:0} ms, web host built {Built:0} ms, database integrity " +
                           "check {Check:0} ms beside it ({Waited:0} ms waited for), hosts file checked (and rendered if not current) " +
                           "{Rendered:0} ms, listeners started {Listening:0} ms",
            SinceProcessStart().TotalMilliseconds, beforeOpen.TotalMilliseconds, opened.Database.TotalMilliseconds, opened.Lines.TotalMilliseconds,
            built.TotalMilliseconds, check.Took.TotalMilliseconds, check.Waited.TotalMilliseconds, rendered.TotalMilliseconds,
            listening.TotalMilliseconds);

    private static TimeSpan SinceProcessStart()
    {
        using var self = System.Diagnostics.Process.GetCurrentProcess();
        return DateTime.Now - self.StartTime;
    }

    private static void LogReady(AgentStartup startup, string hostsFile, string status, AccessPolicy policy, ILogger log)
    {
        var settings = startup.Settings;
        var options = settings.Options;
        log.LogInformation("RouterHosts agent {Version} ready: listening on {Endpoints}; database {Database}; hosts file {Hosts} ({Mode} mode); {Status}; {Policy}",
            new AgentInfo().Version,
            string.Join(", ", options.Listen.Concat(settings.UnixSocket is { } socket ? [$"unix:{socket.Path}"] : [])),
            DatabaseUrl.Describe(options.Database), hostsFile, options.HostsFile.Mode, status, policy.Describe());
        if (startup.DevDataDirectory is { } devDirectory)
        {
            Console.WriteLine($"""
                RouterHosts agent (dev) ready on {string.Join(", ", options.Listen)}.
                Connect from PowerShell:  Connect-RouterHostsAgent -ConfigPath {Path.Combine(devDirectory, "client.json")}
                Client files: {Path.Combine(devDirectory, "pki")} (client.crt, client.key, client.pfx, ca.crt)
                """);
        }
    }

    private static async Task BringHostsFileUpToDateAsync(AgentServices services, ILogger log)
    {
        try
        {
            if (await services.Writer.RenderBeforeStopAsync() is { } after)
                log.LogInformation("hosts file brought up to date before stopping ({State})", after.Current ? "current" : after.LastError);
        }
        catch (Exception e)
        {
            log.LogError("could not bring the hosts file up to date before stopping: {Error}", e.Message);
        }
    }

    private static async Task Quietly(Task task)
    {
        try { await task; }
        catch (OperationCanceledException) { }
    }
}
