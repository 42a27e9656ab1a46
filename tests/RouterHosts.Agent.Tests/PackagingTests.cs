using System.Diagnostics;
using System.Text.Json.Nodes;
using System.Text.RegularExpressions;
using RouterHosts.Agent.Tests.Harness;

namespace RouterHosts.Agent.Tests;

/// <summary>
/// packaging/: the unit file passes `systemd-analyze verify` (syntax, known
/// directives and values, an executable ExecStart) and an offline security
/// review; the sample configuration passes the agent's own validation;
/// install.sh stages the documented layout into a DESTDIR.
/// </summary>
public sealed class PackagingTests : IDisposable
{
    private readonly string _dir = AgentSite.NewTempDirectory("packaging");

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Packaging(string file) => Path.Combine(AgentProcess.RepositoryRoot, "packaging", file);

    /// <summary>The agent as built next to the tests: an apphost executable that can stand in for the installed one.</summary>
    private static string AgentExecutable => Path.Combine(Path.GetDirectoryName(AgentProcess.AgentDll)!, "routerhosts-agent");

    private static async Task<(int ExitCode, string Output)> RunAsync(string file, IEnumerable<string> args, IDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        foreach (var (k, v) in environment ?? new Dictionary<string, string>()) info.Environment[k] = v;
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, (await stdout) + (await stderr));
    }

    /// <summary>A copy of the unit whose ExecStart names the built agent, which exists here (the installed path does not).</summary>
    private string UnitCopy(Func<string, string>? change = null)
    {
        var text = File.ReadAllText(Packaging("router-hosts-agent.service"));
        Assert.Contains("ExecStart=/usr/lib/router-hosts/routerhosts-agent ", text);
        text = text.Replace("/usr/lib/router-hosts/routerhosts-agent", AgentExecutable);
        var path = Path.Combine(_dir, "router-hosts-agent.service");
        File.WriteAllText(path, change is null ? text : change(text));
        return path;
    }

    [Fact]
    public async Task Unit_file_passes_systemd_analyze_verify_and_has_the_hardening()
    {
        Assert.True(File.Exists(AgentExecutable), AgentExecutable);
        var (exit, output) = await RunAsync("systemd-analyze", ["verify", UnitCopy()]);
        Assert.True(exit == 0 && output.Trim().Length == 0, $"systemd-analyze verify: exit {exit}\n{output}");

        // The check can fail: a misspelt directive and a bad value are reported.
        var (_, broken) = await RunAsync("systemd-analyze", ["verify", UnitCopy(t => t.Replace("ProtectHome=yes", "ProtectHom=yes").Replace("Type=notify", "Type=notifyy"))]);
        Assert.Contains("Unknown key 'ProtectHom'", broken);
        Assert.Contains("Failed to parse service type", broken);

        // What the unit must say (systemd-analyze verify does not require any of it).
        var unit = File.ReadAllLines(Packaging("router-hosts-agent.service")).Where(l => !l.StartsWith('#')).ToList();
        foreach (var line in new[]
                 {
                     "Type=notify", "NotifyAccess=main", "WatchdogSec=30s", "Restart=on-failure", "RestartPreventExitStatus=2 3",
                     "ExecReload=/bin/sh -c 'kill -HUP $MAINPID'", "User=router-hosts", "Group=router-hosts", "NoNewPrivileges=yes",
                     "ProtectSystem=strict", "ReadWritePaths=/var/lib/router-hosts", "ReadWritePaths=-/etc/hosts.d", "PrivateTmp=yes",
                     "ProtectHome=yes", "RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6", "CapabilityBoundingSet=", "AmbientCapabilities=",
                     "StateDirectory=router-hosts", "RuntimeDirectory=router-hosts",
                 })
            Assert.Contains(line, unit);
        Assert.DoesNotContain(unit, l => l.StartsWith("MemoryDenyWriteExecute=yes", StringComparison.Ordinal)); // breaks the .NET JIT

        // systemd's own exposure score (0 best, 10 worst): at most 2.5.
        var (secure, review) = await RunAsync("systemd-analyze", ["security", "--offline=yes", "--threshold=25", UnitCopy()]);
        Assert.True(secure == 0, review);
        Assert.Matches(@"Overall exposure level for router-hosts-agent\.service: [0-2]\.\d", review);
    }

    [Fact]
    public async Task Sample_configuration_passes_validation_and_every_key_is_documented()
    {
        // The sample names router paths (/etc/router-hosts/pki, /var/lib/router-hosts, group router-hosts) that
        // exist only on an installed router: those values are overridden; every key and every other value is the sample's.
        var pki = Path.Combine(_dir, "pki");
        var (exit, output) = await AgentProcess.RunToExitAsync(["pki", "init", "--dir", pki, "--server-name", "router.test"], _dir);
        Assert.True(exit == 0, output);
        var sample = Path.Combine(_dir, "agent.json");
        File.Copy(Packaging("agent.json.sample"), sample);
        File.SetUnixFileMode(sample, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
        Directory.CreateDirectory(Path.Combine(_dir, "hosts.d"));
        (exit, output) = await AgentProcess.RunToExitAsync(
        [
            "--config", sample, "--check-config",
            $"--tls:certificate={pki}/server.crt", $"--tls:key={pki}/server.key", $"--tls:ca={pki}/ca.crt",
            $"--database={_dir}/lib/hosts.db", $"--hosts_file:path={_dir}/hosts.d/router-hosts",
            $"--unix_socket:path={_dir}/run/agent.sock", "--unix_socket:group=root",
        ], _dir);
        Assert.True(exit == 0, output);
        Assert.Contains("configuration is valid", output);

        // Without the overrides the same file is judged on this machine: it may fail only on what a router has.
        (exit, output) = await AgentProcess.RunToExitAsync(["--config", sample, "--check-config"], _dir);
        Assert.Equal(2, exit);
        AssertOnlyRouterSpecificProblems(output);

        // Every key of the sample is described in agent.json.md.
        var reference = File.ReadAllText(Packaging("agent.json.md"));
        foreach (var key in Keys(JsonNode.Parse(File.ReadAllText(Packaging("agent.json.sample")))!.AsObject(), ""))
            Assert.True(reference.Contains($"`{key}`", StringComparison.Ordinal), $"agent.json.md does not describe `{key}`");
    }

    /// <summary>Every problem names a router path or the router-hosts group, which this machine does not have.</summary>
    private static void AssertOnlyRouterSpecificProblems(string output)
    {
        var problems = output.Split('\n', StringSplitOptions.RemoveEmptyEntries).Where(l => l.StartsWith("routerhosts-agent: ", StringComparison.Ordinal)).ToList();
        Assert.NotEmpty(problems);
        foreach (var problem in problems)
            Assert.True(new[] { "/etc/router-hosts/", "/var/lib/router-hosts", "/run/router-hosts", "/etc/hosts.d", "group 'router-hosts'" }
                .Any(problem.Contains), problem);
    }

    private static IEnumerable<string> Keys(JsonObject node, string prefix)
    {
        foreach (var (key, value) in node)
        {
            var path = prefix.Length == 0 ? key : $"{prefix}.{key}";
            if (value is JsonObject child && child.Count > 0 && path is not ("access.certificates" or "access.unix_peers"))
                foreach (var inner in Keys(child, path)) yield return inner;
            else yield return path;
        }
    }

    [Fact]
    public async Task Install_script_stages_the_layout_into_a_destdir()
    {
        // Staged from the agent as built for the tests (framework-dependent) rather than a fresh
        // `dotnet publish --self-contained` (about a minute and a half here): the layout logic is the same;
        // the publish step itself is run by `packaging/install.sh` without --from, and by bench/agent-startup.sh.
        var from = Path.GetDirectoryName(AgentProcess.AgentDll)!;
        var stage = Path.Combine(_dir, "stage");
        var (exit, output) = await RunAsync(Packaging("install.sh"), ["--from", from], new Dictionary<string, string> { ["DESTDIR"] = stage });
        Assert.True(exit == 0, output);
        Assert.Contains($"staged into {stage}", output);

        UnixFileMode Mode(string path) => File.GetUnixFileMode(Path.Combine(stage, path));
        const UnixFileMode exec = (UnixFileMode)0x1ed; // 0755
        Assert.Equal(exec, Mode("usr/lib/router-hosts/routerhosts-agent"));
        Assert.True(File.Exists(Path.Combine(stage, "usr/lib/router-hosts/routerhosts-agent.dll")));
        Assert.Equal("../lib/router-hosts/routerhosts-agent", new FileInfo(Path.Combine(stage, "usr/sbin/routerhosts-agent")).LinkTarget);
        Assert.Equal(File.ReadAllText(Packaging("router-hosts-agent.service")), File.ReadAllText(Path.Combine(stage, "lib/systemd/system/router-hosts-agent.service")));
        Assert.Equal(File.ReadAllText(Packaging("agent.json.sample")), File.ReadAllText(Path.Combine(stage, "etc/router-hosts/agent.json")));
        Assert.Equal((UnixFileMode)0x1a0, Mode("etc/router-hosts/agent.json")); // 0640: not group-writable, so the agent accepts it
        Assert.True(Directory.Exists(Path.Combine(stage, "var/lib/router-hosts")));
        Assert.True(Directory.Exists(Path.Combine(stage, "etc/hosts.d")));
        Assert.Contains("u router-hosts", File.ReadAllText(Path.Combine(stage, "usr/lib/sysusers.d/router-hosts.conf")));
        Assert.Contains("d /var/lib/router-hosts 0750 router-hosts router-hosts", File.ReadAllText(Path.Combine(stage, "usr/lib/tmpfiles.d/router-hosts.conf")));
        foreach (var doc in new[] { "README.md", "agent.json.md", "agent.json.sample" })
            Assert.True(File.Exists(Path.Combine(stage, "usr/share/doc/router-hosts", doc)), doc);

        // The staged agent runs (through its /usr/sbin link) and reads the staged configuration.
        var (versionExit, version) = await RunAsync(Path.Combine(stage, "usr/sbin/routerhosts-agent"), ["--version"]);
        Assert.True(versionExit == 0, version);
        Assert.Matches(new Regex(@"^routerhosts-agent \d+\.\d+\.\d+"), version);
        var (checkExit, check) = await RunAsync(Path.Combine(stage, "usr/sbin/routerhosts-agent"),
            ["--config", Path.Combine(stage, "etc/router-hosts/agent.json"), "--check-config"]);
        Assert.Equal(2, checkExit);
        AssertOnlyRouterSpecificProblems(check);

        // A second install keeps an edited configuration and replaces the agent's files.
        File.AppendAllText(Path.Combine(stage, "etc/router-hosts/agent.json"), "\n");
        File.WriteAllText(Path.Combine(stage, "usr/lib/router-hosts/stale.dll"), "old");
        (exit, output) = await RunAsync(Packaging("install.sh"), ["--from", from, "--destdir", stage]);
        Assert.True(exit == 0, output);
        Assert.Contains("kept the existing", output);
        Assert.EndsWith("\n\n", File.ReadAllText(Path.Combine(stage, "etc/router-hosts/agent.json")));
        Assert.False(File.Exists(Path.Combine(stage, "usr/lib/router-hosts/stale.dll")));
    }
}
