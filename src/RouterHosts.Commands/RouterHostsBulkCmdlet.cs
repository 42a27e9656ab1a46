using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Management.Automation;
using System.Runtime.CompilerServices;
using System.Threading.Channels;
using RouterHosts.Client;
using RouterHosts.Commands.Internal;

namespace RouterHosts.Commands;

/// <summary>
/// The base of the cmdlets that stream a pipeline's items to the agent over ONE call
/// (Add-, Set- and Remove-RouterHost): ProcessRecord queues each accepted item with
/// <see cref="Send"/>, a background reader collects the agent's per-item results, and
/// the pipeline thread writes them (errors, -PassThru objects, progress) as they arrive
/// and in EndProcessing. On Ctrl+C the items already handed to the call are let finish
/// (briefly), the ones still queued are dropped, and a warning says how many went
/// through and that the rest were not sent.
/// </summary>
public abstract class RouterHostsBulkCmdlet<TItem> : RouterHostsAgentCmdlet
{
    private static readonly TimeSpan ProgressEvery = TimeSpan.FromMilliseconds(250);
    /// <summary>How long Ctrl+C waits for the agent to answer the items already sent.</summary>
    private static readonly TimeSpan StopGrace = TimeSpan.FromSeconds(5);

    private Channel<TItem>? _items;
    private Task? _reader;
    private readonly CancellationTokenSource _call = new();
    private readonly ConcurrentQueue<RouterHostsBulkResult> _results = new();
    private readonly SemaphoreSlim _arrived = new(0);
    private readonly Dictionary<int, (TItem Item, object Target)> _pending = new();
    private readonly Stopwatch _sinceProgress = new();
    private readonly Stopwatch _elapsed = new();
    private bool _progressShown;
    // _queued: accepted by Send; _sent: handed to the call (the rest are dropped on Ctrl+C).
    private int _queued, _sent, _answered, _succeeded, _failed, _stopping;

    /// <summary>Opens the streaming call for <paramref name="items"/>.</summary>
    private protected abstract IAsyncEnumerable<RouterHostsBulkResult> Open(RouterHostsClient client, IAsyncEnumerable<TItem> items, CancellationToken ct);

    /// <summary>Writes what one successful item gives (the host for -PassThru, cache updates).</summary>
    private protected abstract void Succeeded(RouterHostsBulkResult result, TItem item, object target);

    /// <summary>"Adding", "Changing", "Removing".</summary>
    private protected abstract string Doing { get; }

    /// <summary>"added", "changed", "removed".</summary>
    private protected abstract string Done { get; }

    /// <summary>Queues one item (the cmdlet has asked ShouldProcess); <paramref name="target"/> is what its error will name.</summary>
    private protected void Send(TItem item, object target)
    {
        Start();
        _pending[_queued++] = (item, target);
        _items!.Writer.TryWrite(item);
        Drain(untilDone: false);
        ShowProgress(final: false);
    }

    /// <summary>Writes what has arrived; call it from ProcessRecord when nothing was sent, too.</summary>
    private protected void WriteArrived()
    {
        Drain(untilDone: false);
        ShowProgress(final: false);
    }

    protected override void EndProcessing()
    {
        if (_items is null) return;
        _items.Writer.TryComplete();
        Drain(untilDone: true);
        ShowProgress(final: true);
        if (_pending.Count > 0)
        {
            // The stream ended without an answer for some items: say so rather than lose them silently.
            var first = _pending.OrderBy(p => p.Key).First().Value.Target;
            Terminate(ErrorIds.AgentError, ErrorCategory.NotSpecified,
                $"The agent ended the call without answering {_pending.Count} of {_queued} item(s) (the first: {first}); check them with Get-RouterHost.",
                first);
        }
        WriteVerbose($"{Doing} hosts: {_succeeded} of {_queued} {Done}, {_failed} failed, in {_elapsed.Elapsed.TotalSeconds:0.0} s over one call to {ActiveConnection.Target}.");
    }

