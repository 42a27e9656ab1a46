using System.Text;

namespace RouterHosts.Core.Hooks;

/// <summary>
/// Finds and ends whatever a hook run started, on Linux through /proc. A run's
/// processes are: its process group (the shell is the group leader, through setsid),
/// every process whose environment carries the run's marker variable (inherited by
/// everything it starts, so a descendant that called setsid and left the group is
/// still found), and the children of either. The agent is a child subreaper
/// (PR_SET_CHILD_SUBREAPER), so orphans of a hook become its children instead of
/// init's: it reaps the ones it killed, and none stays a zombie. A descendant that
/// both clears its environment and leaves the group, after its parent died, is
/// out of reach here; under systemd the unit's cgroup still ends it when the agent stops.
/// </summary>
internal static class HookProcesses
{
    public const string RunMarkerVariable = "ROUTERHOSTS_HOOK_RUN";
    private const int SigKill = 9;
    private const int PrSetChildSubreaper = 36;
    private const int WNoHang = 1;
    private const int MaxPasses = 20;
    private static readonly TimeSpan ReapWait = TimeSpan.FromSeconds(5);
    private static int s_subreaper;

    /// <summary>Makes this process the reaper of its orphaned descendants; once per process.</summary>
    public static void BecomeSubreaper()
    {
        if (!OperatingSystem.IsLinux() || Interlocked.Exchange(ref s_subreaper, 1) == 1) return;
        Posix.prctl(PrSetChildSubreaper, 1, 0, 0, 0);
    }

    /// <summary>
    /// Kills every process of the run except the shell itself (its <see cref="System.Diagnostics.Process"/>
    /// reaps it), repeating until a scan finds none alive: a process may fork between a scan and its kill.
    /// Returns how many it ended.
    /// </summary>
    public static async Task<int> EndAllAsync(int shellPid, string marker)
    {
        if (!OperatingSystem.IsLinux()) { Posix.kill(-shellPid, SigKill); return 0; }
        var self = Environment.ProcessId;
        var ended = new HashSet<int>();
        for (var pass = 0; pass < MaxPasses; pass++)
        {
            var alive = Find(shellPid, marker, self).Where(p => p.Pid != shellPid && !p.Zombie).ToList();
            Posix.kill(-shellPid, SigKill); // the group, including the shell if it still runs
            if (alive.Count == 0) break;
            foreach (var p in alive)
            {
                Posix.kill(p.Pid, SigKill);
                ended.Add(p.Pid);
            }
        }
        await ReapAsync(ended);
        return ended.Count;
    }

    /// <summary>Waits for the killed processes that are this process's children, bounded (one in D state may linger).</summary>
    private static async Task ReapAsync(HashSet<int> pids)
    {
        var deadline = DateTime.UtcNow + ReapWait;
        var pending = new HashSet<int>(pids);
        while (pending.Count > 0 && DateTime.UtcNow < deadline)
        {
            // waitpid answers 0 while a child still runs, and -1 for a pid that is not (or no longer) our child.
            pending.RemoveWhere(pid => Posix.waitpid(pid, out _, WNoHang) != 0);
            if (pending.Count > 0) await Task.Delay(20);
        }
    }

    public readonly record struct ProcInfo(int Pid, int ParentPid, int Group, bool Zombie);

    /// <summary>The run's processes: group members, marked ones, and their descendants.</summary>
    public static List<ProcInfo> Find(int groupId, string marker, int self)
    {
        var all = Scan();
        var markerBytes = Encoding.ASCII.GetBytes(RunMarkerVariable + "=" + marker + "\0");
        var members = new HashSet<int>();
        foreach (var p in all.Values)
            if (p.Pid != self && (p.Group == groupId || HasMarker(p.Pid, markerBytes)))
                members.Add(p.Pid);
        // Children of members, transitively (one that cleared its environment but kept a parent in the run).
        var grew = true;
        while (grew)
        {
            grew = false;
            foreach (var p in all.Values)
                if (p.Pid != self && !members.Contains(p.Pid) && members.Contains(p.ParentPid)) grew = members.Add(p.Pid) || grew;
        }
        return members.Select(pid => all[pid]).ToList();
    }

    private static Dictionary<int, ProcInfo> Scan()
    {
        var result = new Dictionary<int, ProcInfo>();
        foreach (var dir in Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), out var pid)) continue;
            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                // "pid (comm) state ppid pgrp ...": comm may hold spaces and parentheses, so split after the last ')'.
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                result[pid] = new ProcInfo(pid, int.Parse(fields[1]), int.Parse(fields[2]), fields[0] is "Z" or "X");
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException) { }
        }
        return result;
    }

    private static bool HasMarker(int pid, byte[] markerWithTerminator)
    {
        try
        {
            var environ = File.ReadAllBytes($"/proc/{pid}/environ");
            var at = environ.AsSpan().IndexOf(markerWithTerminator);
            return at == 0 || at > 0 && environ[at - 1] == 0;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return false; }
    }
}
