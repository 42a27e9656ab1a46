using RouterHosts.Agent.Configuration;
using RouterHosts.Agent.Pki;
using RouterHosts.Agent.Systemd;

namespace RouterHosts.Agent;

/// <summary>
/// routerhosts-agent [--config FILE] [--section:key=value ...] [--check-config]
/// routerhosts-agent --dev [--data-dir DIR] [--listen HOST:PORT]
/// routerhosts-agent pki init|issue-server|issue-client ...
/// Exit codes: 0 clean stop, 2 bad configuration or arguments, 3 the database is corrupt, 1 failure at run time.
/// </summary>
public static class AgentCommandLine
{
    /// <summary>The database failed its integrity check: restore it; restarting would fail the same way.</summary>
    public const int ExitDatabaseCorrupt = 3;

    public const string DefaultConfigPath = "/etc/router-hosts/agent.json";

    public const string Usage = """
        usage: routerhosts-agent [--config FILE] [--section:key=value ...]   run with agent.json (default /etc/router-hosts/agent.json)
               routerhosts-agent [--config FILE] --check-config              check the configuration (keys, values, paths) and exit
               routerhosts-agent --dev [--data-dir DIR] [--listen HOST:PORT] run for development: a throwaway CA, database and hosts file
               routerhosts-agent pki init|issue-server|issue-client ...      make the CA and certificates (routerhosts-agent pki --help)
               routerhosts-agent --version
        Environment variables ROUTERHOSTS_AGENT_section__key override the file; --section:key=value overrides both.
        Signals: SIGHUP reloads TLS files, hooks, access policy and log level; SIGTERM stops gracefully.
        """;

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length > 0 && args[0] == "pki") return PkiCommand.Run(args[1..], Console.Out, Console.Error);
        var arguments = args.ToList();
        AgentStartup startup;
        try
        {
            if (Take(arguments, "--help") || Take(arguments, "-h"))
            {
                Console.WriteLine(Usage);
                return 0;
            }
            if (Take(arguments, "--version"))
            {
                var info = new AgentInfo();
                Console.WriteLine($"routerhosts-agent {info.Version} ({info.BuildInfo})");
                return 0;
            }
            var dev = Take(arguments, "--dev");
            var check = Take(arguments, "--check-config");
            var dataDir = TakeValue(arguments, "--data-dir");
            var listen = TakeValue(arguments, "--listen");
            var configPath = TakeValue(arguments, "--config");
            LoadedConfiguration configuration;
            Func<LoadedConfiguration>? reload = null;
            string? devDirectory = null;
            if (dev)
            {
                if (configPath is not null) throw new ConfigurationError("--dev and --config do not go together");
                if (arguments.Count > 0) throw new ConfigurationError($"--dev: unexpected argument '{arguments[0]}'");
                devDirectory = Path.GetFullPath(dataDir ?? DevBootstrap.DefaultDataDirectory);
                var options = DevBootstrap.Prepare(devDirectory, listen, Console.Out);
                configuration = new LoadedConfiguration(options, ConfigurationSources.Builtin($"--dev {devDirectory}"));
            }
            else
            {
                if (dataDir is not null) throw new ConfigurationError("--data-dir goes with --dev");
                var path = configPath ?? DefaultConfigPath;
                var overrides = arguments.ToArray();
                LoadedConfiguration Load()
                {
                    var loaded = AgentConfiguration.Load(path, overrides);
                    if (listen is not null) loaded.Options.Listen = [listen];
                    return loaded;
                }
                configuration = Load();
                reload = Load;
            }
            var problems = AgentOptionsValidator.Validate(configuration.Options, configuration.Sources, out var settings);
            if (settings is null) throw new ConfigurationError(problems);
            if (check)
            {
                Console.WriteLine($"{configuration.Sources.File}: configuration is valid");
                return 0;
            }
            startup = new AgentStartup(configuration, settings, reload, devDirectory);
        }
        catch (ConfigurationError e)
        {
            await AgentLogging.WriteFatalAsync(e.Problems);
            return 2;
        }
        return await AgentHost.RunAsync(startup);
    }

    private static bool Take(List<string> args, string flag) => args.Remove(flag);

    private static string? TakeValue(List<string> args, string name)
    {
        var index = args.IndexOf(name);
        if (index < 0)
        {
            var prefixed = args.FirstOrDefault(a => a.StartsWith(name + "=", StringComparison.Ordinal));
            if (prefixed is null) return null;
            args.Remove(prefixed);
            return prefixed[(name.Length + 1)..];
        }
        if (index + 1 >= args.Count) throw new ConfigurationError($"{name} needs a value");
        var value = args[index + 1];
        args.RemoveRange(index, 2);
        return value;
    }
}

/// <summary>A configuration problem (or several): each message names the key and the file.</summary>
public sealed class ConfigurationError : Exception
{
    public ConfigurationError(string message) : this([message]) { }

    public ConfigurationError(IReadOnlyList<string> problems) : base(string.Join(Environment.NewLine, problems)) => Problems = problems;

    public IReadOnlyList<string> Problems { get; }
}
