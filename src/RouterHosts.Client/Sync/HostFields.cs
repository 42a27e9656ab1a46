namespace RouterHosts.Client;

/// <summary>Which user-visible fields of two hosts differ, and how to say it ("Tags [a] -> [a, b]").</summary>
public static class HostFields
{
    public static IReadOnlyList<string> ThatDiffer(RouterHost a, RouterHost b)
    {
        var fields = new List<string>();
        if (!string.Equals(a.IPAddress, b.IPAddress, StringComparison.Ordinal)) fields.Add("IPAddress");
        if (!string.Equals(a.Hostname, b.Hostname, StringComparison.Ordinal)) fields.Add("Hostname");
        if (!a.Aliases.SequenceEqual(b.Aliases, StringComparer.Ordinal)) fields.Add("Aliases");
        if (!a.Tags.SequenceEqual(b.Tags, StringComparer.Ordinal)) fields.Add("Tags");
        if (!string.Equals(a.Comment ?? "", b.Comment ?? "", StringComparison.Ordinal)) fields.Add("Comment");
        return fields;
    }

    public static string Describe(string field, RouterHost from, RouterHost to) => field switch
    {
        "IPAddress" => $"IPAddress {from.IPAddress} -> {to.IPAddress}",
        "Hostname" => $"Hostname {from.Hostname} -> {to.Hostname}",
        "Aliases" => $"Aliases [{string.Join(", ", from.Aliases)}] -> [{string.Join(", ", to.Aliases)}]",
        "Tags" => $"Tags [{string.Join(", ", from.Tags)}] -> [{string.Join(", ", to.Tags)}]",
        "Comment" => $"Comment '{from.Comment}' -> '{to.Comment}'",
        _ => field,
    };

    /// <summary>Every differing field described, joined with "; ".</summary>
    public static string Describe(IEnumerable<string> fields, RouterHost from, RouterHost to) =>
        string.Join("; ", fields.Select(f => Describe(f, from, to)));
}
