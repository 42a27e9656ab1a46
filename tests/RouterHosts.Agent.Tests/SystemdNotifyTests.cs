using System.Net.Sockets;
using RouterHosts.Agent.Tests.Harness;
using RouterHosts.Client;

namespace RouterHosts.Agent.Tests;

/// <summary>
/// The sd_notify protocol as systemd would see it: the test binds the NOTIFY_SOCKET
/// and checks the notifications and their order; and the journal log format.
/// </summary>
public sealed class SystemdNotifyTests : IDisposable
{
    private readonly AgentSite _site = AgentSite.CreateAsync().GetAwaiter().GetResult();

    public void Dispose() => _site.Dispose();

    [Fact]
    public async Task Ready_after_listeners_then_status_watchdog_and_stopping_on_sigterm()
    {
        using var notify = new NotifyReceiver(Path.Combine(_site.Root, "notify.sock"));
        var clientJson = await _site.IssueClientAsync("ops", "admin");
        // systemd sets JOURNAL_STREAM to the device:inode of the stream it connected; here the pipe to the test is that stream.
        await using var agent = _site.Start(
            new Dictionary<string, string> { ["NOTIFY_SOCKET"] = notify.Path, ["WATCHDOG_USEC"] = "400000" },
            viaShell: "export JOURNAL_STREAM=$(stat -L -c '%d:%i' /proc/$$/fd/1)");

        var ready = await notify.WaitForAsync(m => NotifyReceiver.HasLine(m, "READY=1"), "READY=1");
        // At READY the listeners are bound and the hosts file is current.
        using (var tcp = new TcpClient())
            await tcp.ConnectAsync("127.0.0.1", _site.Port);
        Assert.True(File.Exists(_site.SocketPath), "the Unix socket exists at READY");
        Assert.Contains("# BEGIN router-hosts", await File.ReadAllTextAsync(_site.HostsFilePath));
        Assert.Contains("STATUS=serving 0 hosts; last change #0; hosts file current", notify.Messages[ready]);

        // A change is reported in STATUS.
        using (var client = AgentSite.Connect(clientJson))
            await client.AddHostAsync(new RouterHostInput { IPAddress = "10.30.0.1", Hostname = "notified" });
        var status = await notify.WaitForAsync(m => m.Contains("STATUS=serving 1 host;", StringComparison.Ordinal), "STATUS after a change");
        Assert.Matches(@"STATUS=serving 1 host; last change #\d+; hosts file current \(last written \d{4}-\d\d-\d\d \d\d:\d\d:\d\dZ\)",
            notify.Messages[status]);

        // WATCHDOG_USEC=400000: pings every 200 ms.
        var secondPing = await notify.WaitForAsync(m => m == "WATCHDOG=1", "WATCHDOG=1", occurrence: 3);

        agent.Signal(15);
        var stopping = await notify.WaitForAsync(m => NotifyReceiver.HasLine(m, "STOPPING=1"), "STOPPING=1");
        Assert.Equal(0, await agent.WaitForExitAsync(TimeSpan.FromSeconds(20)));

        var messages = notify.Messages;
        Assert.Single(messages, m => NotifyReceiver.HasLine(m, "READY=1"));
        Assert.True(ready < status && status < stopping && secondPing < stopping, string.Join("\n---\n", messages));
        Assert.DoesNotContain(messages.Take(ready), m => m.Contains("STATUS=serving", StringComparison.Ordinal));

        // Journal stream: syslog priority prefixes, no timestamps.
        var ready_line = agent.Lines.Single(l => l.Contains("RouterHosts agent", StringComparison.Ordinal));
        Assert.StartsWith("<6>RouterHosts.Agent", ready_line);
        Assert.Contains(agent.Lines, l => l.StartsWith("<6>RouterHosts.Agent[0] stopping: no new calls", StringComparison.Ordinal));
        Assert.DoesNotContain(agent.Lines, l => l.Length > 0 && !l.StartsWith('<'));
    }

    [Fact]
    public async Task A_journal_stream_that_is_not_ours_gives_plain_lines()
    {
        // Inherited from a parent whose stdout was the journal: it does not name our stdout, so plain lines.
        await using var agent = _site.Start(new Dictionary<string, string> { ["JOURNAL_STREAM"] = "8:12345" });
        var line = await agent.WaitForLineAsync("RouterHosts agent");
        Assert.Matches(@"^\d\d:\d\d:\d\d info: RouterHosts.Agent\[0\] RouterHosts agent", line);
        agent.Signal(15);
        Assert.Equal(0, await agent.WaitForExitAsync(TimeSpan.FromSeconds(20)));
        Assert.DoesNotContain(agent.Lines, l => l.StartsWith('<'));
    }

    /// <summary>systemd sets JOURNAL_STREAM to the device:inode of the stream it connected; here stderr's pipe to the test is that stream.</summary>
    private const string StderrIsTheJournal = "export JOURNAL_STREAM=$(stat -L -c '%d:%i' /proc/$$/fd/2)";

    [Fact]
    public async Task Fatal_start_errors_carry_the_err_priority_in_the_journal()
    {
        // A configuration error (exit 2): journalctl -p err must show why.
        await using (var agent = _site.Start(viaShell: StderrIsTheJournal, extra: "--colour=blue"))
        {
            Assert.Equal(2, await agent.WaitForExitAsync(TimeSpan.FromSeconds(30)));
            Assert.Contains(agent.Lines, l => l.StartsWith($"<3>routerhosts-agent: {_site.ConfigPath}: colour: unknown key", StringComparison.Ordinal));
        }

        // A listen error at run time (exit 1): the port is taken.
        using var taken = new TcpListener(System.Net.IPAddress.Loopback, 0);
        taken.Start();
        var port = ((System.Net.IPEndPoint)taken.LocalEndpoint).Port;
        await using (var agent = _site.Start(viaShell: StderrIsTheJournal, extra: $"--listen:0=127.0.0.1:{port}"))
        {
            Assert.Equal(1, await agent.WaitForExitAsync(TimeSpan.FromSeconds(60)));
            Assert.Contains(agent.Lines, l => l.StartsWith("<3>routerhosts-agent: cannot listen: ", StringComparison.Ordinal));
        }

        // Not the journal: plain lines, as before.
        await using (var agent = _site.Start(extra: "--colour=blue"))
        {
            Assert.Equal(2, await agent.WaitForExitAsync(TimeSpan.FromSeconds(30)));
            Assert.Contains(agent.Lines, l => l.StartsWith($"routerhosts-agent: {_site.ConfigPath}: colour: unknown key", StringComparison.Ordinal));
        }
    }
}
