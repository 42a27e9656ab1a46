using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using RouterHosts.Transport;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>
/// The agent's gRPC framing seen from a plain HTTP/2 client: trailers-only error
/// responses, and a message compressed with an encoding the server lacks.
/// </summary>
public sealed class RawGrpcTests(SharedAgent shared) : IClassFixture<SharedAgent>
{
    private HttpClient NewHttpClient()
    {
        var pki = shared.Agent.PkiDirectory;
        var ca = TlsTrust.LoadBundle(Path.Combine(pki, "ca.crt"));
        var handler = new SocketsHttpHandler();
        var certificate = ClientCertificates.Load(Path.Combine(pki, "client.crt"), Path.Combine(pki, "client.key"));
        handler.SslOptions.ClientCertificates = [certificate];
        handler.SslOptions.LocalCertificateSelectionCallback = (_, _, _, _, _) => certificate;
        handler.SslOptions.RemoteCertificateValidationCallback = (_, cert, _, _) =>
            cert is not null && TlsTrust.Validate(new X509Certificate2(cert), ca, TlsTrust.ServerAuthOid) is null;
        return new HttpClient(handler) { DefaultRequestVersion = HttpVersion.Version20, DefaultVersionPolicy = HttpVersionPolicy.RequestVersionExact };
    }

    private static HttpRequestMessage GrpcRequest(string endpoint, string method, byte[] frame, string? encoding = null)
    {
        var request = new HttpRequestMessage(HttpMethod.Post, $"https://{endpoint}/router_hosts.v1.HostsService/{method}")
        {
            Content = new ByteArrayContent(frame),
            Version = HttpVersion.Version20,
            VersionPolicy = HttpVersionPolicy.RequestVersionExact,
        };
        request.Content.Headers.ContentType = new MediaTypeHeaderValue("application/grpc");
        request.Headers.TryAddWithoutValidation("te", "trailers");
        if (encoding is not null) request.Headers.TryAddWithoutValidation("grpc-encoding", encoding);
        return request;
    }

    private static byte[] Frame(bool compressed, byte[] message) =>
        [compressed ? (byte)1 : (byte)0, .. BitConverter.GetBytes(IPAddress.HostToNetworkOrder(message.Length)), .. message];

    [Fact]
    public async Task A_message_compressed_with_an_unknown_encoding_gets_a_clear_UNIMPLEMENTED()
    {
        using var http = NewHttpClient();
        using var response = await http.SendAsync(GrpcRequest(shared.Agent.Endpoint, "Liveness", Frame(true, [1, 2, 3]), "snappy"));
        var status = Header(response, "grpc-status");
        Assert.Equal("12", status);
        Assert.Contains("snappy", Uri.UnescapeDataString(Header(response, "grpc-message") ?? ""));
    }

    [Fact]
    public async Task An_error_before_any_message_is_a_trailers_only_response_with_a_percent_encoded_utf8_message()
    {
        using var http = NewHttpClient();
        // GetHostRequest { id = "nö" }: field 1, length-delimited.
        var id = "nö"u8.ToArray();
        using var response = await http.SendAsync(GrpcRequest(shared.Agent.Endpoint, "GetHost", Frame(false, [0x0a, (byte)id.Length, .. id])));
        var body = await response.Content.ReadAsByteArrayAsync();
        Assert.Empty(body);
        Assert.Equal("3", response.Headers.GetValues("grpc-status").Single()); // in the headers: trailers-only
        Assert.StartsWith("invalid id 'nö': not a ULID", Uri.UnescapeDataString(response.Headers.GetValues("grpc-message").Single()));
    }

    private static string? Header(HttpResponseMessage response, string name) =>
        response.Headers.TryGetValues(name, out var v) ? v.Single()
        : response.TrailingHeaders.TryGetValues(name, out var t) ? t.Single() : null;
}
