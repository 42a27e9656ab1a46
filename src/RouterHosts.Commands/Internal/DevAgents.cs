using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;

namespace RouterHosts.Commands.Internal;

/// <summary>
/// Dev agents started by Start-RouterHostsDevAgent: a real routerhosts-agent --dev process
/// each, with the connection made to it. Remembered per process (with the runspace that
/// started each), so Stop-RouterHostsDevAgent without arguments ends the current
/// runspace's, module removal ends them too, and pwsh's exit ends whatever is left.
/// </summary>
internal static class DevAgents
{
    internal sealed class DevAgent(Process process, RouterHostsConnection connection, string path, string logPath, StreamWriter log, object runspace)
    {
        public Process Process { get; } = process;
        public RouterHostsConnection Connection { get; } = connection;
        public string Path { get; } = path;
        public string LogPath { get; } = logPath;
        public StreamWriter Log { get; } = log;
        public object Runspace { get; } = runspace;

        public string Describe() => $"dev agent {Connection.Target} (process {Process.Id}, data in {Path})";
    }

    private static readonly List<DevAgent> Started = [];
    private static int _exitHook;

    private static readonly object NoRunspace = new();

    public static object CurrentRunspace => (object?)System.Management.Automation.Runspaces.Runspace.DefaultRunspace ?? NoRunspace;

    public static void Add(DevAgent agent)
    {
        if (Interlocked.Exchange(ref _exitHook, 1) == 0)
            AppDomain.CurrentDomain.ProcessExit += (_, _) => { foreach (var a in Take(_ => true)) End(a.Process, a.Log); };
        lock (Started) Started.Add(agent);
    }

    public static DevAgent? Find(RouterHostsConnection connection)
    {
        lock (Started) return Started.FirstOrDefault(a => ReferenceEquals(a.Connection, connection));
    }

    /// <summary>The dev agents <paramref name="runspace"/> started.</summary>
    public static List<DevAgent> Of(object runspace)
    {
        lock (Started) return Started.Where(a => ReferenceEquals(a.Runspace, runspace)).ToList();
    }

    /// <summary>Forgets and returns the dev agents that match.</summary>
    public static List<DevAgent> Take(Func<DevAgent, bool> match)
    {
        lock (Started)
        {
            var taken = Started.Where(match).ToList();
            Started.RemoveAll(taken.Contains);
            return taken;
        }
    }

    /// <summary>Module removal: ends the current runspace's dev agents.</summary>
    public static void StopCurrentRunspace()
    {
        var runspace = CurrentRunspace;
        foreach (var agent in Take(a => ReferenceEquals(a.Runspace, runspace)))
        {
            ConnectionRegistry.ClearDefault(agent.Connection);
            agent.Connection.Close();
            End(agent.Process, agent.Log);
        }
    }

    /// <summary>Kills the agent (and anything it started), waits for it to be gone, closes its log.</summary>
    public static bool End(Process process, StreamWriter? log, int waitMilliseconds = 30_000)
    {
        var gone = true;
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            gone = process.WaitForExit(waitMilliseconds);
            if (gone) process.WaitForExit(); // and its output read to the end
        }
        catch (InvalidOperationException) { /* never started or already reaped */ }
        catch (System.ComponentModel.Win32Exception) { gone = false; }
        if (log is not null) lock (log) log.Dispose();
        process.Dispose();
        return gone;
    }

    public static int FreeLoopbackPort()
    {
        var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        try { return ((IPEndPoint)listener.LocalEndpoint).Port; }
        finally { listener.Stop(); }
    }

    /// <summary>True once something accepts TCP connections on the loopback port.</summary>
    public static bool Accepts(int port)
    {
        try
        {
            using var client = new TcpClient();
            client.Connect(IPAddress.Loopback, port);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }

    /// <summary>The agent shipped in the module (build.ps1 -Task Package puts it in agent/linux-x64), where it runs.</summary>
    public static string? Shipped(string? moduleBase)
    {
        if (moduleBase is null || !OperatingSystem.IsLinux() || RuntimeInformation.OSArchitecture != Architecture.X64) return null;
        var dll = System.IO.Path.Combine(moduleBase, "agent", "linux-x64", "routerhosts-agent.dll");
        return File.Exists(dll) ? dll : null;
    }

    /// <summary>The first <paramref name="name"/> (name.exe on Windows) in a folder of PATH.</summary>
    public static string? OnPath(string name)
    {
        var file = OperatingSystem.IsWindows() ? name + ".exe" : name;
        foreach (var folder in (Environment.GetEnvironmentVariable("PATH") ?? "").Split(System.IO.Path.PathSeparator, StringSplitOptions.RemoveEmptyEntries))
        {
            var candidate = System.IO.Path.Combine(folder, file);
            if (File.Exists(candidate)) return candidate;
        }
        return null;
    }

    /// <summary>The dotnet host that runs a framework-dependent agent: $DOTNET_ROOT/dotnet, else dotnet on PATH.</summary>
    public static string? DotnetHost()
    {
        var file = OperatingSystem.IsWindows() ? "dotnet.exe" : "dotnet";
        if (Environment.GetEnvironmentVariable("DOTNET_ROOT") is { Length: > 0 } root && File.Exists(System.IO.Path.Combine(root, file)))
            return System.IO.Path.Combine(root, file);
        return OnPath("dotnet");
    }

    /// <summary>The last lines of the agent's log, for error messages.</summary>
    public static string Tail(string logPath, StreamWriter log, int lines = 30)
    {
        try
        {
            lock (log) log.Flush();
        }
        catch (ObjectDisposedException) { }
        try
        {
            using var stream = new FileStream(logPath, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            var all = new StreamReader(stream).ReadToEnd().Split('\n');
            return string.Join('\n', all.TakeLast(lines)).TrimEnd();
        }
        catch (IOException e)
        {
            return $"(could not read {logPath}: {e.Message})";
        }
    }
}
