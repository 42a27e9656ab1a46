using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json.Nodes;
using RouterHosts.Agent.Tests.Harness;

namespace RouterHosts.Agent.Tests;

/// <summary>
/// Each kind of configuration error stops the real agent with exit code 2 and a
/// message naming the key and the file (and the override that set it); a valid
/// configuration passes --check-config; overrides from the environment and the
/// command line win over the file.
/// </summary>
public sealed class ConfigurationTests : IDisposable
{
    private readonly AgentSite _site = AgentSite.CreateAsync().GetAwaiter().GetResult();

    public void Dispose() => _site.Dispose();

    private async Task<string> ExpectRefusedAsync(IDictionary<string, string>? environment = null, params string[] extra)
    {
        var (exit, output) = await AgentProcess.RunToExitAsync(_site.Args(["--check-config", .. extra]), _site.Root, environment);
        Assert.True(exit == 2, $"expected exit code 2, got {exit}:\n{output}");
        Assert.DoesNotContain("configuration is valid", output);
        Assert.DoesNotContain("Unhandled exception", output);
        return output;
    }

    private void Edit(Action<JsonObject> change)
    {
        change(_site.Config);
        _site.WriteConfig();
    }

    [Fact]
    public async Task Valid_configuration_passes_the_check()
    {
        var (exit, output) = await AgentProcess.RunToExitAsync(_site.Args("--check-config"), _site.Root);
        Assert.True(exit == 0, output);
        Assert.Contains($"{_site.ConfigPath}: configuration is valid", output);
    }

    [Fact]
    public async Task Missing_file_is_named()
    {
        var missing = Path.Combine(_site.Root, "nope.json");
        var (exit, output) = await AgentProcess.RunToExitAsync(["--config", missing], _site.Root);
        Assert.Equal(2, exit);
        Assert.Contains($"{missing}: configuration file does not exist", output);
    }

    [Fact]
    public async Task Unknown_keys_are_named_with_a_suggestion()
    {
        Edit(c =>
        {
            c["tls"]!["certficate"] = "x";
            c["colour"] = "blue";
            c["compaction"] = new JsonObject { ["automatic"] = "yes", ["keep_day"] = 30 };
        });
        var output = await ExpectRefusedAsync();
        Assert.Contains($"{_site.ConfigPath}: compaction:keep_day: unknown key (did you mean 'compaction:keep_days'?", output);
        Assert.Contains($"{_site.ConfigPath}: compaction:automatic: 'yes' is not true or false", output);
        Assert.Contains($"{_site.ConfigPath}: tls:certficate: unknown key (did you mean 'tls:certificate'?", output);
        Assert.Contains($"{_site.ConfigPath}: colour: unknown key", output);
    }

    [Fact]
    public async Task Unknown_keys_from_overrides_name_the_variable_and_the_argument()
    {
        var output = await ExpectRefusedAsync(new Dictionary<string, string> { ["ROUTERHOSTS_AGENT_snapshots__max_snapshot"] = "3" }, "--hooks:on_sucess:0:name=x");
        Assert.Contains("snapshots:max_snapshot: unknown key (did you mean 'snapshots:max_snapshots'?", output);
        Assert.Contains("set by the environment variable ROUTERHOSTS_AGENT_snapshots__max_snapshot", output);
        Assert.Contains("hooks:on_sucess: unknown key", output);
        Assert.Contains("set on the command line by --hooks:on_sucess", output);
    }

    [Fact]
    public async Task Variables_outside_the_agents_prefix_are_ignored_while_a_misspelt_agent_key_is_refused()
    {
        // What build.ps1, the client library and a user's shell set: none of them is an agent key.
        var foreign = new Dictionary<string, string>
        {
            ["ROUTERHOSTS_TEST_MODULE_DIR"] = "/nowhere",
            ["ROUTERHOSTS_CLIENT_CONFIG"] = "/nowhere/client.json",
            ["ROUTERHOSTS_WHATEVER"] = "x",
        };
        var (exit, output) = await AgentProcess.RunToExitAsync(_site.Args("--check-config"), _site.Root, foreign);
        Assert.True(exit == 0, output);
        Assert.Contains("configuration is valid", output);

        var misspelt = new Dictionary<string, string>(foreign) { ["ROUTERHOSTS_AGENT_log_levle"] = "Debug" };
        var refused = await ExpectRefusedAsync(misspelt);
        Assert.Contains("log_levle: unknown key (did you mean 'log_level'?", refused);
        Assert.Contains("set by the environment variable ROUTERHOSTS_AGENT_log_levle", refused);
    }

