using RouterHosts.Core.Hosts;

namespace RouterHosts.Core.Writes;

/// <summary>Point lookups a change is validated against: the store, or the store plus staged changes.</summary>
public interface IHostLookup
{
    HostEntry? Get(string id, bool includeDeleted = false);
    HostEntry? FindLive(HostKey key);
}
