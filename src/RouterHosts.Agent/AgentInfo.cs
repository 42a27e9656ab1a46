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
}