    [Fact]
    public async Task Values_of_the_wrong_kind_are_refused()
    {
        Edit(c =>
        {
            c["max_message_bytes"] = "lots";
            c["listen"] = "127.0.0.1:1"; // a string where a list belongs
            c["hosts_file"] = "hosts";
        });
        var output = await ExpectRefusedAsync();
        Assert.Contains("max_message_bytes: 'lots' is not a whole number", output);
        Assert.Contains("listen: must be a list, not the value '127.0.0.1:1'", output);
        Assert.Contains("hosts_file: must be an object, not the value 'hosts'", output);
    }

    [Fact]
    public async Task Bad_values_are_all_reported_with_their_keys()
    {
        Edit(c =>
        {
            c["listen"] = new JsonArray("127.0.0.1:70000", "router.lan:50051", "::1:50051");
            c["unix_socket"]!["mode"] = "0860";
            c["unix_socket"]!["group"] = "no-such-group-xyz";
            c["hosts_file"]!["mode"] = "blocks";
            c["hooks"] = new JsonObject
            {
                ["on_success"] = new JsonArray(
                    new JsonObject { ["name"] = "reload", ["command"] = "true", ["timeout_seconds"] = 0 },
                    new JsonObject { ["name"] = "reload", ["command"] = "" }),
            };
            c["snapshots"] = new JsonObject { ["max_snapshots"] = 0, ["max_age_days"] = -1 };
            c["edit_session"] = new JsonObject { ["idle_timeout_seconds"] = 0 };
            c["compaction"] = new JsonObject { ["automatic"] = true, ["keep_days"] = 0, ["interval_seconds"] = 0 };
            c["access"] = new JsonObject
            {
                ["certificates"] = new JsonObject { ["CN=alice"] = "superuser" },
                ["unix_peers"] = new JsonObject { ["user:alice"] = "reader", ["uid:1000"] = "owner" },
            };
            c["log_level"] = "verbose";
            c["max_message_bytes"] = 10;
            c["shutdown_grace_seconds"] = 0;
        });
        var output = await ExpectRefusedAsync();
        var file = _site.ConfigPath;
        Assert.Contains($"{file}: listen:0: '70000' in '127.0.0.1:70000' is not a port", output);
        Assert.Contains($"{file}: listen:1: 'router.lan' in 'router.lan:50051' is not an IP address", output);
        Assert.Contains($"{file}: listen:2: '::1:50051': put an IPv6 address in brackets", output);
        Assert.Contains($"{file}: unix_socket:mode: '0860' is not a file mode", output);
        Assert.Contains($"{file}: unix_socket:group: there is no group 'no-such-group-xyz'", output);
        Assert.Contains($"{file}: hosts_file:mode: 'blocks' is not block", output);
        Assert.Contains($"{file}: hooks:on_success:0:timeout_seconds: 0 is not a number of seconds above 0", output);
        Assert.Contains($"{file}: hooks:on_success:1:name: 'reload' is also the name of hooks:on_success:0", output);
        Assert.Contains($"{file}: hooks:on_success:1:command: every hook needs a command", output);
        Assert.Contains($"{file}: snapshots:max_snapshots: 0 must be at least 1", output);
        Assert.Contains($"{file}: snapshots:max_age_days: -1 must be at least 1", output);
        Assert.Contains($"{file}: edit_session:idle_timeout_seconds: 0 is not between 1", output);
        Assert.Contains($"{file}: compaction:keep_days: 0 is not above 0", output);
        Assert.Contains($"{file}: compaction:interval_seconds: 0 is not between 1", output);
        Assert.Contains($"{file}: access:certificates:CN=alice: unknown role 'superuser' (use reader, writer or admin)", output);
        Assert.Contains($"{file}: access:unix_peers:user:alice: 'user:alice' names no peer", output);
        Assert.Contains($"{file}: access:unix_peers:uid:1000: unknown role 'owner'", output);
        Assert.Contains($"{file}: log_level: 'verbose' is not a log level", output);
        Assert.Contains($"{file}: max_message_bytes: 10 is not between 65536", output);
        Assert.Contains($"{file}: shutdown_grace_seconds: 0 is not between 1 and 600", output);
    }

