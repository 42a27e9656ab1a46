using System.Net;
using System.Net.Sockets;

namespace RouterHosts.Client;

/// <summary>One host of a desired list (a pipeline row or a CSV line); <see cref="Row"/> is what errors name.</summary>
public sealed class RouterHostsDesiredHost
{
    public int Row { get; init; }
    /// <summary>When it names a current host, that host is the one this row describes; otherwise the key (IP and hostname) decides.</summary>
    public string? Id { get; init; }
    public string IPAddress { get; init; } = "";
    public string Hostname { get; init; } = "";
    public string? Comment { get; init; }
    public string[] Tags { get; init; } = [];
    public string[] Aliases { get; init; } = [];
}

/// <summary>A plan: the changes in the order they are applied (removals, updates, adds), and how many desired hosts already match.</summary>
public sealed class RouterHostsSyncPlan
{
    public IReadOnlyList<RouterHostsSyncChange> Changes { get; init; } = [];
    public int Unchanged { get; init; }
    public bool IsEmpty => Changes.Count == 0;
    public int Count(RouterHostsSyncAction action) => Changes.Count(c => c.Action == action);

    /// <summary>"would add 1, remove 2 and change 3 host(s); 4 unchanged", or that nothing would change.</summary>
    public string Summary => IsEmpty
        ? $"already in sync: {Unchanged} host(s) match; nothing would change"
        : $"would add {Count(RouterHostsSyncAction.Add)}, remove {Count(RouterHostsSyncAction.Remove)} and change {Count(RouterHostsSyncAction.Update)} host(s); {Unchanged} unchanged";

    /// <summary>A summary line, then one "+ / - / ~" line per change (at most <paramref name="maxLines"/>), as Restore-RouterHostsSnapshot -WhatIf writes them.</summary>
    public string Describe(int maxLines = 50)
    {
        if (IsEmpty) return Summary;
        var lines = new List<string> { Summary };
        // Shown as Restore shows its diff: adds, then removals, then changes.
        var shown = Changes.OrderBy(c => c.Action switch { RouterHostsSyncAction.Add => 0, RouterHostsSyncAction.Remove => 1, _ => 2 }).ToList();
        lines.AddRange(shown.Take(maxLines).Select(c => "  " + c));
        if (shown.Count > maxLines) lines.Add($"  ... and {shown.Count - maxLines} more (Compare-RouterHost lists them all)");
        return string.Join(Environment.NewLine, lines);
    }
}

