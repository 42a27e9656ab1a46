using RouterHosts.Client;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>Inside an edit session only the hosts added or changed there read as Staged.</summary>
public sealed class ClientStagedMarkTests : IAsyncLifetime
{
    private AgentProcess _agent = null!;

    public async Task InitializeAsync() => _agent = await AgentProcess.StartDevAsync();
    public async Task DisposeAsync() => await _agent.DisposeAsync();

    [Fact]
    public async Task Only_hosts_added_or_changed_in_the_session_are_marked_staged()
    {
        using var client = _agent.Connect();
        var untouched = await client.AddHostAsync(new RouterHostInput { IPAddress = "10.40.0.1", Hostname = "untouched" });
        var changed = await client.AddHostAsync(new RouterHostInput { IPAddress = "10.40.0.2", Hostname = "changed" });
        await client.StartEditAsync();
        await client.UpdateHostAsync(changed.Id, new RouterHostUpdate { Comment = "in the session" });
        await client.AddHostAsync(new RouterHostInput { IPAddress = "10.40.0.3", Hostname = "added" });

        var listed = new Dictionary<string, bool>();
        await foreach (var host in client.ListHostsAsync()) listed[host.Hostname] = host.Staged;
        Assert.Equal(new Dictionary<string, bool> { ["untouched"] = false, ["changed"] = true, ["added"] = true }, listed);

        // Paged, filtered and single reads agree.
        var page = new List<RouterHost>();
        await foreach (var host in client.ListHostsAsync(new RouterHostsQuery { Skip = 1, First = 1 })) page.Add(host);
        Assert.True(Assert.Single(page).Staged); // 10.40.0.2, changed
        var searched = new List<RouterHost>();
        await foreach (var host in client.SearchHostsAsync("untouched")) searched.Add(host);
        Assert.False(Assert.Single(searched).Staged);
        Assert.False((await client.GetHostAsync(untouched.Id)).Staged);
        Assert.True((await client.GetHostAsync(changed.Id)).Staged);

        await client.CompleteEditAsync();
        Assert.False((await client.GetHostAsync(changed.Id)).Staged);
    }
}
