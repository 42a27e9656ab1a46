using Microsoft.Extensions.Logging.Abstractions;
using RouterHosts.Core.Hooks;

namespace RouterHosts.Core.Tests;

[CollectionDefinition(nameof(HookOutputTests), DisableParallelization = true)]
public sealed class HookOutputCollection;

/// <summary>Measures this process's allocations, so nothing else runs beside it.</summary>
[Collection(nameof(HookOutputTests))]
public sealed class HookOutputTests
{
    [Fact]
    public async Task A_hook_printing_100_MB_without_a_newline_costs_a_bounded_amount_and_keeps_its_4_KiB_tail()
    {
        await using var runner = new HookRunner(new HookSet(
            [new HookDefinition("flood", "head -c 100000000 /dev/zero | tr '\\0' x; printf END", TimeSpan.FromSeconds(120))], []),
            NullLogger.Instance);
        var before = GC.GetTotalAllocatedBytes(precise: true);
        runner.Trigger(new HookTrigger(true, 0, null, "/etc/hosts", 1));
        await Wait.UntilAsync(() => runner.CompletedBatches >= 1, "the flooding hook", seconds: 120);
        var allocated = GC.GetTotalAllocatedBytes(precise: true) - before;

        // Reading 100 MB as lines allocated several hundred MiB; chunks cost a few buffers.
        Assert.True(allocated < 32 * 1024 * 1024, $"reading the hook's output allocated {allocated / 1024 / 1024} MiB");
        var run = Assert.Single(runner.LastRuns);
        Assert.Equal(0, run.ExitCode);
        Assert.Equal(new string('x', HookRunner.OutputTailBytes - 3) + "END", run.OutputTail);
    }
}
