using System.Diagnostics;
using RouterHosts.Client;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>
/// A fault the agent has no specific answer for still reaches the client as INTERNAL with
/// the operation's name (never UNKNOWN "Exception was thrown by handler"), its cause goes
/// to the agent's log, and the agent keeps serving everything else.
/// </summary>
public sealed class UnexpectedFaultTests
{
    [Fact]
    public async Task A_row_the_agent_cannot_read_fails_the_call_as_INTERNAL_naming_the_operation()
    {
        await using var agent = await AgentProcess.StartDevAsync();
        using var client = agent.Connect();
        await client.AddHostAsync(new RouterHostInput { IPAddress = "10.66.0.1", Hostname = "broken-row" });

        // Another program damages one row of the projection behind the agent's back.
        Damage(Path.Combine(agent.DataDirectory, "routerhosts.db"), "UPDATE hosts SET tags = 'not json' WHERE hostname = 'broken-row'");

        var error = await Assert.ThrowsAsync<RouterHostsException>(() => client.ListHostsAsync(new RouterHostsQuery()).ToListAsync().AsTask());
        Assert.Equal(RouterHostsErrorCode.Internal, error.Code);
        Assert.StartsWith("ListHosts failed", error.Message);
        Assert.DoesNotContain("Exception was thrown by handler", error.Message);
        await agent.WaitForLineAsync("ListHosts failed"); // the cause is in the log
        Assert.True((await client.TestAsync()).Ready);
    }

    /// <summary>Runs one SQL statement in another process (Debian's python3 and its sqlite3 module), as a third party would.</summary>
    private static void Damage(string database, string sql)
    {
        var info = new ProcessStartInfo("/usr/bin/python3") { RedirectStandardError = true, UseShellExecute = false };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add("import sqlite3, sys; c = sqlite3.connect(sys.argv[1], timeout=60); c.execute(sys.argv[2]); c.commit()");
        info.ArgumentList.Add(database);
        info.ArgumentList.Add(sql);
        using var process = Process.Start(info)!;
        var stderr = process.StandardError.ReadToEnd();
        process.WaitForExit();
        Assert.True(process.ExitCode == 0, stderr);
    }
}
