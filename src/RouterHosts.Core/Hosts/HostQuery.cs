using System.Text.RegularExpressions;

namespace RouterHosts.Core.Hosts;

/// <summary>
/// A list request: every set criterion must match. <see cref="Matches"/> and
/// <see cref="Order"/> are the definition; storage backends implement the same in
/// their query language, and the compliance suite holds them to it.
/// </summary>
public sealed record HostQuery(
    string? Text = null,
    string? HostnamePattern = null,
    string? IpAddress = null,
    string? Tag = null,
    int Offset = 0,
    int? Limit = null)
{
    public static readonly HostQuery All = new();

    public bool Matches(HostEntry entry)
    {
        if (Text is { Length: > 0 } text && !MatchesText(entry, text)) return false;
        if (HostnamePattern is { Length: > 0 } pattern)
        {
            var regex = WildcardRegex(pattern);
            if (!regex.IsMatch(entry.Hostname) && !entry.Aliases.Any(regex.IsMatch)) return false;
        }
        if (IpAddress is { Length: > 0 } ip && entry.IpAddress != ip) return false;
        if (Tag is { Length: > 0 } tag && !entry.Tags.Any(t => Fold(t) == Fold(tag))) return false;
        return true;
    }

    /// <summary>Case-insensitive substring over ip, hostname, aliases, comment and tags.</summary>
    public static bool MatchesText(HostEntry entry, string text)
    {
        var needle = Fold(text);
        bool In(string? field) => field is not null && Fold(field).Contains(needle, StringComparison.Ordinal);
        return In(entry.IpAddress) || In(entry.Hostname) || In(entry.Comment) || entry.Aliases.Any(In) || entry.Tags.Any(In);
    }

    /// <summary>
    /// What "case-insensitive" means here: both sides lowercased with the invariant
    /// culture, then compared ordinally. Backends fold the same way (lowercased
    /// columns). OrdinalIgnoreCase differs for a few letters (the Kelvin sign
    /// lowercases to 'k' but does not match it ignoring case), which no SQL lower() mirrors.
    /// </summary>
    public static string Fold(string value) => value.ToLowerInvariant();

    /// <summary>Filters, orders and pages an in-memory set the way a backend would.</summary>
    public IReadOnlyList<HostEntry> Apply(IEnumerable<HostEntry> entries)
    {
        var selected = entries.Where(Matches).Order(Order).Skip(Offset);
        return (Limit is { } limit ? selected.Take(limit) : selected).ToList();
    }

    /// <summary>The one stable order: IP numerically (IPv4 first), then hostname, then id.</summary>
    public static readonly IComparer<HostEntry> Order = Comparer<HostEntry>.Create((a, b) =>
    {
        var byIp = HostValidator.CompareIp(a.IpAddress, b.IpAddress);
        if (byIp != 0) return byIp;
        var byName = string.CompareOrdinal(a.Hostname.ToLowerInvariant(), b.Hostname.ToLowerInvariant());
        return byName != 0 ? byName : string.CompareOrdinal(a.Id, b.Id);
    });

    public static Regex WildcardRegex(string pattern) =>
        new("^" + Regex.Escape(pattern).Replace("\\*", ".*").Replace("\\?", ".") + "$",
            RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);
}