    private void Start()
    {
        if (_items is not null) return;
        _items = Channel.CreateUnbounded<TItem>(new UnboundedChannelOptions { SingleReader = true, SingleWriter = true });
        var client = Client;
        var token = _call.Token;
        var items = Outgoing(_items.Reader, token);
        WriteDebug($"{Doing} hosts: opening one streaming call to {ActiveConnection.Target}.");
        _elapsed.Start();
        _reader = Task.Run(async () =>
        {
            try
            {
                await foreach (var result in Open(client, items, token).ConfigureAwait(false))
                {
                    Interlocked.Increment(ref result.Error is null ? ref _succeeded : ref _failed);
                    Interlocked.Increment(ref _answered);
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

    /// <summary>
    /// What the call sends: the queued items, until Ctrl+C. After it, the items still queued
    /// are not sent (the channel would otherwise hand them all over before the call ends).
    /// </summary>
    private async IAsyncEnumerable<TItem> Outgoing(ChannelReader<TItem> queue, [EnumeratorCancellation] CancellationToken ct)
    {
        while (Volatile.Read(ref _stopping) == 0 && await queue.WaitToReadAsync(ct).ConfigureAwait(false))
        {
            while (Volatile.Read(ref _stopping) == 0 && queue.TryRead(out var item))
            {
                Interlocked.Increment(ref _sent);
                yield return item;
            }
        }
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
                    if (Volatile.Read(ref _stopping) != 0) throw new PipelineStoppedException();
                    // The stream itself failed (agent unreachable, TLS refused, ...): nothing else can go through.
                    try { Wait(_reader); }
                    catch (RouterHostsException e) { Terminate(e, ActiveConnection.Target, ErrorSubject.Host); }
                }
                else if (!untilDone)
                {
                    Terminate(ErrorIds.AgentError, ErrorCategory.NotSpecified,
                        $"The agent ended the call early, after {_answered} of {_queued} item(s).", ActiveConnection.Target);
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
        if (result.Error is { } error) Report(error, pending.Target, ErrorSubject.Host);
        else Succeeded(result, pending.Item, pending.Target);
    }

    private void ShowProgress(bool final)
    {
        if (_reader is null) return;
        if (final)
        {
            if (_progressShown)
                WriteProgress(new ProgressRecord(1, $"{Doing} hosts", "Done") { RecordType = ProgressRecordType.Completed });
            return;
        }
        if (_sinceProgress.Elapsed < ProgressEvery) return;
        _sinceProgress.Restart();
        var answered = Volatile.Read(ref _answered);
        WriteProgress(new ProgressRecord(1, $"{Doing} hosts on {ActiveConnection.Target}",
            $"{answered} of {_queued} done ({_succeeded} {Done}, {_failed} failed)")
        {
            PercentComplete = _queued == 0 ? 0 : Math.Min(100, answered * 100 / _queued),
        });
        _progressShown = true;
    }

    /// <summary>
    /// Ctrl+C: send nothing more (<see cref="Outgoing"/> stops at the flag), give the agent a
    /// moment to answer what it already has, then say what was done and what was not (on the
    /// host: the pipeline can no longer write).
    /// </summary>
    private protected override void OnStopping() => ReportStop();

    private void ReportStop()
    {
        if (Interlocked.Exchange(ref _stopping, 1) != 0 || _items is null || _reader is null) return;
        _items.Writer.TryComplete(); // wakes Outgoing, which sees the flag and ends the request stream
        try { _reader.Wait(StopGrace); }
        catch (AggregateException) { /* reported below as unanswered */ }
        _call.Cancel();
        var sent = Volatile.Read(ref _sent);
        var answered = Volatile.Read(ref _answered);
        var message = string.Format(CultureInfo.InvariantCulture,
            "Stopped: {0:N0} host(s) {1} and {2:N0} failed of the {3:N0} sent to {4}; ",
            Volatile.Read(ref _succeeded), Done, Volatile.Read(ref _failed), sent, ActiveConnection.Target);
        message += answered < sent
            ? string.Format(CultureInfo.InvariantCulture, "{0:N0} sent but unanswered may or may not have been {1}; ", sent - answered, Done)
            : "";
        var dropped = Volatile.Read(ref _queued) - sent;
        message += dropped > 0
            ? string.Format(CultureInfo.InvariantCulture, "{0:N0} queued were not sent; ", dropped)
            : "";
        message += "no later input was sent. Check with Get-RouterHost.";
        try { Host.UI.WriteWarningLine(message); }
        catch (Exception) { /* a host without a UI: nothing to tell */ }
    }

    private protected override void OnDispose()
    {
        // PowerShell skips StopProcessing when the pipeline thread saw the stop first (it records
        // that PipelineStoppedException as the pipeline's failure, and Stop then calls no one):
        // the stop is reported here instead, so Ctrl+C always says what was done.
        if (Stopping) ReportStop();
        // After Ctrl+C, ReportStop ends the call once its grace period is over.
        if (Volatile.Read(ref _stopping) == 0) _call.Cancel();
    }
}
