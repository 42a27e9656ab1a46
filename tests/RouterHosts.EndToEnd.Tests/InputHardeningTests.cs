using System.Text;
using Google.Protobuf;
using Grpc.Core;
using RouterHosts.Client;
using RouterHosts.Protocol.V1;
using RouterHosts.Transport;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>
/// Bad input through the real agent: names that read as addresses, non-canonical
/// spellings of one address, an import cut short, byte-order marks.
/// </summary>
public sealed class InputHardeningTests(SharedAgent shared) : IClassFixture<SharedAgent>
{
    private static RouterHostInput Host(string ip, string name, params string[] aliases) =>
        new() { IPAddress = ip, Hostname = name, Aliases = aliases };

    [Theory]
    [InlineData("8.8.8.8")]
    [InlineData("10.1")]
    [InlineData("web.123")]
    [InlineData("0x7f.1")]
    public async Task A_hostname_or_alias_that_reads_as_an_address_is_refused(string name)
    {
        using var client = shared.Agent.Connect();
        var asHostname = await Assert.ThrowsAsync<RouterHostsException>(() => client.AddHostAsync(Host("10.60.0.1", name)));
        Assert.Equal(RouterHostsErrorCode.InvalidArgument, asHostname.Code);
        Assert.Contains($"invalid hostname '{name}'", asHostname.Message);
        Assert.Contains("RFC 1123", asHostname.Message);
        var asAlias = await Assert.ThrowsAsync<RouterHostsException>(() => client.AddHostAsync(Host("10.60.0.1", "numeric-alias", name)));
        Assert.Contains($"invalid alias '{name}'", asAlias.Message);
        Assert.Empty(await client.ListHostsAsync(new RouterHostsQuery { IPAddress = "10.60.0.1" }).ToListAsync());
    }

    [Theory]
    [InlineData("::ffff:192.0.2.50", "192.0.2.50")]
    [InlineData("::FFFF:C000:0233", "192.0.2.51")]
    [InlineData("2001:0DB8:0000:0000:0000:0000:0000:0050", "2001:db8::50")]
    public async Task Every_spelling_of_an_address_is_stored_as_one_and_the_uniqueness_check_holds(string spelling, string canonical)
    {
        using var client = shared.Agent.Connect();
        var name = "canon-" + Guid.NewGuid().ToString("N")[..8];
        var first = await client.AddHostAsync(Host(canonical, name));
        var duplicate = await Assert.ThrowsAsync<RouterHostsException>(() => client.AddHostAsync(Host(spelling, name)));
        Assert.Equal(RouterHostsErrorCode.AlreadyExists, duplicate.Code);

        var other = await client.AddHostAsync(Host(spelling, name + "-b"));
        Assert.Equal(canonical, other.IPAddress);
        var listed = await client.ListHostsAsync(new RouterHostsQuery { IPAddress = spelling, HostnamePattern = name + "*" }).ToListAsync();
        Assert.Equal([first.Id, other.Id], listed.Select(h => h.Id));
        Assert.Contains($"{canonical}\t{name}-b\n", await File.ReadAllTextAsync(shared.Agent.HostsFilePath));
    }

    [Fact]
    public async Task An_import_stream_that_ends_without_last_chunk_writes_nothing_and_says_the_upload_was_incomplete()
    {
        using var channel = RawChannel();
        var grpc = new HostsService.HostsServiceClient(channel);
        using var call = grpc.ImportHosts();
        await call.RequestStream.WriteAsync(new ImportHostsRequest
        {
            Chunk = ByteString.CopyFromUtf8("10.61.0.1 half-sent-a\n10.61.0.2 half-sent-b\n"), Format = "hosts",
        });
        await call.RequestStream.CompleteAsync(); // no message with last_chunk
        var error = await Assert.ThrowsAsync<RpcException>(async () => { await foreach (var _ in call.ResponseStream.ReadAllAsync()) { } });
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("upload was incomplete", error.Status.Detail);
        Assert.Contains("nothing was imported", error.Status.Detail);
        Assert.Equal("import-incomplete", error.Trailers.GetValue(ErrorDetails.ReasonTrailerKey));

        using var client = shared.Agent.Connect();
        Assert.Empty(await client.ListHostsAsync(new RouterHostsQuery { HostnamePattern = "half-sent-*" }).ToListAsync());
        Assert.DoesNotContain("half-sent", await File.ReadAllTextAsync(shared.Agent.HostsFilePath));
    }

    [Fact]
    public async Task An_empty_import_stream_is_incomplete_too()
    {
        using var channel = RawChannel();
        using var call = new HostsService.HostsServiceClient(channel).ImportHosts();
        await call.RequestStream.CompleteAsync();
        var error = await Assert.ThrowsAsync<RpcException>(async () => { await foreach (var _ in call.ResponseStream.ReadAllAsync()) { } });
        Assert.Equal(StatusCode.InvalidArgument, error.StatusCode);
        Assert.Contains("upload was incomplete", error.Status.Detail);
    }

    [Theory]
    [InlineData("hosts", "10.62.0.{0} bom-{1}-{0}\n")]
    [InlineData("json", "[{{\"ip_address\": \"10.62.0.{0}\", \"hostname\": \"bom-{1}-{0}\"}}]")]
    [InlineData("csv", "ip_address,hostname\n10.62.0.{0},bom-{1}-{0}\n")]
    public async Task A_utf8_byte_order_mark_is_accepted_in_every_import_format(string format, string template)
    {
        using var client = shared.Agent.Connect();
        var octet = format switch { "hosts" => 1, "json" => 2, _ => 3 };
        var content = new UTF8Encoding(encoderShouldEmitUTF8Identifier: true).GetPreamble()
            .Concat(Encoding.UTF8.GetBytes(string.Format(template, octet, format))).ToArray();
        var result = await client.ImportAsync(new MemoryStream(content), format);
        Assert.Equal(1, result.Created);
        var host = await client.ListHostsAsync(new RouterHostsQuery { HostnamePattern = $"bom-{format}-*" }).SingleAsync();
        Assert.Equal($"10.62.0.{octet}", host.IPAddress);
    }

    private Grpc.Net.Client.GrpcChannel RawChannel()
    {
        var pki = shared.Agent.PkiDirectory;
        return GrpcChannelFactory.Create(new GrpcEndpoint
        {
            Address = shared.Agent.Endpoint, ServerName = "localhost",
            ClientCertificate = ClientCertificates.Load(Path.Combine(pki, "client.crt"), Path.Combine(pki, "client.key")),
            TrustedCa = TlsTrust.LoadBundle(Path.Combine(pki, "ca.crt")),
        });
    }
}