/// <summary>
/// Plans a declarative sync: what to add, change and remove so that the hosts in scope
/// (all, or those with <c>scopeTag</c>) are the desired list. Pure: no I/O. A desired host is
/// the current host its id names, else the one with its IP and hostname, else new. With a
/// scope tag, every desired host carries that tag, and a desired host that exists outside
/// the scope is refused rather than taken over (another source owns it). The whole list is
/// checked first; any bad row refuses it whole, naming every bad row.
/// </summary>
public static class SyncPlanner
{
    /// <param name="rowWord">"row" for pipeline input, "line" for a file: how errors name a <see cref="RouterHostsDesiredHost.Row"/>.</param>
    public static RouterHostsSyncPlan Plan(IReadOnlyList<RouterHostsDesiredHost> desired, IEnumerable<RouterHost> current, string? scopeTag,
        bool prune, string rowWord = "row")
    {
        var all = current.ToList();
        var byId = all.ToDictionary(h => h.Id, StringComparer.Ordinal);
        var byKey = new Dictionary<(string, string), RouterHost>();
        foreach (var host in all) byKey.TryAdd(Key(host.IPAddress, host.Hostname), host);

        var errors = new List<string>();
        var rows = Check(desired, scopeTag, rowWord, errors);
        var claimed = new HashSet<string>(StringComparer.Ordinal);
        var updates = new List<RouterHostsSyncChange>();
        var adds = new List<RouterHostsSyncChange>();
        var unchanged = 0;
        foreach (var (row, want) in rows)
        {
            var match = row.Id is not null && byId.TryGetValue(row.Id, out var named) ? named
                : byKey.TryGetValue(Key(want.IPAddress, want.Hostname), out var keyed) && !claimed.Contains(keyed.Id) ? keyed
                : null;
            if (match is null)
            {
                adds.Add(new RouterHostsSyncChange
                {
                    Action = RouterHostsSyncAction.Add, Hostname = want.Hostname, IPAddress = want.IPAddress, Desired = want, Row = row.Row,
                });
                continue;
            }
            if (!claimed.Add(match.Id))
            {
                errors.Add($"{rowWord} {row.Row}: id {match.Id} is also described by an earlier {rowWord}");
                continue;
            }
            if (scopeTag is not null && !InScope(match, scopeTag))
            {
                errors.Add($"{rowWord} {row.Row}: {match.IPAddress} {match.Hostname} exists outside the scope of tag '{scopeTag}' " +
                           $"(host {match.Id}, tags [{string.Join(", ", match.Tags)}]); another source manages it. " +
                           $"Tag it '{scopeTag}' (Set-RouterHost) to let this list manage it, or leave the {rowWord} out");
                continue;
            }
            var target = Copy(want, match.Id, match.Version);
            var fields = HostFields.ThatDiffer(match, target);
            if (fields.Count == 0) { unchanged++; continue; }
            updates.Add(new RouterHostsSyncChange
            {
                Action = RouterHostsSyncAction.Update, Hostname = match.Hostname, IPAddress = match.IPAddress, Id = match.Id,
                Current = match, Desired = target, Fields = fields.ToArray(), Detail = HostFields.Describe(fields, match, target), Row = row.Row,
            });
        }
        if (errors.Count > 0) throw Refused(errors, rowWord);

        var removals = !prune ? [] : all
            .Where(h => !claimed.Contains(h.Id) && (scopeTag is null || InScope(h, scopeTag)))
            .Select(h => new RouterHostsSyncChange
            {
                Action = RouterHostsSyncAction.Remove, Hostname = h.Hostname, IPAddress = h.IPAddress, Id = h.Id, Current = h,
            })
            .ToList();
        return new RouterHostsSyncPlan
        {
            // Removals first, then updates, then adds: a key is freed before it is taken again.
            Changes = [.. Sorted(removals), .. Sorted(updates), .. Sorted(adds)],
            Unchanged = unchanged,
        };
    }

    private static IEnumerable<RouterHostsSyncChange> Sorted(IEnumerable<RouterHostsSyncChange> changes) =>
        changes.OrderBy(c => c.Hostname, StringComparer.OrdinalIgnoreCase).ThenBy(c => c.IPAddress, StringComparer.Ordinal);

    private static bool InScope(RouterHost host, string tag) => host.Tags.Contains(tag, StringComparer.OrdinalIgnoreCase);

    /// <summary>The key the agent keeps unique: canonical IP and the hostname, case-insensitively.</summary>
    private static (string, string) Key(string ip, string hostname) => (ip, hostname.ToLowerInvariant());

    private static RouterHost Copy(RouterHost want, string id, string version) => new()
    {
        Id = id, Version = version, IPAddress = want.IPAddress, Hostname = want.Hostname, Aliases = want.Aliases, Tags = want.Tags,
        Comment = want.Comment,
    };

    private static RouterHostsException Refused(List<string> errors, string rowWord) =>
        new(RouterHostsErrorCode.InvalidArgument,
            $"the desired list was refused: {errors.Count} bad {rowWord}(s); nothing was changed", errors);

