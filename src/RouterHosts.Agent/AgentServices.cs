using RouterHosts.Agent.Configuration;
using RouterHosts.Core;
using RouterHosts.Core.Hooks;
using RouterHosts.Core.HostsFile;
using RouterHosts.Core.Sessions;
using RouterHosts.Core.Storage;
using RouterHosts.Core.Writes;
using RouterHosts.Storage.Postgres;
using RouterHosts.Storage.Sqlite;

namespace RouterHosts.Agent;

/// <summary>Builds the core from the configuration: store, hooks, hosts file, writer, sessions, engine.</summary>
public sealed class AgentServices : IAsyncDisposable
{
    private AgentServices(IHostStore store, HookRunner hooks, HostsFileSync hostsFile, HostWriter writer, HostsEngine engine)
    {
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

    public static AgentServices Create(AgentSettings settings, ILoggerFactory logs)
    {
        var options = settings.Options;
        var store = OpenStore(settings);
        var hooks = new HookRunner(settings.Hooks, logs.CreateLogger("RouterHosts.Hooks"));
        HostsFileSync hostsFile;
        try
        {
            hostsFile = new HostsFileSync(options.HostsFile.Path, settings.HostsFileMode, store, hooks, logs.CreateLogger("RouterHosts.HostsFile"),
                options.HostsFile.TakeOver);
        }
        catch
        {
            hooks.DisposeAsync().AsTask().GetAwaiter().GetResult();
            store.Dispose();
            throw;
        }
        var feed = new ChangeFeed();
        feed.Publish(store.LastChangeId());
        var clock = MicrosecondClock.System;
        var writer = new HostWriter(store, hostsFile, feed, clock) { SnapshotPolicy = settings.Snapshots };
        var sessions = new EditSessions(store, clock) { IdleTimeout = settings.EditSessionIdleTimeout };
        var engine = new HostsEngine(store, writer, sessions, hostsFile, hooks, feed, clock);
        return new AgentServices(store, hooks, hostsFile, writer, engine);
    }

    /// <summary>The store the database key names.</summary>
    private static IHostStore OpenStore(AgentSettings settings)
    {
        if (settings.Database.SqlitePath is { } path)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            return new SqliteHostStore(path);
        }
        return new PostgresHostStore(DatabaseUrl.PostgresSettings(settings.Options));
    }

    public async ValueTask DisposeAsync()
    {
        Writer.Dispose();
        await Hooks.DisposeAsync();
        HostsFile.Dispose();
        Store.Dispose();
    }
}
