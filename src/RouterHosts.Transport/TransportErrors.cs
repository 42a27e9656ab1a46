using System.Net.Http;
using System.Net.Sockets;
using System.Security.Authentication;
using Grpc.Core;

namespace RouterHosts.Transport;

/// <summary>What kind of transport failure stopped a call: reaching the agent, or the TLS handshake with it.</summary>
public enum TransportFailureKind { Connection, Tls }

/// <summary>A transport failure: its kind (for decisions) and a sentence a user can act on (for people).</summary>
public sealed record TransportFailure(TransportFailureKind Kind, string Message);

/// <summary>
/// Turns transport failures into sentences a user can act on: whether it is a
/// connection, TLS or certificate problem, and which.
/// </summary>
public static class TransportErrors
{
    /// <summary>Explains an UNAVAILABLE/INTERNAL status raised by the transport itself, or returns null when the server sent it.</summary>
    /// <param name="diagnoseClientCertificate">
    /// Checks our own client certificate the way the agent would; it names the problem when
    /// the agent closed the connection right after the handshake (TLS 1.3 reports a refused
    /// client certificate only then, without a reason).
    /// </param>
    public static TransportFailure? Explain(RpcException error, string target, TlsFailureLog? tlsFailures, Func<string?>? diagnoseClientCertificate = null)
    {
        static TransportFailure Tls(string message) => new(TransportFailureKind.Tls, message);
        static TransportFailure Connection(string message) => new(TransportFailureKind.Connection, message);
        if (tlsFailures?.TakeLast() is { } refused)
            return Tls($"TLS handshake with {target} failed: {refused}");
        var inner = error.Status.DebugException;
        if (inner is null) return null;
        var chain = Flatten(inner).ToList();
        if (chain.OfType<AuthenticationException>().FirstOrDefault() is { } auth)
            return Tls($"TLS handshake with {target} failed: {Describe(auth, diagnoseClientCertificate)}");
        var socket = chain.OfType<SocketException>().FirstOrDefault();
        if (socket?.SocketErrorCode is SocketError.ConnectionRefused or SocketError.AddressNotAvailable or SocketError.HostNotFound or SocketError.TimedOut)
            return Connection(socket.SocketErrorCode switch
            {
                SocketError.ConnectionRefused => $"cannot connect to {target}: connection refused (is the agent running and listening there?)",
                SocketError.TimedOut => $"connecting to {target} timed out",
                _ => $"cannot resolve or reach {target}",
            });
        // Past the connect, the connection failed and our own certificate has a problem the agent checks for:
        // that problem is the cause, however the close surfaced. Under TLS 1.3 the agent refuses a client
        // certificate after the client has finished its handshake, so the client may see the alert, an end of
        // stream, a reset or a broken pipe on its first write, depending on timing.
        if ((socket is not null || chain.OfType<HttpRequestException>().Any()) && diagnoseClientCertificate?.Invoke() is { } ownProblem)
            return Tls($"TLS handshake with {target} failed: the agent refused the client certificate: {ownProblem}");
        if (socket is not null)
            return Connection($"cannot connect to {target}: {socket.Message}");
        // A refused client certificate shows only as the connection closing during or right after the
        // handshake (TLS 1.3); which of these the client sees depends on timing.
        var closedEarly = chain.OfType<HttpIOException>().Any(e => e.HttpRequestError is HttpRequestError.InvalidResponse or HttpRequestError.ResponseEnded)
                          || chain.OfType<HttpRequestException>().Any(e => e.HttpRequestError is HttpRequestError.InvalidResponse or HttpRequestError.ResponseEnded)
                          || chain.Any(e => e is IOException && e.Message.Contains("HTTP/2 handshake", StringComparison.OrdinalIgnoreCase))
                          || chain.Any(e => e is ObjectDisposedException ode && ode.ObjectName.Contains("SslStream", StringComparison.Ordinal))
                          || chain.Any(e => e is IOException && e.Message.Contains("SSL", StringComparison.OrdinalIgnoreCase))
                          || chain.Any(e => e.Message.Contains("alert", StringComparison.OrdinalIgnoreCase));
        if (closedEarly && diagnoseClientCertificate is not null)
        {
            var reason = diagnoseClientCertificate() ??
                         "no local reason found: check that the agent trusts the CA that issued it and that it has not been revoked by configuration";
            return Tls($"TLS handshake with {target} failed: the agent refused the client certificate: {reason}");
        }
        if (chain.OfType<HttpRequestException>().FirstOrDefault() is { } http)
            return Connection($"cannot talk to {target}: {http.Message}");
        return null;
    }

    private static string Describe(AuthenticationException e, Func<string?>? diagnoseClientCertificate)
    {
        if (diagnoseClientCertificate?.Invoke() is { } ownProblem) return "the agent refused the client certificate: " + ownProblem;
        var message = string.Join(": ", Flatten(e).Select(x => x.Message).Distinct());
        return message.Contains("alert", StringComparison.OrdinalIgnoreCase) || message.Contains("certificate", StringComparison.OrdinalIgnoreCase)
            ? "the agent refused the client certificate: " + message
            : message;
    }

    private static IEnumerable<Exception> Flatten(Exception e)
    {
        for (Exception? current = e; current is not null; current = current.InnerException) yield return current;
    }
}
