using System.Net;
using System.Net.Sockets;

namespace RouterHosts.Core.Hosts;

/// <summary>
/// The validation rules of router_hosts.v1 plus ours: no control characters in any
/// text (they could inject lines into /etc/hosts) and bounds on every list and text.
/// Every failure names the field and the offending value.
/// </summary>
public static class HostValidator
{
    public const int MaxHostnameLength = 253;
    public const int MaxLabelLength = 63;
    public const int MaxAliases = 50;
    public const int MaxTags = 50;
    public const int MaxTagLength = 64;
    public const int MaxCommentLength = 1024;

    /// <summary>Validates a draft and returns it normalised (canonical IP, trimmed lists).</summary>
    public static HostDraft Normalize(HostDraft draft)
    {
        var ip = CanonicalIp(draft.IpAddress);
        var hostname = CheckHostname("hostname", draft.Hostname);
        return new HostDraft(
            ip,
            hostname,
            CheckComment(draft.Comment),
            CheckTags(draft.Tags ?? []),
            CheckAliases(draft.Aliases ?? [], hostname));
    }

    /// <summary>
    /// Parses an IPv4 or IPv6 literal (no CIDR, no zone) and returns its one canonical text, so that
    /// equal addresses compare equal wherever they are stored or looked up: IPv6 in RFC 5952 form
    /// (lowercase, no leading zeros, the longest run of zeros compressed), and an IPv4-mapped IPv6
    /// address (::ffff:a.b.c.d) as the IPv4 address it stands for.
    /// </summary>
    public static string CanonicalIp(string? value)
    {
        const string field = "ip_address";
        if (string.IsNullOrEmpty(value)) throw CoreException.Invalid(field, value, "an IP address is required");
        CheckNoControl(field, value);
        if (value.Contains('/')) throw CoreException.Invalid(field, value, "CIDR notation is not an address");
        if (value.Contains('%')) throw CoreException.Invalid(field, value, "zone ids are not allowed");
        if (value.Trim() != value) throw CoreException.Invalid(field, value, "leading or trailing spaces");
        if (!IPAddress.TryParse(value, out var address))
            throw CoreException.Invalid(field, value, "not an IPv4 or IPv6 address");
        if (address.AddressFamily == AddressFamily.InterNetwork)
        {
            // IPAddress.TryParse accepts shorthand such as "10.1" and "0x0a.0.0.1"; hosts files do not.
            var parts = value.Split('.');
            // A leading zero reads as octal there ("010.0.0.1" would become 8.0.0.1), so it is refused.
            if (parts.Length != 4 || parts.Any(p => p.Length == 0 || p.Length > 3 || !p.All(char.IsAsciiDigit) || (p.Length > 1 && p[0] == '0')))
                throw CoreException.Invalid(field, value, "IPv4 addresses need four decimal parts without leading zeros");
        }
        else if (!value.Contains(':') || !value.All(c => char.IsAsciiHexDigit(c) || c is ':' or '.'))
        {
            // IPAddress.TryParse also takes "[::1]" and "[::1]:80" (dropping the port).
            throw CoreException.Invalid(field, value, "not an IPv4 or IPv6 address");
        }
        return (address.IsIPv4MappedToIPv6 ? address.MapToIPv4() : address).ToString();
    }

