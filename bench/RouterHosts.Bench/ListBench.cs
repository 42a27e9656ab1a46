using System.Diagnostics;
using Microsoft.Data.Sqlite;
using RouterHosts;
using RouterHosts.Client;
using RouterHosts.Testing;

/// <summary>
/// ListHosts of N hosts over mTLS beside its floor: the same rows, in the same order,
/// read straight from the agent's SQLite file. Runs interleave, medians are reported.
/// </summary>
internal static class ListBench
{
    public static async Task<int> RunAsync(int hostCount, int runs)
    {
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, {Environment.OSVersion}, .NET {Environment.Version}; " +
                          $"load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}; hosts={hostCount}, runs={runs}");
        var dataDir = AgentProcess.NewTempDirectory();
        await using (var agent = await AgentProcess.StartDevAsync(dataDir))
        {
            using var client = agent.Connect();
            await foreach (var _ in client.BulkAddAsync(Inputs(hostCount))) { }
            using var floor = new SqliteConnection($"Data Source={Path.Combine(dataDir, "routerhosts.db")};Mode=ReadOnly");
            floor.Open();
            var list = new List<double>();
            var sqlite = new List<double>();
            var single = new List<double>();
            var agentCpu = 0.0;
            for (var i = 0; i < runs + 3; i++)
            {
                var cpuBefore = CpuMs(agent.Pid);
                var t = Stopwatch.StartNew();
                var listed = await client.ListHostsAsync().CountAsync();
                var listMs = t.Elapsed.TotalMilliseconds;
                var cpuAfter = CpuMs(agent.Pid);
                t.Restart();
                var read = ReadStraight(floor);
                var floorMs = t.Elapsed.TotalMilliseconds;
                t.Restart();
                await client.ListHostsAsync(new RouterHostsQuery { First = 1 }).CountAsync();
                var singleMs = t.Elapsed.TotalMilliseconds;
                if (listed != hostCount || read != hostCount) throw new InvalidOperationException($"listed {listed}, read {read}, expected {hostCount}");
                if (i < 3) continue; // warm-up
                list.Add(listMs);
                agentCpu += cpuAfter - cpuBefore;
                sqlite.Add(floorMs);
                single.Add(singleMs);
            }
            var listMedian = Median(list);
            var floorMedian = Median(sqlite);
            Console.WriteLine();
            Console.WriteLine("| measure | median | vs floor |");
            Console.WriteLine("|---|---|---|");
            Console.WriteLine($"| floor: {hostCount:N0} rows read straight from SQLite | {floorMedian:0.0} ms | 1x |");
            Console.WriteLine($"| ListHosts limit 1 over mTLS (the cost of a call) | {Median(single):0.0} ms | |");
            Console.WriteLine($"| ListHosts {hostCount:N0} over mTLS (client counts them) | {listMedian:0.0} ms | {listMedian / floorMedian:0.0}x |");
            Console.WriteLine($"| agent CPU per ListHosts {hostCount:N0} (user+sys, mean of {runs}) | {agentCpu / runs:0.0} ms | {agentCpu / runs / floorMedian:0.0}x |");
        }
        Directory.Delete(dataDir, true);
        return 0;
    }

    /// <summary>What the agent reads for a list: every column of the live rows, in list order.</summary>
    internal static int ReadStraight(SqliteConnection connection)
    {
        using var command = connection.CreateCommand();
        command.CommandText = "SELECT id, ip_address, hostname, comment, tags, aliases, created_at, updated_at, version " +
                              "FROM hosts WHERE deleted = 0 ORDER BY ip_sort, hostname_lc, id";
        using var reader = command.ExecuteReader();
        var count = 0;
        while (reader.Read())
        {
            _ = (reader.GetString(0), reader.GetString(1), reader.GetString(2), reader.IsDBNull(3) ? null : reader.GetString(3),
                reader.GetString(4), reader.GetString(5), reader.GetInt64(6), reader.GetInt64(7), reader.GetInt64(8));
            count++;
        }
        return count;
    }

    /// <summary>A process's CPU time so far (user + system), from /proc: less moved by a loaded machine than wall time.</summary>
    internal static double CpuMs(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return (long.Parse(fields[11]) + long.Parse(fields[12])) * 1000.0 / 100; // utime, stime in USER_HZ (100)
    }

    private static double Median(List<double> samples) => samples.Order().ElementAt(samples.Count / 2);

    /// <summary>The hosts both list benches add: one in 1,000 has the tag "rare".</summary>
    internal static async IAsyncEnumerable<RouterHostInput> Inputs(int count)
    {
        for (var i = 0; i < count; i++)
            yield return new RouterHostInput
            {
                IPAddress = IpOf(i), Hostname = $"list{i}", Tags = i % 1000 == 7 ? ["rare", "lab"] : ["bench", "lab"], Aliases = [$"l{i}.lan"],
                Comment = i % 2 == 0 ? "a comment" : null,
            };
        await Task.CompletedTask;
    }

    internal static string IpOf(int i) => $"10.{60 + i / 62500}.{i / 250 % 250}.{i % 250 + 1}";
}
