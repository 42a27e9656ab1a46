using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using System.Text.RegularExpressions;
using Microsoft.Data.Sqlite;
using RouterHosts;
using RouterHosts.Client;
using RouterHosts.Testing;

/// <summary>
/// `--compare`: every figure of the performance issue beside its floor, taken in the same run, with the ratio.
/// Floors: the chain an acknowledged write cannot avoid (a WAL commit with synchronous=FULL, a temp file the size of
/// the hosts file written and fsynced, the rename, the directory fsync) for AddHost and writes/s; the same rows read
/// straight from the agent's SQLite file for ListHosts; GetHost for filters; the same rows inserted in one SQLite
/// transaction into the same schema plus the file written once for bulk and import; the agent process starting and
/// exiting (--version) for start to ready. Latencies are medians (p50) of many calls, start is the median of 3;
/// bulk and import run once each. The load average is printed at each phase because the machine is shared.
/// </summary>
internal static class CompareBench
{
    private sealed record Row(string Measure, double Value, string Unit, string Floor, double FloorValue, string Goal);

    private static readonly List<Row> Rows = [];
    private static readonly List<string> Notes = [];

    private static void Add(Row r)
    {
        Rows.Add(r);
        Console.WriteLine($"{r.Measure}: {r.Value:0.0##} {r.Unit}" + (r.Floor.Length == 0 ? "" : $" (floor {r.FloorValue:0.0##} {r.Unit}: {r.Floor})") +
                          $"  [load {Load()}]");
    }

    private static void Note(string text)
    {
        Notes.Add(text);
        Console.WriteLine(text);
    }

    private static string Load() => File.ReadAllText("/proc/loadavg").Split(' ')[0];

    public static async Task<int> RunAsync(int hostCount, int runs)
    {
        var loadBefore = File.ReadAllText("/proc/loadavg").Trim();
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}; load {loadBefore}; hosts={hostCount}, runs={runs}");
        await SmallTableAsync(1000, runs);
        await LargeTableAsync(hostCount, runs);
        await ImportAsync(hostCount);

        Console.WriteLine();
        Console.WriteLine($"| measure | result | floor | ratio | goal |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var r in Rows)
        {
            var floorText = r.Floor.Length == 0 ? "" : $"{r.FloorValue:0.0##} {r.Unit} ({r.Floor})";
            var ratio = r.Floor.Length == 0 ? "" : $"{r.Value / r.FloorValue:0.0}x";
            Console.WriteLine($"| {r.Measure} | {r.Value:0.0##} {r.Unit} | {floorText} | {ratio} | {r.Goal} |");
        }
        Console.WriteLine();
        foreach (var note in Notes) Console.WriteLine($"- {note}");
        Console.WriteLine($"load average before: {loadBefore}; after: {File.ReadAllText("/proc/loadavg").Trim()}");
        return 0;
    }

    /// <summary>1,000 hosts: AddHost p50 and writes/s with 1, 4 and 16 clients, beside the chain floor.</summary>
    private static async Task SmallTableAsync(int hostCount, int runs)
    {
        var dataDir = AgentProcess.NewTempDirectory();
        await using (var agent = await AgentProcess.StartDevAsync(dataDir))
        {
            using var client = agent.Connect();
            await foreach (var _ in client.BulkAddAsync(ListBench.Inputs(hostCount))) { }
            var floor = ChainFloorMs(dataDir, (int)new FileInfo(agent.HostsFilePath).Length, Math.Max(runs, 100));
            var cpu = ListBench.CpuMs(agent.Pid);
            var add = await AddLatenciesAsync(client, "small", Math.Max(runs, 100));
            Note($"agent CPU per AddHost at {hostCount:N0} hosts: {(ListBench.CpuMs(agent.Pid) - cpu) / (add.Count + 3):0.0} ms (user+sys, /proc)");
            Add(new($"AddHost p50, {hostCount:N0} hosts", Percentile(add, 0.5), "ms", "WAL commit + hosts-file-sized temp file + rename + dir fsync", floor, "<= 1.5x"));
            foreach (var clients in new[] { 1, 4, 16 })
            {
                var (perSecond, p99) = await ConcurrentWritesAsync(agent, clients, Math.Max(runs, 100) / clients * clients, $"c{clients}-");
                Add(new($"writes/s, {clients} client(s), {hostCount:N0} hosts (p99 {p99:0.0} ms)", perSecond, "/s", "1 / chain floor", 1000 / floor,
                    clients == 16 ? ">= 6x the 1-client figure" : ""));
            }
            var one = Rows[^3].Value;
            Note($"writes/s scale {Rows[^1].Value / one:0.0}x from 1 to 16 clients (goal >= 6x); 4 clients {Rows[^2].Value / one:0.0}x");
        }
        Directory.Delete(dataDir, true);
    }

