using System.Collections.Concurrent;
using System.Diagnostics;
using System.Management.Automation;
using System.Threading.Channels;
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
public sealed class AddRouterHostCommand : RouterHostsAgentCmdlet
{
    private static readonly TimeSpan ProgressEvery = TimeSpan.FromMilliseconds(250);

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

    private Channel<RouterHostInput>? _inputs;
    private Task? _reader;
    private readonly ConcurrentQueue<RouterHostsBulkResult> _results = new();
    private readonly SemaphoreSlim _arrived = new(0);
    private readonly Dictionary<int, (RouterHostInput Input, object Row)> _pending = new();
    private int _sent, _added, _failed;
    private readonly Stopwatch _sinceProgress = new();
    private bool _progressShown;

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
        if (ShouldProcess(input.ToString(), "Add"))
        {
            Start();
            _pending[_sent] = (input, InputObject ?? (object)input);
            _sent++;
            _inputs!.Writer.TryWrite(input);
        }
        Drain(untilDone: false);
        ShowProgress(final: false);
    }

    protected override void EndProcessing()
    {
        if (_inputs is null) return;
        _inputs.Writer.TryComplete();
        Drain(untilDone: true);
        ShowProgress(final: true);
        if (_pending.Count > 0)
        {
            // The stream ended without an answer for some rows: say so rather than lose them silently.
            var first = _pending.OrderBy(p => p.Key).First().Value.Input;
            Terminate(ErrorIds.AgentError, ErrorCategory.NotSpecified,
                $"The agent ended the bulk add without answering {_pending.Count} of {_sent} row(s) (the first: {first}); check them with Get-RouterHost.",
                first);
        }
        if (_sent > 1) WriteVerbose($"Added {_added} of {_sent} host(s); {_failed} failed.");
    }

    private void Start()
    {
        if (_inputs is not null) return;
        _inputs = Channel.CreateUnbounded<RouterHostInput>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var client = Client;
        var inputs = _inputs.Reader.ReadAllAsync(StopToken);
        var token = StopToken;
        _reader = Task.Run(async () =>
        {
            try
            {
                await foreach (var result in client.BulkAddAsync(inputs, token).ConfigureAwait(false))
                {
                    _results.Enqueue(result);
                    _arrived.Release();
                }
            }
            finally
            {
                _arrived.Release(); // wake the pipeline thread to see the end (or the failure)
            }
        }, token);
        _sinceProgress.Start();
    }

    /// <summary>Writes the results that have arrived; with <paramref name="untilDone"/>, waits for all of them.</summary>
    private void Drain(bool untilDone)
    {
        if (_reader is null) return;
        while (true)
        {
            while (_results.TryDequeue(out var result)) Write(result);
            if (_reader.IsCompleted)
            {
                while (_results.TryDequeue(out var result)) Write(result);
                if (_reader.IsFaulted || _reader.IsCanceled)
                {
                    // The stream itself failed (agent unreachable, TLS refused, ...): nothing else can go in.
                    try { Wait(_reader); }
                    catch (RouterHostsException e) { Terminate(e, ActiveConnection.Target, ErrorSubject.Host); }
                }
                else if (!untilDone)
                {
                    // Ended while rows are still coming: they could not be sent.
                    Terminate(ErrorIds.AgentError, ErrorCategory.NotSpecified,
                        $"The agent ended the bulk add early, after {_added + _failed} of {_sent} row(s).", ActiveConnection.Target);
                }
                return;
            }
            if (!untilDone) return;
            try { _arrived.Wait(ProgressEvery, StopToken); }
            catch (OperationCanceledException) { throw new PipelineStoppedException(); }
            ShowProgress(final: false);
        }
    }

    private void Write(RouterHostsBulkResult result)
    {
        _pending.Remove(result.Index, out var pending);
        if (result.Error is { } error)
        {
            _failed++;
            Report(error, pending.Row, ErrorSubject.Host);
            return;
        }
        _added++;
        if (result.Host is not { } host) return;
        Observe(host);
        if (PassThru) WriteObject(host);
    }

    private void ShowProgress(bool final)
    {
        if (_reader is null) return;
        if (final)
        {
            if (_progressShown)
                WriteProgress(new ProgressRecord(1, "Adding hosts", "Done") { RecordType = ProgressRecordType.Completed });
            return;
        }
        if (_sinceProgress.Elapsed < ProgressEvery) return;
        _sinceProgress.Restart();
        var done = _added + _failed;
        WriteProgress(new ProgressRecord(1, $"Adding hosts to {ActiveConnection.Target}",
            $"{done} of {_sent} done ({_added} added, {_failed} failed)")
        {
            PercentComplete = _sent == 0 ? 0 : Math.Min(100, done * 100 / _sent),
        });
        _progressShown = true;
    }
}
