using System.Diagnostics;
using System.Text.Json.Nodes;
using RouterHosts.Client;
using Xunit.Abstractions;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>
/// Drift of the hosts file, through the real agent and real files: hand edits made by real processes
/// (/bin/sh, sed -i, a python writer), each hosts_file.drift mode, and the agent's own writes never counted.
/// The agent is polled for real conditions (the file restored, Health saying drifted, a host adopted), never timed.
/// </summary>
public sealed class HostsFileDriftTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(60);

    private static RouterHostInput Host(string ip, string name, string? comment = null) => new() { IPAddress = ip, Hostname = name, Comment = comment };

    private static Task<AgentProcess> StartAsync(string? policy, Action<JsonObject, string>? more = null) =>
        AgentProcess.StartWithConfigAsync((config, dir) =>
        {
            if (policy is not null) config["hosts_file"]!["drift"] = policy;
            config["access"] = new JsonObject
            {
                ["certificates"] = new JsonObject { ["CN=test-admin"] = "admin", ["CN=rita"] = "reader", ["CN=wendy"] = "writer" },
            };
            more?.Invoke(config, dir);
        });

    /// <summary>Runs a real process to completion; it must succeed. Returns its stdout.</summary>
    private static async Task<string> Run(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        await process.WaitForExitAsync();
        Assert.True(process.ExitCode == 0, $"{file} {string.Join(' ', args)} exited {process.ExitCode}: {await stderr}");
        return await stdout;
    }

    private static Task<string> Sh(string script) => Run("/bin/sh", "-c", script);

    /// <summary>Edits the file in place (same inode) with python: replaces <paramref name="from"/> by <paramref name="to"/>.</summary>
    private static Task<string> PythonReplaceInPlace(string path, string from, string to) => Run("python3", "-c", """
        import sys
        path, old, new = sys.argv[1:4]
        with open(path, 'r+') as f:
            text = f.read()
            assert old in text, (old, text)
            f.seek(0); f.write(text.replace(old, new)); f.truncate()
        """, path, from, to);

    private async Task<T> Eventually<T>(Func<Task<T>> probe, Func<T, bool> done, string what, AgentProcess agent)
    {
        var clock = Stopwatch.StartNew();
        while (true)
        {
            var value = await probe();
            if (done(value))
            {
                output.WriteLine($"{what}: after {clock.ElapsedMilliseconds} ms");
                return value;
            }
            if (clock.Elapsed > Deadline)
                Assert.Fail($"{what}: not within {Deadline.TotalSeconds} s; last: {value}\nfile:\n{ReadOrMissing(agent.HostsFilePath)}\n{agent.Output}");
            await Task.Delay(50);
        }
    }

    private static string ReadOrMissing(string path) => File.Exists(path) ? File.ReadAllText(path) : "(missing)";

    private Task<string> FileEventually(AgentProcess agent, Func<string, bool> done, string what) =>
        Eventually(() => Task.FromResult(ReadOrMissing(agent.HostsFilePath)), done, what, agent);

    [Fact]
    public async Task Restore_mode_puts_back_the_block_after_hand_edits_and_leaves_the_users_own_lines_alone()
    {
        await using var agent = await StartAsync(policy: null, (config, dir) =>
            config["hooks"] = new JsonObject
            {
                ["on_success"] = new JsonArray(new JsonObject { ["name"] = "count", ["command"] = $"echo run >> {dir}/hook-runs", ["timeout_seconds"] = 10 }),
            });
        using var client = agent.Connect();
        await client.AddHostAsync(Host("10.61.0.1", "web01"));
        await client.AddHostAsync(Host("10.61.0.2", "web02"));
        var path = agent.HostsFilePath;
        var hookRuns = Path.Combine(agent.DataDirectory, "hook-runs");
        int HookRuns() => File.Exists(hookRuns) ? File.ReadAllLines(hookRuns).Length : 0;
        await Eventually(() => Task.FromResult(HookRuns()), n => n >= 3, "the start-up and two writes ran the hook", agent);

        // The user's own lines: appended in place by the shell, and changed by sed -i (which replaces the file).
        await Sh($"echo '10.99.0.1 users-own' >> {path}");
        await Run("sed", "-i", @"s/^127\.0\.0\.1\tlocalhost$/127.0.0.1\tlocalhost localhost.localdomain/", path);
        // Inside the block.
        var runsBefore = HookRuns();
        await Run("sed", "-i", @"s/^10\.61\.0\.1\tweb01$/10.61.0.1\tweb01-by-hand/", path);
        var text = await FileEventually(agent, t => t.Contains("10.61.0.1\tweb01\n") && !t.Contains("web01-by-hand"), "restore mode: block put back");
        Assert.Contains("10.99.0.1 users-own\n", text);
        Assert.StartsWith("127.0.0.1\tlocalhost localhost.localdomain\n", text);
        await Eventually(() => Task.FromResult(HookRuns()), n => n > runsBefore, "the hooks ran after the restore", agent);

        var drift = await client.GetDriftAsync();
        Assert.Equal(("clean", "restore", "restored"), (drift.State, drift.Policy, drift.Action));
        Assert.Equal(1, drift.Sequence); // the user's own edits outside the block were not drift
        Assert.Equal(["file-replaced", "block-changed"], drift.Kinds);
        Assert.Equal(["- 10.61.0.1\tweb01", "+ 10.61.0.1\tweb01-by-hand"], drift.Diff);
        Assert.Equal(AtomicOwner(path), drift.OwnerUid);
        await agent.WaitForLineAsync("warn: RouterHosts.HostsFile");
        await agent.WaitForLineAsync($"hosts file {path} drifted (file-replaced, block-changed): restored; diff: - 10.61.0.1 web01 | + 10.61.0.1 web01-by-hand");

        // The block removed by a python writer (in place: the same file).
        await Run("python3", "-c", """
            import sys
            p = sys.argv[1]
            t = open(p).read()
            b = t.index('# BEGIN router-hosts\n'); e = t.index('# END router-hosts\n') + len('# END router-hosts\n')
            with open(p, 'r+') as f: f.write(t[:b] + t[e:]); f.truncate()
            """, path);
        text = await FileEventually(agent, t => t.Contains("10.61.0.1\tweb01\n"), "restore mode: removed block put back");
        Assert.Contains("10.99.0.1 users-own\n", text);
        drift = await client.GetDriftAsync();
        Assert.Equal((2L, "restored"), (drift.Sequence, drift.Action));
        Assert.Equal(["block-removed"], drift.Kinds);

        // Mode and owner changed by hand.
        var mode = File.GetUnixFileMode(path);
        await Run("chmod", "0600", path);
        await Eventually(() => Task.FromResult(File.GetUnixFileMode(path)), m => m == mode, "restore mode: mode put back", agent);
        drift = await client.GetDriftAsync();
        Assert.Equal(["mode-changed"], drift.Kinds);
        Assert.Equal([$"mode {Convert.ToString((int)mode, 8).PadLeft(4, '0')} -> 0600"], drift.Diff);
        await Run("chown", "65534:65534", path);
        await Eventually(() => Task.FromResult(AtomicOwner(path)), uid => uid == 0, "restore mode: owner put back", agent);
        Assert.Equal(["owner-changed"], (await client.GetDriftAsync()).Kinds);

        // The file deleted.
        await Run("rm", path);
        await FileEventually(agent, t => t.Contains("10.61.0.2\tweb02\n"), "restore mode: deleted file written again");
        drift = await client.GetDriftAsync();
        Assert.Equal(["file-deleted"], drift.Kinds);
        Assert.Equal(5, drift.Sequence);
        Assert.Equal("clean", (await client.GetAgentStatusAsync()).HostsFileDrift);
    }

    private static uint AtomicOwner(string path) => Core.HostsFile.FileStat.Of(path)!.Value.Uid;

    /// <summary>Starts an agent with <paramref name="policy"/>, adds web01 and web02, and restarts it after <paramref name="whileStopped"/>.</summary>
    private async Task<AgentProcess> RestartedAfterAsync(string policy, Func<AgentProcess, Task> whileStopped, bool crash = false)
    {
        await using var first = await StartAsync(policy);
        using (var client = first.Connect())
        {
            await client.AddHostAsync(Host("10.66.0.1", "web01"));
            await client.AddHostAsync(Host("10.66.0.2", "web02"));
        }
        return await first.RestartAsync(() => whileStopped(first), crash);
    }

    /// <summary>sed -i while the agent is stopped: web01's line in the block becomes web01-by-hand.</summary>
    private static Task EditWeb01(AgentProcess agent) =>
        Run("sed", "-i", @"s/^10\.66\.0\.1\tweb01$/10.66.0.1\tweb01-by-hand/", agent.HostsFilePath);

    private static readonly string[] Web01EditDiff = ["- 10.66.0.1\tweb01", "+ 10.66.0.1\tweb01-by-hand"];

    [Theory]
    [InlineData("restore")]
    [InlineData("adopt")]
    [InlineData("report")]
    public async Task A_hand_edit_made_while_the_agent_was_stopped_is_drift_at_its_start_handled_by_the_mode(string policy)
    {
        await using var agent = await RestartedAfterAsync(policy, EditWeb01);
        using var client = agent.Connect();
        var path = agent.HostsFilePath;
        // Handled before the agent said it was ready: no waiting.
        var drift = await client.GetDriftAsync();
        Assert.Equal((policy, 1L), (drift.Policy, drift.Sequence));
        Assert.Equal(["block-changed"], drift.Kinds); // sed -i replaced the file, but while the agent was stopped: its content is what counts
        Assert.Equal(Web01EditDiff, drift.Diff);
        var hosts = (await client.ListHostsAsync().ToListAsync()).Select(h => h.Hostname).ToList();
        var text = File.ReadAllText(path);
        switch (policy)
        {
            case "restore":
                Assert.Equal(("clean", "restored"), (drift.State, drift.Action));
                Assert.Contains("10.66.0.1\tweb01\n", text);
                Assert.DoesNotContain("web01-by-hand", text);
                Assert.Equal(["web01", "web02"], hosts);
                await agent.WaitForLineAsync($"hosts file {path} drifted (block-changed): restored; diff: - 10.66.0.1 web01 | + 10.66.0.1 web01-by-hand");
                break;
            case "adopt":
                Assert.Equal(("clean", "adopted"), (drift.State, drift.Action));
                Assert.Equal(["+ 10.66.0.1\tweb01-by-hand", "- 10.66.0.1\tweb01"], drift.Applied);
                Assert.Equal(["web01-by-hand", "web02"], hosts);
                Assert.Contains("10.66.0.1\tweb01-by-hand\n", text);
                Assert.DoesNotContain("10.66.0.1\tweb01\n", text);
                break;
            case "report":
                Assert.Equal(("drifted", "reported"), (drift.State, drift.Action));
                Assert.Contains("10.66.0.1\tweb01-by-hand\n", text); // left alone
                Assert.Equal(["web01", "web02"], hosts);
                Assert.Equal("drifted", (await client.GetAgentStatusAsync()).HostsFileDrift);
                Assert.True((await client.TestAsync()).Ready); // ready: drift is reported, not a failure
                await agent.WaitForLineAsync($"hosts file {path} drifted while the agent was stopped; left as it is");
                // Until the next write.
                await client.AddHostAsync(Host("10.66.0.3", "web03"));
                text = File.ReadAllText(path);
                Assert.Contains("10.66.0.1\tweb01\n", text);
                Assert.Contains("10.66.0.3\tweb03\n", text);
                Assert.Equal("clean", (await client.GetDriftAsync()).State);
                break;
        }
    }

    [Fact]
    public async Task A_stopped_agents_own_last_write_is_not_drift_at_start_even_when_it_crashed_before_recording_it()
    {
        var record = "";
        string? saved = null;
        // kill -9 after the last write, and the record of what was written put back as it was before that write: as if the
        // agent had died between writing the file and its record. The file holds what the database says, so it is no drift.
        await using var agent = await RestartedAfterAsync("report", async first =>
        {
            record = Path.Combine(first.DataDirectory, ".hosts.routerhosts-written");
            saved = File.ReadAllText(record);
            Assert.Contains("10.66.0.2\tweb02", saved);
            File.WriteAllText(record, saved.Replace("10.66.0.2\tweb02\n", ""));
            await Task.CompletedTask;
        }, crash: true);
        using var client = agent.Connect();
        var drift = await client.GetDriftAsync();
        Assert.Equal(("clean", 0L), (drift.State, drift.Sequence));
        Assert.Contains("10.66.0.2\tweb02\n", File.ReadAllText(agent.HostsFilePath));

        // A clean stop and start: no drift either; and the record follows each write.
        await using var again = await agent.RestartAsync();
        using var second = again.Connect();
        Assert.Equal(("clean", 0L), ((await second.GetDriftAsync()).State, (await second.GetDriftAsync()).Sequence));
        Assert.Contains("10.66.0.2\tweb02", File.ReadAllText(record));
    }

    [Theory]
    [InlineData("restore")]
    [InlineData("report")]
    public async Task A_hand_edit_of_an_output_is_drift_too_shown_in_Health_and_handled_by_the_mode(string policy)
    {
        var output = "";
        var hookRuns = "";
        await using var agent = await StartAsync(policy, (config, dir) =>
        {
            output = Path.Combine(dir, "lan.conf");
            hookRuns = Path.Combine(dir, "output-hook-runs");
            config["outputs"] = new JsonArray(new JsonObject
            {
                ["format"] = "dnsmasq", ["path"] = output,
                ["hooks"] = new JsonObject
                {
                    ["on_success"] = new JsonArray(new JsonObject { ["name"] = "count", ["command"] = $"echo run >> {hookRuns}", ["timeout_seconds"] = 10 }),
                },
            });
        });
        using var client = agent.Connect();
        int HookRuns() => File.Exists(hookRuns) ? File.ReadAllLines(hookRuns).Length : 0;
        string Output() => File.Exists(output) ? File.ReadAllText(output) : "(missing)";
        await client.AddHostAsync(Host("10.67.0.1", "web01"));
        var written = await Eventually(() => Task.FromResult(Output()), t => t.Contains("host-record=web01,10.67.0.1\n"), "the output written", agent);
        var runsBefore = await Eventually(() => Task.FromResult(HookRuns()), n => n >= 2, "the output's hook ran for the start and the write", agent);
        Assert.Equal("clean", (await client.GetAgentStatusAsync()).Outputs.Single().Drift!.State);

        await Run("sed", "-i", "s/host-record=web01,10.67.0.1/host-record=web01,10.67.0.99/", output);
        var status = await Eventually(() => client.GetAgentStatusAsync(), s => s.Outputs.Single().Drift!.Sequence > 0, "the output's drift in Health", agent);
        var drift = status.Outputs.Single().Drift!;
        Assert.Equal(policy, drift.Policy);
        Assert.Equal(["file-changed"], drift.Kinds);
        Assert.Equal(["- host-record=web01,10.67.0.1", "+ host-record=web01,10.67.0.99"], drift.Diff);
        await agent.WaitForLineAsync($"output {output} drifted (file-changed): {drift.Action}; diff: - host-record=web01,10.67.0.1 | + host-record=web01,10.67.0.99");
        if (policy == "restore")
        {
            Assert.Equal(("clean", "restored"), (drift.State, drift.Action));
            Assert.Equal(written, Output());
            await Eventually(() => Task.FromResult(HookRuns()), n => n > runsBefore, "the output's hook ran after the restore", agent);
            return;
        }
        Assert.Equal(("drifted", "reported"), (drift.State, drift.Action));
        Assert.Contains("host-record=web01,10.67.0.99\n", Output()); // left alone
        // Until the next change.
        await client.AddHostAsync(Host("10.67.0.2", "web02"));
        var text = await Eventually(() => Task.FromResult(Output()), t => t.Contains("host-record=web02,10.67.0.2\n"), "the next change written", agent);
        Assert.Contains("host-record=web01,10.67.0.1\n", text);
        // The output is replaced first and its drift cleared after, so the file can be seen before Health says so.
        await Eventually(() => client.GetAgentStatusAsync(), s => s.Outputs.Single().Drift!.State == "clean", "the output's drift cleared by the write", agent);
    }

    [Fact]
    public async Task Report_mode_leaves_the_file_until_the_next_write_or_a_repair_and_only_admins_may_ask()
    {
        await using var agent = await StartAsync("report");
        using var client = agent.Connect();
        await client.AddHostAsync(Host("10.62.0.1", "web01"));
        await client.AddHostAsync(Host("10.62.0.2", "web02"));
        var path = agent.HostsFilePath;

        using var watch = new CancellationTokenSource();
        var watched = new List<object>();
        var firstSet = new TaskCompletionSource();
        var watcher = Task.Run(async () =>
        {
            try
            {
                await foreach (var item in client.WatchWithDriftAsync(follow: true, watch.Token))
                {
                    lock (watched) watched.Add(item);
                    firstSet.TrySetResult();
                }
            }
            catch (RouterHostsException) when (watch.IsCancellationRequested) { }
            catch (OperationCanceledException) { }
        });
        await firstSet.Task.WaitAsync(Deadline);

        await PythonReplaceInPlace(path, "10.62.0.2\tweb02\n", "10.62.0.2\tweb02-hand\n");
        await Eventually(() => client.GetAgentStatusAsync(), s => s.HostsFileDrift == "drifted", "report mode: Health says drifted", agent);
        Assert.Contains("web02-hand", File.ReadAllText(path)); // left alone
        var drift = await client.GetDriftAsync();
        Assert.Equal(("drifted", "report", "reported"), (drift.State, drift.Policy, drift.Action));
        Assert.Equal(["block-changed"], drift.Kinds); // edited in place: not replaced
        Assert.Equal(["- 10.62.0.2\tweb02", "+ 10.62.0.2\tweb02-hand"], drift.Diff);
        var seen = await Eventually(() => { lock (watched) return Task.FromResult(watched.OfType<RouterHostsDrift>().ToList()); }, d => d.Count > 0,
            "report mode: the drift on Watch", agent);
        Assert.Equal(("reported", drift.Sequence), (seen[0].Action, seen[0].Sequence));
        Assert.Equal(drift.Diff, seen[0].Diff);
        await watch.CancelAsync();
        await watcher;

        // Admin only on the wire.
        foreach (var (name, role) in new[] { ("rita", "reader"), ("wendy", "writer") })
        {
            using var other = EditOwnershipTests.ConnectAs(agent, name, role);
            var denied = await Assert.ThrowsAsync<RouterHostsException>(() => other.GetDriftAsync());
            Assert.Equal(RouterHostsErrorCode.PermissionDenied, denied.Code);
            denied = await Assert.ThrowsAsync<RouterHostsException>(() => other.RepairHostsFileAsync(adopt: true));
            Assert.Equal(RouterHostsErrorCode.PermissionDenied, denied.Code);
        }

        // Dry runs change nothing.
        var dry = await client.RepairHostsFileAsync(adopt: false, dryRun: true);
        Assert.False(dry.Changed);
        Assert.Equal(drift.Diff, dry.Actions);
        var adoptDry = await client.RepairHostsFileAsync(adopt: true, dryRun: true);
        Assert.Equal(["+ 10.62.0.2\tweb02-hand", "- 10.62.0.2\tweb02"], adoptDry.Actions);
        Assert.Contains("web02-hand", File.ReadAllText(path));
        Assert.Equal(["web01", "web02"], (await client.ListHostsAsync().ToListAsync()).Select(h => h.Hostname));

        var repaired = await client.RepairHostsFileAsync(adopt: false);
        Assert.True(repaired.Changed);
        Assert.Equal(drift.Diff, repaired.Actions);
        Assert.Equal("clean", repaired.Drift.State);
        Assert.Contains("10.62.0.2\tweb02\n", File.ReadAllText(path));
        Assert.False((await client.RepairHostsFileAsync(adopt: false)).Changed); // nothing left to repair

        // The next write replaces a reported drift.
        await PythonReplaceInPlace(path, "10.62.0.1\tweb01\n", "10.62.0.1\tweb01-hand\n");
        await Eventually(() => client.GetAgentStatusAsync(), s => s.HostsFileDrift == "drifted", "report mode: second drift", agent);
        await client.AddHostAsync(Host("10.62.0.3", "web03"));
        var text = File.ReadAllText(path);
        Assert.Contains("10.62.0.1\tweb01\n", text);
        Assert.Contains("10.62.0.3\tweb03\n", text);
        Assert.Equal("clean", (await client.GetAgentStatusAsync()).HostsFileDrift);

        // Adopting on demand: the hand edit becomes events.
        await PythonReplaceInPlace(path, "10.62.0.3\tweb03\n", "10.62.0.3\tweb03\t# added by hand\n");
        await Eventually(() => client.GetAgentStatusAsync(), s => s.HostsFileDrift == "drifted", "report mode: third drift", agent);
        var adopted = await client.RepairHostsFileAsync(adopt: true);
        Assert.Equal(["~ 10.62.0.3\tweb03\t# added by hand"], adopted.Actions);
        Assert.NotEqual("", adopted.ChangeId);
        Assert.Equal("added by hand", (await client.ListHostsAsync().ToListAsync()).Single(h => h.Hostname == "web03").Comment);
    }

    [Fact]
    public async Task Adopt_mode_turns_hand_edits_into_events_and_reports_invalid_lines_without_applying_them()
    {
        await using var agent = await StartAsync("adopt");
        using var client = agent.Connect();
        await client.AddHostAsync(Host("10.63.0.1", "web01", "old"));
        await client.AddHostAsync(Host("10.63.0.2", "web02"));
        await client.AddHostAsync(Host("10.63.0.3", "web03"));
        var path = agent.HostsFilePath;

        // One sed -i: a comment and tags changed, a line removed, a line added.
        await Run("sed", "-i", "-e", @"s/^10\.63\.0\.1\tweb01\t# old$/10.63.0.1\tweb01\t# new [lab]/", "-e", @"/^10\.63\.0\.3\tweb03$/d",
            "-e", @"s/^10\.63\.0\.2\tweb02$/10.63.0.2\tweb02\n10.63.0.9\tnew09 alias9/", path);
        var hosts = await Eventually(() => client.ListHostsAsync().ToListAsync().AsTask(), l => l.Any(h => h.Hostname == "new09"),
            "adopt mode: hand-added host in the database", agent);
        Assert.Equal(["web01", "web02", "new09"], hosts.Select(h => h.Hostname));
        Assert.Equal("new", hosts[0].Comment);
        Assert.Equal(["lab"], hosts[0].Tags);
        Assert.Equal(["alias9"], hosts[2].Aliases);
        var uid = AtomicOwner(path);
        Assert.Equal($"hosts-file:uid={uid}", (await client.GetHostHistoryAsync(hosts[2].Id).SingleAsync()).Actor);
        Assert.Equal($"hosts-file:uid={uid}", (await client.GetHostHistoryAsync(hosts[0].Id).ToListAsync()).Last().Actor);

        var drift = await client.GetDriftAsync();
        Assert.Equal(("clean", "adopt", "adopted"), (drift.State, drift.Policy, drift.Action));
        Assert.Equal(["+ 10.63.0.9\tnew09 alias9", "- 10.63.0.3\tweb03", "~ 10.63.0.1\tweb01\t# new [lab]"], drift.Applied.Order(StringComparer.Ordinal));
        Assert.Empty(drift.InvalidLines);
        Assert.Equal($"hosts-file:uid={uid}", drift.Actor);
        await FileEventually(agent, t => t.Contains("10.63.0.9\tnew09 alias9\n") && !t.Contains("web03"), "adopt mode: file rendered from the adopted state");

        // Invalid lines are reported and never applied; while there are some, nothing is removed.
        var numbers = await Run("python3", "-c", """
            import sys
            p = sys.argv[1]
            lines = open(p).read().split('\n')
            lines = [l for l in lines if l != '10.63.0.2\tweb02']
            end = lines.index('# END router-hosts')
            lines[end:end] = ['10.63.0.300\tbad300', '10.63.0.10', '10.63.0.11\tgood11']
            with open(p, 'r+') as f: f.write('\n'.join(lines)); f.truncate()
            print(end + 1, end + 2)
            """, path);
        var (bad, lonely) = (numbers.Split()[0], numbers.Split()[1]);
        hosts = await Eventually(() => client.ListHostsAsync().ToListAsync().AsTask(), l => l.Any(h => h.Hostname == "good11"),
            "adopt mode: the valid line adopted", agent);
        Assert.Contains(hosts, h => h.Hostname == "web02");
        Assert.DoesNotContain(hosts, h => h.Hostname == "bad300");
        drift = await client.GetDriftAsync();
        Assert.Equal(["+ 10.63.0.11\tgood11"], drift.Applied);
        Assert.Equal(2, drift.InvalidLines.Length);
        Assert.StartsWith($"line {bad}: ", drift.InvalidLines[0]);
        Assert.Contains("10.63.0.300", drift.InvalidLines[0]);
        Assert.StartsWith($"line {lonely}: '10.63.0.10' has no hostname", drift.InvalidLines[1]);
        await agent.WaitForLineAsync("2 line(s) of");
        var text = await FileEventually(agent, t => t.Contains("10.63.0.11\tgood11\n") && !t.Contains("10.63.0.300"), "adopt mode: invalid lines gone from the file");
        Assert.Contains("10.63.0.2\tweb02\n", text);

        // A removed block is never adopted (it would remove every host): it is restored.
        await Run("python3", "-c", "import sys; p = sys.argv[1]; open(p, 'w').write('127.0.0.1\\tlocalhost\\n')", path);
        await FileEventually(agent, t => t.Contains("10.63.0.11\tgood11\n"), "adopt mode: removed block restored");
        Assert.Equal(4, (await client.ListHostsAsync().ToListAsync()).Count);
        Assert.StartsWith("restored: a removed block", (await client.GetDriftAsync()).Action);
    }

    [Fact]
    public async Task The_agents_own_burst_of_writes_is_never_drift_and_a_hand_edit_during_one_is_caught()
    {
        await using var agent = await StartAsync(policy: null);
        using var client = agent.Connect();
        var path = agent.HostsFilePath;

        async Task BurstAsync(int round, CancellationToken ct = default)
        {
            var singles = Enumerable.Range(0, 8).Select(t => Task.Run(async () =>
            {
                for (var i = 0; i < 20 && !ct.IsCancellationRequested; i++) await client.AddHostAsync(Host($"10.{64 + round}.{t}.{i + 1}", $"r{round}-t{t}-h{i}"));
            }));
            var bulk = client.BulkAddAsync(Enumerable.Range(0, 3000).Select(i => Host($"10.{70 + round}.{i / 250}.{i % 250 + 1}", $"r{round}-bulk{i}"))
                .ToAsyncEnumerable()).CountAsync(r => r.Succeeded).AsTask();
            await Task.WhenAll(singles.Append(bulk));
        }

        await BurstAsync(0);
        // The watcher had every event of the burst to look at; each check (and GetDrift's own) found the file as the agent wrote it.
        var drift = await client.GetDriftAsync();
        Assert.Equal((0L, "clean", ""), (drift.Sequence, drift.State, drift.Action));
        Assert.DoesNotContain("drifted", agent.Output);

        // A hand edit by sed -i while another burst runs: noticed, put back, and nothing of the agent's own shows as added.
        var burst = BurstAsync(1);
        await FileEventually(agent, t => t.Contains("r1-"), "second burst under way");
        await Run("sed", "-i", @"s/^# END router-hosts$/10.99.9.9\thand-during-burst\n# END router-hosts/", path);
        output.WriteLine($"right after sed: the hand line is {(ReadOrMissing(path).Contains("hand-during-burst") ? "there" : "already gone")}");
        await burst;
        await FileEventually(agent, t => !t.Contains("hand-during-burst"), "restore mode: hand line gone");
        drift = await client.GetDriftAsync();
        Assert.True(drift.Sequence == 1, $"{drift.Sequence} drift(s) recorded:\n" +
            string.Join('\n', agent.Output.Split('\n').Where(l => l.Contains("drift") || l.Contains("hand-during"))));
        Assert.Equal(["+ 10.99.9.9\thand-during-burst"], drift.Diff.Where(l => l.StartsWith("+ ")));
        Assert.Contains(drift.Action, new[] { "restored", "overwritten by a write" });
        var expected = (await client.ListHostsAsync().ToListAsync()).Count;
        Assert.Equal(2 * (8 * 20 + 3000), expected);
        var lines = File.ReadAllLines(path);
        Assert.Equal(expected, lines.Count(l => l.StartsWith("10.")));
    }

    [Fact]
    public async Task Adopt_mode_takes_in_a_hand_edit_made_while_writes_run()
    {
        await using var agent = await StartAsync("adopt");
        using var client = agent.Connect();
        var path = agent.HostsFilePath;
        using var stop = new CancellationTokenSource();
        var writes = Task.Run(async () =>
        {
            var i = 0;
            while (!stop.IsCancellationRequested) { await client.AddHostAsync(Host($"10.65.{i / 250}.{i % 250 + 1}", $"steady{i}")); i++; }
            return i;
        });
        await FileEventually(agent, t => t.Contains("steady20\n"), "writes under way");
        await Run("sed", "-i", @"s/^# END router-hosts$/10.99.8.8\thand-while-writing\n# END router-hosts/", path);
        await Eventually(() => client.ListHostsAsync().ToListAsync().AsTask(), l => l.Any(h => h.Hostname == "hand-while-writing"),
            "adopt mode: hand line adopted during writes", agent);
        await stop.CancelAsync();
        var written = await writes;
        Assert.True(written > 20);
        var drift = await client.GetDriftAsync();
        Assert.Equal("adopted", drift.Action);
        Assert.Contains("+ 10.99.8.8\thand-while-writing", drift.Applied);
        // sed -i rewrites from the copy it read: a host the agent wrote in between is missing from it, and adopting
        // takes that as a removal. Whatever happened, the database and the file agree and every removal was reported.
        var hosts = await client.ListHostsAsync().ToListAsync();
        var removed = drift.Applied.Count(a => a.StartsWith("- "));
        Assert.Equal(written + 1 - removed, hosts.Count);
        var text = await FileEventually(agent, t => t.Contains("10.99.8.8\thand-while-writing\n"), "file has the adopted line");
        Assert.Equal(hosts.Count, text.Split('\n').Count(l => l.StartsWith("10.")));
        output.WriteLine($"{written} writes, {removed} host(s) removed by adopting sed's copy");
    }
}
