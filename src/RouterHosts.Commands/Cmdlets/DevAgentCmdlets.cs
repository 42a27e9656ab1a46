using System.Diagnostics;
using System.Management.Automation;
using RouterHosts.Commands.Internal;

namespace RouterHosts.Commands;

/// <summary>
/// Start-RouterHostsDevAgent: a real, throwaway agent for tests (`routerhosts-agent --dev`
/// with its data under -Path, on a free loopback port). Returns once a Readiness call has
/// succeeded; the connection to it becomes the default (written only with -PassThru or
/// -NotDefault, as Connect-RouterHostsAgent does). The agent comes from -AgentPath, else
/// the module's agent/linux-x64 (build.ps1 -Task Package ships it), else routerhosts-agent
/// on PATH.
/// </summary>
[Cmdlet(VerbsLifecycle.Start, "RouterHostsDevAgent", SupportsShouldProcess = true)]
[OutputType(typeof(RouterHostsConnection))]
public sealed class StartRouterHostsDevAgentCommand : RouterHostsCmdlet
{
    /// <summary>The agent's data directory (created): hosts, client.json, pki/, routerhosts.db, agent.log.</summary>
    [Parameter(Mandatory = true, Position = 0)]
    [ValidateNotNullOrEmpty]
    public string Path { get; set; } = "";

    /// <summary>A routerhosts-agent executable, or a routerhosts-agent.dll (run with dotnet).</summary>
    [Parameter]
    [ValidateNotNullOrEmpty]
    public string? AgentPath { get; set; }

    /// <summary>The loopback port to listen on; by default a free one.</summary>
    [Parameter]
    [ValidateRange(1, 65535)]
    public int Port { get; set; }

    /// <summary>How long to wait for the agent to answer.</summary>
    [Parameter]
    [ValidateRange(1, 3600)]
    public int TimeoutSec { get; set; } = 120;

