using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using RouterHosts.Client;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>
/// The real agent binary, started as a process in a temporary data directory
/// (with --dev by default, or with a given config file) on a free loopback port.
/// Keeps its output for assertions and failure messages.
/// </summary>
public sealed class AgentProcess : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly bool _ownsDirectory;

    private AgentProcess(Process process, string dataDirectory, int port, bool ownsDirectory)
    {
        _process = process;
        DataDirectory = dataDirectory;
        Port = port;
        _ownsDirectory = ownsDirectory;
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (_output) _output.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    public string DataDirectory { get; }
    public int Port { get; }
    public int Pid => _process.Id;
    public string Endpoint => $"127.0.0.1:{Port}";
    public string ClientConfigPath => Path.Combine(DataDirectory, "client.json");
    public string HostsFilePath => Path.Combine(DataDirectory, "hosts");
    public string PkiDirectory => Path.Combine(DataDirectory, "pki");
    public string Output { get { lock (_output) return _output.ToString(); } }
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    /// <summary>The agent's built binary (same configuration as the tests).</summary>
    public static string AgentDll
    {
        get
        {
            var testBin = new DirectoryInfo(AppContext.BaseDirectory); // .../tests/X/bin/<Config>/net10.0/
            var configuration = testBin.Parent!.Name;
            var root = testBin;
            while (root is not null && !File.Exists(Path.Combine(root.FullName, "RouterHosts.sln"))) root = root.Parent;
            if (root is null) throw new InvalidOperationException("cannot find RouterHosts.sln above " + AppContext.BaseDirectory);
            var dll = Path.Combine(root.FullName, "src", "RouterHosts.Agent", "bin", configuration, "net10.0", "routerhosts-agent.dll");
            return File.Exists(dll) ? dll : throw new FileNotFoundException("build the agent first", dll);
        }
    }

    public static string RepositoryRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "RouterHosts.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("cannot find the repository root");
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static string NewTempDirectory()
    {
        var dir = Path.Combine(Path.GetTempPath(), "routerhosts-e2e-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>Starts `--dev` in <paramref name="dataDirectory"/> (a new temp dir by default) and waits until it is ready.</summary>
    public static async Task<AgentProcess> StartDevAsync(string? dataDirectory = null, int? port = null, IEnumerable<string>? extraArgs = null,
        IDictionary<string, string>? environment = null)
    {
        var owns = dataDirectory is null;
        var dir = dataDirectory ?? NewTempDirectory();
        var actualPort = port ?? FreePort();
        var args = new List<string> { "--dev", "--data-dir", dir, "--listen", $"127.0.0.1:{actualPort}" };
        args.AddRange(extraArgs ?? []);
        return await ReadyOrDisposedAsync(Launch(args, dir, actualPort, owns, environment));
    }

    /// <summary>Waits until the agent answers; if it never does, ends it before the error goes up (no process outlives a failed setup).</summary>
    private static async Task<AgentProcess> ReadyOrDisposedAsync(AgentProcess agent)
    {
        try
        {
            await agent.WaitUntilReadyAsync();
            return agent;
        }
        catch
        {
            await agent.DisposeAsync();
            throw;
        }
    }

    /// <summary>
    /// Starts the agent from a configuration file (not --dev): makes a PKI (CA, a server
    /// certificate for localhost/127.0.0.1, an admin client) and client.json in a new temp
    /// directory, writes agent.json (mode 0600) from the defaults plus <paramref name="configure"/>,
    /// and waits until the agent is ready.
    /// </summary>
    public static async Task<AgentProcess> StartWithConfigAsync(Action<System.Text.Json.Nodes.JsonObject, string>? configure = null,
        bool waitUntilReady = true, IDictionary<string, string>? environment = null)
    {
        var dir = NewTempDirectory();
        var pki = Path.Combine(dir, "pki");
        using (var ca = Agent.Pki.CertificateAuthority.Create("Test CA"))
        {
            Agent.Pki.CertificateAuthority.WritePem(ca.Certificate, Path.Combine(pki, "ca.crt"), Path.Combine(pki, "ca.key"), true);
            using var server = ca.IssueServer("localhost", ["localhost"], [IPAddress.Loopback]);
            Agent.Pki.CertificateAuthority.WritePem(server, Path.Combine(pki, "server.crt"), Path.Combine(pki, "server.key"), true);
            using var client = ca.IssueClient("test-admin", "admin");
            Agent.Pki.CertificateAuthority.WritePem(client, Path.Combine(pki, "client.crt"), Path.Combine(pki, "client.key"), true);
        }
        var port = FreePort();
        new Transport.ClientConfigFile($"127.0.0.1:{port}", null, "pki/client.crt", "pki/client.key", "pki/ca.crt", "localhost")
            .Save(Path.Combine(dir, "client.json"));
        File.WriteAllText(Path.Combine(dir, "hosts"), "127.0.0.1\tlocalhost\n");
        var config = new System.Text.Json.Nodes.JsonObject
        {
            ["listen"] = new System.Text.Json.Nodes.JsonArray($"127.0.0.1:{port}"),
            ["tls"] = new System.Text.Json.Nodes.JsonObject
            {
                ["certificate"] = Path.Combine(pki, "server.crt"), ["key"] = Path.Combine(pki, "server.key"), ["ca"] = Path.Combine(pki, "ca.crt"),
            },
            ["database"] = Path.Combine(dir, "routerhosts.db"),
            ["hosts_file"] = new System.Text.Json.Nodes.JsonObject { ["path"] = Path.Combine(dir, "hosts"), ["mode"] = "block" },
        };
        configure?.Invoke(config, dir);
        var configPath = Path.Combine(dir, "agent.json");
        File.WriteAllText(configPath, config.ToJsonString(new System.Text.Json.JsonSerializerOptions { WriteIndented = true }));
        File.SetUnixFileMode(configPath, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        var agent = Launch(["--config", configPath], dir, port, ownsDirectory: true, environment);
        return waitUntilReady ? await ReadyOrDisposedAsync(agent) : agent;
    }

    /// <summary>Starts the agent with arbitrary arguments and does not wait (for configuration-error tests).</summary>
    public static AgentProcess Launch(IEnumerable<string> args, string dataDirectory, int port = 0, bool ownsDirectory = false,
        IDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo("dotnet")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = dataDirectory,
        };
        info.ArgumentList.Add(AgentDll);
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment.Remove("NOTIFY_SOCKET");
        info.Environment.Remove("JOURNAL_STREAM");
        info.Environment.Remove("WATCHDOG_USEC");
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) info.Environment[key] = value;
        var process = Process.Start(info)!;
        RunningAgents.Track(process);
        return new AgentProcess(process, dataDirectory, port, ownsDirectory);
    }

    public RouterHostsClient Connect(Action<RouterHostsConnectionOptions>? adjust = null)
    {
        var options = RouterHostsConnectionOptions.FromConfigFile(ClientConfigPath);
        adjust?.Invoke(options);
        return RouterHostsClient.Connect(options);
    }

    /// <summary>
    /// Ready means a successful Readiness call, not a file on disk. client.json is written
    /// atomically after the certificates it names, so once it exists it can be read whole.
    /// The deadline is generous: on a loaded 2-core machine a cold start can take many seconds.
    /// </summary>
    public async Task WaitUntilReadyAsync(TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(90));
        while (true)
        {
            if (_process.HasExited) throw new InvalidOperationException($"agent exited with {_process.ExitCode}:\n{Output}");
            if (File.Exists(ClientConfigPath))
            {
                // A new channel each time: one channel refused while the agent was still starting backs off (1 s, then
                // 1.6x longer each time) and fails calls fast meanwhile, so under load it may not try again for minutes.
                using var client = Connect(o => o.CallTimeout = TimeSpan.FromSeconds(5));
                if ((await client.TestAsync()).Ready) return;
            }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"agent did not become ready within {timeout ?? TimeSpan.FromSeconds(90)}:\n{Output}");
            await Task.Delay(50);
        }
    }

    /// <summary>Sends a signal (15 = SIGTERM, 1 = SIGHUP, 9 = SIGKILL).</summary>
    public void Signal(int signal)
    {
        if (kill(_process.Id, signal) != 0) throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed");
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        await _process.WaitForExitAsync(cts.Token);
        return _process.ExitCode;
    }

    /// <summary>kill -9: no chance to clean up.</summary>
    public async Task KillHardAsync()
    {
        Signal(9);
        await WaitForExitAsync(TimeSpan.FromSeconds(10));
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited)
        {
            Signal(15);
            try { await WaitForExitAsync(TimeSpan.FromSeconds(15)); }
            catch (OperationCanceledException) { _process.Kill(entireProcessTree: true); }
        }
        RunningAgents.Forget(_process);
        _process.Dispose();
        if (_ownsDirectory)
        {
            try { Directory.Delete(DataDirectory, recursive: true); } catch (IOException) { }
        }
    }

    [DllImport("libc", SetLastError = true)] private static extern int kill(int pid, int signal);
}

/// <summary>
/// Every agent this test process started and has not ended: killed when the test process
/// exits, so that an aborted run or a fixture whose disposal never ran leaves no agent
/// holding its port.
/// </summary>
internal static class RunningAgents
{
    private static readonly HashSet<Process> Processes = [];

    static RunningAgents() => AppDomain.CurrentDomain.ProcessExit += (_, _) =>
    {
        lock (Processes)
            foreach (var process in Processes)
                try { if (!process.HasExited) process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
    };

    public static void Track(Process process) { lock (Processes) Processes.Add(process); }
    public static void Forget(Process process) { lock (Processes) Processes.Remove(process); }
}
