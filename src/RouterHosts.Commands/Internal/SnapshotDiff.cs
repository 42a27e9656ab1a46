using System.Text;
using RouterHosts.Client;

namespace RouterHosts.Commands.Internal;

/// <summary>One host that a restore would change: what it is now, what it would become, and which fields differ.</summary>
internal sealed record HostChange(RouterHost Current, RouterHost Restored, IReadOnlyList<string> Fields);

/// <summary>
/// What restoring a snapshot would do to the current hosts, computed client-side from
/// the snapshot's entries and the current list (matched by id, as the agent restores
/// by id). Used for Restore-RouterHostsSnapshot -WhatIf and its confirmation prompt.
/// </summary>
internal sealed class SnapshotDiff
{
    private SnapshotDiff(IReadOnlyList<RouterHost> added, IReadOnlyList<RouterHost> removed, IReadOnlyList<HostChange> changed)
    {
        Added = added;
        Removed = removed;
        Changed = changed;
    }

    /// <summary>In the snapshot, not current: the restore brings them back.</summary>
    public IReadOnlyList<RouterHost> Added { get; }
    /// <summary>Current, not in the snapshot: the restore deletes them.</summary>
    public IReadOnlyList<RouterHost> Removed { get; }
    public IReadOnlyList<HostChange> Changed { get; }
    public bool IsEmpty => Added.Count == 0 && Removed.Count == 0 && Changed.Count == 0;

    public static SnapshotDiff Compute(IEnumerable<RouterHost> current, IEnumerable<RouterHost> snapshot)
    {
        var now = new Dictionary<string, RouterHost>(StringComparer.Ordinal);
        foreach (var host in current) now[host.Id] = host;
        var added = new List<RouterHost>();
        var changed = new List<HostChange>();
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var recorded in snapshot)
        {
            seen.Add(recorded.Id);
            if (!now.TryGetValue(recorded.Id, out var live)) added.Add(recorded);
            else if (FieldsThatDiffer(live, recorded) is { Count: > 0 } fields) changed.Add(new HostChange(live, recorded, fields));
        }
        var removed = now.Values.Where(h => !seen.Contains(h.Id)).ToList();
        return new SnapshotDiff(Sorted(added), Sorted(removed), changed.OrderBy(c => c.Current.Hostname, StringComparer.OrdinalIgnoreCase).ToList());
    }

    private static List<RouterHost> Sorted(IEnumerable<RouterHost> hosts) =>
        hosts.OrderBy(h => h.Hostname, StringComparer.OrdinalIgnoreCase).ThenBy(h => h.IPAddress, StringComparer.Ordinal).ToList();

    public static IReadOnlyList<string> FieldsThatDiffer(RouterHost a, RouterHost b) => HostFields.ThatDiffer(a, b);

    /// <summary>A summary line, then one line per host ("+ added", "- removed", "~ changed: field old -> new"), at most <paramref name="maxLines"/>.</summary>
    public string Describe(int maxLines = 25)
    {
        if (IsEmpty) return "the current hosts already match the snapshot; nothing would change";
        var text = new StringBuilder();
        text.Append($"would add {Added.Count}, remove {Removed.Count} and change {Changed.Count} host(s)");
        var lines = Added.Select(h => $"+ {h}")
            .Concat(Removed.Select(h => $"- {h}"))
            .Concat(Changed.Select(c => $"~ {c.Current}: {string.Join("; ", c.Fields.Select(f => DescribeField(f, c.Current, c.Restored)))}"))
            .ToList();
        foreach (var line in lines.Take(maxLines)) text.Append(Environment.NewLine).Append("  ").Append(line);
        if (lines.Count > maxLines) text.Append(Environment.NewLine).Append($"  ... and {lines.Count - maxLines} more");
        return text.ToString();
    }

    private static string DescribeField(string field, RouterHost from, RouterHost to) => HostFields.Describe(field, from, to);
}
