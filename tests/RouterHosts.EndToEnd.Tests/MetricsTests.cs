using System.Globalization;
using System.Text.Json.Nodes;
using RouterHosts.Client;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>
/// The real agent with its Prometheus scrape endpoint: scraped over HTTP after real writes, each
/// metric checked by name, labels and value, and the endpoint's socket checked to be bound to loopback only.
/// </summary>
public sealed class MetricsTests
{
    [Fact]
    public async Task The_scrape_endpoint_on_its_own_loopback_listener_counts_rpcs_commits_renders_hooks_hosts_and_edit_sessions()
    {
        var scrapePort = AgentProcess.FreePort();
        await using var agent = await AgentProcess.StartWithConfigAsync((config, dir) =>
        {
            config["telemetry"] = new JsonObject { ["prometheus"] = new JsonObject { ["enabled"] = true, ["listen"] = $"127.0.0.1:{scrapePort}" } };
            config["hooks"] = new JsonObject
            {
                ["on_success"] = new JsonArray(new JsonObject { ["name"] = "ok", ["command"] = "true" }),
            };
            config["outputs"] = new JsonArray(new JsonObject { ["format"] = "unbound", ["path"] = Path.Combine(dir, "unbound.conf") });
        });
        using var client = agent.Connect();
        var web = await client.AddHostAsync(new RouterHostInput { IPAddress = "10.60.0.1", Hostname = "web.lan" });
        await client.AddHostAsync(new RouterHostInput { IPAddress = "10.60.0.2", Hostname = "db.lan" });
        await client.RemoveHostAsync(web.Id);
        var missing = await Assert.ThrowsAsync<RouterHostsException>(() => client.GetHostAsync("01ARZ3NDEKTSV4RRFFQ69G5FAV"));
        Assert.Equal(RouterHostsErrorCode.NotFound, missing.Code);

        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var url = $"http://127.0.0.1:{scrapePort}/metrics";
        // Hooks and outputs run off the request path: wait for their real results, not a guessed time.
        var metrics = await ScrapeUntilAsync(http, url, m =>
            m.Sum("routerhosts_hook_duration_seconds_count", ("result", "success")) >= 1 &&
            m.Sum("routerhosts_file_writes_total", ("format", "unbound"), ("result", "written")) >= 1);

        Assert.Equal(2, metrics.Sum("routerhosts_rpc_duration_seconds_count", ("rpc_method", "AddHost"), ("rpc_grpc_status_code", "0")));
        Assert.Equal(1, metrics.Sum("routerhosts_rpc_duration_seconds_count", ("rpc_method", "DeleteHost"), ("rpc_grpc_status_code", "0")));
        Assert.Equal(1, metrics.Sum("routerhosts_rpc_duration_seconds_count", ("rpc_method", "GetHost"), ("rpc_grpc_status_code", "5")));
        Assert.True(metrics.Sum("routerhosts_rpc_duration_seconds_sum", ("rpc_method", "AddHost")) > 0);
        Assert.Equal(3, metrics.Sum("routerhosts_commit_duration_seconds_count"));
        Assert.Equal(3, metrics.Sum("routerhosts_commit_events_sum"));
        Assert.Equal(1, metrics.Sum("routerhosts_hosts"));
        Assert.Equal(0, metrics.Sum("routerhosts_edit_sessions"));
        // One render per commit (the start-up render comes before the meter is listened to).
        Assert.True(metrics.Sum("routerhosts_file_render_duration_seconds_count", ("format", "hosts_file")) >= 3, metrics.Text);
        Assert.True(metrics.Sum("routerhosts_file_render_size_bytes_sum", ("format", "hosts_file")) > 0);
        Assert.Equal(0, metrics.Sum("routerhosts_file_writes_total", ("result", "failed")));
        Assert.Contains("# TYPE routerhosts_rpc_duration_seconds histogram", metrics.Text);
        if (Environment.GetEnvironmentVariable("ROUTERHOSTS_TEST_METRICS_DUMP") is { Length: > 0 } dump) await File.WriteAllTextAsync(dump, metrics.Text);
        // No host data in the metrics: names and addresses never appear.
        Assert.DoesNotContain("db.lan", metrics.Text);
        Assert.DoesNotContain("10.60.0.", metrics.Text);

        await client.StartEditAsync();
        metrics = await ScrapeUntilAsync(http, url, m => m.Sum("routerhosts_edit_sessions") == 1);
        Assert.Equal(1, metrics.Sum("routerhosts_rpc_duration_seconds_count", ("rpc_method", "StartEdit"), ("rpc_grpc_status_code", "0")));

        // The listening socket is bound to 127.0.0.1 alone, and it is not the mTLS port.
        Assert.NotEqual(agent.Port, scrapePort);
        Assert.Equal(["127.0.0.1"], ListeningAddresses(scrapePort));
        Assert.Equal(new[] { agent.Port, scrapePort }.Order(), ListeningPortsOf(agent.Pid));
    }

