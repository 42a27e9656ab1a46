using Microsoft.Extensions.Configuration;

namespace RouterHosts.Agent.Configuration;

/// <summary>Loads agent.json, then environment variables (ROUTERHOSTS_*), then --key=value arguments.</summary>
public static class AgentConfiguration
{
    public static AgentOptions Load(string path, string[] overrides)
    {
        var full = Path.GetFullPath(path);
        if (!File.Exists(full)) throw new ConfigurationError($"configuration file {full} does not exist (use --config, or --dev)");
        IConfigurationRoot root;
        try
        {
            root = new ConfigurationBuilder()
                .AddJsonFile(full, optional: false, reloadOnChange: false)
                .AddEnvironmentVariables("ROUTERHOSTS_")
                .AddCommandLine(overrides)
                .Build();
        }
        catch (Exception e) when (e is FormatException or InvalidDataException or IOException)
        {
            throw new ConfigurationError($"{full}: {e.InnerException?.Message ?? e.Message}");
        }
        var options = new AgentOptions();
        try
        {
            root.Bind(options, o => o.ErrorOnUnknownConfiguration = true);
        }
        catch (InvalidOperationException e)
        {
            throw new ConfigurationError($"{full}: {e.Message}");
        }
        return options;
    }
}
