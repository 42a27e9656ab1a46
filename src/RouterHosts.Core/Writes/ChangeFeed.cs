namespace RouterHosts.Core.Writes;

/// <summary>
/// Tells watchers that something was committed. Writers only bump a number and
/// complete a task, so a slow watcher can never hold a writer up; a watcher that
/// falls behind sees only the latest change (bursts coalesce).
/// </summary>
public sealed class ChangeFeed
{
    private readonly object _gate = new();
    private TaskCompletionSource _next = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private long _changeId;

    public long ChangeId { get { lock (_gate) return _changeId; } }

    public void Publish(long changeId)
    {
        TaskCompletionSource fired;
        lock (_gate)
        {
            if (changeId <= _changeId) return;
            _changeId = changeId;
            fired = _next;
            _next = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
        fired.SetResult();
    }

    /// <summary>Completes once a change later than <paramref name="seen"/> is committed.</summary>
    public async Task<long> WaitAfterAsync(long seen, CancellationToken ct)
    {
        while (true)
        {
            Task next;
            lock (_gate)
            {
                if (_changeId > seen) return _changeId;
                next = _next.Task;
            }
            await next.WaitAsync(ct);
        }
    }
}
