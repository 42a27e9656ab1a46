using System.Diagnostics;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>The real programs from Debian that some tests drive (DNS servers, dig, an ACME CA and client).</summary>
internal static class RealTools
{
    /// <summary>The full path of a program; a missing one fails the test naming the package that has it (nothing is skipped).</summary>
    public static string Require(string name, string package)
    {
        var path = (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':').Concat(["/usr/sbin", "/sbin", "/usr/bin"])
            .Where(d => d.Length > 0).Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
        return path ?? throw new Xunit.Sdk.XunitException(
            $"{name} is not installed: this test needs the real program; install the Debian package {package} (test.sh does)");
    }

    /// <summary>Runs a program to its end (at most <paramref name="timeoutSeconds"/>): its exit code and its output, both streams.</summary>
    public static (int Exit, string Output) Run(string file, IEnumerable<string> args, IDictionary<string, string>? environment = null,
        int timeoutSeconds = 60)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args) info.ArgumentList.Add(arg);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) info.Environment[key] = value;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        if (!process.WaitForExit(timeoutSeconds * 1000))
        {
            process.Kill(entireProcessTree: true);
            Assert.Fail($"{file} {string.Join(' ', args)} did not finish in {timeoutSeconds} s: {stdout.Result}{stderr.Result}");
        }
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    /// <summary>A server the test started (and ends, on Dispose); its output is kept for failure messages.</summary>
    public sealed class Server : IDisposable
    {
        public required Process Process { get; init; }
        public System.Text.StringBuilder Output { get; } = new();
        public string Log { get { lock (Output) return Output.ToString(); } }

        public void Dispose()
        {
            try { if (!Process.HasExited) { Process.Kill(); Process.WaitForExit(10_000); } }
            catch (InvalidOperationException) { }
            Process.Dispose();
        }
    }

    public static Server Start(string file, IEnumerable<string> args, IDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args) info.ArgumentList.Add(arg);
        foreach (var (key, value) in environment ?? new Dictionary<string, string>()) info.Environment[key] = value;
        var server = new Server { Process = new Process { StartInfo = info } };
        server.Process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (server.Output) server.Output.AppendLine(e.Data); };
        server.Process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (server.Output) server.Output.AppendLine(e.Data); };
        server.Process.Start();
        server.Process.BeginOutputReadLine();
        server.Process.BeginErrorReadLine();
        return server;
    }
}
