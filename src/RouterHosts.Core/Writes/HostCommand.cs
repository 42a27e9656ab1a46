using RouterHosts.Core.Hosts;

namespace RouterHosts.Core.Writes;

/// <summary>
/// A change as a value, so that an edit session can stage it now (validated against
/// the staged view) and apply it again at commit (validated against what is then
/// committed).
/// </summary>
public abstract record HostCommand
{
    public abstract HostEntry ApplyTo(ChangeSet set);
    public abstract string Describe();

    /// <summary>
    /// This command bound to the version of the host it changes as <paramref name="view"/> holds
    /// it (when no expected version was given), so that applying it later fails if that host
    /// changed in between. Adds need nothing: the key check finds a clash.
    /// </summary>
    public virtual HostCommand PinnedTo(IHostLookup view) => this;

    protected static string? VersionIn(IHostLookup view, string id, string? expectedVersion) =>
        expectedVersion ?? (string.IsNullOrEmpty(id) ? null : view.Get(id)?.Version.ToString());
}

/// <summary>
/// Adds with a fixed id, so that an entry staged in a session keeps its id when committed.
/// <paramref name="IdIsNew"/>: the id was generated for this command (not taken from a file).
/// </summary>
public sealed record AddHostCommand(HostDraft Draft, string Id, bool IdIsNew = false) : HostCommand
{
    public override HostEntry ApplyTo(ChangeSet set) => set.Add(Draft, Id, IdIsNew);
    public override string Describe() => $"add {Draft.IpAddress} {Draft.Hostname}";
}

public sealed record UpdateHostCommand(string Id, HostPatch Patch, string? ExpectedVersion) : HostCommand
{
    public override HostEntry ApplyTo(ChangeSet set) => set.Update(Id, Patch, ExpectedVersion);
    public override string Describe() => $"update {Id}";
    public override HostCommand PinnedTo(IHostLookup view) => this with { ExpectedVersion = VersionIn(view, Id, ExpectedVersion) };
}

public sealed record DeleteHostCommand(string Id, string? ExpectedVersion) : HostCommand
{
    public override HostEntry ApplyTo(ChangeSet set) => set.Delete(Id, ExpectedVersion);
    public override string Describe() => $"delete {Id}";
    public override HostCommand PinnedTo(IHostLookup view) => this with { ExpectedVersion = VersionIn(view, Id, ExpectedVersion) };
}
