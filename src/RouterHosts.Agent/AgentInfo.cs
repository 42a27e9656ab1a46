using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;

namespace RouterHosts.Agent;

/// <summary>What the agent says about itself in Health and Readiness.</summary>
public sealed class AgentInfo
{
    private readonly Stopwatch _uptime = Stopwatch.StartNew();

    public string Version { get; } =
        typeof(AgentInfo).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion.Split('+')[0] ?? "0.0.0";

    public string BuildInfo { get; } = $"{RuntimeInformation.FrameworkDescription} {RuntimeInformation.RuntimeIdentifier}";

    public TimeSpan Uptime => _uptime.Elapsed;

    /// <summary>The agent's name (see <see cref="AgentServices.Name"/>).</summary>
    public string Name { get; init; } = Environment.MachineName;

    public DateTimeOffset StartedAt { get; } = DateTimeOffset.UtcNow;

    /// <summary>The agents sharing the database (a shared PostgreSQL store); null when it is this agent's alone.</summary>
    public Core.Storage.IAgentRegistry? Registry { get; init; }

    /// <summary>The TLS material in use (replaced on reload); null when the agent serves the Unix socket alone.</summary>
    public Transport.Server.ServerTlsMaterial? Tls { get; init; }
}
