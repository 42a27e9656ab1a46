using RouterHosts.Client;

namespace RouterHosts.Commands.Internal;

/// <summary>
/// What a <see cref="RouterHostsConnection"/> wraps: the client (and so the edit session
/// it holds) and the completion cache. Internal: nothing of the client library appears in
/// a public signature of this assembly.
/// </summary>
internal sealed class AgentSession : IDisposable
{
    private const int CompletionHostLimit = 5000;
    private const int CompletionSnapshotLimit = 500;

    public AgentSession(RouterHostsClient client)
    {
        Client = client;
    }

    public RouterHostsClient Client { get; }
    public CompletionCache Cache { get; } = new();
    public string Target => Client.Target;
    public bool HoldsEdit => Client.EditToken is not null;

    /// <summary>Starts a background refresh of the completion cache when it is stale; returns at once.</summary>
    public void RefreshCompletionCache() => Cache.RefreshIfStale(FetchForCompletionAsync);

    private async Task<(IReadOnlyList<RouterHost>, IReadOnlyList<RouterHostsSnapshot>)> FetchForCompletionAsync(CancellationToken ct)
    {
        var hosts = new List<RouterHost>();
        await foreach (var host in Client.ListHostsAsync(new RouterHostsQuery { First = CompletionHostLimit }, ct).ConfigureAwait(false))
            hosts.Add(host);
        var snapshots = new List<RouterHostsSnapshot>();
        await foreach (var snapshot in Client.ListSnapshotsAsync(0, CompletionSnapshotLimit, ct).ConfigureAwait(false))
            snapshots.Add(snapshot);
        return (hosts, snapshots);
    }

    /// <summary>
    /// The agent said our edit session is gone: forget its token so later calls go to the
    /// live set instead of failing the same way. (The client clears the token in
    /// UndoEditAsync whatever the agent answers.)
    /// </summary>
    public void ForgetEdit()
    {
        if (!HoldsEdit) return;
        try
        {
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(5));
            Client.UndoEditAsync(ct: timeout.Token).GetAwaiter().GetResult();
        }
        catch (Exception)
        {
            // Expected: the agent no longer knows the token. The client has forgotten it either way.
        }
    }

    public void Dispose() => Client.Dispose();
}
