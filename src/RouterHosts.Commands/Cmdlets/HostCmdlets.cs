using System.Management.Automation;
using RouterHosts.Client;
using RouterHosts.Commands.Internal;

namespace RouterHosts.Commands;

/// <summary>
/// Get-RouterHost: by -Id, or by any mix of -Hostname (wildcards * and ?, matched against
/// hostnames and aliases), -IPAddress, -Tag and -Search (a substring anywhere), at a
/// past time with -AsOf, paged with -First/-Skip. Inside an edit session held by the
/// connection, shows the staged state.
/// </summary>
[Cmdlet(VerbsCommon.Get, "RouterHost", DefaultParameterSetName = ListSet)]
[OutputType(typeof(RouterHost))]
public sealed class GetRouterHostCommand : RouterHostsAgentCmdlet
{
    private const string ListSet = "List";
    private const string IdSet = "Id";

    [Parameter(Mandatory = true, ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(HostIdCompleter))]
    public string[] Id { get; set; } = [];

    [Parameter(Position = 0, ParameterSetName = ListSet, ValueFromPipeline = true)]
    [Alias("Name")]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(HostnameCompleter))]
    public string[]? Hostname { get; set; }

    [Parameter(ParameterSetName = ListSet)]
    [Alias("IP", "Address")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(IPAddressCompleter))]
    public string? IPAddress { get; set; }

    [Parameter(ParameterSetName = ListSet)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TagCompleter))]
    public string? Tag { get; set; }

    [Parameter(ParameterSetName = ListSet)]
    [ValidateNotNullOrEmpty]
    public string? Search { get; set; }

    [Parameter]
    [ArgumentCompleter(typeof(PointInTimeCompleter))]
    public DateTime? AsOf { get; set; }

    [Parameter(ParameterSetName = ListSet)]
    [ValidateRange(1, int.MaxValue)]
    public int First { get; set; }

    [Parameter(ParameterSetName = ListSet)]
    [ValidateRange(0, int.MaxValue)]
    public int Skip { get; set; }

    private DateTimeOffset? AsOfTime => AsOf is { } t ? new DateTimeOffset(t) : null;

    protected override void ProcessRecord()
    {
        if (ParameterSetName == IdSet)
        {
            foreach (var id in Id)
            {
                try
                {
                    var host = Wait(Client.GetHostAsync(id, AsOfTime, StopToken));
                    Observe(host);
                    WriteObject(host);
                }
                catch (RouterHostsException e)
                {
                    Report(e, id, ErrorSubject.Host);
                }
            }
            return;
        }

        var names = Hostname is { Length: > 0 } ? Hostname.Cast<string?>().ToArray() : new string?[] { null };
        foreach (var name in names)
        {
            var query = new RouterHostsQuery
            {
                HostnamePattern = name,
                IPAddress = IPAddress,
                Tag = Tag,
                Text = Search,
                AsOf = AsOfTime,
                First = First > 0 ? First : null,
                Skip = Skip > 0 ? Skip : null,
            };
            var found = 0;
            try
            {
                ForEach(Client.ListHostsAsync(query, StopToken), host =>
                {
                    found++;
                    Observe(host);
                    WriteObject(host);
                });
            }
            catch (RouterHostsException e)
            {
                Report(e, name, ErrorSubject.Host);
                continue;
            }
            // A literal name that matches nothing is an error; a wildcard that matches nothing is silence.
            if (found == 0 && name is not null && !Wildcards.HasWildcard(name) && Skip == 0)
            {
                WriteError(NewError(ErrorIds.HostNotFound, ErrorCategory.ObjectNotFound,
                    $"No host named '{name}'{Filters()} was found.", name));
            }
        }
    }

    private string Filters()
    {
        var parts = new List<string>();
        if (IPAddress is not null) parts.Add($"IP address {IPAddress}");
        if (Tag is not null) parts.Add($"tag '{Tag}'");
        if (Search is not null) parts.Add($"text '{Search}'");
        if (AsOf is not null) parts.Add($"as of {AsOf:u}");
        return parts.Count == 0 ? "" : " with " + string.Join(", ", parts);
    }
}

