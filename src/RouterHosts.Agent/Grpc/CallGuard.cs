using Grpc.Core;
using Grpc.Core.Interceptors;
using RouterHosts.Core.Hosts;
using RouterHosts.Transport;

namespace RouterHosts.Agent.Grpc;

/// <summary>
/// Wraps every call: identifies the caller and checks their role, and maps core
/// errors to status codes in this one place. Unexpected faults become INTERNAL
/// with a generic message; the details go to the log only.
/// </summary>
public sealed class CallGuard(AccessPolicy policy, ILogger<CallGuard> log) : Interceptor
{
    public const string CallerKey = "routerhosts-caller";

    public static Caller CallerOf(ServerCallContext context) => (Caller)context.UserState[CallerKey];

    public override Task<TResponse> UnaryServerHandler<TRequest, TResponse>(TRequest request, ServerCallContext context,
        UnaryServerMethod<TRequest, TResponse> continuation) =>
        Guard(context, () => continuation(request, context));

    public override Task<TResponse> ClientStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        ServerCallContext context, ClientStreamingServerMethod<TRequest, TResponse> continuation) =>
        Guard(context, () => continuation(requestStream, context));

    public override Task ServerStreamingServerHandler<TRequest, TResponse>(TRequest request, IServerStreamWriter<TResponse> responseStream,
        ServerCallContext context, ServerStreamingServerMethod<TRequest, TResponse> continuation) =>
        Guard(context, async () => { await continuation(request, responseStream, context); return true; });

    public override Task DuplexStreamingServerHandler<TRequest, TResponse>(IAsyncStreamReader<TRequest> requestStream,
        IServerStreamWriter<TResponse> responseStream, ServerCallContext context, DuplexStreamingServerMethod<TRequest, TResponse> continuation) =>
        Guard(context, async () => { await continuation(requestStream, responseStream, context); return true; });

    private async Task<T> Guard<T>(ServerCallContext context, Func<Task<T>> call)
    {
        var caller = policy.Identify(context);
        var needed = AccessPolicy.RequiredRole(context.Method);
        if (caller.Role < needed)
        {
            log.LogWarning("denied {Method} to {Actor} (role {Role}; needs {Needed})", context.Method, caller.Actor, caller.Role, needed);
            throw new RpcException(new Status(StatusCode.PermissionDenied,
                $"{context.Method} needs the {needed.ToString().ToLowerInvariant()} role; {caller.Actor} has " +
                (caller.Role == Role.None ? "no role" : $"the {caller.Role.ToString().ToLowerInvariant()} role")));
        }
        context.UserState[CallerKey] = caller;
        try
        {
            return await call();
        }
        catch (CoreException e)
        {
            throw ToRpc(e);
        }
        catch (Exception e) when (e is not RpcException && e is not OperationCanceledException && !context.CancellationToken.IsCancellationRequested)
        {
            log.LogError(e, "{Method} failed", context.Method);
            throw new RpcException(new Status(StatusCode.Internal, "internal error in the agent; see its log"));
        }
    }

    public static RpcException ToRpc(CoreException e)
    {
        var code = StatusOf(e.Kind);
        var trailers = new Metadata();
        if (e.Details.Count > 0) trailers.Add(ErrorDetails.TrailerKey, ErrorDetails.Encode(e.Details));
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
        _ => StatusCode.Internal,
    };
}
