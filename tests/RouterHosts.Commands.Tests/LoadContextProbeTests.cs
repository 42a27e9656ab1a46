using System.Diagnostics;

namespace RouterHosts.Commands.Tests;

/// <summary>
/// The private load context at run time, not just on paper: a separate process loads the
/// assembled module the way PowerShell does (no client library on its probing path) and
/// reports where every assembly went.
/// </summary>
[Collection(ModuleCollection.Name)]
public sealed class LoadContextProbeTests(ModuleUnderTest module)
{
    [Fact]
    public void The_client_and_its_dependencies_load_privately_and_the_model_is_shared()
    {
        if (!module.IsAssembled) return;
        var lines = RunProbe();
        var contexts = lines.Where(l => l.Contains('|')).ToDictionary(l => l[..l.IndexOf('=')], l => l[(l.IndexOf('=') + 1)..]);

        Assert.Contains("SameRouterHost=True", lines);
        Assert.Contains("ClientType=RouterHosts.Dependencies", lines);
        foreach (var name in new[] { "RouterHosts.Client", "RouterHosts.Transport", "Grpc.Net.Client", "Grpc.Core.Api" })
        {
            Assert.True(contexts.TryGetValue(name, out var where), $"{name} was not loaded: {string.Join(Environment.NewLine, lines)}");
            Assert.StartsWith("RouterHosts.Dependencies|", where);
            Assert.Contains(Path.Combine(module.ModuleDirectory, "deps"), where);
        }
        Assert.StartsWith("Default|", contexts["RouterHosts.Commands"]);
        Assert.StartsWith("Default|", contexts["RouterHosts.Model"]);
        Assert.DoesNotContain(contexts, c => c.Value.StartsWith("Default|", StringComparison.Ordinal)
            && (c.Key.StartsWith("Grpc.", StringComparison.Ordinal) || c.Key is "Google.Protobuf" or "RouterHosts.Client" or "RouterHosts.Transport" or "RouterHosts.Protocol"));
    }

    private List<string> RunProbe()
    {
        // The probe runs from a folder holding only this test assembly and its runtimeconfig,
        // so nothing of ours is on the default context's probing path.
        var folder = Path.Combine(Path.GetTempPath(), "routerhosts-probe-" + Guid.NewGuid().ToString("N")[..12]);
        Directory.CreateDirectory(folder);
        try
        {
            var self = typeof(Program).Assembly.Location;
            var name = Path.GetFileNameWithoutExtension(self);
            File.Copy(self, Path.Combine(folder, name + ".dll"));
            File.Copy(Path.Combine(Path.GetDirectoryName(self)!, name + ".runtimeconfig.json"), Path.Combine(folder, name + ".runtimeconfig.json"));
            var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true };
            foreach (var argument in new[] { "exec", Path.Combine(folder, name + ".dll"), "--load-probe", module.ModuleDirectory })
                start.ArgumentList.Add(argument);
            using var process = Process.Start(start)!;
            var output = process.StandardOutput.ReadToEndAsync();
            var error = process.StandardError.ReadToEndAsync();
            Assert.True(process.WaitForExit(60_000), "the probe did not finish");
            Assert.True(process.ExitCode == 0, $"the probe failed ({process.ExitCode}):\n{output.Result}\n{error.Result}");
            return output.Result.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries).ToList();
        }
        finally
        {
            try { Directory.Delete(folder, recursive: true); } catch (IOException) { }
        }
    }
}
