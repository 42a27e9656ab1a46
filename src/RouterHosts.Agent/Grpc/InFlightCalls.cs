using System.Collections.Concurrent;
using Grpc.Core;

namespace RouterHosts.Agent.Grpc;

/// <summary>
/// The gRPC calls being handled now, counted per HTTP/2 request from its start until its
/// response is complete (<see cref="CountCalls"/>), so that shutdown can say what it waits for,
/// let every call finish before Kestrel starts closing connections, and close the database only
/// after the last handler (and its commit) has returned. <see cref="Stopping"/> refuses new calls
/// and ends calls that never finish by themselves (a followed watch) when the agent starts to stop.
/// </summary>
public sealed class InFlightCalls
{
    private readonly ConcurrentDictionary<long, string> _calls = new();
    private readonly CancellationTokenSource _stopping = new();
    private long _next;

    public CancellationToken Stopping => _stopping.Token;

    public int Count => _calls.Count;

    /// <summary>The short method names of the calls in flight, e.g. "BulkAddHosts".</summary>
    public IReadOnlyList<string> Methods => _calls.Values.Select(m => m[(m.LastIndexOf('/') + 1)..]).Order().ToList();

    public void BeginStopping()
    {
        try { _stopping.Cancel(); }
        catch (AggregateException) { }
    }

    /// <summary>
    /// Middleware: a gRPC request counts until Kestrel reports its response complete (OnCompleted),
    /// not until its handler returns: the status trailers are written after the handler, and a
    /// connection closed before them would end the call without its status.
    /// </summary>
    public async Task CountCalls(HttpContext context, RequestDelegate next)
    {
        if (context.Request.ContentType?.StartsWith("application/grpc", StringComparison.Ordinal) != true)
        {
            await next(context);
            return;
        }
        var id = Interlocked.Increment(ref _next);
        _calls[id] = context.Request.Path.Value ?? "";
        context.Response.OnCompleted(() =>
        {
            _calls.TryRemove(id, out _);
            return Task.CompletedTask;
        });
        await next(context);
    }

    /// <summary>Waits until no call is in flight or <paramref name="timeout"/> passes; true when none is left.</summary>
    public async Task<bool> WaitIdleAsync(TimeSpan timeout)
    {
        using var deadline = new CancellationTokenSource(timeout);
        return await WaitIdleAsync(deadline.Token);
    }

    /// <summary>Waits until no call is in flight or <paramref name="until"/> fires; true when none is left.</summary>
    public async Task<bool> WaitIdleAsync(CancellationToken until)
    {
        while (!_calls.IsEmpty)
        {
            if (until.IsCancellationRequested) return false;
            try { await Task.Delay(20, until); }
            catch (OperationCanceledException) { }
        }
        return true;
    }
}

/// <summary>A call context whose cancellation also fires when the agent stops (for calls that never end by themselves).</summary>
internal sealed class StoppableCallContext : ServerCallContext
{
    /// <summary>Where Grpc.AspNetCore's GetHttpContext() looks when the context is not its own.</summary>
    private const string HttpContextKey = "__HttpContext";

    private readonly ServerCallContext inner;
    private readonly CancellationToken token;

    public StoppableCallContext(ServerCallContext inner, CancellationToken token)
    {
        this.inner = inner;
        this.token = token;
        inner.UserState[HttpContextKey] = inner.GetHttpContext();
    }

    protected override string MethodCore => inner.Method;
    protected override string HostCore => inner.Host;
    protected override string PeerCore => inner.Peer;
    protected override DateTime DeadlineCore => inner.Deadline;
    protected override Metadata RequestHeadersCore => inner.RequestHeaders;
    protected override CancellationToken CancellationTokenCore => token;
    protected override Metadata ResponseTrailersCore => inner.ResponseTrailers;
    protected override Status StatusCore { get => inner.Status; set => inner.Status = value; }
    protected override WriteOptions? WriteOptionsCore { get => inner.WriteOptions; set => inner.WriteOptions = value; }
    protected override AuthContext AuthContextCore => inner.AuthContext;
    protected override IDictionary<object, object> UserStateCore => inner.UserState;
    protected override ContextPropagationToken CreatePropagationTokenCore(ContextPropagationOptions? options) => inner.CreatePropagationToken(options);
    protected override Task WriteResponseHeadersAsyncCore(Metadata responseHeaders) => inner.WriteResponseHeadersAsync(responseHeaders);
}

/// <summary>
/// The response stream of a call ended by <see cref="InFlightCalls.Stopping"/>: a write in
/// progress is not cancelled by it (that would reset the HTTP/2 stream); the handler stops
/// at its next wait and the call ends with a proper status. The caller's own cancellation
/// still applies.
/// </summary>
internal sealed class StoppableStreamWriter<T>(IServerStreamWriter<T> inner, CancellationToken callToken) : IServerStreamWriter<T>
{
    public WriteOptions? WriteOptions { get => inner.WriteOptions; set => inner.WriteOptions = value; }

    public Task WriteAsync(T message) => inner.WriteAsync(message, callToken);

    public Task WriteAsync(T message, CancellationToken cancellationToken) => inner.WriteAsync(message, callToken);
}
