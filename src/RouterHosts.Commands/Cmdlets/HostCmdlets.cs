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

    [Parameter(Position = 0, ParameterSetName = ListSet)]
    [Alias("Name")]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(HostnameCompleter))]
    public string[]? Hostname { get; set; }

    [Parameter(ParameterSetName = ListSet)]
    [Alias("IP", "Address")]
    [ValidateNotNullOrEmpty]
    public string? IPAddress { get; set; }

    [Parameter(ParameterSetName = ListSet)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(TagCompleter))]
    public string? Tag { get; set; }

    [Parameter(ParameterSetName = ListSet)]
    [ValidateNotNullOrEmpty]
    public string? Search { get; set; }

    [Parameter]
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
/// Set-RouterHost: changes only the fields given. By -Id (binds by property name, so CSV
/// rows with an id column work), or -InputObject from Get-RouterHost, whose Version is
/// then the expected version unless -ExpectedVersion is given.
/// </summary>
[Cmdlet(VerbsCommon.Set, "RouterHost", SupportsShouldProcess = true, DefaultParameterSetName = IdSet)]
[OutputType(typeof(RouterHost))]
public sealed class SetRouterHostCommand : RouterHostsAgentCmdlet
{
    private const string IdSet = "Id";
    private const string InputObjectSet = "InputObject";

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(HostIdCompleter))]
    public string[] Id { get; set; } = [];

    [Parameter(Mandatory = true, ParameterSetName = InputObjectSet, ValueFromPipeline = true)]
    [ValidateNotNull]
    public RouterHost[] InputObject { get; set; } = [];

    [Parameter(ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
    [Parameter(ParameterSetName = InputObjectSet)]
    [Alias("IP", "ip_address", "Address")]
    [ValidateNotNullOrEmpty]
    public string? IPAddress { get; set; }

    [Parameter(ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
    [Parameter(ParameterSetName = InputObjectSet)]
    [Alias("Name", "Host")]
    [ValidateNotNullOrEmpty]
    public string? Hostname { get; set; }

    [Parameter(ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
    [Parameter(ParameterSetName = InputObjectSet)]
    [Alias("Aliases")]
    [AllowEmptyCollection, AllowEmptyString]
    public string[]? Alias { get; set; }

    [Parameter(ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
    [Parameter(ParameterSetName = InputObjectSet)]
    [Alias("Tags")]
    [AllowEmptyCollection, AllowEmptyString]
    [ArgumentCompleter(typeof(TagCompleter))]
    public string[]? Tag { get; set; }

    [Parameter(ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
    [Parameter(ParameterSetName = InputObjectSet)]
    [AllowEmptyString]
    public string? Comment { get; set; }

    [Parameter(ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
    [Parameter(ParameterSetName = InputObjectSet)]
    [Alias("Version")]
    [ValidateNotNullOrEmpty]
    public string? ExpectedVersion { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        // Parameters bound from the pipeline are reset to null before each input, so null means "not given".
        var update = new RouterHostUpdate
        {
            IPAddress = IPAddress?.Trim(),
            Hostname = Hostname?.Trim(),
            Comment = Comment,
            Tags = ListSplitter.SplitOrNull(Tag),
            Aliases = ListSplitter.SplitOrNull(Alias),
        };
        var fields = Fields(update);
        var targets = ParameterSetName == InputObjectSet
            ? InputObject.Select(h => (h.Id, Target: (object)h, Description: h.ToString(), Version: ExpectedVersion ?? NullIfEmpty(h.Version)))
            : Id.Select(id => (Id: id, Target: (object)id, Description: $"id {id}", Version: ExpectedVersion));

        foreach (var (id, target, description, version) in targets)
        {
            if (fields.Count == 0)
            {
                WriteError(NewError(ErrorIds.NothingToSet, ErrorCategory.InvalidArgument,
                    $"Nothing to change for {description}: give -IPAddress, -Hostname, -Alias, -Tag or -Comment.", target));
                continue;
            }
            if (!ShouldProcess(description, "Set " + string.Join(", ", fields))) continue;
            try
            {
                var host = Wait(Client.UpdateHostAsync(id, update, version, StopToken));
                Observe(host);
                if (PassThru) WriteObject(host);
            }
            catch (RouterHostsException e)
            {
                Report(e, target, ErrorSubject.Host);
            }
        }
    }

    private static string? NullIfEmpty(string value) => value.Length == 0 ? null : value;

    private static List<string> Fields(RouterHostUpdate u)
    {
        var fields = new List<string>();
        if (u.IPAddress is not null) fields.Add($"IPAddress = {u.IPAddress}");
        if (u.Hostname is not null) fields.Add($"Hostname = {u.Hostname}");
        if (u.Aliases is not null) fields.Add($"Aliases = [{string.Join(", ", u.Aliases)}]");
        if (u.Tags is not null) fields.Add($"Tags = [{string.Join(", ", u.Tags)}]");
        if (u.Comment is not null) fields.Add(u.Comment.Length == 0 ? "clear Comment" : $"Comment = '{u.Comment}'");
        return fields;
    }
}

/// <summary>
/// Remove-RouterHost: removes hosts by -Id or from the pipeline (-InputObject, whose
/// Version guards against removing an entry that changed since it was read).
/// </summary>
[Cmdlet(VerbsCommon.Remove, "RouterHost", SupportsShouldProcess = true, DefaultParameterSetName = IdSet)]
public sealed class RemoveRouterHostCommand : RouterHostsAgentCmdlet
{
    private const string IdSet = "Id";
    private const string InputObjectSet = "InputObject";

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
    [ValidateNotNullOrEmpty]
    [ArgumentCompleter(typeof(HostIdCompleter))]
    public string[] Id { get; set; } = [];

    [Parameter(Mandatory = true, ParameterSetName = InputObjectSet, ValueFromPipeline = true)]
    [ValidateNotNull]
    public RouterHost[] InputObject { get; set; } = [];

    [Parameter(ParameterSetName = IdSet, ValueFromPipelineByPropertyName = true)]
    [Parameter(ParameterSetName = InputObjectSet)]
    [Alias("Version")]
    [ValidateNotNullOrEmpty]
    public string? ExpectedVersion { get; set; }

    protected override void ProcessRecord()
    {
        var targets = ParameterSetName == InputObjectSet
            ? InputObject.Select(h => (h.Id, Target: (object)h, Description: h.ToString(), Version: ExpectedVersion ?? (h.Version.Length == 0 ? null : h.Version)))
            : Id.Select(id => (Id: id, Target: (object)id, Description: $"id {id}", Version: ExpectedVersion));
        foreach (var (id, target, description, version) in targets)
        {
            if (!ShouldProcess(description, "Remove")) continue;
            try
            {
                Wait(Client.RemoveHostAsync(id, version, StopToken));
                Session.Cache.ForgetHost(id);
            }
            catch (RouterHostsException e)
            {
                Report(e, target, ErrorSubject.Host);
            }
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