    [Parameter]
    public SwitchParameter NotDefault { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void EndProcessing()
    {
        var path = FileSystemPath(Path);
        var (fileName, arguments) = AgentCommand();
        var port = Port > 0 ? Port : DevAgents.FreeLoopbackPort();
        var endpoint = $"127.0.0.1:{port}";
        if (!ShouldProcess($"{endpoint} (data in {path})", "Start a dev agent")) return;

        Directory.CreateDirectory(path);
        var clientJson = System.IO.Path.Combine(path, "client.json");
        File.Delete(clientJson); // a previous run's, naming another port: the agent writes a fresh one
        var logPath = System.IO.Path.Combine(path, "agent.log");
        var log = new StreamWriter(new FileStream(logPath, FileMode.Append, FileAccess.Write, FileShare.ReadWrite | FileShare.Delete)) { AutoFlush = true };

        var start = new ProcessStartInfo(fileName)
        {
            UseShellExecute = false,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            WorkingDirectory = path,
        };
        foreach (var argument in arguments.Concat(["--dev", "--data-dir", path, "--listen", endpoint])) start.ArgumentList.Add(argument);
        WriteDebug($"Starting {fileName} {string.Join(' ', start.ArgumentList)}.");
        var watch = Stopwatch.StartNew();
        var process = new Process { StartInfo = start };
        DataReceivedEventHandler append = (_, e) =>
        {
            if (e.Data is null) return;
            lock (log)
            {
                try { log.WriteLine(e.Data); }
                catch (ObjectDisposedException) { }
            }
        };
        process.OutputDataReceived += append;
        process.ErrorDataReceived += append;
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            log.Dispose();
            Terminate(ErrorIds.DevAgentFailed, ErrorCategory.InvalidOperation, $"Cannot start the RouterHosts agent {fileName}: {e.Message}", fileName, e);
            return;
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        RouterHostsConnection? connection = null;
        try
        {
            connection = WaitReady(process, clientJson, port, logPath, log);
        }
        finally
        {
            if (connection is null)
            {
                DevAgents.End(process, log);
            }
        }

        DevAgents.Add(new DevAgents.DevAgent(process, connection, path, logPath, log, DevAgents.CurrentRunspace));
        if (!NotDefault) ConnectionRegistry.SetDefault(connection);
        WriteVerbose($"The dev agent on {endpoint} (process {process.Id}) answered after {watch.Elapsed.TotalMilliseconds:0} ms; its data and agent.log are in {path}.");
        if (PassThru || NotDefault) WriteObject(connection);
    }

    /// <summary>
    /// Waits, up to -TimeoutSec, for client.json (written after the certificates it names),
    /// for the port to accept connections, then for a Readiness call that says ready.
    /// </summary>
    private RouterHostsConnection WaitReady(Process process, string clientJson, int port, string logPath, StreamWriter log)
    {
        var deadline = DateTime.UtcNow.AddSeconds(TimeoutSec);
        RouterHostsConnection? connection = null;
        var reason = "it did not write client.json";
        try
        {
            while (true)
            {
                if (process.HasExited)
                {
                    process.WaitForExit(); // the rest of its output, for the message
                    Fail($"The dev agent exited with code {process.ExitCode} before it was ready.", logPath, log);
                }
                if (DateTime.UtcNow > deadline)
                    Fail($"The dev agent was not ready within {TimeoutSec} s ({reason}).", logPath, log);

                if (connection is null && File.Exists(clientJson) && DevAgents.Accepts(port))
                    connection = ConnectionFactory.FromConfigFile(clientJson);
                if (connection is not null)
                {
                    var probe = connection.Session.Client;
                    var (ready, notReady) = Wait(probe.TestAsync(StopToken));
                    if (ready) return connection;
                    reason = "Readiness said: " + notReady;
                }
                else if (File.Exists(clientJson))
                {
                    reason = $"nothing accepted connections on port {port}";
                }
                if (StopToken.WaitHandle.WaitOne(100)) throw new PipelineStoppedException();
            }
        }
        catch
        {
            connection?.Close();
            throw;
        }
    }

    private void Fail(string message, string logPath, StreamWriter log) =>
        Terminate(ErrorIds.DevAgentFailed, ErrorCategory.InvalidOperation,
            $"{message} The end of its log ({logPath}):\n{DevAgents.Tail(logPath, log)}", logPath);

    /// <summary>What to run: -AgentPath, else the module's own agent, else routerhosts-agent on PATH.</summary>
    private (string FileName, string[] Arguments) AgentCommand()
    {
        string? agent;
        if (AgentPath is not null)
        {
            agent = FileSystemPath(AgentPath);
            if (!File.Exists(agent))
                Terminate(ErrorIds.DevAgentNotFound, ErrorCategory.ObjectNotFound, $"-AgentPath {agent} does not exist.", agent);
        }
        else
        {
            var moduleFolder = System.IO.Path.GetDirectoryName(typeof(StartRouterHostsDevAgentCommand).Assembly.Location);
            agent = DevAgents.Shipped(moduleFolder) ?? DevAgents.OnPath("routerhosts-agent");
            if (agent is null)
                Terminate(ErrorIds.DevAgentNotFound, ErrorCategory.ObjectNotFound,
                    $"No RouterHosts agent to start: the module in {moduleFolder} ships none for this platform (agent/linux-x64 " +
                    "comes with the linux-x64 package that build.ps1 -Task Package makes), and routerhosts-agent is not on PATH.",
                    moduleFolder,
                    advice: "Give -AgentPath (a routerhosts-agent executable or routerhosts-agent.dll), put routerhosts-agent on PATH " +
                            "(packaging/install.sh installs it as /usr/sbin/routerhosts-agent), or install the module's linux-x64 package.");
        }
        if (!agent!.EndsWith(".dll", StringComparison.OrdinalIgnoreCase)) return (agent, []);
        var dotnet = DevAgents.DotnetHost();
        if (dotnet is null)
            Terminate(ErrorIds.DevAgentNotFound, ErrorCategory.ObjectNotFound,
                $"The agent {agent} needs the .NET 10 runtime with ASP.NET Core, and no dotnet was found (in $env:DOTNET_ROOT or on PATH).",
                agent, advice: "Install the .NET 10 runtime (ASP.NET Core), or give -AgentPath a self-contained routerhosts-agent (packaging/install.sh).");
        return (dotnet!, [agent]);
    }
}

/// <summary>
/// Stop-RouterHostsDevAgent: ends dev agents started by Start-RouterHostsDevAgent (their
/// processes, and the connections to them). Without -Connection, every one this runspace
/// started; none left is not an error, so it fits an AfterAll that runs after a failure.
/// </summary>
[Cmdlet(VerbsLifecycle.Stop, "RouterHostsDevAgent", SupportsShouldProcess = true)]
public sealed class StopRouterHostsDevAgentCommand : RouterHostsCmdlet
{
    /// <summary>The connection Start-RouterHostsDevAgent made; by default every dev agent this runspace started.</summary>
    [Parameter(Position = 0, ValueFromPipeline = true)]
    [ValidateNotNull]
    [ArgumentCompleter(typeof(ConnectionCompleter))]
    public RouterHostsConnection? Connection { get; set; }

    private bool _any;

    protected override void ProcessRecord()
    {
        if (Connection is null) return;
        _any = true;
        if (DevAgents.Find(Connection) is not { } agent)
        {
            WriteError(NewError(ErrorIds.DevAgentNotFound, ErrorCategory.ObjectNotFound,
                $"The connection to {Connection.Target} is not one to a dev agent that Start-RouterHostsDevAgent started in this session.", Connection));
            return;
        }
        Stop(agent);
    }

    protected override void EndProcessing()
    {
        if (_any) return;
        var runspace = DevAgents.CurrentRunspace;
        foreach (var agent in DevAgents.Of(runspace)) Stop(agent);
    }

    private void Stop(DevAgents.DevAgent agent)
    {
        if (!ShouldProcess(agent.Describe(), "Stop")) return;
        DevAgents.Take(a => ReferenceEquals(a, agent));
        End(agent);
    }

    private void End(DevAgents.DevAgent agent)
    {
        var description = agent.Describe();
        ConnectionRegistry.ClearDefault(agent.Connection);
        agent.Connection.Close();
        if (DevAgents.End(agent.Process, agent.Log))
            WriteVerbose($"Stopped the {description}.");
        else
            WriteWarning($"The {description} did not exit within 30 s of being killed.");
    }
}