/// <summary>
/// Set-RouterHost: changes only the fields given, of the host named by -Hostname (also
/// piped as strings), by -Id (binds by property name, so CSV rows with an id column
/// work), or piped from Get-RouterHost (whose Version is then the expected version
/// unless -ExpectedVersion is given). A pipeline's changes go over one streaming call.
/// </summary>
[Cmdlet(VerbsCommon.Set, "RouterHost", SupportsShouldProcess = true, DefaultParameterSetName = HostnameSet)]
[OutputType(typeof(RouterHost))]
public sealed class SetRouterHostCommand : RouterHostsChangeCmdlet
{
    private const string HostnameSet = "Hostname";
    private const string IdSet = "Id";
    private const string InputObjectSet = "InputObject";

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = HostnameSet, ValueFromPipeline = true)]
    [Alias("Name")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(HostnameCompleter))]
    public string[] Hostname { get; set; } = [];

    [Parameter(Mandatory = true, ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(HostIdCompleter))]
    public string[] Id { get; set; } = [];

    [Parameter(Mandatory = true, ParameterSetName = InputObjectSet, ValueFromPipeline = true)]
    [ValidateNotNull]
    public RouterHost[] InputObject { get; set; } = [];

    [Parameter(ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
    [Parameter(ParameterSetName = HostnameSet)]
    [Parameter(ParameterSetName = InputObjectSet)]
    [Alias("IP", "ip_address", "Address")]
    [ValidateNotNullOrEmpty]
    public string? IPAddress { get; set; }

    [Parameter(ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
    [Parameter(ParameterSetName = HostnameSet)]
    [Parameter(ParameterSetName = InputObjectSet)]
    [Alias("NewName")]
    [ValidateNotNullOrEmpty]
    public string? NewHostname { get; set; }

    [Parameter(ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
    [Parameter(ParameterSetName = HostnameSet)]
    [Parameter(ParameterSetName = InputObjectSet)]
    [Alias("Aliases")]
    [AllowEmptyCollection, AllowEmptyString]
    public string[]? Alias { get; set; }

    [Parameter(ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
    [Parameter(ParameterSetName = HostnameSet)]
    [Parameter(ParameterSetName = InputObjectSet)]
    [Alias("Tags")]
    [AllowEmptyCollection, AllowEmptyString]
    [ArgumentCompleter(typeof(TagCompleter))]
    public string[]? Tag { get; set; }

    [Parameter(ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
    [Parameter(ParameterSetName = HostnameSet)]
    [Parameter(ParameterSetName = InputObjectSet)]
    [AllowEmptyString]
    public string? Comment { get; set; }

    [Parameter(ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
    [Parameter(ParameterSetName = HostnameSet)]
    [Parameter(ParameterSetName = InputObjectSet)]
    [Alias("Version")]
    [ValidateNotNullOrEmpty]
    public string? ExpectedVersion { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    private protected override string Doing => "Changing";
    private protected override string Done => "changed";

    protected override void ProcessRecord()
    {
        // Parameters bound from the pipeline are reset to null before each input, so null means "not given".
        var update = new RouterHostUpdate
        {
            IPAddress = IPAddress?.Trim(),
            Hostname = NewHostname?.Trim(),
            Comment = Comment,
            Tags = ListSplitter.SplitOrNull(Tag),
            Aliases = ListSplitter.SplitOrNull(Alias),
        };
        foreach (var (host, target) in Targets(ParameterSetName, Hostname, Id, InputObject))
        {
            var fields = Changes(update, host);
            if (!Gives(update))
            {
                WriteError(NewError(ErrorIds.NothingToSet, ErrorCategory.InvalidArgument,
                    $"Nothing to change for {host}: give -IPAddress, -NewHostname, -Alias, -Tag or -Comment.", target));
                continue;
            }
            var action = fields.Count == 0 ? "Set (no field changes; the version still moves on)" : "Set " + string.Join(", ", fields);
            if (!ShouldProcess(host.ToString(), action)) continue;
            var version = ExpectedVersion ?? (ParameterSetName == InputObjectSet ? NullIfEmpty(host.Version) : null);
            Send(new RouterHostChange { Id = host.Id, Update = update, ExpectedVersion = version }, target);
        }
        WriteArrived();
    }

    private protected override void Succeeded(RouterHostsBulkResult result, RouterHostChange item, object target)
    {
        if (result.Host is not { } host) return;
        Observe(host);
        if (PassThru) WriteObject(host);
    }

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;

    private static bool Gives(RouterHostUpdate u) =>
        u.IPAddress is not null || u.Hostname is not null || u.Comment is not null || u.Tags is not null || u.Aliases is not null;

    /// <summary>What the update would change on <paramref name="host"/>, for -WhatIf and -Confirm.</summary>
    private static List<string> Changes(RouterHostUpdate u, RouterHost host)
    {
        var fields = new List<string>();
        if (u.IPAddress is not null && u.IPAddress != host.IPAddress) fields.Add($"IPAddress {host.IPAddress} -> {u.IPAddress}");
        if (u.Hostname is not null && u.Hostname != host.Hostname) fields.Add($"Hostname {host.Hostname} -> {u.Hostname}");
        if (u.Aliases is not null && !u.Aliases.SequenceEqual(host.Aliases)) fields.Add($"Aliases [{string.Join(", ", host.Aliases)}] -> [{string.Join(", ", u.Aliases)}]");
        if (u.Tags is not null && !u.Tags.SequenceEqual(host.Tags)) fields.Add($"Tags [{string.Join(", ", host.Tags)}] -> [{string.Join(", ", u.Tags)}]");
        if (u.Comment is not null && u.Comment != (host.Comment ?? ""))
            fields.Add(u.Comment.Length == 0 ? "clear Comment" : $"Comment '{host.Comment}' -> '{u.Comment}'");
        return fields;
    }
}

/// <summary>
/// Remove-RouterHost: removes the hosts named by -Hostname (also piped as strings), by
/// -Id, or piped from Get-RouterHost (whose Version guards against removing an entry
/// that changed since it was read). A pipeline's removals go over one streaming call.
/// </summary>
[Cmdlet(VerbsCommon.Remove, "RouterHost", SupportsShouldProcess = true, DefaultParameterSetName = HostnameSet)]
public sealed class RemoveRouterHostCommand : RouterHostsChangeCmdlet
{
    private const string HostnameSet = "Hostname";
    private const string IdSet = "Id";
    private const string InputObjectSet = "InputObject";

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = HostnameSet, ValueFromPipeline = true)]
    [Alias("Name")]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(HostnameCompleter))]
    public string[] Hostname { get; set; } = [];

    [Parameter(Mandatory = true, ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(HostIdCompleter))]
    public string[] Id { get; set; } = [];

    [Parameter(Mandatory = true, ParameterSetName = InputObjectSet, ValueFromPipeline = true)]
    [ValidateNotNull]
    public RouterHost[] InputObject { get; set; } = [];

    [Parameter(ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
    [Parameter(ParameterSetName = HostnameSet)]
    [Parameter(ParameterSetName = InputObjectSet)]
    [Alias("Version")]
    [ValidateNotNullOrEmpty]
    public string? ExpectedVersion { get; set; }

    private protected override string Doing => "Removing";
    private protected override string Done => "removed";

    protected override void ProcessRecord()
    {
        foreach (var (host, target) in Targets(ParameterSetName, Hostname, Id, InputObject))
        {
            if (!ShouldProcess(host.ToString(), "Remove")) continue;
            var version = ExpectedVersion ?? (ParameterSetName == InputObjectSet && host.Version.Length > 0 ? host.Version : null);
            Send(new RouterHostChange { Id = host.Id, ExpectedVersion = version }, target);
        }
        WriteArrived();
    }

    private protected override void Succeeded(RouterHostsBulkResult result, RouterHostChange item, object target)
    {
        Session.Cache.ForgetHost(item.Id);
    }
}

/// <summary>
/// The base of Set- and Remove-RouterHost: finds the hosts they are given (by name, by
/// id, or piped), so -WhatIf and errors name "web01 (10.0.0.5)", and streams the
/// changes over one BulkChangeHosts call.
/// </summary>
public abstract class RouterHostsChangeCmdlet : RouterHostsBulkCmdlet<RouterHostChange>
{
    private HostDirectory? _directory;

    private protected override IAsyncEnumerable<RouterHostsBulkResult> Open(RouterHostsClient client, IAsyncEnumerable<RouterHostChange> items,
        CancellationToken ct) => client.BulkChangeAsync(items, ct);

    /// <summary>The hosts given, each with what its error names; a name or id that matches nothing is a non-terminating error.</summary>
    private protected IEnumerable<(RouterHost Host, object Target)> Targets(string set, string[] names, string[] ids, RouterHost[] objects)
    {
        if (set == "InputObject")
        {
            foreach (var host in objects) yield return (host, host);
            yield break;
        }
        _directory ??= new HostDirectory(Client);
        var byName = set == "Hostname";
        foreach (var key in byName ? names : ids)
        {
            RouterHost? host = null;
            try
            {
                host = Wait(byName ? _directory.FindByNameAsync(key, StopToken) : _directory.FindByIdAsync(key, StopToken));
            }
            catch (RouterHostsException e)
            {
                Report(e, key, ErrorSubject.Host);
                continue;
            }
            if (host is null)
            {
                WriteError(NewError(ErrorIds.HostNotFound, ErrorCategory.ObjectNotFound,
                    byName ? $"No host named '{key}' was found." : $"No host with id '{key}' was found.", key));
                continue;
            }
            yield return (host, key);
        }
    }
}

/// <summary>Get-RouterHostHistory: every event of a host, oldest first, each with the host as it stood after it.</summary>
[Cmdlet(VerbsCommon.Get, "RouterHostHistory")]
[OutputType(typeof(RouterHostHistoryEntry))]
public sealed class GetRouterHostHistoryCommand : RouterHostsAgentCmdlet
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(HostIdCompleter))]
    public string[] Id { get; set; } = [];

    protected override void ProcessRecord()
    {
        foreach (var id in Id)
        {
            try
            {
                ForEach(Client.GetHostHistoryAsync(id, StopToken), WriteObject);
            }
            catch (RouterHostsException e)
            {
                Report(e, id, ErrorSubject.Host);
            }
        }
    }
}
