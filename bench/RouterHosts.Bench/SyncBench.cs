using System.Diagnostics;
using RouterHosts;
using RouterHosts.Client;
using RouterHosts.Testing;

/// <summary>
/// Declarative sync of N desired hosts against N current ones (all tagged "lab"): a tenth
/// changed, a twentieth new, a twentieth pruned. Times the plan (ListHosts + planning), the
/// apply (one edit session: two bulk streams and one commit) and a second, idempotent run.
/// </summary>
internal static class SyncBench
{
    public static async Task<int> RunAsync(int hostCount)
    {
        Console.WriteLine($"machine: {Environment.ProcessorCount} cores, .NET {Environment.Version}; " +
                          $"load {File.ReadAllText("/proc/loadavg").Split(' ')[0]}; hosts={hostCount}");
        await using var agent = await AgentProcess.StartDevAsync();
        using var client = agent.Connect();
        await foreach (var r in client.BulkAddAsync(Current(hostCount)))
            if (!r.Succeeded) throw new InvalidOperationException(r.Error!.Message);

        var drop = hostCount / 20;
        var desired = Enumerable.Range(drop, hostCount).Select(i => new RouterHostsDesiredHost
        {
            Row = i + 1, IPAddress = Ip(i), Hostname = $"sync{i}", Comment = i % 10 == 0 ? "changed" : null,
        }).ToList();

        for (var run = 1; run <= 2; run++)
        {
            var plan = Stopwatch.StartNew();
            var current = await client.ListHostsAsync().ToListAsync();
            var planned = SyncPlanner.Plan(desired, current, "lab", prune: true);
            plan.Stop();
            var apply = Stopwatch.StartNew();
            var result = await SyncApply.ApplyAsync(client, planned, null);
            apply.Stop();
            Console.WriteLine($"run {run}: plan {plan.Elapsed.TotalSeconds:0.00} s ({current.Count} current, {desired.Count} desired: " +
                              $"{planned.Count(RouterHostsSyncAction.Add)} add, {planned.Count(RouterHostsSyncAction.Update)} change, " +
                              $"{planned.Count(RouterHostsSyncAction.Remove)} remove); apply {apply.Elapsed.TotalSeconds:0.00} s " +
                              $"(added {result.Added}, changed {result.Changed}, removed {result.Removed}, in sync: {result.InSync})");
        }
        return 0;
    }

    private static string Ip(int i) => $"10.{40 + i / 65536}.{i / 256 % 256}.{i % 256}";

    private static async IAsyncEnumerable<RouterHostInput> Current(int count)
    {
        for (var i = 0; i < count; i++) yield return new RouterHostInput { IPAddress = Ip(i), Hostname = $"sync{i}", Tags = ["lab"] };
        await Task.CompletedTask;
    }
}
