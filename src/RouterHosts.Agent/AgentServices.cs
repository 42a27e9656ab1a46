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
    /// <summary>The configured DNS server outputs (none by default); they follow the engine's change feed.</summary>
    public OutputSet Outputs { get; private init; } = null!;

    public static AgentServices Create(AgentOptions options, ILoggerFactory logs)
    {
        var store = OpenStore(options);
        var hooks = new HookRunner(ToHookSet(options.Hooks), logs.CreateLogger("RouterHosts.Hooks"));
        var mode = ParseHostsFileMode(options.HostsFile.Mode);
        HostsFileSync hostsFile;
        try
        {
            hostsFile = new HostsFileSync(options.HostsFile.Path, mode, store, hooks, logs.CreateLogger("RouterHosts.HostsFile"),
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
        var writer = new HostWriter(store, hostsFile, feed, clock) { SnapshotPolicy = ToSnapshotPolicy(options.Snapshots) };
        var sessions = new EditSessions(store, clock) { IdleTimeout = TimeSpan.FromSeconds(options.EditSession.IdleTimeoutSeconds) };
        var engine = new HostsEngine(store, writer, sessions, hostsFile, hooks, feed, clock);
        var outputs = new OutputSet(ToOutputs(options.Outputs), store, feed, logs.CreateLogger("RouterHosts.Outputs"));
        outputs.Start();
        return new AgentServices(store, hooks, hostsFile, writer, engine) { Outputs = outputs };
    }

    /// <summary>The store the database key names (validated before this runs).</summary>
    public static IHostStore OpenStore(AgentOptions options)
    {
        if (DatabaseUrl.Parse(options.Database).SqlitePath is { } path)
        {
            Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            return new SqliteHostStore(path);
        }
        return new PostgresHostStore(DatabaseUrl.PostgresSettings(options));
    }

    public static SnapshotPolicy ToSnapshotPolicy(SnapshotOptions options) => new(options.MaxSnapshots, options.MaxAgeDays);

    public static HostsFileMode ParseHostsFileMode(string value) => value.ToLowerInvariant() switch
    {
        "block" => HostsFileMode.Block,
        "file" => HostsFileMode.File,
        _ => throw new ArgumentException($"hosts_file.mode: '{value}' is not block or file"),
    };

    public static HookSet ToHookSet(HooksOptions options)
    {
        static HookDefinition Convert(HookOptions h, string list) =>
            string.IsNullOrWhiteSpace(h.Name) || string.IsNullOrWhiteSpace(h.Command) || h.TimeoutSeconds <= 0
                ? throw new ArgumentException($"hooks.{list}: every hook needs a name, a command and a positive timeout_seconds")
                : new HookDefinition(h.Name, h.Command, TimeSpan.FromSeconds(h.TimeoutSeconds));
        return new HookSet(options.OnSuccess.Select(h => Convert(h, "on_success")).ToList(),
            options.OnFailure.Select(h => Convert(h, "on_failure")).ToList());
    }

    public static IReadOnlyList<OutputDefinition> ToOutputs(IEnumerable<OutputOptions> options) =>
        options.Select(o => new OutputDefinition(o.Path, OutputRenderer.Parse(o.Format), ToHookSet(o.Hooks))).ToList();

    public async ValueTask DisposeAsync()
    {
        await Outputs.DisposeAsync();
        await Hooks.DisposeAsync();
        HostsFile.Dispose();
        Store.Dispose();
    }
}
