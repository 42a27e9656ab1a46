using RouterHosts.Agent.Configuration;

namespace RouterHosts.Agent;

/// <summary>
/// routerhosts-agent [--config FILE] | --dev [--data-dir DIR] [--listen HOST:PORT]
/// Exit codes: 0 clean stop, 2 bad configuration or arguments, 1 failure at run time.
/// </summary>
public static class AgentCommandLine
{
    public const string DefaultConfigPath = "/etc/router-hosts/agent.json";

    public static async Task<int> RunAsync(string[] args)
    {
        var arguments = args.ToList();
        var dev = Take(arguments, "--dev");
        var dataDir = TakeValue(arguments, "--data-dir");
        var listen = TakeValue(arguments, "--listen");
        var configPath = TakeValue(arguments, "--config");
        if (Take(arguments, "--help") || Take(arguments, "-h"))
        {
            Console.WriteLine("""
                usage: routerhosts-agent --dev [--data-dir DIR] [--listen HOST:PORT]
                       routerhosts-agent [--config FILE] [--section:key=value ...]
                """);
            return 0;
        }
        AgentOptions options;
        try
        {
            if (dev)
            {
                if (configPath is not null) throw new ConfigurationError("--dev and --config do not go together");
                options = DevBootstrap.Prepare(dataDir ?? DevBootstrap.DefaultDataDirectory, listen, Console.Out);
            }
            else
            {
                options = AgentConfiguration.Load(configPath ?? DefaultConfigPath, arguments.ToArray());
                if (listen is not null) options.Listen = [listen];
            }
        }
        catch (ConfigurationError e)
        {
            await Console.Error.WriteLineAsync($"routerhosts-agent: {e.Message}");
            return 2;
        }
        return await AgentHost.RunAsync(options, dev, dev ? Path.GetFullPath(dataDir ?? DevBootstrap.DefaultDataDirectory) : null);
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

/// <summary>A configuration problem: the message names the key and the file.</summary>
public sealed class ConfigurationError(string message) : Exception(message);