    [Fact]
    public async Task Bad_outputs_are_reported_with_their_keys()
    {
        Edit(c => c["outputs"] = new JsonArray(
            new JsonObject { ["format"] = "bind", ["path"] = "zone.conf" },
            new JsonObject { ["format"] = "unbound", ["path"] = c["hosts_file"]!["path"]!.GetValue<string>() },
            new JsonObject { ["format"] = "dnsmasq", ["path"] = "zone.conf",
                ["hooks"] = new JsonObject { ["on_success"] = new JsonArray(new JsonObject { ["name"] = "reload" }) } },
            new JsonObject { ["format"] = "hosts", ["path"] = "no-such-dir/addn-hosts" }));
        var output = await ExpectRefusedAsync();
        var file = _site.ConfigPath;
        Assert.Contains($"{file}: outputs:0:format: 'bind' is not an output format (use hosts, dnsmasq or unbound)", output);
        Assert.Contains($"{file}: outputs:1:path: is the hosts file (hosts_file:path); an output is another file", output);
        Assert.Contains($"{file}: outputs:2:path: {Path.Combine(_site.Root, "zone.conf")} is also the path of outputs:0", output);
        Assert.Contains($"{file}: outputs:2:hooks:on_success:0:command: every hook needs a command", output);

        Edit(c => c["outputs"] = new JsonArray(new JsonObject { ["format"] = "hosts", ["path"] = "no-such-dir/addn-hosts" }));
        Assert.Contains($"{file}: outputs:0:path: ", await ExpectRefusedAsync());
    }

    [Fact]
    public async Task Bad_telemetry_settings_are_named()
    {
        var mtls = _site.Config["listen"]![0]!.GetValue<string>();
        Edit(c => c["telemetry"] = new JsonObject
        {
            ["prometheus"] = new JsonObject { ["enabled"] = true, ["listen"] = "127.0.0.1:" + mtls.Split(':')[^1] },
            ["otlp"] = new JsonObject { ["endpoint"] = "collector:4317", ["protocol"] = "thrift" },
        });
        var output = await ExpectRefusedAsync();
        var file = _site.ConfigPath;
        Assert.Contains($"{file}: telemetry:prometheus:listen: port {mtls.Split(':')[^1]} is an mTLS port of listen", output);
        Assert.Contains($"{file}: telemetry:otlp:endpoint: 'collector:4317' is not an http:// or https:// URL", output);
        Assert.Contains($"{file}: telemetry:otlp:protocol: 'thrift' is not grpc or http/protobuf", output);
    }

    [Fact]
    public async Task Listeners_and_tls_are_required()
    {
        Edit(c =>
        {
            c["listen"] = new JsonArray();
            c.Remove("unix_socket");
        });
        Assert.Contains("listen: nothing to listen on", await ExpectRefusedAsync());
        Edit(c =>
        {
            c["listen"] = new JsonArray(_site.Endpoint);
            c.Remove("tls");
        });
        Assert.Contains($"{_site.ConfigPath}: tls: TCP listeners need tls:certificate, tls:key and tls:ca", await ExpectRefusedAsync());
    }