    /// <summary>100,000 hosts: bulk, AddHost, lists, filters, concurrent lists' memory, start to ready.</summary>
    private static async Task LargeTableAsync(int hostCount, int runs)
    {
        var dataDir = AgentProcess.NewTempDirectory();
        string someId, someName;
        await using (var agent = await AgentProcess.StartDevAsync(dataDir))
        {
            Add(new("agent RSS idle, empty (dev build, `dotnet routerhosts-agent.dll`)", RssMiB(agent.Pid), "MiB", "", 0, "<= 40 MiB installed"));
            using var client = agent.Connect();
            var bulkCpu = ListBench.CpuMs(agent.Pid);
            var bulk = Stopwatch.StartNew();
            await foreach (var _ in client.BulkAddAsync(ListBench.Inputs(hostCount))) { }
            bulk.Stop();
            Note($"agent CPU during the bulk add: {(ListBench.CpuMs(agent.Pid) - bulkCpu) / 1000:0.0} s of {bulk.Elapsed.TotalSeconds:0.0} s");
            var bulkFloor = OneTransactionFloorMs(dataDir, agent.HostsFilePath);
            Add(new($"BulkAddHosts {hostCount:N0} (one stream)", bulk.Elapsed.TotalMilliseconds, "ms",
                "same rows in one SQLite transaction, same schema and triggers, + file once", bulkFloor, "<= 2.5x"));
            Add(new($"agent RSS after the bulk add ({hostCount:N0} hosts)", RssMiB(agent.Pid), "MiB", "", 0, ""));

            var fileBytes = (int)new FileInfo(agent.HostsFilePath).Length;
            var floor = ChainFloorMs(dataDir, fileBytes, Math.Max(20, runs / 2));
            var cpu = ListBench.CpuMs(agent.Pid);
            var add = await AddLatenciesAsync(client, "large", Math.Max(20, runs / 2));
            Note($"agent CPU per AddHost at {hostCount:N0} hosts: {(ListBench.CpuMs(agent.Pid) - cpu) / (add.Count + 3):0.0} ms (user+sys, /proc)");
            Add(new($"AddHost p50, {hostCount:N0} hosts ({fileBytes / 1024 / 1024.0:0.0} MiB file)", Percentile(add, 0.5), "ms",
                "the same chain with this file", floor, "<= 2x"));

            someName = $"list{hostCount / 2}";
            someId = (await client.ListHostsAsync(new RouterHostsQuery { IPAddress = ListBench.IpOf(hostCount / 2) }).FirstAsync()).Id;
            using var straight = new SqliteConnection($"Data Source={Path.Combine(dataDir, "routerhosts.db")};Mode=ReadOnly");
            straight.Open();
            var listRuns = Math.Max(3, runs / 10);
            var list = await MedianAsync(listRuns, async () => await client.ListHostsAsync().CountAsync());
            var read = await MedianAsync(listRuns, () => Task.FromResult(ListBench.ReadStraight(straight)));
            Add(new($"ListHosts all {hostCount:N0}", list, "ms", "same rows read from SQLite", read, "<= 4x"));

            var get = await MedianAsync(runs, async () => { await client.GetHostAsync(someId); return 1; });
            async Task Filter(string name, RouterHostsQuery query)
            {
                var ms = await MedianAsync(runs, async () => await client.ListHostsAsync(query).CountAsync());
                Add(new($"ListHosts limit 100, {name}", ms, "ms", "GetHost", get, "<= 3x"));
            }
            // The cost of any streamed call, filter or not: what a filter adds is the difference.
            await Filter("limit 1, no filter (the cost of a streamed call)", new RouterHostsQuery { First = 1 });
            await Filter($"text '{someName}.' (no host)", new RouterHostsQuery { Text = someName + ".", First = 100 });
            await Filter($"text '{someName}' (one host)", new RouterHostsQuery { Text = someName, First = 100 });
            await Filter($"pattern '{someName}'", new RouterHostsQuery { HostnamePattern = someName, First = 100 });
            await Filter("tag 'rare' (1 in 1,000)", new RouterHostsQuery { Tag = "rare", First = 100 });

            var before = RssMiB(agent.Pid);
            var peak = before;
            using (var sampling = new CancellationTokenSource())
            {
                var sampler = Task.Run(async () =>
                {
                    while (!sampling.IsCancellationRequested) { peak = Math.Max(peak, RssMiB(agent.Pid)); await Task.Delay(20); }
                });
                await Task.WhenAll(Enumerable.Range(0, 20).Select(_ => Task.Run(async () => await client.ListHostsAsync().CountAsync())));
                sampling.Cancel();
                await sampler;
            }
            Add(new($"RSS added by 20 concurrent ListHosts all {hostCount:N0} (peak; {before:0} MiB before)", peak - before, "MiB", "", 0, "<= 100 MiB"));
        }
        await StartToReadyAsync(dataDir, hostCount);
        Directory.Delete(dataDir, true);
    }

