using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Runtime.InteropServices;
using System.Text;
using RouterHosts.Client;

namespace RouterHosts.Testing;

/// <summary>
/// The real agent binary, started as a process: `--dev` in a temporary data directory, a
/// configuration file made here, or any arguments. Keeps its output (with the time the test
/// received each line) for assertions and failure messages; sends signals; waits for lines,
/// for readiness (a successful Readiness call) and for exit. Every process started here is
/// ended at the end of the run (<see cref="RunningAgents"/>), also when a setup fails.
/// </summary>
public sealed class AgentProcess : IAsyncDisposable
{
    /// <summary>Runs the tests against a published agent (self-contained, ReadyToRun, NativeAOT) instead of the build next to them.</summary>
    public const string AgentUnderTestVariable = "ROUTERHOSTS_TEST_AGENT_BINARY";

    /// <summary>The agent's own environment prefix (AgentConfiguration.EnvironmentPrefix; the tests see the agent only as a process).</summary>
    private const string AgentEnvironmentPrefix = "ROUTERHOSTS_AGENT_";

    /// <summary>What systemd hands a service; a test sets them itself when it plays systemd.</summary>
    private static readonly string[] SystemdVariables = ["NOTIFY_SOCKET", "JOURNAL_STREAM", "WATCHDOG_USEC", "WATCHDOG_PID"];

    private static readonly TimeSpan DefaultLineTimeout = TimeSpan.FromSeconds(20);

    private readonly Process _process;
    private bool _ownsDirectory;
    private IReadOnlyList<string> _args = [];
    private IDictionary<string, string>? _environment;
    private readonly Stopwatch _clock;
    private readonly DateTime _startedLocal;
    /// <summary>The agent's lines and the harness's own notes (signals sent), in the order the test saw them.</summary>
    private readonly List<Entry> _entries = [];
    /// <summary>Completed (and replaced) whenever a line arrives or the output ends: what line waits await.</summary>
    private TaskCompletionSource _changed = NewSignal();
    private int _openStreams = 2;

    private readonly record struct Entry(TimeSpan At, string Text, bool FromAgent);

