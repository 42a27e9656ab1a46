using RouterHosts.Agent.Configuration;
using RouterHosts.Agent.Grpc;
using RouterHosts.Transport.Server;

namespace RouterHosts.Agent.Lifecycle;

/// <summary>
/// The agent's steps in the host's start and stop, around Kestrel's. Started (the listeners are
/// bound, READY=1 not yet sent): the Unix socket gets its mode and group, SIGHUP starts to reload,
/// and the garbage of the first render is given back. Stopping (STOPPING=1 sent, Kestrel not yet
/// stopped): new calls are refused and watches end; the calls in flight get the grace period.
/// </summary>
internal sealed class AgentLifecycle(AgentSettings settings, InFlightCalls calls, Action started, ILogger log) : IHostedLifecycleService
{
    public Task StartingAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StartedAsync(CancellationToken cancellationToken)
    {
        if (settings.UnixSocket is { } socket) GrpcListeners.SecureUnixSocket(socket);
        started();
        // The first render of a large hosts file leaves garbage behind; give it back before idling (a router is short of memory).
        GC.Collect(GC.MaxGeneration, GCCollectionMode.Aggressive, blocking: true, compacting: true);
        return Task.CompletedTask;
    }

    /// <summary>
    /// Refuses new calls, ends the watches, and waits until every call in flight has finished its
    /// response or the grace period (shutdown_grace_seconds, also the host's shutdown timeout)
    /// has passed. Only then does Kestrel stop: its graceful close of a connection can abort a
    /// response whose last frames (the status trailers) are not yet written, so it must find none.
    /// </summary>
    public async Task StoppingAsync(CancellationToken cancellationToken)
    {
        var inFlight = calls.Methods; // before BeginStopping, which ends watches at once
        calls.BeginStopping();
        log.LogInformation("stopping: no new calls; {Count} call(s) in flight{Methods}, given up to {Grace} s to finish",
            inFlight.Count, inFlight.Count == 0 ? "" : $" ({string.Join(", ", inFlight)})", settings.ShutdownGrace.TotalSeconds);
        using var grace = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        grace.CancelAfter(settings.ShutdownGrace); // the host's token should fire then too; this does not depend on it
        if (!await calls.WaitIdleAsync(grace.Token))
            log.LogWarning("{Count} call(s) still in flight after the grace period ({Methods}); cutting them off",
                calls.Count, string.Join(", ", calls.Methods));
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;

    public Task StoppedAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