    /// <summary>
    /// Restarts on the same data directory, 3 times. Ready is the first Readiness call answered ready (a new channel per
    /// poll, every 50 ms); the agent's own log line says where its start went.
    /// </summary>
    private static async Task StartToReadyAsync(string dataDir, int hostCount)
    {
        var start = new List<double>();
        var processStart = new List<double>();
        string? breakdown = null;
        double holding = 0;
        for (var i = 0; i < 3; i++)
        {
            File.Delete(Path.Combine(dataDir, "client.json")); // the agent writes it anew with its new port
            var t = Stopwatch.StartNew();
            await using (var agent = await AgentProcess.StartDevAsync(dataDir))
            {
                start.Add(t.Elapsed.TotalMilliseconds);
                breakdown = Regex.Match(agent.Output, @"started in .*").Value;
                await Task.Delay(2000);
                holding = RssMiB(agent.Pid);
            }
            t.Restart();
            using var version = Process.Start(new ProcessStartInfo("dotnet", [AgentProcess.AgentDll, "--version"]) { RedirectStandardOutput = true })!;
            await version.WaitForExitAsync();
            processStart.Add(t.Elapsed.TotalMilliseconds);
        }
        Add(new($"start to ready, {hostCount:N0} hosts on disk (median of 3)", Median(start), "ms", "agent process start and exit (--version)",
            Median(processStart), "<= 500 ms"));
        Add(new($"agent RSS idle holding {hostCount:N0} hosts after a restart (dev build)", holding, "MiB", "", 0, "<= 100 MiB installed"));
        Note($"the agent's own account of the last start: {breakdown}");
    }

