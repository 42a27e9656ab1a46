using System.Diagnostics;
using System.Text;
using RouterHosts;
using RouterHosts.Client;
using RouterHosts.Core.Hosts;
using RouterHosts.Core.HostsFile;
using RouterHosts.Testing;

// Usage: dotnet run -c Release --project bench/RouterHosts.Bench [-- --hosts N --adds N]
//        dotnet run -c Release --project bench/RouterHosts.Bench -- --list [--hosts 1000 --runs 300]
//        dotnet run -c Release --project bench/RouterHosts.Bench -- --sync [--hosts 10000]
//        dotnet run -c Release --project bench/RouterHosts.Bench -- --compare [--hosts 100000 --runs 50]
if (args.Contains("--compare")) return await CompareBench.RunAsync(ArgValue("--hosts", 100_000), ArgValue("--runs", 50));
if (args.Contains("--list")) return await ListBench.RunAsync(ArgValue("--hosts", 1000), ArgValue("--runs", 300));
//        dotnet run -c Release --project bench/RouterHosts.Bench -- --postgres [--hosts 100000 --adds 2000 --runs 200]
if (args.Contains("--postgres")) return await PostgresBench.RunAsync(ArgValue("--hosts", 100_000), ArgValue("--adds", 2_000), ArgValue("--runs", 200));
if (args.Contains("--sync")) return await SyncBench.RunAsync(ArgValue("--hosts", 10_000));
var hostCount = ArgValue("--hosts", 100_000);
var addCount = ArgValue("--adds", 2_000);
var rows = new List<(string Name, string Value, string Goal)>();
void Report(string name, string value, string goal = "")
{
    rows.Add((name, value, goal));
    Console.WriteLine($"{name}: {value}");
}

Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}; hosts={hostCount}");

// 1. The floor: fsync latency of the disk the agent writes to.
var dataDir = AgentProcess.NewTempDirectory();
var fsync = FsyncLatency(dataDir, 500);
Report("fsync p50 (4 KiB write + fsync, same disk)", Ms(fsync.P50), "the floor");

await using (var agent = await AgentProcess.StartDevAsync(dataDir))
{
    using var client = agent.Connect();
    // 2. Sequential unary AddHost over mTLS, including the hosts file regeneration.
    var latencies = new List<double>(addCount);
    var total = Stopwatch.StartNew();
    for (var i = 0; i < addCount; i++)
    {
        var t = Stopwatch.StartNew();
        await client.AddHostAsync(new RouterHostInput { IPAddress = $"10.200.{i / 250}.{i % 250 + 1}", Hostname = $"unary{i}" });
        latencies.Add(t.Elapsed.TotalMilliseconds);
    }
    total.Stop();
    var add = Percentiles(latencies);
    Report("AddHost p50 over mTLS (incl. file regeneration)", $"{Ms(add.P50)} ({add.P50 / fsync.P50:0.0}x fsync)", "<= 3x fsync");
    Report("AddHost p99", Ms(add.P99));
    Report("AddHost sequential calls/s", $"{addCount / total.Elapsed.TotalSeconds:0}");

    // 3. BulkAddHosts of N hosts over one stream.
    var bulk = Stopwatch.StartNew();
    var failures = 0;
    await foreach (var r in client.BulkAddAsync(Inputs(hostCount, "bulk", 0)))
        if (!r.Succeeded) failures++;
    bulk.Stop();
    Report($"BulkAddHosts {hostCount:N0}", $"{bulk.Elapsed.TotalSeconds:0.00} s ({failures} failed)", "<= 5 s");

    // 4. ListHosts of everything.
    var list = Stopwatch.StartNew();
    var listed = await client.ListHostsAsync().CountAsync();
    list.Stop();
    Report($"ListHosts {listed:N0}", $"{list.Elapsed.TotalSeconds:0.000} s", "<= 1 s");

    // 5. ExportHosts of everything (csv).
    var export = Stopwatch.StartNew();
    var exported = new MemoryStream();
    await client.ExportAsync("csv", exported);
    export.Stop();
    Report($"ExportHosts {listed:N0} (csv, {exported.Length / 1024 / 1024} MiB)", $"{export.Elapsed.TotalSeconds:0.000} s", "<= 1 s");

    // 6. Agent memory holding them.
    Report($"agent RSS holding {listed:N0} hosts", $"{RssMiB(agent.Pid):0} MiB");

    // 7. The client pipeline measure of the module issue: 10,000 rows through BulkAddAsync.
    var pipeline = Stopwatch.StartNew();
    await foreach (var _ in client.BulkAddAsync(Inputs(10_000, "pipe", 100))) { }
    Report("client BulkAddAsync 10,000 rows (what Import-Csv | Add-RouterHost does)", $"{pipeline.Elapsed.TotalSeconds:0.00} s", "seconds, not minutes");
}

