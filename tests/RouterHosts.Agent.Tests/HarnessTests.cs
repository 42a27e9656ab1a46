using System.Diagnostics;
using RouterHosts.Agent.Tests.Harness;

namespace RouterHosts.Agent.Tests;

/// <summary>
/// The shared harness itself (RouterHosts.Testing's AgentProcess): a failed line wait shows
/// when the test received each line and sent each signal, and a setup that never becomes
/// ready leaves no agent behind.
/// </summary>
public sealed class HarnessTests : IDisposable
{
    private readonly AgentSite _site = AgentSite.CreateAsync().GetAwaiter().GetResult();

    public void Dispose() => _site.Dispose();

    [Fact]
    public async Task A_line_wait_that_times_out_shows_when_each_line_arrived_and_the_signals_sent()
    {
        await using var agent = await _site.StartReadyAsync();
        agent.Signal(1);
        await agent.WaitForLineAsync("SIGHUP: reloading");
        var failure = await Assert.ThrowsAsync<TimeoutException>(() => agent.WaitForLineAsync("a line the agent never prints", TimeSpan.FromSeconds(1)));
        Assert.Matches(@"within 1 s \(waited \[\+\d+\.\d{3}s\] to \[\+\d+\.\d{3}s\]\)", failure.Message);
        Assert.Matches(@"\n\[\+\d+\.\d{3}s\] >>> test sends signal 1 to pid \d+\n", failure.Message);
        Assert.Matches(@"\n\[\+\d+\.\d{3}s\] .*SIGHUP: reloading", failure.Message);
        Assert.DoesNotContain(agent.Lines, l => l.Contains(">>>", StringComparison.Ordinal)); // the harness's notes are not the agent's output
    }

    [Fact]
    public async Task A_setup_that_never_becomes_ready_ends_the_agent()
    {
        var agent = _site.Start();
        var pid = agent.Pid;
        // A readiness probe that never finds a client: the wait times out, and the agent is ended before the error goes up.
        await Assert.ThrowsAsync<TimeoutException>(() => AgentProcess.ReadyOrDisposedAsync(agent, () => null, TimeSpan.FromSeconds(1)));
        Assert.Throws<ArgumentException>(() => Process.GetProcessById(pid));
    }
}