    [Fact]
    public async Task Group_or_world_writable_file_is_refused()
    {
        File.SetUnixFileMode(_site.ConfigPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite);
        var output = await ExpectRefusedAsync();
        Assert.Contains($"{_site.ConfigPath}: refusing a configuration file writable by its group (mode 0660)", output);
        File.SetUnixFileMode(_site.ConfigPath, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.OtherWrite);
        Assert.Contains("writable by others (mode 0602)", await ExpectRefusedAsync());
    }

    [Fact]
    public async Task File_owned_by_another_user_is_refused()
    {
        Assert.Equal("0", AccessPolicyTests.CurrentUid()); // the test gives the file away, which needs root
        var chown = System.Diagnostics.Process.Start("chown", ["65534", _site.ConfigPath])!;
        await chown.WaitForExitAsync();
        Assert.Equal(0, chown.ExitCode);
        Assert.Contains($"{_site.ConfigPath}: refusing a configuration file owned by uid 65534, neither root nor the agent's user", await ExpectRefusedAsync());
    }

    [Fact]
    public async Task Paths_are_checked_at_start()
    {
        Edit(c =>
        {
            c["hosts_file"]!["path"] = Path.Combine(_site.Root, "no-such-dir", "hosts");
            c["database"] = Path.Combine(_site.HostsFilePath, "hosts.db"); // under a file
        });
        var output = await ExpectRefusedAsync();
        Assert.Contains($"{_site.ConfigPath}: hosts_file:path: the directory {Path.Combine(_site.Root, "no-such-dir")} does not exist", output);
        Assert.Contains($"{_site.ConfigPath}: database: {_site.HostsFilePath} is a file, not a directory", output);
    }

    [Fact]
    public async Task Certificates_must_be_readable_and_the_key_must_match()
    {
        // A key that does not match: another server key from a second CA.
        var other = AgentSite.NewTempDirectory("otherpki");
        try
        {
            var (exit, text) = await AgentProcess.RunToExitAsync(["pki", "init", "--dir", other, "--server-name", "other.test"], other);
            Assert.True(exit == 0, text);
            Edit(c => c["tls"]!["key"] = Path.Combine(other, "server.key"));
            var output = await ExpectRefusedAsync();
            Assert.Contains($"{_site.ConfigPath}: tls:key: {Path.Combine(other, "server.key")} does not match the certificate", output);

            // A certificate from a CA other than the configured bundle, and a missing CA file.
            Edit(c =>
            {
                c["tls"]!["key"] = Path.Combine(other, "server.key");
                c["tls"]!["certificate"] = Path.Combine(other, "server.crt");
            });
            Assert.Contains("is not signed by the configured CA", await ExpectRefusedAsync());
            Edit(c => c["tls"]!["ca"] = "pki/missing-ca.crt");
            Assert.Contains($"{_site.ConfigPath}: tls:ca: the CA bundle {Path.Combine(_site.PkiDirectory, "missing-ca.crt")} does not exist", await ExpectRefusedAsync());

            // Garbage in place of the certificate, and a key others can read.
            File.WriteAllText(Path.Combine(_site.Root, "garbage.crt"), "not a certificate");
            File.SetUnixFileMode(Path.Combine(other, "server.key"), (UnixFileMode)Convert.ToInt32("644", 8));
            Edit(c =>
            {
                c["tls"]!["ca"] = "pki/ca.crt";
                c["tls"]!["certificate"] = "garbage.crt";
            });
            var garbage = await ExpectRefusedAsync();
            Assert.Contains($"tls:certificate: {Path.Combine(_site.Root, "garbage.crt")} holds no PEM certificate", garbage);
            Assert.Contains($"tls:key: {Path.Combine(other, "server.key")} is readable or writable by others", garbage);
        }
        finally
        {
            Directory.Delete(other, recursive: true);
        }
    }