    [Fact]
    public async Task Writes_that_queue_behind_a_blocked_commit_share_one_commit_and_survive_kill_9_once_acknowledged()
    {
        var scrapePort = AgentProcess.FreePort();
        var agent = await AgentProcess.StartWithConfigAsync((config, _) =>
            config["telemetry"] = new JsonObject { ["prometheus"] = new JsonObject { ["enabled"] = true, ["listen"] = $"127.0.0.1:{scrapePort}" } });
        try
        {
            var clients = Enumerable.Range(0, 16).Select(_ => agent.Connect()).ToList();
            await clients[0].AddHostAsync(new RouterHostInput { IPAddress = "10.63.0.1", Hostname = "before.lan" });
            using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
            var url = $"http://127.0.0.1:{scrapePort}/metrics";
            var commitsBefore = (await ScrapeUntilAsync(http, url, m => m.Sum("routerhosts_commits_total") >= 1)).Sum("routerhosts_commits_total");

            List<Task<RouterHost>> adds;
            // Another process's connection holds the database's write lock: the agent's commit waits for it.
            using (var blocker = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={Path.Combine(agent.DataDirectory, "routerhosts.db")};Pooling=False"))
            {
                blocker.Open();
                using var hold = blocker.CreateCommand();
                hold.CommandText = "BEGIN IMMEDIATE";
                hold.ExecuteNonQuery();
                adds = clients.Select((client, i) => client.AddHostAsync(new RouterHostInput { IPAddress = $"10.63.1.{i + 1}", Hostname = $"group{i}.lan" })).ToList();
                // All 16 are waiting for a commit (at most one of which can be in flight, held by the lock) before it is released.
                await ScrapeUntilAsync(http, url, m => m.Sum("routerhosts_writes_pending") == 16);
                Assert.DoesNotContain(adds, a => a.IsCompleted);
                hold.CommandText = "ROLLBACK";
                hold.ExecuteNonQuery();
            }
            var added = await Task.WhenAll(adds);
            var metrics = await ScrapeUntilAsync(http, url, m => m.Sum("routerhosts_writes_pending") == 0);
            // The commit in flight, then at most one for all that queued behind it: fewer commits than writes.
            var commits = metrics.Sum("routerhosts_commits_total") - commitsBefore;
            Assert.InRange(commits, 1, 2);
            Assert.Equal(17, metrics.Sum("routerhosts_commit_events_sum"));

            // Every acknowledged write is on disk: kill -9 at once, then read them back.
            agent = await agent.RestartAsync(crash: true);
            using var reader = agent.Connect();
            var hosts = await reader.ListHostsAsync(new RouterHostsQuery { HostnamePattern = "group*" }).ToListAsync();
            Assert.Equal(added.Select(h => h.Id).Order(), hosts.Select(h => h.Id).Order());
            foreach (var host in hosts) Assert.Single(await reader.GetHostHistoryAsync(host.Id).ToListAsync());
            var file = await File.ReadAllTextAsync(agent.HostsFilePath);
            Assert.Equal(16, file.Split('\n').Count(l => l.Contains("\tgroup")));
            foreach (var client in clients) client.Dispose();
        }
        finally { await agent.DisposeAsync(); }
    }

    [Fact]
    public async Task With_a_shared_PostgreSQL_database_a_change_committed_through_another_agent_is_measured_as_propagation_lag()
    {
        using var database = new Storage.Postgres.Tests.TestDatabase();
        var scrapePort = AgentProcess.FreePort();
        await using var writer = await AgentProcess.StartWithConfigAsync((config, _) => config["database"] = database.Url);
        await using var follower = await AgentProcess.StartWithConfigAsync((config, _) =>
        {
            config["database"] = database.Url;
            config["telemetry"] = new JsonObject { ["prometheus"] = new JsonObject { ["enabled"] = true, ["listen"] = $"127.0.0.1:{scrapePort}" } };
        });
        using var http = new HttpClient { Timeout = TimeSpan.FromSeconds(30) };
        var url = $"http://127.0.0.1:{scrapePort}/metrics";
        var before = (await ScrapeUntilAsync(http, url, _ => true)).Sum("routerhosts_propagation_lag_seconds_count");

        var clock = System.Diagnostics.Stopwatch.StartNew();
        using var client = writer.Connect();
        await client.AddHostAsync(new RouterHostInput { IPAddress = "10.60.1.1", Hostname = "far.lan" });
        await SharedPostgresTests.TimeUntilFileHasAsync(follower, "far.lan", TimeSpan.FromSeconds(60));
        var metrics = await ScrapeUntilAsync(http, url, m => m.Sum("routerhosts_propagation_lag_seconds_count") > before);
        var elapsed = clock.Elapsed.TotalSeconds;

        // The lag of the one change: above zero, and within the time from before the commit to the scrape (one clock here).
        var lag = metrics.Sum("routerhosts_propagation_lag_seconds_sum");
        Assert.Equal(before + 1, metrics.Sum("routerhosts_propagation_lag_seconds_count"));
        Assert.InRange(lag, double.Epsilon, elapsed);
        Assert.Contains("# TYPE routerhosts_propagation_lag_seconds histogram", metrics.Text);
    }

    [Fact]
    public async Task Without_telemetry_configured_the_agent_listens_on_its_mtls_port_alone()
    {
        await using var agent = await AgentProcess.StartWithConfigAsync();
        using var client = agent.Connect();
        await client.AddHostAsync(new RouterHostInput { IPAddress = "10.61.0.1", Hostname = "quiet.lan" });
        Assert.Equal([agent.Port], ListeningPortsOf(agent.Pid));
    }

    [Fact]
    public async Task Otlp_over_http_gets_one_span_per_rpc_and_per_commit_and_the_metrics_without_host_data()
    {
        // A minimal OTLP/HTTP receiver: every POST is kept and answered 200 with an empty (valid) response message.
        var port = AgentProcess.FreePort();
        using var receiver = new System.Net.HttpListener();
        receiver.Prefixes.Add($"http://127.0.0.1:{port}/");
        receiver.Start();
        var received = new System.Collections.Concurrent.ConcurrentQueue<(string Path, string Body)>();
        var receiving = Task.Run(async () =>
        {
            while (true)
            {
                System.Net.HttpListenerContext context;
                try { context = await receiver.GetContextAsync(); }
                catch (Exception e) when (e is System.Net.HttpListenerException or ObjectDisposedException) { return; }
                using var body = new MemoryStream();
                await context.Request.InputStream.CopyToAsync(body);
                // Protobuf keeps strings as UTF-8 bytes: span and metric names can be found in the body as they are.
                received.Enqueue((context.Request.Url!.AbsolutePath, System.Text.Encoding.UTF8.GetString(body.ToArray())));
                context.Response.StatusCode = 200;
                context.Response.ContentType = "application/x-protobuf";
                context.Response.Close();
            }
        });
        await using var agent = await AgentProcess.StartWithConfigAsync((config, _) =>
                config["telemetry"] = new JsonObject
                {
                    ["otlp"] = new JsonObject { ["endpoint"] = $"http://127.0.0.1:{port}", ["protocol"] = "http/protobuf" },
                },
            environment: new Dictionary<string, string> { ["OTEL_METRIC_EXPORT_INTERVAL"] = "500", ["OTEL_BSP_SCHEDULE_DELAY"] = "200" });
        using var client = agent.Connect();
        await client.AddHostAsync(new RouterHostInput { IPAddress = "10.62.0.1", Hostname = "otlp-secret.lan" });

        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        bool Has(string path, string text) => received.Any(r => r.Path == path && r.Body.Contains(text));
        while (!(Has("/v1/traces", "router_hosts.v1.HostsService/AddHost") && Has("/v1/traces", "commit") &&
                 Has("/v1/metrics", "routerhosts.rpc.duration") && Has("/v1/metrics", "routerhosts.commit.events")))
        {
            if (DateTime.UtcNow > deadline)
                Assert.Fail("OTLP export not received; got: " + string.Join(", ", received.Select(r => $"{r.Path} ({r.Body.Length} bytes)")));
            await Task.Delay(100);
        }
        Assert.DoesNotContain(received, r => r.Body.Contains("otlp-secret") || r.Body.Contains("10.62.0.1"));
        // OTLP alone: no scrape endpoint.
        Assert.Equal([agent.Port], ListeningPortsOf(agent.Pid));
        receiver.Stop();
        await receiving;
    }

    /// <summary>A Prometheus text exposition, read back: the sum of the samples of one name whose labels include the given ones.</summary>
    private sealed record Metrics(string Text)
    {
        public double Sum(string name, params (string Key, string Value)[] labels)
        {
            double sum = 0;
            foreach (var line in Text.Split('\n'))
            {
                if (line.Length == 0 || line[0] == '#') continue;
                var brace = line.IndexOf('{');
                var close = brace < 0 ? -1 : line.IndexOf('}', brace);
                var sampleName = brace < 0 ? line[..line.IndexOf(' ')] : line[..brace];
                var labelText = brace < 0 ? "" : line[(brace + 1)..close];
                var rest = brace < 0 ? line[line.IndexOf(' ')..] : line[(close + 1)..];
                if (sampleName != name || !labels.All(l => labelText.Contains($"{l.Key}=\"{l.Value}\""))) continue;
                sum += double.Parse(rest.Trim().Split(' ')[0], CultureInfo.InvariantCulture); // a timestamp may follow the value
            }
            return sum;
        }
    }

    private static async Task<Metrics> ScrapeUntilAsync(HttpClient http, string url, Func<Metrics, bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var metrics = new Metrics(await http.GetStringAsync(url));
            if (condition(metrics)) return metrics;
            if (DateTime.UtcNow > deadline) Assert.Fail("metrics not reached; last scrape:\n" + metrics.Text);
            await Task.Delay(100);
        }
    }

