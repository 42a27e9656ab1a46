namespace RouterHosts.EndToEnd.Tests;

public sealed class ContractTests
{
    /// <summary>Every message, field number, type and RPC kind of the router_hosts.v1 wire reference still holds.</summary>
    [Fact]
    public void The_proto_keeps_every_router_hosts_v1_wire_fact()
    {
        var root = AgentProcess.RepositoryRoot;
        var (code, output) = PythonPeer.Run(PythonPeer.Python,
            [Path.Combine(root, "tests", "contract", "wire_compat.py"), Path.Combine(root, "proto"), "router_hosts/v1/hosts.proto"],
            TimeSpan.FromSeconds(60));
        var last = output.Trim().Split('\n')[^1];
        Assert.True(code == 0, output);
        Assert.Matches(@"^wire-compat: (\d+)/\1 facts hold$", last);
    }
}
