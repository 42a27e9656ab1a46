using Grpc.Core;
using Grpc.Core.Interceptors;
using RouterHosts.Core.Hosts;
using RouterHosts.Core.Telemetry;
using RouterHosts.Transport;

namespace RouterHosts.Agent.Grpc;

/// <summary>
/// Wraps every call: identifies the caller and checks their role, and maps core
/// errors to status codes in this one place. Unexpected faults become INTERNAL
/// with a generic message; the details go to the log only. Once the agent is stopping
/// (<see cref="InFlightCalls.Stopping"/>), a new call is refused with UNAVAILABLE, and a call
/// that would never end by itself (WatchHosts) is ended with UNAVAILABLE.
/// </summary>
public sealed class CallGuard(AccessPolicy policy, InFlightCalls calls, ILogger<CallGuard> log) : Interceptor
{
    /// <summary>Methods that run until the client leaves; they end when the agent stops instead of holding it up.</summary>
    private static readonly HashSet<string> Endless = ["WatchHosts"];

    public const string CallerKey = "routerhosts-caller";

    public static Caller CallerOf(ServerCallContext context) => (Caller)context.UserState[CallerKey];

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation) =>
        Guard(context, c => continuation(request, c));

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation) =>
        Guard(context, async c =>
        {
            var requests = new EndingRequestStream<TRequest>(requestStream);
            try { return await continuation(requests, c); }
            finally { await requests.EndAsync(); }
        });

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation) =>
        Guard(context, async c => { await continuation(request, Writer(responseStream, context, c), c); return true; });

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation) =>
        Guard(context, async c =>
        {
            var requests = new EndingRequestStream<TRequest>(requestStream);
            try { await continuation(requests, Writer(responseStream, context, c), c); return true; }
            finally { await requests.EndAsync(); }
        });

    /// <summary>For a call ended when the agent stops, writes keep the call's own token (see <see cref="StoppableStreamWriter{T}"/>).</summary>
    private static IServerStreamWriter<T> Writer<T>(IServerStreamWriter<T> stream, ServerCallContext original, ServerCallContext given) =>
        ReferenceEquals(original, given) ? stream : new StoppableStreamWriter<T>(stream, original.CancellationToken);

    /// <summary>One span and one duration per call, by method and final status (no request data in them).</summary>
    private async Task<T> Guard<T>(ServerCallContext context, Func<ServerCallContext, Task<T>> call)
    {
        var method = Operation(context);
        using var span = RouterHostsTelemetry.Source.StartActivity($"router_hosts.v1.HostsService/{method}", System.Diagnostics.ActivityKind.Server);
        span?.SetTag("rpc.system", "grpc");
        span?.SetTag("rpc.method", method);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        var status = StatusCode.OK;
        try { return await GuardCallAsync(context, call); }
        catch (RpcException e) { status = e.StatusCode; throw; }
        catch (OperationCanceledException) { status = StatusCode.Cancelled; throw; }
        catch { status = StatusCode.Unknown; throw; }
        finally { RouterHostsTelemetry.RecordRpc(method, (int)status, System.Diagnostics.Stopwatch.GetElapsedTime(started), span); }
    }

    private async Task<T> GuardCallAsync<T>(ServerCallContext context, Func<ServerCallContext, Task<T>> call)
    {
        // The calls in flight get the grace period; a call that arrives after the stop began would only lengthen it.
        if (calls.Stopping.IsCancellationRequested) throw Stopping();
        var caller = policy.Identify(context);
        var needed = AccessPolicy.RequiredRole(context.Method);
        if (caller.Role < needed)
        {
            log.LogWarning("denied {Method} to {Actor} (role {Role}; needs {Needed})", context.Method, caller.Actor,
                caller.Role.ToString().ToLowerInvariant(), needed.ToString().ToLowerInvariant());
            throw new RpcException(new Status(StatusCode.PermissionDenied,
                $"{context.Method} needs the {needed.ToString().ToLowerInvariant()} role; {caller.Actor} has " +
                (caller.Role == Role.None ? "no role" : $"the {caller.Role.ToString().ToLowerInvariant()} role")));
        }
        context.UserState[CallerKey] = caller;
        var endless = Endless.Contains(Operation(context));
        using var linked = endless ? CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, calls.Stopping) : null;
        try
        {
            var result = await call(linked is null ? context : new StoppableCallContext(context, linked.Token));
            if (endless && calls.Stopping.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested) throw Stopping();
            return result;
        }
        catch (CoreException e)
        {
            // Refusals past the role check (another identity's edit session) are logged like role denials.
            if (e.Kind == CoreErrorKind.PermissionDenied)
                log.LogWarning("denied {Method} to {Actor}: {Reason}", context.Method, caller.Actor, e.Message);
            throw ToRpc(e);
        }
        catch (OperationCanceledException) when (endless && calls.Stopping.IsCancellationRequested && !context.CancellationToken.IsCancellationRequested)
        {
            throw Stopping();
        }
        catch (OperationCanceledException) when (context.CancellationToken.IsCancellationRequested)
        {
            // The client left or its deadline passed: it no longer reads the status, but the status is still true.
            throw new RpcException(new Status(StatusCode.Cancelled, $"{Operation(context)} was cancelled: the client left or its deadline passed"));
        }
        catch (Exception e) when (e is not RpcException)
        {
            // Nothing leaves as UNKNOWN ("Exception was thrown by handler"): the client learns which
            // operation failed, the log keeps the cause.
            if (context.CancellationToken.IsCancellationRequested) log.LogDebug(e, "{Method} failed after its client left", context.Method);
            else log.LogError(e, "{Method} failed", context.Method);
            throw new RpcException(new Status(StatusCode.Internal, $"{Operation(context)} failed: internal error in the agent; see its log"));
        }
    }

    /// <summary>The method's name without its service ("ExportHosts"), for messages.</summary>
    private static string Operation(ServerCallContext context) => context.Method[(context.Method.LastIndexOf('/') + 1)..];

    private static RpcException Stopping() =>
        new(new Status(StatusCode.Unavailable, "the agent is stopping; reconnect when it is back"));

    public static RpcException ToRpc(CoreException e)
    {
        var code = StatusOf(e.Kind);
        var trailers = new Metadata();
        if (e.Details.Count > 0) trailers.Add(ErrorDetails.TrailerKey, ErrorDetails.Encode(e.Details));
        if (e.Reason is not null) trailers.Add(ErrorDetails.ReasonTrailerKey, e.Reason);
        return new RpcException(new Status(code, e.Message), trailers);
    }

    public static StatusCode StatusOf(CoreErrorKind kind) => kind switch
    {
        CoreErrorKind.InvalidArgument => StatusCode.InvalidArgument,
        CoreErrorKind.NotFound => StatusCode.NotFound,
        CoreErrorKind.AlreadyExists => StatusCode.AlreadyExists,
        CoreErrorKind.Conflict => StatusCode.Aborted,
        CoreErrorKind.FailedPrecondition => StatusCode.FailedPrecondition,
        CoreErrorKind.ResourceExhausted => StatusCode.ResourceExhausted,
        CoreErrorKind.PermissionDenied => StatusCode.PermissionDenied,
        CoreErrorKind.Unavailable => StatusCode.Unavailable,
        CoreErrorKind.DataLoss => StatusCode.DataLoss,
        _ => StatusCode.Internal,
    };
}