    /// <summary>The local addresses with a listening TCP socket on <paramref name="port"/>, from /proc/net/tcp and tcp6.</summary>
    private static List<string> ListeningAddresses(int port) =>
        ListeningSockets().Where(s => s.Port == port).Select(s => s.Address).ToList();

    /// <summary>The TCP ports a process listens on (its socket fds matched to /proc/net's listening sockets), in order.</summary>
    private static List<int> ListeningPortsOf(int pid)
    {
        var inodes = Directory.EnumerateFiles($"/proc/{pid}/fd").Select(fd =>
        {
            try { return new FileInfo(fd).LinkTarget ?? ""; }
            catch (IOException) { return ""; }
        }).ToHashSet();
        return ListeningSockets().Where(s => inodes.Contains($"socket:[{s.Inode}]")).Select(s => s.Port).Distinct().Order().ToList();
    }

    private static IEnumerable<(string Address, int Port, string Inode)> ListeningSockets()
    {
        foreach (var file in new[] { "/proc/net/tcp", "/proc/net/tcp6" })
        {
            foreach (var line in File.ReadLines(file).Skip(1))
            {
                var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
                var local = f[1].Split(':');
                if (f[3] != "0A") continue; // LISTEN
                var bytes = Convert.FromHexString(local[0]);
                // /proc prints each 32-bit word in host (little-endian) order.
                for (var i = 0; i < bytes.Length; i += 4) Array.Reverse(bytes, i, 4);
                yield return (new System.Net.IPAddress(bytes).ToString(), int.Parse(local[1], NumberStyles.HexNumber), f[9]);
            }
        }
    }
}