// 8. Rendering the file for N entries, in process.
var entries = Enumerable.Range(0, hostCount).Select(i => new HostEntry(Ulid.New(DateTimeOffset.UtcNow), $"10.{i / 65536 % 256}.{i / 256 % 256}.{i % 256}",
    $"render{i}", i % 3 == 0 ? "a comment" : null, i % 2 == 0 ? ["lab"] : [], [], DateTimeOffset.UtcNow, DateTimeOffset.UtcNow, 1)).ToList();
HostsFileRenderer.RenderBlock(entries.Take(1000)); // warm up
var render = Stopwatch.StartNew();
var block = HostsFileRenderer.RenderBlock(entries);
var bytes = HostsFileRenderer.Compose(HostsFileMode.Block, Encoding.UTF8.GetBytes("127.0.0.1 localhost\n"), block);
render.Stop();
Report($"render hosts file {hostCount:N0} entries ({bytes.Length / 1024 / 1024} MiB)", $"{render.Elapsed.TotalMilliseconds:0} ms", "<= 200 ms");

// 9. Import of N hosts into an empty agent, and 10. an edit session of N staged adds committed.
var importDir = AgentProcess.NewTempDirectory();
await using (var agent = await AgentProcess.StartDevAsync(importDir))
{
    using var client = agent.Connect();
    var csv = new StringBuilder("ip_address,hostname,comment,tags,aliases\n");
    for (var i = 0; i < hostCount; i++) csv.Append($"10.{i / 65536 % 256}.{i / 256 % 256}.{i % 256},imp{i},,lab,\n");
    var payload = Encoding.UTF8.GetBytes(csv.ToString());
    var import = Stopwatch.StartNew();
    var result = await client.ImportAsync(new MemoryStream(payload), "csv", "strict");
    import.Stop();
    Report($"ImportHosts {result.Created:N0} (csv, one transaction)", $"{import.Elapsed.TotalSeconds:0.00} s", "<= 5 s");

    await client.StartEditAsync();
    var stage = Stopwatch.StartNew();
    await foreach (var _ in client.BulkAddAsync(Inputs(hostCount, "edit", 128))) { }
    stage.Stop();
    var commit = Stopwatch.StartNew();
    var committed = await client.CompleteEditAsync();
    commit.Stop();
    Report($"stage {hostCount:N0} adds in an edit session", $"{stage.Elapsed.TotalSeconds:0.00} s");
    Report($"commit a session of {committed.Added:N0} staged changes", $"{commit.Elapsed.TotalSeconds:0.00} s", "<= 5 s");
    Report($"agent RSS after that ({2 * hostCount:N0} hosts)", $"{RssMiB(agent.Pid):0} MiB");
}
Directory.Delete(importDir, true);
Directory.Delete(dataDir, true);

Console.WriteLine();
Console.WriteLine("| measure | result | goal |");
Console.WriteLine("|---|---|---|");
foreach (var (name, value, goal) in rows) Console.WriteLine($"| {name} | {value} | {goal} |");
return 0;

static async IAsyncEnumerable<RouterHostInput> Inputs(int count, string prefix, int secondOctet)
{
    for (var i = 0; i < count; i++)
        yield return new RouterHostInput { IPAddress = $"10.{secondOctet + i / 65536 % 100}.{i / 256 % 256}.{i % 256}", Hostname = $"{prefix}{i}", Tags = ["bench"] };
    await Task.CompletedTask;
}

static (double P50, double P99) FsyncLatency(string directory, int count)
{
    var path = Path.Combine(directory, "fsync-probe");
    var samples = new List<double>(count);
    var block = new byte[4096];
    using (var file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.None, 1, FileOptions.None))
    {
        for (var i = 0; i < count; i++)
        {
            var t = Stopwatch.StartNew();
            file.Position = 0;
            file.Write(block);
            file.Flush(flushToDisk: true);
            samples.Add(t.Elapsed.TotalMilliseconds);
        }
    }
    File.Delete(path);
    return Percentiles(samples);
}

static (double P50, double P99) Percentiles(List<double> samples)
{
    var sorted = samples.Order().ToList();
    return (sorted[sorted.Count / 2], sorted[Math.Min(sorted.Count - 1, (int)(sorted.Count * 0.99))]);
}

static string Ms(double ms) => ms < 1 ? $"{ms * 1000:0} µs" : $"{ms:0.00} ms";

static double RssMiB(int pid) =>
    File.ReadLines($"/proc/{pid}/status").Where(l => l.StartsWith("VmRSS:"))
        .Select(l => double.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024).Single();

int ArgValue(string name, int fallback)
{
    var i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? int.Parse(args[i + 1]) : fallback;
}