    private AgentProcess(Process process, Stopwatch clock, DateTime startedLocal, string dataDirectory, int port, bool ownsDirectory)
    {
        _process = process;
        _clock = clock;
        _startedLocal = startedLocal;
        DataDirectory = dataDirectory;
        Port = port;
        _ownsDirectory = ownsDirectory;
        process.OutputDataReceived += (_, e) => Add(e.Data);
        process.ErrorDataReceived += (_, e) => Add(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    private static TaskCompletionSource NewSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>A line from stdout or stderr, or null when that stream has ended.</summary>
    private void Add(string? line)
    {
        TaskCompletionSource changed;
        lock (_entries)
        {
            if (line is null) _openStreams--;
            else _entries.Add(new Entry(_clock.Elapsed, line, FromAgent: true));
            changed = _changed;
            _changed = NewSignal();
        }
        changed.TrySetResult();
    }

    private void Note(string text)
    {
        lock (_entries) _entries.Add(new Entry(_clock.Elapsed, ">>> " + text, FromAgent: false));
    }

    public string DataDirectory { get; }
    public int Port { get; }
    public int Pid => _process.Id;
    public string Endpoint => $"127.0.0.1:{Port}";
    public string ClientConfigPath => Path.Combine(DataDirectory, "client.json");
    public string HostsFilePath => Path.Combine(DataDirectory, "hosts");
    public string PkiDirectory => Path.Combine(DataDirectory, "pki");
    public bool HasExited => _process.HasExited;
    public int ExitCode => _process.ExitCode;

    /// <summary>The agent's output (stdout and stderr, one line each), as it printed it.</summary>
    public string Output
    {
        get
        {
            var text = new StringBuilder();
            foreach (var line in Lines) text.AppendLine(line);
            return text.ToString();
        }
    }

    public IReadOnlyList<string> Lines { get { lock (_entries) return _entries.Where(e => e.FromAgent).Select(e => e.Text).ToList(); } }

    /// <summary>
    /// For failure messages: each line prefixed with when the test received it (since the
    /// process started), beside the signals the test sent. The agent's own lines carry its
    /// HH:mm:ss (local time), so a late line shows whether the agent wrote late or the test read late.
    /// </summary>
    public string Transcript
    {
        get
        {
            var text = new StringBuilder($"(pid {_process.Id}, started {_startedLocal.ToString("HH:mm:ss.fff", CultureInfo.InvariantCulture)} local; [+s] = when the test received the line)\n");
            lock (_entries)
                foreach (var entry in _entries) text.Append(Offset(entry.At)).Append(' ').AppendLine(entry.Text);
            return text.ToString();
        }
    }

    private static string Offset(TimeSpan at) => string.Create(CultureInfo.InvariantCulture, $"[+{at.TotalSeconds:0.000}s]");

    /// <summary>The agent's built binary (same configuration as the tests).</summary>
    public static string AgentDll
    {
        get
        {
            var testBin = new DirectoryInfo(AppContext.BaseDirectory); // .../tests/X/bin/<Config>/net10.0/
            var configuration = testBin.Parent!.Name;
            var dll = Path.Combine(RepositoryRoot, "src", "RouterHosts.Agent", "bin", configuration, "net10.0", "routerhosts-agent.dll");
            return File.Exists(dll) ? dll : throw new FileNotFoundException("build the agent first", dll);
        }
    }

    public static string RepositoryRoot
    {
        get
        {
            var dir = new DirectoryInfo(AppContext.BaseDirectory);
            while (dir is not null && !File.Exists(Path.Combine(dir.FullName, "RouterHosts.sln"))) dir = dir.Parent;
            return dir?.FullName ?? throw new InvalidOperationException("cannot find RouterHosts.sln above " + AppContext.BaseDirectory);
        }
    }

    public static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    public static string NewTempDirectory(string what = "e2e")
    {
        var dir = Path.Combine(Path.GetTempPath(), $"routerhosts-{what}-{Guid.NewGuid().ToString("N")[..12]}");
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

    /// <summary>
    /// Waits until the agent answers (see <see cref="WaitUntilReadyAsync"/>); if it never does,
    /// ends it before the error goes up (no process outlives a failed setup).
    /// </summary>
    public static async Task<AgentProcess> ReadyOrDisposedAsync(AgentProcess agent, Func<RouterHostsClient?>? connect = null, TimeSpan? timeout = null)
    {
        try
        {
            await agent.WaitUntilReadyAsync(timeout, connect);
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

    /// <summary>
    /// Starts the agent with arbitrary arguments in <paramref name="workingDirectory"/> and does not wait.
    /// The systemd variables and the agent's own ROUTERHOSTS_AGENT_* settings are removed from the
    /// inherited environment; <paramref name="environment"/> is applied after. With <paramref name="viaShell"/>
    /// the agent is exec'd by /bin/sh after that shell line runs (for variables that must be computed
    /// from the process's own descriptors, e.g. JOURNAL_STREAM).
    /// </summary>
    public static AgentProcess Launch(IEnumerable<string> args, string workingDirectory, int port = 0, bool ownsDirectory = false,
        IDictionary<string, string>? environment = null, string? viaShell = null)
    {
        var binary = Environment.GetEnvironmentVariable(AgentUnderTestVariable);
        var command = string.IsNullOrEmpty(binary) ? new List<string> { "dotnet", AgentDll } : [binary];
        command.AddRange(args);
        var info = new ProcessStartInfo(viaShell is null ? command[0] : "/bin/sh")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory,
        };
        var arguments = viaShell is null ? command.Skip(1) : new[] { "-c", $"{viaShell}; exec \"$@\"", "sh" }.Concat(command);
        foreach (var a in arguments) info.ArgumentList.Add(a);
        foreach (var name in SystemdVariables) info.Environment.Remove(name);
        // Only the agent's own settings are kept out of its way; foreign ROUTERHOSTS_* variables
        // (the client's, the test runner's) reach it as they would on a user's machine.
        foreach (var name in info.Environment.Keys.Where(k => k.StartsWith(AgentEnvironmentPrefix, StringComparison.OrdinalIgnoreCase)).ToList())
            info.Environment.Remove(name);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) info.Environment[key] = value;
        var startedLocal = DateTime.Now;
        var clock = Stopwatch.StartNew();
        var process = Process.Start(info)!;
        RunningAgents.Track(process);
        return new AgentProcess(process, clock, startedLocal, workingDirectory, port, ownsDirectory)
        {
            _args = args.ToList(), _environment = environment,
        };
    }

    /// <summary>
    /// Stops this agent (SIGTERM, or kill -9 with <paramref name="crash"/>), runs <paramref name="whileStopped"/>, then starts
    /// it again with the same arguments, directory and port, and waits until it is ready. The new process owns the directory.
    /// </summary>
    public async Task<AgentProcess> RestartAsync(Func<Task>? whileStopped = null, bool crash = false)
    {
        Signal(crash ? 9 : 15);
        var code = await WaitForExitAsync(TimeSpan.FromSeconds(30));
        if (!crash && code != 0) throw new InvalidOperationException($"agent stopped with {code}:\n{Transcript}");
        if (whileStopped is not null) await whileStopped();
        var next = Launch(_args, DataDirectory, Port, _ownsDirectory, _environment);
        _ownsDirectory = false;
        return await ReadyOrDisposedAsync(next);
    }

    /// <summary>Runs the agent to completion (configuration errors, pki commands).</summary>
    public static async Task<(int ExitCode, string Output)> RunToExitAsync(IEnumerable<string> args, string workingDirectory,
        IDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        await using var run = Launch(args, workingDirectory, environment: environment);
        var exit = await run.WaitForExitAsync(timeout ?? TimeSpan.FromSeconds(30));
        return (exit, run.Output);
    }

    public RouterHostsClient Connect(Action<RouterHostsConnectionOptions>? adjust = null)
    {
        var options = RouterHostsConnectionOptions.FromConfigFile(ClientConfigPath);
        adjust?.Invoke(options);
        return RouterHostsClient.Connect(options);
    }

    /// <summary>
    /// Ready means a successful Readiness call, not a file on disk or a log line. By default the
    /// call goes over the client.json in the data directory (written atomically after the
    /// certificates it names, so once it exists it can be read whole); <paramref name="connect"/>
    /// gives another client, or null while there is none yet. The deadline is generous: on a
    /// loaded 2-core machine a cold start can take many seconds.
    /// </summary>
    public async Task WaitUntilReadyAsync(TimeSpan? timeout = null, Func<RouterHostsClient?>? connect = null)
    {
        var limit = timeout ?? TimeSpan.FromSeconds(90);
        var started = _clock.Elapsed;
        connect ??= () => File.Exists(ClientConfigPath) ? Connect(o => o.CallTimeout = TimeSpan.FromSeconds(5)) : null;
        while (true)
        {
            if (_process.HasExited) throw new InvalidOperationException($"agent exited with {_process.ExitCode} before it was ready:\n{Transcript}");
            // A new channel each time: one channel refused while the agent was still starting backs off (1 s, then
            // 1.6x longer each time) and fails calls fast meanwhile, so under load it may not try again for minutes.
            using (var client = connect())
                if (client is not null && (await client.TestAsync()).Ready) return;
            if (_clock.Elapsed - started > limit)
                throw new TimeoutException($"agent did not become ready within {limit.TotalSeconds} s (waited {Offset(started)} to {Offset(_clock.Elapsed)}):\n{Transcript}");
            await Task.Delay(50);
        }
    }

    /// <summary>
    /// Waits until the <paramref name="occurrence"/>-th line containing <paramref name="text"/> arrives
    /// (woken by each line, no polling); fails with the transcript and the wait's start and end when
    /// the deadline passes or the agent's output ends first.
    /// </summary>
    public async Task<string> WaitForLineAsync(string text, TimeSpan? timeout = null, int occurrence = 1)
    {
        var limit = timeout ?? DefaultLineTimeout;
        var started = _clock.Elapsed;
        using var deadline = new CancellationTokenSource(limit);
        while (true)
        {
            Task changed;
            lock (_entries)
            {
                var found = 0;
                foreach (var entry in _entries)
                    if (entry.FromAgent && entry.Text.Contains(text, StringComparison.Ordinal) && ++found == occurrence) return entry.Text;
                if (_openStreams == 0)
                    throw new InvalidOperationException(
                        $"agent's output ended (exit {ExitText()}) without printing '{text}' (waited {Offset(started)} to {Offset(_clock.Elapsed)}):\n{Transcript}");
                changed = _changed.Task;
            }
            try { await changed.WaitAsync(deadline.Token); }
            catch (OperationCanceledException)
            {
                throw new TimeoutException(
                    $"agent did not print '{text}' (#{occurrence}) within {limit.TotalSeconds} s (waited {Offset(started)} to {Offset(_clock.Elapsed)}):\n{Transcript}");
            }
        }
    }

    private string ExitText() => _process.HasExited ? _process.ExitCode.ToString(CultureInfo.InvariantCulture) : "still running";

    /// <summary>Sends a signal (15 = SIGTERM, 1 = SIGHUP, 9 = SIGKILL).</summary>
    public void Signal(int signal)
    {
        Note($"test sends signal {signal} to pid {_process.Id}");
        if (kill(_process.Id, signal) != 0) throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed");
    }

    /// <summary>Waits for the process to exit and its output to end; fails with the transcript after <paramref name="timeout"/>.</summary>
    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"agent did not exit within {timeout.TotalSeconds} s:\n{Transcript}");
        }
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
            catch (TimeoutException) { _process.Kill(entireProcessTree: true); }
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
