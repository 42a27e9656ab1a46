using RouterHosts.Client;

namespace RouterHosts.Commands.Internal;

/// <summary>
/// Finds the hosts that Set- and Remove-RouterHost are given by id or hostname, so that
/// their -WhatIf and errors can say "web01 (10.0.0.5)". The first few are asked one by
/// one; a long pipeline of names or ids reads the whole table once instead of making a
/// call per item. Reads go through the connection, so inside an edit session the staged
/// hosts are found too.
/// </summary>
internal sealed class HostDirectory(RouterHostsClient client)
{
    /// <summary>Lookups answered one by one before the whole table is read.</summary>
    public const int SingleLookups = 32;

    private int _lookups;
    private Dictionary<string, RouterHost>? _byId;
    private Dictionary<string, RouterHost>? _byName;

    public async Task<RouterHost?> FindByIdAsync(string id, CancellationToken ct)
    {
        if (await LoadedAsync(ct).ConfigureAwait(false)) return _byId!.GetValueOrDefault(id);
        try { return await client.GetHostAsync(id, ct: ct).ConfigureAwait(false); }
        catch (RouterHostsException e) when (e.Code == RouterHostsErrorCode.NotFound) { return null; }
    }

    /// <summary>The host with that hostname, else the one with that alias (names compare case-insensitively).</summary>
    public async Task<RouterHost?> FindByNameAsync(string name, CancellationToken ct)
    {
        if (await LoadedAsync(ct).ConfigureAwait(false)) return _byName!.GetValueOrDefault(name);
        var found = new List<RouterHost>();
        await foreach (var host in client.ListHostsAsync(new RouterHostsQuery { HostnamePattern = name }, ct).ConfigureAwait(false))
            found.Add(host);
        return found.FirstOrDefault(h => Same(h.Hostname, name)) ?? found.FirstOrDefault(h => h.Aliases.Any(a => Same(a, name)));
    }

    private async Task<bool> LoadedAsync(CancellationToken ct)
    {
        if (_byId is not null) return true;
        if (++_lookups <= SingleLookups) return false;
        var byId = new Dictionary<string, RouterHost>(StringComparer.Ordinal);
        var byName = new Dictionary<string, RouterHost>(StringComparer.OrdinalIgnoreCase);
        await foreach (var host in client.ListHostsAsync(null, ct).ConfigureAwait(false))
        {
            byId[host.Id] = host;
            byName[host.Hostname] = host;
        }
        foreach (var host in byId.Values)
            foreach (var alias in host.Aliases) byName.TryAdd(alias, host);
        (_byId, _byName) = (byId, byName);
        return true;
    }

    private static bool Same(string a, string b) => string.Equals(a, b, StringComparison.OrdinalIgnoreCase);
}
