using RouterHosts.Core.Hosts;

namespace RouterHosts.Core.Writes;

/// <summary>Point lookups a change is validated against: the store, or the store plus staged changes.</summary>
public interface IHostLookup
{
    HostEntry? Get(string id, bool includeDeleted = false);
    HostEntry? FindLive(HostKey key);

    /// <summary>The live entries holding any of <paramref name="keys"/>: a bulk write's key checks in one call (a store overrides it with one query).</summary>
    IReadOnlyList<HostEntry> FindLiveMany(IReadOnlyCollection<HostKey> keys) => keys.Select(FindLive).OfType<HostEntry>().ToList();
}