    /// <summary>ImportHosts of N hosts (csv) into an empty agent, beside the same one-transaction floor.</summary>
    private static async Task ImportAsync(int hostCount)
    {
        var dataDir = AgentProcess.NewTempDirectory();
        await using (var agent = await AgentProcess.StartDevAsync(dataDir))
        {
            using var client = agent.Connect();
            var csv = new StringBuilder("ip_address,hostname,comment,tags,aliases\n");
            for (var i = 0; i < hostCount; i++) csv.Append($"{ListBench.IpOf(i)},imp{i},,lab,\n");
            var payload = Encoding.UTF8.GetBytes(csv.ToString());
            var cpu = ListBench.CpuMs(agent.Pid);
            var import = Stopwatch.StartNew();
            await client.ImportAsync(new MemoryStream(payload), "csv", "strict");
            import.Stop();
            Note($"agent CPU during the import: {(ListBench.CpuMs(agent.Pid) - cpu) / 1000:0.0} s of {import.Elapsed.TotalSeconds:0.0} s");
            var floor = OneTransactionFloorMs(dataDir, agent.HostsFilePath);
            Add(new($"ImportHosts {hostCount:N0} (csv)", import.Elapsed.TotalMilliseconds, "ms", "same rows in one SQLite transaction + file once", floor, "<= 2.5x"));
        }
        Directory.Delete(dataDir, true);
    }

    private static async Task<List<double>> AddLatenciesAsync(RouterHostsClient client, string prefix, int count)
    {
        var samples = new List<double>(count);
        for (var i = 0; i < count + 3; i++)
        {
            var t = Stopwatch.StartNew();
            await client.AddHostAsync(new RouterHostInput { IPAddress = $"10.250.{i / 250}.{i % 250 + 1}", Hostname = $"{prefix}{i}" });
            if (i >= 3) samples.Add(t.Elapsed.TotalMilliseconds); // 3 warm-ups
        }
        return samples;
    }

    /// <summary>N clients (own connections) adding hosts at once: total writes per second and the p99 of one add.</summary>
    private static async Task<(double PerSecond, double P99)> ConcurrentWritesAsync(AgentProcess agent, int clients, int total, string prefix)
    {
        var connections = Enumerable.Range(0, clients).Select(_ => agent.Connect()).ToList();
        try
        {
            for (var c = 0; c < clients; c++) await connections[c].TestAsync(); // connected before the clock starts
            var latencies = new List<double>(total);
            var wall = Stopwatch.StartNew();
            await Task.WhenAll(Enumerable.Range(0, clients).Select(c => Task.Run(async () =>
            {
                for (var i = c; i < total; i += clients)
                {
                    var t = Stopwatch.StartNew();
                    await connections[c].AddHostAsync(new RouterHostInput { IPAddress = $"10.251.{i / 250}.{i % 250 + 1}", Hostname = $"{prefix}{i}" });
                    lock (latencies) latencies.Add(t.Elapsed.TotalMilliseconds);
                }
            })));
            wall.Stop();
            return (total / wall.Elapsed.TotalSeconds, Percentile(latencies, 0.99));
        }
        finally
        {
            foreach (var c in connections) c.Dispose();
        }
    }

    /// <summary>
    /// The chain every acknowledged single write pays at least: one WAL commit with synchronous=FULL, then a temp file of
    /// the hosts file's size written and fsynced, renamed over the target, and the directory fsynced. p50 of N.
    /// </summary>
    private static double ChainFloorMs(string directory, int fileBytes, int runs)
    {
        var dir = Directory.CreateDirectory(Path.Combine(directory, "chain-floor")).FullName;
        using var db = new SqliteConnection($"Data Source={Path.Combine(dir, "floor.db")};Pooling=False");
        db.Open();
        Execute(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT NOT NULL)");
        var content = new byte[fileBytes];
        Array.Fill(content, (byte)'x');
        var target = Path.Combine(dir, "hosts");
        var samples = new List<double>(runs);
        for (var i = 0; i < runs + 3; i++)
        {
            var t = Stopwatch.StartNew();
            Execute(db, $"INSERT INTO t (v) VALUES ('10.0.0.{i % 250} host{i}')");
            var temp = target + ".tmp";
            using (var stream = new FileStream(temp, FileMode.Create, FileAccess.Write))
            {
                stream.Write(content);
                stream.Flush(flushToDisk: true);
            }
            File.Move(temp, target, overwrite: true);
            FsyncDirectory(dir);
            if (i >= 3) samples.Add(t.Elapsed.TotalMilliseconds);
        }
        db.Close();
        Directory.Delete(dir, true);
        return Percentile(samples, 0.5);
    }

