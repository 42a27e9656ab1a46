using System.Management.Automation;
using RouterHosts.Client;
using RouterHosts.Commands.Internal;

namespace RouterHosts.Commands;

/// <summary>
/// Add-RouterHost: adds hosts. Every parameter binds by property name, so
/// <c>Import-Csv hosts.csv | Add-RouterHost</c> works with the usual headers. All the
/// pipeline's rows go over ONE streaming bulk call: ProcessRecord queues each accepted
/// row, a background reader collects the agent's per-row results, and the pipeline
/// thread writes them (errors, -PassThru objects, progress) as they arrive and in
/// EndProcessing. A bad row is one non-terminating error; the others still go in.
/// </summary>
[Cmdlet(VerbsCommon.Add, "RouterHost", SupportsShouldProcess = true)]
[OutputType(typeof(RouterHost))]
public sealed class AddRouterHostCommand : RouterHostsBulkCmdlet<RouterHostInput>
{
    [Parameter(Mandatory = true, Position = 0, ValueFromPipelineByPropertyName = true)]
    [Alias("IP", "ip_address", "Address", "IPv4Address", "IPv6Address", "RecordData")]
    [ValidateNotNullOrEmpty]
    public string IPAddress { get; set; } = "";

    [Parameter(Mandatory = true, Position = 1, ValueFromPipelineByPropertyName = true)]
    [Alias("Name", "Host", "DNSHostName")]
    [ValidateNotNullOrEmpty]
    public string Hostname { get; set; } = "";

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("Aliases")]
    [AllowNull, AllowEmptyCollection, AllowEmptyString]
    public string[]? Alias { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [Alias("Tags")]
    [AllowNull, AllowEmptyCollection, AllowEmptyString]
    [ArgumentCompleter(typeof(TagCompleter))]
    public string[]? Tag { get; set; }

    [Parameter(ValueFromPipelineByPropertyName = true)]
    [AllowNull, AllowEmptyString]
    public string? Comment { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    /// <summary>
    /// The pipeline row itself (an Import-Csv row, say): bound by value beside the
    /// by-property-name parameters, so a bad row's error names the row as its TargetObject.
    /// </summary>
    [Parameter(ValueFromPipeline = true, DontShow = true)]
    public PSObject? InputObject { get; set; }

    private protected override string Doing => "Adding";
    private protected override string Done => "added";

    protected override void ProcessRecord()
    {
        var input = new RouterHostInput
        {
            IPAddress = IPAddress.Trim(),
            Hostname = Hostname.Trim(),
            Comment = string.IsNullOrEmpty(Comment) ? null : Comment,
            Tags = ListSplitter.Split(Tag),
            Aliases = ListSplitter.Split(Alias),
        };
        if (ShouldProcess(input.ToString(), "Add")) Send(input, InputObject ?? (object)input);
        else WriteArrived();
    }

    private protected override IAsyncEnumerable<RouterHostsBulkResult> Open(RouterHostsClient client, IAsyncEnumerable<RouterHostInput> items,
        CancellationToken ct) => client.BulkAddAsync(items, ct);

    private protected override void Succeeded(RouterHostsBulkResult result, RouterHostInput item, object target)
    {
        if (result.Host is not { } host) return;
        Observe(host);
        if (PassThru) WriteObject(host);
    }
}
