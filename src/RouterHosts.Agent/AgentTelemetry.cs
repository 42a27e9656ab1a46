using System.Diagnostics.Metrics;
using OpenTelemetry.Exporter;
using OpenTelemetry.Metrics;
using OpenTelemetry.Resources;
using OpenTelemetry.Trace;
using RouterHosts.Agent.Configuration;
using RouterHosts.Core.Telemetry;

namespace RouterHosts.Agent;

/// <summary>
/// Wires the OpenTelemetry SDK into the Generic Host when telemetry is configured: the RouterHosts
/// meter (see <see cref="RouterHostsTelemetry"/>) to a Prometheus scrape endpoint on a listener of
/// its own (HttpListener, plain HTTP, never an mTLS port) and/or OTLP; the RouterHosts spans (one per
/// RPC, one per commit) to OTLP. Off, one or both, by configuration.
/// </summary>
public static class AgentTelemetry
{
    public static void AddAgentTelemetry(this IServiceCollection services, TelemetryOptions options, AgentServices agent)
    {
        var prometheus = options.Prometheus.Enabled;
        var otlp = options.Otlp.Endpoint is { Length: > 0 };
        if (!prometheus && !otlp) return;
        ObserveState(agent);
        var telemetry = services.AddOpenTelemetry()
            .ConfigureResource(r => r.AddService("routerhosts-agent", serviceVersion: new AgentInfo().Version))
            .WithMetrics(metrics =>
            {
                metrics.AddMeter(RouterHostsTelemetry.Name);
                if (prometheus)
                {
                    var (host, port) = ScrapeHost(options.Prometheus.Listen);
                    metrics.AddPrometheusHttpListener(o => { o.Host = host; o.Port = port; });
                }
                if (otlp) metrics.AddOtlpExporter(o => Configure(o, options.Otlp, "v1/metrics"));
            });
        if (otlp)
            // Every call and commit is kept: ASP.NET Core's own request activity (not exported) is their parent,
            // and the default parent-based sampler would drop them with it.
            telemetry.WithTracing(tracing => tracing.AddSource(RouterHostsTelemetry.Name).SetSampler(new AlwaysOnSampler())
                .AddOtlpExporter(o => Configure(o, options.Otlp, "v1/traces")));
    }

    /// <summary>"127.0.0.1:9464" → ("127.0.0.1", 9464), "[::1]:9464" → ("[::1]", 9464) (validated before this runs).</summary>
    public static (string Host, int Port) ScrapeHost(string listen)
    {
        var endpoint = AgentOptionsValidator.ParseEndpoint(listen, out _)!;
        var v6 = endpoint.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6;
        return (v6 ? $"[{endpoint.Address}]" : endpoint.Address.ToString(), endpoint.Port);
    }

    private static void Configure(OtlpExporterOptions exporter, OtlpOptions options, string signalPath)
    {
        var http = options.Protocol == "http/protobuf";
        exporter.Protocol = http ? OtlpExportProtocol.HttpProtobuf : OtlpExportProtocol.Grpc;
        // Given in code, the endpoint is used as it is: over HTTP each signal has its own path.
        exporter.Endpoint = new Uri(http ? $"{options.Endpoint.TrimEnd('/')}/{signalPath}" : options.Endpoint);
    }

    /// <summary>The state read at each collection: live hosts, live edit sessions.</summary>
    private static void ObserveState(AgentServices agent)
    {
        RouterHostsTelemetry.Meter.CreateObservableGauge<long>("routerhosts.hosts", () =>
        {
            // A store that cannot answer (database down) gives no value, not a wrong one.
            try { return [new Measurement<long>(agent.Store.CountLive())]; }
            catch (Exception) { return []; }
        }, "{host}", "Live host entries");
        RouterHostsTelemetry.Meter.CreateObservableGauge("routerhosts.edit_sessions",
            () => agent.Engine.CurrentEdit is null ? 0 : 1, "{session}", "Live edit sessions (at most one)");
    }
}
