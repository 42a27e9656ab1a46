using System.Net.Http;
using System.Net.Sockets;
using System.Security.Authentication;
using Grpc.Core;

namespace RouterHosts.Transport;

/// <summary>
/// Turns transport failures into sentences a user can act on: whether it is a
/// connection, TLS or certificate problem, and which.
/// </summary>
public static class TransportErrors
{
    /// <summary>Explains an UNAVAILABLE/INTERNAL status raised by the transport itself, or returns null when the server sent it.</summary>
    public static string? Explain(RpcException error, string target, TlsFailureLog? tlsFailures)
    {
        if (tlsFailures?.TakeLast() is { } refused)
            return $"TLS handshake with {target} failed: {refused}";
        var inner = error.Status.DebugException;
        if (inner is null) return null;
        var chain = Flatten(inner).ToList();
        if (chain.OfType<AuthenticationException>().FirstOrDefault() is { } auth)
            return $"TLS handshake with {target} failed: {Describe(auth)}";
        if (chain.OfType<SocketException>().FirstOrDefault() is { } socket)
            return socket.SocketErrorCode switch
            {
                SocketError.ConnectionRefused => $"cannot connect to {target}: connection refused (is the agent running and listening there?)",
                SocketError.AddressNotAvailable or SocketError.HostNotFound => $"cannot resolve or reach {target}",
                SocketError.TimedOut => $"connecting to {target} timed out",
                _ => $"cannot connect to {target}: {socket.Message}",
            };
        if (chain.Any(e => e is IOException && e.Message.Contains("SSL", StringComparison.OrdinalIgnoreCase))
            || chain.Any(e => e.Message.Contains("alert", StringComparison.OrdinalIgnoreCase)))
            return $"TLS connection to {target} failed: the agent closed it during or right after the handshake, " +
                   $"which means it refused the client certificate (missing, expired, from another CA, or without clientAuth usage). Detail: {chain[^1].Message}";
        if (chain.OfType<HttpRequestException>().FirstOrDefault() is { } http)
            return $"cannot talk to {target}: {http.Message}";
        return null;
    }

    private static string Describe(AuthenticationException e)
    {
        var message = string.Join(": ", Flatten(e).Select(x => x.Message).Distinct());
        if (message.Contains("alert", StringComparison.OrdinalIgnoreCase) || message.Contains("certificate", StringComparison.OrdinalIgnoreCase))
            return "the agent refused the client certificate (missing, expired, from another CA, or without clientAuth usage): " + message;
        return message;
    }

    private static IEnumerable<Exception> Flatten(Exception e)
    {
        for (Exception? current = e; current is not null; current = current.InnerException) yield return current;
    }
}
