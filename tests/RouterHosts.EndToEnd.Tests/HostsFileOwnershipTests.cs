using System.Text.Json.Nodes;
using RouterHosts.Client;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>What the real agent does with a hosts file it did not write: file-mode take-over, and its own leftover temp files.</summary>
public sealed class HostsFileOwnershipTests
{
    private const string Original = "127.0.0.1\tlocalhost\n127.0.1.1 router.lan router\n::1\tlocalhost ip6-localhost\n# a comment by hand\n10.9.9.9 legacy\n";

    private static void FileMode(JsonObject config, string dir, bool? takeOver = null)
    {
        File.WriteAllText(Path.Combine(dir, "hosts"), Original);
        var hostsFile = new JsonObject { ["path"] = Path.Combine(dir, "hosts"), ["mode"] = "file" };
        if (takeOver is { } value) hostsFile["take_over"] = value;
        config["hosts_file"] = hostsFile;
    }

    [Fact]
    public async Task File_mode_refuses_a_file_with_lines_it_did_not_write_and_says_how_to_take_it_over()
    {
        await using var agent = await AgentProcess.StartWithConfigAsync((config, dir) => FileMode(config, dir), waitUntilReady: false);
        var exit = await agent.WaitForExitAsync(TimeSpan.FromSeconds(60));
        Assert.True(exit == 2, $"exit {exit}:\n{agent.Output}");
        Assert.Contains($"{agent.HostsFilePath} holds 5 line(s) RouterHosts did not write (first: '127.0.0.1\\u0009localhost')", agent.Output);
        Assert.Contains("hosts_file:take_over true", agent.Output);
        Assert.Contains("--hosts_file:take_over=true", agent.Output);
        Assert.Equal(Original, await File.ReadAllTextAsync(agent.HostsFilePath));

        var check = AgentProcess.Launch(["--config", Path.Combine(agent.DataDirectory, "agent.json"), "--check-config"], agent.DataDirectory);
        await using (check)
        {
            Assert.Equal(2, await check.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            Assert.Contains("hosts_file:path", check.Output);
            Assert.Contains("did not write", check.Output);
        }
    }

    [Fact]
    public async Task Taking_over_keeps_the_loopback_lines_and_later_starts_need_no_take_over()
    {
        await using var first = await AgentProcess.StartWithConfigAsync((config, dir) => FileMode(config, dir), waitUntilReady: false);
        Assert.Equal(2, await first.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        var configPath = Path.Combine(first.DataDirectory, "agent.json");

        // Told once, on the command line.
        await using (var taking = AgentProcess.Launch(["--config", configPath, "--hosts_file:take_over=true"], first.DataDirectory, first.Port))
        {
            await taking.WaitUntilReadyAsync();
            using var client = taking.Connect();
            await client.AddHostAsync(new RouterHostInput { IPAddress = "10.80.0.1", Hostname = "managed" });
            var text = await File.ReadAllTextAsync(first.HostsFilePath);
            Assert.StartsWith("# Loopback lines RouterHosts kept when it took over this file:\n" +
                              "127.0.0.1\tlocalhost\n127.0.1.1 router.lan router\n::1\tlocalhost ip6-localhost\n# BEGIN router-hosts\n", text);
            Assert.Contains("10.80.0.1\tmanaged\n", text);
            Assert.DoesNotContain("legacy", text);
            Assert.DoesNotContain("a comment by hand", text);
            await taking.WaitForLineAsync("dropping 2 line(s)");
        }

        // The file is now the agent's own: no take-over needed, the loopback lines stay.
        await using var again = AgentProcess.Launch(["--config", configPath], first.DataDirectory, first.Port);
        await again.WaitUntilReadyAsync();
        using (var client = again.Connect()) await client.AddHostAsync(new RouterHostInput { IPAddress = "10.80.0.2", Hostname = "managed2" });
        var after = await File.ReadAllTextAsync(first.HostsFilePath);
        Assert.StartsWith("# Loopback lines RouterHosts kept when it took over this file:\n127.0.0.1\tlocalhost\n", after);
        Assert.Contains("::1\tlocalhost ip6-localhost\n", after);
        Assert.Contains("10.80.0.2\tmanaged2\n", after);
    }

    [Fact]
    public async Task Take_over_in_block_mode_is_a_configuration_error()
    {
        await using var agent = await AgentProcess.StartWithConfigAsync((config, _) => config["hosts_file"]!["take_over"] = true, waitUntilReady: false);
        Assert.Equal(2, await agent.WaitForExitAsync(TimeSpan.FromSeconds(60)));
        Assert.Contains("hosts_file:take_over: applies to hosts_file:mode file only", agent.Output);
    }

    [Fact]
    public async Task At_start_the_agent_removes_its_own_leftover_temp_files_and_no_one_elses()
    {
        const string guid = "0123456789abcdef0123456789abcdef";
        string[] ours = [$".hosts.routerhosts-{guid}.tmp", ".hosts.routerhosts-ffffffffffffffffffffffffffffffff.tmp"];
        string[] foreign =
        [
            ".hosts.routerhosts-notes.tmp", $".hosts.routerhosts-{guid}.tmp.keep", $".other.routerhosts-{guid}.tmp",
            $".hosts.routerhosts-{guid.ToUpperInvariant()}.tmp", $"hosts.routerhosts-{guid}.tmp", ".hosts.tmp",
        ];
        await using var agent = await AgentProcess.StartWithConfigAsync((_, dir) =>
        {
            // As a crashed agent leaves them: a partial copy of the file, created before the rename.
            foreach (var name in ours.Concat(foreign)) File.WriteAllText(Path.Combine(dir, name), "127.0.0.1\tlocalhost\n# BEGIN router-hosts\n10.0.0.1\tpart");
            Directory.CreateDirectory(Path.Combine(dir, $".hosts.routerhosts-{"a".PadRight(32, 'a')}.tmp")); // not a file
        });
        foreach (var name in ours) Assert.False(File.Exists(Path.Combine(agent.DataDirectory, name)), name + " was left");
        foreach (var name in foreign) Assert.True(File.Exists(Path.Combine(agent.DataDirectory, name)), name + " was removed");
        Assert.True(Directory.Exists(Path.Combine(agent.DataDirectory, $".hosts.routerhosts-{"a".PadRight(32, 'a')}.tmp")));
        await agent.WaitForLineAsync($"removed {Path.Combine(agent.DataDirectory, ours[0])}");
    }
}
