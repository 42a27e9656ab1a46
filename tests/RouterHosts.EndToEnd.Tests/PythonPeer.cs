using System.Diagnostics;
using System.Text.Json;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>
/// Runs the python grpcio peers in interop/ with stubs that protoc generates from
/// our own proto (Debian's protoc 3.21 and grpc_python_plugin; CI installs them).
/// </summary>
public static class PythonPeer
{
    public const string Python = "/usr/bin/python3";
    private static readonly Lazy<string> Stubs = new(GenerateStubs);

    public static string StubsDirectory => Stubs.Value;

    public static string Script(string name) => Path.Combine(AppContext.BaseDirectory, "interop", name);

    private static string GenerateStubs()
    {
        var output = AgentProcess.NewTempDirectory();
        var root = AgentProcess.RepositoryRoot;
        var (code, text) = Run("protoc", ["-I", Path.Combine(root, "proto"), "-I", "/usr/include", "--python_out=" + output,
            "--grpc_out=" + output, "--plugin=protoc-gen-grpc=/usr/bin/grpc_python_plugin", "router_hosts/v1/hosts.proto"], TimeSpan.FromSeconds(60));
        if (code != 0) throw new InvalidOperationException("protoc failed (install protobuf-compiler and protobuf-compiler-grpc):\n" + text);
        return output;
    }

    /// <summary>Runs python_client.py with a scenario and returns the JSON it printed.</summary>
    public static JsonElement RunClient(string endpoint, string pkiDirectory, string scenario)
    {
        var (code, text) = Run(Python, [Script("python_client.py"), StubsDirectory, endpoint, pkiDirectory, scenario], TimeSpan.FromSeconds(90));
        if (code != 0) throw new InvalidOperationException($"python client ({scenario}) exited {code}:\n{text}");
        var lastLine = text.Split('\n', StringSplitOptions.RemoveEmptyEntries).Last();
        return JsonDocument.Parse(lastLine).RootElement.Clone();
    }

    public static (int ExitCode, string Output) Run(string file, IEnumerable<string> args, TimeSpan timeout)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeout))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} did not finish in {timeout}");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>Starts python_server.py on a free port and waits for it to listen.</summary>
    public static async Task<(Process Process, int Port)> StartServerAsync(string pkiDirectory)
    {
        var port = AgentProcess.FreePort();
        var info = new ProcessStartInfo(Python) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in new[] { Script("python_server.py"), StubsDirectory, port.ToString(), pkiDirectory }) info.ArgumentList.Add(a);
        var process = Process.Start(info)!;
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var line = await process.StandardOutput.ReadLineAsync(timeout.Token);
        if (line != $"listening {port}")
            throw new InvalidOperationException($"python server did not start: {line}\n{await process.StandardError.ReadToEndAsync()}");
        return (process, port);
    }
}
