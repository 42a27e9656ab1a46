using RouterHosts.Client;

namespace RouterHosts.EndToEnd.Tests;

public sealed class SmokeTests(SharedAgent shared) : IClassFixture<SharedAgent>
{
    [Fact]
    public async Task Added_host_can_be_read_back_and_is_in_the_hosts_file()
    {
        using var client = shared.Agent.Connect();
        var added = await client.AddHostAsync(new RouterHostInput { IPAddress = "10.9.0.1", Hostname = "smoke01", Tags = ["lab"] });
        var fetched = await client.GetHostAsync(added.Id);
        Assert.Equal("smoke01", fetched.Hostname);
        Assert.Equal("1", fetched.Version);
        Assert.Contains("10.9.0.1\tsmoke01\t# [lab]", await File.ReadAllTextAsync(shared.Agent.HostsFilePath));
        var listed = await client.ListHostsAsync(new RouterHostsQuery { HostnamePattern = "smoke*" }).ToListAsync();
        Assert.Equal([added.Id], listed.Select(h => h.Id));
    }
}