    [Fact]
    public async Task Command_line_overrides_environment_overrides_file()
    {
        // The file says Information; the environment says a bad level; the command line fixes it.
        var environment = new Dictionary<string, string> { ["ROUTERHOSTS_AGENT_LOG_LEVEL"] = "loud" };
        Assert.Contains("log_level: 'loud' is not a log level (use Trace, Debug, Information, Warning, Error, Critical, None) (set by the environment variable ROUTERHOSTS_AGENT_LOG_LEVEL)",
            await ExpectRefusedAsync(environment));
        var (exit, output) = await AgentProcess.RunToExitAsync(_site.Args("--check-config", "--log_level=Debug"), _site.Root, environment);
        Assert.True(exit == 0, output);

        // A stray word is not silently ignored.
        Assert.Contains("command line: unexpected argument 'verbose'", await ExpectRefusedAsync(null, "verbose"));
    }

    [Fact]
    public async Task Malformed_json_names_the_file()
    {
        File.WriteAllText(_site.ConfigPath, "{ \"listen\": [ }");
        var output = await ExpectRefusedAsync();
        Assert.Contains($"routerhosts-agent: {_site.ConfigPath}: ", output);
        Assert.Contains("JSON", output);
    }

    [RootFact]
    public async Task A_configuration_the_user_cannot_reach_is_named_as_permission_denied_for_that_user()
    {
        // What a root-only /etc/router-hosts does to the service user: File.Exists says false.
        var locked = Path.Combine(_site.Root, "locked");
        Directory.CreateDirectory(locked);
        File.SetUnixFileMode(locked, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);
        var hidden = Path.Combine(locked, "agent.json");
        File.Copy(_site.ConfigPath, hidden);

        var (exit, output) = await RunAsNobodyAsync("--config", hidden, "--check-config");
        Assert.True(exit == 2, $"expected exit code 2, got {exit}:\n{output}");
        Assert.Contains($"routerhosts-agent: {hidden}: permission denied: the agent's user nobody (uid 65534) cannot enter the directory {locked} " +
            "(mode 0700, owner uid 0, group gid 0)", output);
        Assert.DoesNotContain("does not exist", output);

        // The directory may be entered, the file (root's, 0600) not be read.
        File.SetUnixFileMode(locked, (UnixFileMode)0b111_101_101);
        (exit, output) = await RunAsNobodyAsync("--config", hidden, "--check-config");
        Assert.True(exit == 2, $"expected exit code 2, got {exit}:\n{output}");
        Assert.Contains($"routerhosts-agent: {hidden}: permission denied: the agent's user nobody (uid 65534) cannot read the configuration file " +
            "(mode 0600, owner uid 0, group gid 0)", output);
    }

    /// <summary>The real agent as the unprivileged user nobody (65534), as systemd's User= would start it.</summary>
    private async Task<(int ExitCode, string Output)> RunAsNobodyAsync(params string[] args)
    {
        var binary = Environment.GetEnvironmentVariable(AgentProcess.AgentUnderTestVariable);
        var info = new ProcessStartInfo("setpriv")
        {
            RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false, WorkingDirectory = _site.Root,
        };
        foreach (var a in new[] { "--reuid=65534", "--regid=65534", "--clear-groups", "--" }) info.ArgumentList.Add(a);
        if (string.IsNullOrEmpty(binary)) { info.ArgumentList.Add("dotnet"); info.ArgumentList.Add(AgentProcess.AgentDll); }
        else info.ArgumentList.Add(binary);
        foreach (var a in args) info.ArgumentList.Add(a);
        info.Environment["HOME"] = "/nonexistent";
        info.Environment.Remove("USER"); // the name must come from the user database, as under systemd's User=
        foreach (var name in info.Environment.Keys.Where(k => k.StartsWith("ROUTERHOSTS_AGENT_", StringComparison.Ordinal)).ToList())
            info.Environment.Remove(name);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        return (process.ExitCode, await stdout + await stderr);
    }
}

/// <summary>A test that changes user (setpriv): it needs root, and is skipped without it.</summary>
public sealed class RootFactAttribute : FactAttribute
{
    public RootFactAttribute()
    {
        if (geteuid() != 0) Skip = "needs root: runs the agent as another user through setpriv";
    }

    [DllImport("libc")] private static extern uint geteuid();
}
