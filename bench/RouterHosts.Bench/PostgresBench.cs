using System.Diagnostics;
using System.Text;
using Npgsql;
using RouterHosts;
using RouterHosts.Client;
using RouterHosts.Testing;
using RouterHosts.Storage.Postgres;

/// <summary>
/// The agent on PostgreSQL: a throwaway server (tests/postgres/throwaway.sh, a Unix socket) unless
/// ROUTERHOSTS_TEST_POSTGRES_URL names one, two real agents on one database over mTLS, and beside
/// them the floor of the same run: one raw PostgreSQL commit on the same socket.
/// </summary>
internal static class PostgresBench
{
    public static async Task<int> RunAsync(int hostCount, int addCount, int propagationRuns)
    {
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}; " +
                          $"load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}; hosts={hostCount}, adds={addCount}, propagation runs={propagationRuns}");
        var state = Path.Combine(Path.GetTempPath(), $"rh-bench-pg-{Guid.NewGuid():N}.state");
        var ownServer = Environment.GetEnvironmentVariable("ROUTERHOSTS_TEST_POSTGRES_URL") is not { Length: > 0 };
        var server = ownServer ? Throwaway("start", state).Split('=', 2)[1].Trim() : Environment.GetEnvironmentVariable("ROUTERHOSTS_TEST_POSTGRES_URL")!;
        var rows = new List<(string, string)>();
        void Report(string name, string value)
        {
            rows.Add((name, value));
            Console.WriteLine($"{name}: {value}");
        }
        try
        {
            // 1. The floor: one INSERT committed on its own (the server's WAL flush), same socket, same server.
            var floor = WithDatabase(server, url =>
            {
                using var connection = new NpgsqlConnection(PostgresUrl.Parse(url).ConnectionString);
                connection.Open();
                using (var create = new NpgsqlCommand("CREATE TABLE floor (n integer PRIMARY KEY, t text)", connection)) create.ExecuteNonQuery();
                var samples = new List<double>();
                for (var i = 0; i < 500; i++)
                {
                    using var insert = new NpgsqlCommand("INSERT INTO floor VALUES ($1, 'x')", connection) { Parameters = { new() { Value = i } } };
                    var t = Stopwatch.StartNew();
                    insert.ExecuteNonQuery();
                    samples.Add(t.Elapsed.TotalMilliseconds);
                }
                return Percentiles(samples);
            });
            Report("raw PostgreSQL commit p50 (one INSERT, autocommit, same socket)", $"{Ms(floor.P50)} (the floor)");
            var bulkFloor = WithDatabase(server, url => RawRows(url, hostCount));
            Report($"{hostCount:N0} hosts' rows (event + projection) by binary COPY in one raw transaction, same tables and indexes",
                $"{bulkFloor.TotalSeconds:0.00} s (the bulk floor)");

            await WithDatabaseAsync(server, async url =>
            {
                await using var first = await AgentProcess.StartWithConfigAsync((config, _) => config["database"] = url);
                await using var second = await AgentProcess.StartWithConfigAsync((config, _) => config["database"] = url);
                using var toFirst = first.Connect();

                // 2. Sequential AddHost through one agent, incl. its hosts file.
                var adds = new List<double>();
                for (var i = 0; i < addCount; i++)
                {
                    var t = Stopwatch.StartNew();
                    await toFirst.AddHostAsync(new RouterHostInput { IPAddress = $"10.201.{i / 250}.{i % 250 + 1}", Hostname = $"unary{i}" });
                    adds.Add(t.Elapsed.TotalMilliseconds);
                }
                var add = Percentiles(adds);
                Report("AddHost p50 over mTLS (incl. file regeneration)", $"{Ms(add.P50)} ({add.P50 / floor.P50:0.0}x the raw commit)");
                Report("AddHost p99", Ms(add.P99));

                // 3. Propagation: from the start of a write through one agent to its line in the other agent's file.
                var delays = new List<double>();
                for (var i = 0; i < propagationRuns; i++)
                {
                    var name = $"propagated{i}";
                    var t = Stopwatch.StartNew();
                    await toFirst.AddHostAsync(new RouterHostInput { IPAddress = $"10.202.{i / 250}.{i % 250 + 1}", Hostname = name });
                    while (!File.ReadAllText(second.HostsFilePath).Contains(name))
                    {
                        if (t.Elapsed > TimeSpan.FromSeconds(30)) throw new TimeoutException($"{name} did not reach the second agent's file in 30 s");
                        await Task.Delay(1);
                    }
                    delays.Add(t.Elapsed.TotalMilliseconds);
                }
                var propagation = Percentiles(delays);
                Report("write through one agent to its line in the other agent's file, p50 / p99", $"{Ms(propagation.P50)} / {Ms(propagation.P99)}");

                // 4. BulkAddHosts of N over one stream, then 5. ListHosts of everything.
                var bulk = Stopwatch.StartNew();
                var failures = 0;
                await foreach (var r in toFirst.BulkAddAsync(Inputs(hostCount)))
                    if (!r.Succeeded) failures++;
                Report($"BulkAddHosts {hostCount:N0} (one stream)",
                    $"{bulk.Elapsed.TotalSeconds:0.00} s ({bulk.Elapsed / bulkFloor:0.0}x the bulk floor; {failures} failed)");
                var list = Stopwatch.StartNew();
                var listed = await toFirst.ListHostsAsync().CountAsync();
                Report($"ListHosts {listed:N0}", $"{list.Elapsed.TotalSeconds:0.000} s");
            });

            // 6. ImportHosts of N into an empty database (csv, one transaction).
            await WithDatabaseAsync(server, async url =>
            {
                await using var agent = await AgentProcess.StartWithConfigAsync((config, _) => config["database"] = url);
                using var client = agent.Connect();
                var csv = new StringBuilder("ip_address,hostname,comment,tags,aliases\n");
                for (var i = 0; i < hostCount; i++) csv.Append($"10.{i / 65536 % 256}.{i / 256 % 256}.{i % 256},imp{i},,lab,\n");
                var import = Stopwatch.StartNew();
                var result = await client.ImportAsync(new MemoryStream(Encoding.UTF8.GetBytes(csv.ToString())), "csv", "strict");
                Report($"ImportHosts {result.Created:N0} (csv, one transaction)",
                    $"{import.Elapsed.TotalSeconds:0.00} s ({import.Elapsed / bulkFloor:0.0}x the bulk floor)");
            });
        }
        finally
        {
            if (ownServer) Throwaway("stop", state);
        }
        Console.WriteLine();
        Console.WriteLine("| measure | PostgreSQL |");
        Console.WriteLine("|---|---|");
        foreach (var (name, value) in rows) Console.WriteLine($"| {name} | {value} |");
        return 0;
    }

    /// <summary>
    /// The floor of a bulk write: <paramref name="count"/> hosts' event and projection rows, as the agent writes them,
    /// into the agent's own schema (its indexes included) by binary COPY in one transaction.
    /// </summary>
    private static TimeSpan RawRows(string url, int count)
    {
        new PostgresHostStore(PostgresUrl.Parse(url)).Dispose(); // the schema, migrated
        using var connection = new NpgsqlConnection(PostgresUrl.Parse(url).ConnectionString);
        connection.Open();
        var now = DateTime.UtcNow;
        var t = Stopwatch.StartNew();
        using var tx = connection.BeginTransaction();
        using (var events = connection.BeginBinaryImport(
                   "COPY events (event_id, host_id, version, type, ip_address, hostname, comment, tags, aliases, created_at, updated_at, occurred_at, actor) FROM STDIN (FORMAT BINARY)"))
        {
            for (var i = 0; i < count; i++)
            {
                events.StartRow();
                events.Write((long)i + 1); events.Write($"raw{i:D8}"); events.Write(1L); events.Write("created");
                events.Write(RawIp(i)); events.Write($"bulk{i}"); events.WriteNull(); events.Write(new[] { "bench" }); events.Write(Array.Empty<string>());
                events.Write(now, NpgsqlTypes.NpgsqlDbType.TimestampTz); events.Write(now, NpgsqlTypes.NpgsqlDbType.TimestampTz);
                events.Write(now, NpgsqlTypes.NpgsqlDbType.TimestampTz); events.Write("bench");
            }
            events.Complete();
        }
        using (var hosts = connection.BeginBinaryImport(
                   "COPY hosts (id, ip_address, ip_sort, hostname, hostname_lc, comment, tags, tags_lc, aliases, aliases_lc, search_text, created_at, updated_at, version, deleted, last_event_id) FROM STDIN (FORMAT BINARY)"))
        {
            for (var i = 0; i < count; i++)
            {
                hosts.StartRow();
                hosts.Write($"raw{i:D8}"); hosts.Write(RawIp(i)); hosts.Write(BitConverter.GetBytes(i)); hosts.Write($"bulk{i}"); hosts.Write($"bulk{i}");
                hosts.WriteNull(); hosts.Write(new[] { "bench" }); hosts.Write(new[] { "bench" }); hosts.Write(Array.Empty<string>()); hosts.Write(Array.Empty<string>());
                hosts.Write($"{RawIp(i)}\nbulk{i}\n\nbench"); hosts.Write(now, NpgsqlTypes.NpgsqlDbType.TimestampTz); hosts.Write(now, NpgsqlTypes.NpgsqlDbType.TimestampTz);
                hosts.Write(1L); hosts.Write(false); hosts.Write((long)i + 1);
            }
            hosts.Complete();
        }
        tx.Commit();
        return t.Elapsed;
    }

    private static string RawIp(int i) => $"10.{i / 65536 % 100}.{i / 256 % 256}.{i % 256}";

    /// <summary>Runs <paramref name="use"/> on a new database of the server (its URL), dropped afterwards.</summary>
    private static T WithDatabase<T>(string server, Func<string, T> use)
    {
        var name = CreateDatabase(server);
        try { return use(WithName(server, name)); }
        finally { DropDatabase(server, name); }
    }

    private static async Task WithDatabaseAsync(string server, Func<string, Task> use)
    {
        var name = CreateDatabase(server);
        try { await use(WithName(server, name)); }
        finally { DropDatabase(server, name); }
    }

    private static string CreateDatabase(string server)
    {
        var name = "rh_bench_" + Guid.NewGuid().ToString("N");
        Admin(server, $"CREATE DATABASE {name}");
        return name;
    }

    private static void DropDatabase(string server, string name)
    {
        NpgsqlConnection.ClearAllPools();
        Admin(server, $"DROP DATABASE IF EXISTS {name} WITH (FORCE)");
    }

    private static void Admin(string server, string sql)
    {
        using var connection = new NpgsqlConnection(PostgresUrl.Parse(server).ConnectionString);
        connection.Open();
        using var command = new NpgsqlCommand(sql, connection);
        command.ExecuteNonQuery();
    }

    /// <summary>The server's URL with another database name.</summary>
    private static string WithName(string server, string name)
    {
        var q = server.IndexOf('?');
        var (path, query) = q >= 0 ? (server[..q], server[q..]) : (server, "");
        var slash = path.IndexOf('/', path.IndexOf("://", StringComparison.Ordinal) + 3);
        return (slash < 0 ? path : path[..slash]) + "/" + name + query;
    }

    private static string Throwaway(string command, string state)
    {
        var info = new ProcessStartInfo("bash") { RedirectStandardOutput = true, RedirectStandardError = true };
        info.ArgumentList.Add(Path.Combine(AgentProcess.RepositoryRoot, "tests", "postgres", "throwaway.sh"));
        info.ArgumentList.Add(command);
        info.Environment["ROUTERHOSTS_TEST_POSTGRES_STATE"] = state;
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEnd();
        var error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new InvalidOperationException($"throwaway.sh {command} failed: {error}");
        return output;
    }

    private static async IAsyncEnumerable<RouterHostInput> Inputs(int count)
    {
        for (var i = 0; i < count; i++)
            yield return new RouterHostInput { IPAddress = $"10.{i / 65536 % 100}.{i / 256 % 256}.{i % 256}", Hostname = $"bulk{i}", Tags = ["bench"] };
        await Task.CompletedTask;
    }

    private static (double P50, double P99) Percentiles(List<double> samples)
    {
        var sorted = samples.Order().ToList();
        return (sorted[sorted.Count / 2], sorted[Math.Min(sorted.Count - 1, (int)(sorted.Count * 0.99))]);
    }

    private static string Ms(double ms) => ms < 1 ? $"{ms * 1000:0} µs" : $"{ms:0.00} ms";
}
