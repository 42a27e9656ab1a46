using System.Net;
using RouterHosts.Agent.Configuration;
using RouterHosts.Agent.Grpc;
using RouterHosts.Core;
using RouterHosts.Transport.Server;

namespace RouterHosts.Agent;

/// <summary>Wires the configuration, the core, Kestrel and the gRPC service, and runs until stopped.</summary>
public static class AgentHost
{
    public static async Task<int> RunAsync(AgentOptions options, bool dev, string? devDataDirectory)
    {
        var builder = WebApplication.CreateSlimBuilder(new WebApplicationOptions
        {
            ContentRootPath = AppContext.BaseDirectory,
            Args = [],
        });
        builder.Logging.ClearProviders();
        builder.Logging.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
        builder.Logging.SetMinimumLevel(Enum.TryParse<LogLevel>(options.LogLevel, true, out var level) ? level : LogLevel.Information);
        builder.Logging.AddFilter("Microsoft.AspNetCore", LogLevel.Warning);
        builder.Logging.AddFilter("Grpc.AspNetCore", LogLevel.Warning);

        using var bootLogs = LoggerFactory.Create(l => l.AddSimpleConsole(o => o.SingleLine = true));
        var bootLog = bootLogs.CreateLogger("RouterHosts.Agent");

        ServerTlsMaterial? tls = null;
        if (options.Listen.Count > 0)
        {
            if (options.Tls is null)
            {
                await Console.Error.WriteLineAsync("routerhosts-agent: tls: TCP listeners need tls.certificate, tls.key and tls.ca");
                return 2;
            }
            try { tls = new ServerTlsMaterial(TlsMaterial.Load(options.Tls.Certificate, options.Tls.Key, options.Tls.Ca)); }
            catch (Exception e) when (e is IOException or InvalidDataException or UnauthorizedAccessException)
            {
                await Console.Error.WriteLineAsync($"routerhosts-agent: tls: {e.Message}");
                return 2;
            }
        }

        var services = AgentServices.Create(options, LoggerFactory.Create(l =>
        {
            l.AddSimpleConsole(o => { o.SingleLine = true; o.TimestampFormat = "HH:mm:ss "; });
            l.SetMinimumLevel(level);
        }));
        builder.Services.AddSingleton(services.Engine);
        builder.Services.AddSingleton(new AgentInfo());
        builder.Services.AddSingleton(new AccessPolicy(options.Access));
        if (tls is not null) builder.Services.AddSingleton(tls);
        builder.Services.AddGrpc(grpc =>
        {
            grpc.MaxReceiveMessageSize = options.MaxMessageBytes;
            grpc.MaxSendMessageSize = options.MaxMessageBytes;
            grpc.EnableDetailedErrors = false;
            grpc.Interceptors.Add<CallGuard>();
        });

        UnixSocketListener? socket = null;
        builder.WebHost.ConfigureKestrel(kestrel =>
        {
            kestrel.AddServerHeader = false;
            kestrel.Limits.Http2.MaxStreamsPerConnection = 100;
            kestrel.Limits.Http2.InitialStreamWindowSize = 1024 * 1024;
            kestrel.Limits.Http2.InitialConnectionWindowSize = 2 * 1024 * 1024;
            kestrel.Limits.MaxRequestBodySize = null; // gRPC enforces the per-message limit itself
            kestrel.Limits.MinRequestBodyDataRate = null; // streams may idle (watch, slow pipelines)
            foreach (var endpoint in options.Listen)
            {
                if (!IPEndPoint.TryParse(endpoint, out var address) || address.Port == 0)
                    throw new ConfigurationError($"listen: '{endpoint}' is not an IP:port (use [::1]:50051 for IPv6)");
                GrpcListeners.AddTcp(kestrel, address, tls!, bootLog);
            }
            if (options.UnixSocket is { Path.Length: > 0 } unix)
            {
                socket = new UnixSocketListener(unix.Path, (UnixFileMode)Convert.ToInt32(unix.Mode, 8), unix.Group);
                GrpcListeners.AddUnixSocket(kestrel, socket);
            }
        });

        var app = builder.Build();
        app.MapGrpcService<HostsServiceAdapter>();

        // The file must reflect the database before we say we are ready.
        var file = await services.HostsFile.EnsureCurrentAsync(0, CancellationToken.None);
        if (!file.Current) bootLog.LogWarning("hosts file {Path} is stale: {Error}", file.Path, file.LastError);

        try
        {
            await app.StartAsync();
        }
        catch (IOException e)
        {
            await Console.Error.WriteLineAsync($"routerhosts-agent: cannot listen: {e.Message}");
            await services.DisposeAsync();
            return 1;
        }
        if (socket is not null) GrpcListeners.SecureUnixSocket(socket);
        bootLog.LogInformation("RouterHosts agent listening on {Endpoints}; database {Database}; hosts file {Hosts} ({Mode} mode)",
            string.Join(", ", options.Listen.Concat(socket is null ? [] : [$"unix:{socket.Path}"])), Path.GetFullPath(options.Database),
            file.Path, options.HostsFile.Mode);
        if (dev && devDataDirectory is not null)
        {
            Console.WriteLine($"""
                RouterHosts agent (dev) ready on {string.Join(", ", options.Listen)}.
                Connect from PowerShell:  Connect-RouterHostsAgent -ConfigPath {Path.Combine(devDataDirectory, "client.json")}
                Client files: {Path.Combine(devDataDirectory, "pki")} (client.crt, client.key, client.pfx, ca.crt)
                """);
        }

        await app.WaitForShutdownAsync();
        if (services.Engine.Sessions.Current is { } session)
            bootLog.LogWarning("stopping with an open edit session held by {Holder} ({Count} staged changes are discarded)",
                session.Holder, session.StagedChanges);
        await app.DisposeAsync();
        await services.DisposeAsync();
        return 0;
    }
}