    /// <summary>
    /// Each row checked and normalised as the agent would store it (canonical IP, tags without
    /// case-insensitive repeats, the scope tag added), or an error naming it. Keys and ids must not repeat.
    /// </summary>
    private static List<(RouterHostsDesiredHost Row, RouterHost Want)> Check(IReadOnlyList<RouterHostsDesiredHost> desired, string? scopeTag,
        string rowWord, List<string> errors)
    {
        var rows = new List<(RouterHostsDesiredHost, RouterHost)>(desired.Count);
        var keys = new Dictionary<(string, string), int>();
        var ids = new Dictionary<string, int>(StringComparer.Ordinal);
        foreach (var row in desired)
        {
            var problem = CheckIp(row.IPAddress, out var ip) ?? CheckHostname("hostname", row.Hostname)
                          ?? row.Aliases.Select(a => CheckAlias(a, row.Hostname)).FirstOrDefault(p => p is not null)
                          ?? DuplicateAlias(row.Aliases)
                          ?? (row.Id is { } id && !IsUlid(id) ? $"invalid id '{id}': not a host id (a ULID)" : null);
            if (problem is not null)
            {
                errors.Add($"{rowWord} {row.Row}: {problem}");
                continue;
            }
            if (keys.TryGetValue(Key(ip, row.Hostname), out var first))
            {
                errors.Add($"{rowWord} {row.Row}: {ip} {row.Hostname} repeats {rowWord} {first}");
                continue;
            }
            keys.Add(Key(ip, row.Hostname), row.Row);
            if (row.Id is not null)
            {
                if (ids.TryGetValue(row.Id, out var firstId))
                {
                    errors.Add($"{rowWord} {row.Row}: id {row.Id} repeats {rowWord} {firstId}");
                    continue;
                }
                ids.Add(row.Id, row.Row);
            }
            var tags = new List<string>();
            foreach (var tag in row.Tags.Append(scopeTag ?? ""))
                if (tag.Length > 0 && !tags.Contains(tag, StringComparer.OrdinalIgnoreCase)) tags.Add(tag);
            rows.Add((row, new RouterHost
            {
                IPAddress = ip, Hostname = row.Hostname, Aliases = row.Aliases, Tags = tags.ToArray(),
                Comment = string.IsNullOrEmpty(row.Comment) ? null : row.Comment,
            }));
        }
        return rows;
    }

    // The checks below are the agent's rules for what makes a key (IP, hostname, aliases), so that a
    // plan matches what the agent stores and a bad list is refused before anything is sent. The agent
    // checks every field again (tags, comment) when the plan is staged; a failure there refuses it whole too.

    private static string? CheckIp(string value, out string canonical)
    {
        canonical = "";
        if (string.IsNullOrEmpty(value)) return "an IP address is required";
        if (value.Contains('/')) return $"invalid IP address '{value}': CIDR notation is not an address";
        if (value.Contains('%')) return $"invalid IP address '{value}': zone ids are not allowed";
        if (!IPAddress.TryParse(value, out var address)) return $"invalid IP address '{value}'";
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            var parts = value.Split('.');
            if (parts.Length != 4 || parts.Any(p => p.Length == 0 || p.Length > 3 || !p.All(char.IsAsciiDigit) || (p.Length > 1 && p[0] == '0')))
                return $"invalid IP address '{value}': IPv4 addresses need four decimal parts without leading zeros";
        }
        else if (!value.Contains(':') || !value.All(c => char.IsAsciiHexDigit(c) || c is ':' or '.'))
        {
            return $"invalid IP address '{value}'";
        }
        canonical = (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString();
        return null;
    }

    private static string? CheckHostname(string field, string value)
    {
        if (string.IsNullOrEmpty(value)) return $"a {field} is required";
        if (value.Length > 253) return $"invalid {field} '{value}': longer than 253 characters";
        foreach (var label in value.Split('.'))
        {
            if (label.Length is 0 or > 63 || label[0] == '-' || label[^1] == '-' || !label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
                return $"invalid {field} '{value}': labels are 1-63 letters, digits or '-', not starting or ending with '-'";
        }
        if (value[(value.LastIndexOf('.') + 1)..].All(char.IsAsciiDigit) || IPAddress.TryParse(value, out _))
            return $"invalid {field} '{value}': it reads as an IP address (RFC 1123 §2.1)";
        return null;
    }

    private static string? CheckAlias(string alias, string hostname) =>
        CheckHostname("alias", alias)
        ?? (string.Equals(alias, hostname, StringComparison.OrdinalIgnoreCase) ? $"alias '{alias}' repeats the hostname" : null);

    private static string? DuplicateAlias(string[] aliases)
    {
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var alias in aliases) if (!seen.Add(alias)) return $"alias '{alias}' is given twice";
        return null;
    }

    private static bool IsUlid(string id) =>
        id.Length == 26 && id[0] is >= '0' and <= '7' && id.All(c => char.IsAsciiDigit(c) || (char.IsAsciiLetter(c) && "ILOUilou".IndexOf(c) < 0));
}