    /// <summary>
    /// The rows an agent holds, inserted again in one transaction into an empty database with the same schema (indexes,
    /// the search index and its triggers), then the hosts file written once (temp, fsync, rename, dir fsync).
    /// </summary>
    private static double OneTransactionFloorMs(string dataDir, string hostsFile)
    {
        var source = Path.Combine(dataDir, "routerhosts.db");
        var dir = Directory.CreateDirectory(Path.Combine(dataDir, "bulk-floor")).FullName;
        var schema = new List<string>();
        using (var src = new SqliteConnection($"Data Source={source};Mode=ReadOnly;Pooling=False"))
        {
            src.Open();
            using var command = src.CreateCommand();
            // The search index's shadow tables are made by its CREATE VIRTUAL TABLE; triggers after the tables they name.
            command.CommandText = "SELECT sql FROM sqlite_master WHERE sql IS NOT NULL AND name NOT LIKE 'sqlite%' " +
                                  "AND (type = 'trigger' OR name NOT LIKE 'hosts_search_%') ORDER BY type = 'trigger', rowid";
            using var reader = command.ExecuteReader();
            while (reader.Read()) schema.Add(reader.GetString(0));
        }
        var content = File.ReadAllBytes(hostsFile);
        using var db = new SqliteConnection($"Data Source={Path.Combine(dir, "floor.db")};Pooling=False");
        db.Open();
        Execute(db, "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA cache_size = -65536");
        foreach (var sql in schema) Execute(db, sql);
        Execute(db, $"ATTACH DATABASE '{source}' AS src"); // read only by the statements below
        var t = Stopwatch.StartNew();
        using (var tx = db.BeginTransaction())
        {
            Execute(db, "INSERT INTO main.events SELECT * FROM src.events", tx);
            Execute(db, "INSERT INTO main.hosts SELECT * FROM src.hosts", tx);
            tx.Commit();
        }
        var target = Path.Combine(dir, "hosts");
        using (var stream = new FileStream(target + ".tmp", FileMode.Create, FileAccess.Write))
        {
            stream.Write(content);
            stream.Flush(flushToDisk: true);
        }
        File.Move(target + ".tmp", target, overwrite: true);
        FsyncDirectory(dir);
        var ms = t.Elapsed.TotalMilliseconds;
        db.Close();
        Directory.Delete(dir, true);
        return ms;
    }

    private static void Execute(SqliteConnection db, string sql, SqliteTransaction? tx = null)
    {
        using var command = db.CreateCommand();
        command.CommandText = sql;
        command.Transaction = tx;
        command.ExecuteNonQuery();
    }

    private static void FsyncDirectory(string directory)
    {
        var fd = open(directory, 0);
        if (fd < 0) throw new IOException($"open {directory} failed");
        try { if (fsync(fd) != 0) throw new IOException($"fsync {directory} failed"); }
        finally { close(fd); }
    }

    [DllImport("libc", SetLastError = true)] private static extern int open(string path, int flags);
    [DllImport("libc", SetLastError = true)] private static extern int fsync(int fd);
    [DllImport("libc")] private static extern int close(int fd);

    private static async Task<double> MedianAsync(int runs, Func<Task<int>> action)
    {
        for (var i = 0; i < 2; i++) await action(); // warm-up
        var samples = new List<double>(runs);
        for (var i = 0; i < runs; i++)
        {
            var t = Stopwatch.StartNew();
            await action();
            samples.Add(t.Elapsed.TotalMilliseconds);
        }
        return Median(samples);
    }

    private static double Median(List<double> samples) => Percentile(samples, 0.5);

    private static double Percentile(List<double> samples, double p)
    {
        var sorted = samples.Order().ToList();
        return sorted[Math.Min(sorted.Count - 1, (int)(sorted.Count * p))];
    }

    private static double RssMiB(int pid) =>
        File.ReadLines($"/proc/{pid}/status").Where(l => l.StartsWith("VmRSS:"))
            .Select(l => double.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024).Single();
}
