namespace RouterHosts.EndToEnd.Tests;

/// <summary>One agent shared by the tests of a class (each test uses its own hostnames).</summary>
public sealed class SharedAgent : IAsyncLifetime
{
    public AgentProcess Agent { get; private set; } = null!;
    public async Task InitializeAsync() => Agent = await AgentProcess.StartDevAsync();
    public async Task DisposeAsync() => await Agent.DisposeAsync();
}
