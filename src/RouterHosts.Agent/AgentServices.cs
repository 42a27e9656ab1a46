using RouterHosts.Agent.Configuration;
using RouterHosts.Core;
using RouterHosts.Core.Hooks;
using RouterHosts.Core.HostsFile;
using RouterHosts.Core.Outputs;
using RouterHosts.Core.Sessions;
using RouterHosts.Core.Storage;
using RouterHosts.Core.Writes;
using RouterHosts.Storage.Postgres;
using RouterHosts.Storage.Sqlite;

namespace RouterHosts.Agent;

/// <summary>Builds the core from the configuration: store, hooks, hosts file, writer, sessions, engine.</summary>
public sealed class AgentServices : IAsyncDisposable
{
    private AgentServices(IHostStore store, HookRunner hooks, HostsFileSync hostsFile, HostWriter writer, HostsEngine engine, HostsFileDrift drift,
        string name)
    {
        Drift = drift;
        Name = name;
        Store = store;
        Writer = writer;
        Hooks = hooks;
        HostsFile = hostsFile;
        Engine = engine;
    }

    public IHostStore Store { get; }
    public HookRunner Hooks { get; }
    public HostsFileSync HostsFile { get; }
    public HostWriter Writer { get; }
    public HostsEngine Engine { get; }
    public HostsFileDrift Drift { get; }
    /// <summary>The configured DNS server outputs (none by default); they follow the engine's change feed.</summary>
    public OutputSet Outputs { get; private init; } = null!;
    /// <summary>The agent's name (the name key, or the host name): with its hosts file, how agents sharing a database tell each other apart.</summary>
    public string Name { get; }
    /// <summary>How a shared database's edit session names this agent: its name and hosts file.</summary>
    public string Label => $"{Name} ({HostsFile.State.Path})";

    /// <summary>How long opening took: the database (open, integrity check, migrations), and the hosts file until its lines load in the background.</summary>
    public (TimeSpan Database, TimeSpan Lines) OpenedIn { get; private init; }

    /// <summary>
    /// The database's integrity check, when opening left it to the start (how long it took); the start waits for it
    /// before it looks at the hosts file or says it is ready. Throws what the check found.
    /// </summary>
    public Task<TimeSpan> IntegrityChecked { get; private init; } = Task.FromResult(TimeSpan.Zero);

    public static AgentServices Create(AgentSettings settings, ILoggerFactory logs)
    {
        var options = settings.Options;
        var timer = System.Diagnostics.Stopwatch.StartNew();
        var store = OpenStore(settings);
        var database = timer.Elapsed;
        // The integrity check runs beside the rest of the start; the agent waits for it before it touches the hosts file.
        var checking = store is SqliteHostStore { IntegrityCheckDeferred: true } sqlite
            ? Task.Factory.StartNew(() =>
            {
                var check = System.Diagnostics.Stopwatch.StartNew();
                sqlite.CheckIntegrity();
                return check.Elapsed;
            }, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default)
            : Task.FromResult(TimeSpan.Zero);
        var hooks = new HookRunner(settings.Hooks, logs.CreateLogger("RouterHosts.Hooks"));
        HostsFileSync hostsFile;
        try
        {
            hostsFile = new HostsFileSync(options.HostsFile.Path, settings.HostsFileMode, store, hooks, logs.CreateLogger("RouterHosts.HostsFile"),
                options.HostsFile.TakeOver, loadAfter: checking);
        }
        catch
        {
            hooks.DisposeAsync().AsTask().GetAwaiter().GetResult();
            store.Dispose();
            throw;
        }
        var lines = timer.Elapsed - database;
        // Loading the lines leaves garbage the size of the table (every row read, every line encoded): given back once,
        // so that an agent holding 100,000 hosts does not keep the peak of its start.
        hostsFile.LinesLoaded.ContinueWith(_ => GC.Collect(2, GCCollectionMode.Aggressive, blocking: true, compacting: true), TaskScheduler.Default);
        var feed = new ChangeFeed();
        feed.Publish(store.LastChangeId());
        var clock = MicrosecondClock.System;
        var writer = new HostWriter(store, hostsFile, feed, clock) { SnapshotPolicy = settings.Snapshots };
        var name = options.Name ?? Environment.MachineName;
        var label = $"{name} ({hostsFile.State.Path})";
        var shared = store as ISharedEditSessions;
        // A session this agent held before it restarted lost its staged changes with the process.
        shared?.EndHeldBy(label, $"agent {label} restarting at {clock.GetUtcNow():u}");
        var sessions = new EditSessions(store, clock, shared, label) { IdleTimeout = settings.EditSessionIdleTimeout };
        var engine = new HostsEngine(store, writer, sessions, hostsFile, hooks, feed, clock);
        var drift = new HostsFileDrift(hostsFile, writer, store, HostsFileDrift.ParsePolicy(options.HostsFile.Drift),
            logs.CreateLogger("RouterHosts.HostsFile"), clock);
        var outputs = new OutputSet(settings.Outputs, store, feed, logs.CreateLogger("RouterHosts.Outputs"), drift.Policy, clock);
        // Outputs are rendered from the database: only once it passed its check.
        checking.ContinueWith(_ => outputs.Start(), CancellationToken.None, TaskContinuationOptions.OnlyOnRanToCompletion, TaskScheduler.Default);
        return new AgentServices(store, hooks, hostsFile, writer, engine, drift, name)
        {
            Outputs = outputs, OpenedIn = (database, lines), IntegrityChecked = checking,
        };
    }

    /// <summary>The store the database key names.</summary>
    private static IHostStore OpenStore(AgentSettings settings)
    {
        if (settings.Database.SqlitePath is { } path)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            return new SqliteHostStore(path, deferIntegrityCheck: true);
        }
        return new PostgresHostStore(DatabaseUrl.PostgresSettings(settings.Options));
    }

    public async ValueTask DisposeAsync()
    {
        await Outputs.DisposeAsync();
        Writer.Dispose();
        await Hooks.DisposeAsync();
        HostsFile.Dispose();
        Store.Dispose();
    }
}
