using System.Diagnostics;
using Microsoft.Data.Sqlite;
using RouterHosts;
using RouterHosts.Client;
using RouterHosts.Testing;

/// <summary>
/// `--compare`: each figure of the performance issue beside its floor, taken in the same run,
/// with the ratio. Floors: the same rows read straight from the agent's SQLite file (lists),
/// GetHost (filters), the agent process starting and exiting (--version) for start to ready.
/// Medians; the load average is printed because the machine is shared.
/// </summary>
internal static class CompareBench
{
    private sealed record Row(string Measure, double Value, string Unit, string Floor, double FloorValue, string Goal);

    public static async Task<int> RunAsync(int hostCount, int runs)
    {
        var load = File.ReadAllText("/proc/loadavg").Split(' ')[0];
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}; load {load}; hosts={hostCount}, runs={runs}");
        var rows = new List<Row>();
        void Add(Row r)
        {
            rows.Add(r);
            Console.WriteLine($"{r.Measure}: {r.Value:0.0} {r.Unit}" + (r.Floor.Length == 0 ? "" : $" (floor {r.FloorValue:0.0} {r.Unit}: {r.Floor})"));
        }
        var dataDir = AgentProcess.NewTempDirectory();
        string someId, someName;
        await using (var agent = await AgentProcess.StartDevAsync(dataDir))
        {
            using var client = agent.Connect();
            await foreach (var _ in client.BulkAddAsync(ListBench.Inputs(hostCount))) { }
            someName = $"list{hostCount / 2}";
            someId = (await client.ListHostsAsync(new RouterHostsQuery { IPAddress = ListBench.IpOf(hostCount / 2) }).FirstAsync()).Id;
            using var floor = new SqliteConnection($"Data Source={Path.Combine(dataDir, "routerhosts.db")};Mode=ReadOnly");
            floor.Open();

            // ListHosts of everything beside the same rows read straight from SQLite.
            var listRuns = Math.Max(3, runs / 10);
            var list = await MedianAsync(listRuns, async () => await client.ListHostsAsync().CountAsync());
            var straight = await MedianAsync(listRuns, () => Task.FromResult(ListBench.ReadStraight(floor)));
            Add(new($"ListHosts {hostCount:N0}", list, "ms", "same rows read from SQLite", straight, "<= 4x"));

            // Filters (limit 100, one host matches) beside GetHost.
            var get = await MedianAsync(runs, async () => { await client.GetHostAsync(someId); return 1; });
            async Task Filter(string name, RouterHostsQuery query)
            {
                var ms = await MedianAsync(runs, async () => await client.ListHostsAsync(query).CountAsync());
                Add(new($"ListHosts limit 100, {name}", ms, "ms", "GetHost", get, "<= 3x"));
            }
            await Filter($"text '{someName}.'", new RouterHostsQuery { Text = someName + ".", First = 100 });
            await Filter($"pattern '{someName}'", new RouterHostsQuery { HostnamePattern = someName, First = 100 });
            await Filter("tag 'rare' (1 in 1,000)", new RouterHostsQuery { Tag = "rare", First = 100 });

            // 20 concurrent lists of everything: what they add to the agent's memory.
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
            Add(new($"RSS added by 20 concurrent ListHosts {hostCount:N0} (peak; {before:0} MiB before)", peak - before, "MiB", "", 0, "<= 100 MiB"));
            Add(new($"agent RSS after them", RssMiB(agent.Pid), "MiB", "", 0, ""));
        }

        // Start to ready with the hosts on disk, beside the agent process starting and exiting.
        var start = new List<double>();
        var processStart = new List<double>();
        for (var i = 0; i < 3; i++)
        {
            File.Delete(Path.Combine(dataDir, "client.json")); // the agent writes it anew with its new port
            var t = Stopwatch.StartNew();
            await using (await AgentProcess.StartDevAsync(dataDir)) start.Add(t.Elapsed.TotalMilliseconds);
            t.Restart();
            using var version = Process.Start(new ProcessStartInfo("dotnet", [AgentProcess.AgentDll, "--version"]) { RedirectStandardOutput = true })!;
            await version.WaitForExitAsync();
            processStart.Add(t.Elapsed.TotalMilliseconds);
        }
        Add(new($"start to ready, {hostCount:N0} hosts on disk (bench polls Readiness every 50 ms)", Median(start), "ms",
            "agent process start and exit (--version)", Median(processStart), "<= 500 ms"));
        Directory.Delete(dataDir, true);

        Console.WriteLine();
        Console.WriteLine($"| measure (load {load}) | result | floor | ratio | goal |");
        Console.WriteLine("|---|---|---|---|---|");
        foreach (var r in rows)
        {
            var floorText = r.Floor.Length == 0 ? "" : $"{r.FloorValue:0.0} {r.Unit} ({r.Floor})";
            var ratio = r.Floor.Length == 0 ? "" : $"{r.Value / r.FloorValue:0.0}x";
            Console.WriteLine($"| {r.Measure} | {r.Value:0.0} {r.Unit} | {floorText} | {ratio} | {r.Goal} |");
        }
        Console.WriteLine($"load average at the end: {File.ReadAllText("/proc/loadavg").Trim()}");
        return 0;
    }

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

    private static double Median(List<double> samples) => samples.Order().ElementAt(samples.Count / 2);

    private static double RssMiB(int pid) =>
        File.ReadLines($"/proc/{pid}/status").Where(l => l.StartsWith("VmRSS:"))
            .Select(l => double.Parse(l.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) / 1024).Single();
}