/// <summary>
/// A call's request stream as its handler reads it. When the call ends, a read still pending
/// (a background drain, a reader task the handler no longer waits for) is cancelled and
/// awaited: Kestrel reuses a finished HTTP/2 stream for the next call on the connection, and
/// a read left pending would take that call's request ("Reading is already in progress",
/// UNKNOWN "Exception was thrown by handler" to that other client).
/// </summary>
internal sealed class EndingRequestStream<T>(IAsyncStreamReader<T> inner) : IAsyncStreamReader<T>
{
    private readonly CancellationTokenSource _callEnded = new();
    private Task<bool>? _pending;

    public T Current => inner.Current;

    public Task<bool> MoveNext(CancellationToken cancellationToken)
    {
        // A read asked for after the call ended must not reach the stream.
        if (_callEnded.IsCancellationRequested) return Task.FromCanceled<bool>(_callEnded.Token);
        var linked = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, _callEnded.Token);
        var read = inner.MoveNext(linked.Token);
        Volatile.Write(ref _pending, read);
        _ = read.ContinueWith(_ => linked.Dispose(), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        return read;
    }

    public async Task EndAsync()
    {
        await _callEnded.CancelAsync();
        if (Volatile.Read(ref _pending) is { } pending)
        {
            try { await pending; }
            catch (Exception e) when (e is OperationCanceledException or RpcException or IOException or InvalidOperationException) { }
        }
        // _callEnded is not disposed: a drain may still look at it (it holds no timer).
    }
}
