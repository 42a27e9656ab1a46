using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace RouterHosts.Agent.Tests.Harness;

/// <summary>
/// One run of the real agent binary (adapted from the end-to-end harness): any
/// arguments and environment, output kept for assertions, signals, exit code.
/// The systemd variables are removed from the inherited environment unless a test
/// sets them itself.
/// </summary>
public sealed class AgentRun : IAsyncDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new();
    private readonly List<string> _lines = [];

    private AgentRun(Process process)
    {
        _process = process;
        process.OutputDataReceived += (_, e) => Add(e.Data);
        process.ErrorDataReceived += (_, e) => Add(e.Data);
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
    }

    private void Add(string? line)
    {
        if (line is null) return;
        lock (_output)
        {
            _output.AppendLine(line);
            _lines.Add(line);
        }
    }

    public const string AgentUnderTestVariable = "ROUTERHOSTS_TEST_AGENT_BINARY";

    /// <summary>The agent's own environment prefix (AgentConfiguration.EnvironmentPrefix; the tests see the agent only as a process).</summary>
    private const string AgentEnvironmentPrefix = "ROUTERHOSTS_AGENT_";

    public int Pid => _process.Id;
    public string Output { get { lock (_output) return _output.ToString(); } }
    public IReadOnlyList<string> Lines { get { lock (_output) return _lines.ToList(); } }
    public bool HasExited => _process.HasExited;

    /// <summary>The agent's built binary (same configuration as the tests); one definition, in the end-to-end harness.</summary>
    public static string AgentDll => AgentProcess.AgentDll;

    public static string RepositoryRoot => AgentProcess.RepositoryRoot;

    /// <summary>
    /// Starts `dotnet routerhosts-agent.dll ARGS`. With <paramref name="viaShell"/> the
    /// command is exec'd by /bin/sh after that shell line runs (for variables that must
    /// be computed from the process's own descriptors, e.g. JOURNAL_STREAM).
    /// </summary>
    public static AgentRun Start(IEnumerable<string> args, string workingDirectory, IDictionary<string, string>? environment = null,
        string? viaShell = null)
    {
        // ROUTERHOSTS_TEST_AGENT_BINARY=/path/to/routerhosts-agent runs the suite against a published
        // agent (self-contained, ReadyToRun, NativeAOT) instead of the build next to the tests.
        var binary = Environment.GetEnvironmentVariable(AgentUnderTestVariable);
        var command = new List<string>();
        if (string.IsNullOrEmpty(binary)) command.AddRange(["dotnet", AgentDll]);
        else command.Add(binary);
        command.AddRange(args);
        var info = viaShell is null ? new ProcessStartInfo(command[0]) : new ProcessStartInfo("/bin/sh");
        info.RedirectStandardOutput = true;
        info.RedirectStandardError = true;
        info.UseShellExecute = false;
        info.WorkingDirectory = workingDirectory;
        if (viaShell is null)
        {
            foreach (var a in command.Skip(1)) info.ArgumentList.Add(a);
        }
        else
        {
            info.ArgumentList.Add("-c");
            info.ArgumentList.Add($"{viaShell}; exec \"$@\"");
            info.ArgumentList.Add("sh");
            foreach (var a in command) info.ArgumentList.Add(a);
        }
        foreach (var name in new[] { "NOTIFY_SOCKET", "JOURNAL_STREAM", "WATCHDOG_USEC", "WATCHDOG_PID" })
            info.Environment.Remove(name);
        // Only the agent's own settings are kept out of its way; foreign ROUTERHOSTS_* variables
        // (the client's, the test runner's) reach it as they would on a user's machine.
        foreach (var name in info.Environment.Keys.Where(k => k.StartsWith(AgentEnvironmentPrefix, StringComparison.OrdinalIgnoreCase)).ToList())
            info.Environment.Remove(name);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) info.Environment[key] = value;
        var process = Process.Start(info)!;
        RunningAgents.Track(process);
        return new AgentRun(process);
    }

    /// <summary>Runs the agent to completion (configuration errors, pki commands).</summary>
    public static async Task<(int ExitCode, string Output)> RunToExitAsync(IEnumerable<string> args, string workingDirectory,
        IDictionary<string, string>? environment = null, TimeSpan? timeout = null)
    {
        await using var run = Start(args, workingDirectory, environment);
        var exit = await run.WaitForExitAsync(timeout ?? TimeSpan.FromSeconds(30));
        return (exit, run.Output);
    }

    /// <summary>Polls the output until a line contains <paramref name="text"/>; fails with the output when the deadline passes or the agent exits.</summary>
    public async Task<string> WaitForLineAsync(string text, TimeSpan? timeout = null, int occurrence = 1)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(20));
        while (true)
        {
            var matches = Lines.Where(l => l.Contains(text, StringComparison.Ordinal)).ToList();
            if (matches.Count >= occurrence) return matches[occurrence - 1];
            if (_process.HasExited)
            {
                await Task.Delay(100); // let the last lines arrive
                matches = Lines.Where(l => l.Contains(text, StringComparison.Ordinal)).ToList();
                if (matches.Count >= occurrence) return matches[occurrence - 1];
                throw new InvalidOperationException($"agent exited ({_process.ExitCode}) without printing '{text}':\n{Output}");
            }
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"agent did not print '{text}':\n{Output}");
            await Task.Delay(25);
        }
    }

    /// <summary>Waits for the "ready" log line (written after the listeners are bound).</summary>
    public Task WaitUntilReadyAsync(TimeSpan? timeout = null) => WaitForLineAsync("RouterHosts agent", timeout);

    /// <summary>Sends a signal (15 = SIGTERM, 1 = SIGHUP, 9 = SIGKILL).</summary>
    public void Signal(int signal)
    {
        if (kill(_process.Id, signal) != 0) throw new InvalidOperationException($"kill({_process.Id}, {signal}) failed");
    }

    public async Task<int> WaitForExitAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await _process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            throw new TimeoutException($"agent did not exit within {timeout.TotalSeconds} s:\n{Output}");
        }
        return _process.ExitCode;
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
    }

    [DllImport("libc", SetLastError = true)] private static extern int kill(int pid, int signal);
}
