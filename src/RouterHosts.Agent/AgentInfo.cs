using System.Diagnostics;
using System.Reflection;
using System.Runtime.InteropServices;
using RouterHosts.Core;

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

    /// <summary>Null when ready; otherwise why not (database unreachable, full or corrupt; hosts file stale or not writable).</summary>
    public string? NotReadyReason(HostsEngine engine)
    {
        try { engine.Store.Ping(); }
        catch (Exception e) { return $"database unreachable: {e.Message}"; }
        if (engine.Store.Problem() is { } problem) return problem;
        var file = engine.HostsFile.State;
        if (!file.Current && file.LastError is { } error) return $"hosts file {file.Path} is stale: {error}";
        var path = file.Path;
        var directory = Path.GetDirectoryName(path)!;
        if (!Directory.Exists(directory)) return $"hosts file directory {directory} does not exist";
        if (access(File.Exists(path) ? path : directory, 2 /* W_OK */) != 0) return $"hosts file {path} is not writable";
        if (access(directory, 2) != 0) return $"hosts file directory {directory} is not writable (needed for atomic replace)";
        return null;
    }

    [DllImport("libc", SetLastError = true)] private static extern int access(string path, int mode);
}