    public static string CheckHostname(string field, string? value)
    {
        if (string.IsNullOrEmpty(value)) throw CoreException.Invalid(field, value, "a hostname is required");
        CheckNoControl(field, value);
        if (value.Length > MaxHostnameLength)
            throw CoreException.Invalid(field, value, $"longer than {MaxHostnameLength} characters");
        foreach (var label in value.Split('.'))
        {
            if (label.Length == 0) throw CoreException.Invalid(field, value, "empty label");
            if (label.Length > MaxLabelLength)
                throw CoreException.Invalid(field, value, $"label '{label}' is longer than {MaxLabelLength} characters");
            if (!label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-'))
                throw CoreException.Invalid(field, value, $"label '{label}' may contain only letters, digits and '-'");
            if (label[0] == '-' || label[^1] == '-')
                throw CoreException.Invalid(field, value, $"label '{label}' starts or ends with '-'");
        }
        // RFC 1123 §2.1: the highest-level label is never all digits, so that a name cannot be
        // taken for a dotted-decimal address. Resolvers also read "10.1" and "0x0a" (inet_aton forms) as addresses.
        if (value[(value.LastIndexOf('.') + 1)..].All(char.IsAsciiDigit) || IPAddress.TryParse(value, out _))
            throw CoreException.Invalid(field, value,
                "a name whose last label is all digits, or that reads as an IP address, is not a hostname (RFC 1123 §2.1)");
        return value;
    }

    public static string? CheckComment(string? value)
    {
        if (value is null) return null;
        CheckNoControl("comment", value);
        if (value.Length > MaxCommentLength)
            throw CoreException.Invalid("comment", value, $"longer than {MaxCommentLength} characters");
        return value;
    }

    public static IReadOnlyList<string> CheckTags(IReadOnlyList<string> tags)
    {
        if (tags.Count > MaxTags) throw CoreException.Invalid("tags", $"{tags.Count} tags", $"at most {MaxTags} tags");
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var result = new List<string>(tags.Count);
        foreach (var tag in tags)
        {
            if (string.IsNullOrWhiteSpace(tag)) throw CoreException.Invalid("tag", tag, "empty tag");
            CheckNoControl("tag", tag);
            if (tag.Length > MaxTagLength) throw CoreException.Invalid("tag", tag, $"longer than {MaxTagLength} characters");
            if (!tag.All(IsTagChar))
                throw CoreException.Invalid("tag", tag, "tags may contain only letters, digits and - _ . : / @ + =");
            if (seen.Add(tag)) result.Add(tag);
        }
        return result;
    }

    public static IReadOnlyList<string> CheckAliases(IReadOnlyList<string> aliases, string hostname)
    {
        if (aliases.Count > MaxAliases)
            throw CoreException.Invalid("aliases", $"{aliases.Count} aliases", $"at most {MaxAliases} aliases");
        var seen = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        foreach (var alias in aliases)
        {
            CheckHostname("alias", alias);
            if (string.Equals(alias, hostname, StringComparison.OrdinalIgnoreCase))
                throw CoreException.Invalid("alias", alias, "an alias may not repeat the entry's hostname");
            if (!seen.Add(alias)) throw CoreException.Invalid("alias", alias, "duplicate alias");
        }
        return aliases.ToArray();
    }

    private static bool IsTagChar(char c) => char.IsAsciiLetterOrDigit(c) || "-_.:/@+=".Contains(c);

    /// <summary>Rejects CR, LF, NUL and every other control character.</summary>
    public static void CheckNoControl(string field, string value)
    {
        foreach (var c in value)
        {
            if (char.IsControl(c) || c is '\u2028' or '\u2029' or '\u0085')
                throw CoreException.Invalid(field, value, $"control character U+{(int)c:X4} is not allowed");
        }
    }

    /// <summary>
    /// 17 bytes that order addresses numerically, IPv4 before IPv6 (family byte, then the address).
    /// Storage backends order by it so that lists and the hosts file agree.
    /// </summary>
    public static byte[] SortKey(string canonicalIp)
    {
        var address = IPAddress.Parse(canonicalIp);
        var key = new byte[17];
        var bytes = address.GetAddressBytes();
        key[0] = address.AddressFamily == AddressFamily.InterNetwork ? (byte)4 : (byte)6;
        bytes.CopyTo(key, 1);
        return key;
    }

    public static int CompareIp(string a, string b) =>
        ((ReadOnlySpan<byte>)SortKey(a)).SequenceCompareTo(SortKey(b));
}
