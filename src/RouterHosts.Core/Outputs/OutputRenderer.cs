using System.Net;
using System.Net.Sockets;
using System.Text;
using RouterHosts.Core.Hosts;
using RouterHosts.Core.HostsFile;

namespace RouterHosts.Core.Outputs;

/// <summary>The file formats an output can be written in.</summary>
public enum OutputFormat
{
    /// <summary>Hosts-file lines (the agent's block): for another hosts file, or dnsmasq's addn-hosts= (re-read on SIGHUP).</summary>
    Hosts,
    /// <summary>dnsmasq host-record= lines, one per name: a conf-file dnsmasq reads when it starts.</summary>
    Dnsmasq,
    /// <summary>unbound local-data A/AAAA and local-data-ptr lines under "server:", for include: in unbound.conf.</summary>
    Unbound,
}

/// <summary>A rendered output: its bytes, how many entries it holds, and each name it left out and why.</summary>
public sealed record RenderedOutput(byte[] Content, int Entries, IReadOnlyList<string> Refused);

/// <summary>
/// Renders the live entries (in file order) for a DNS server. Every name goes through
/// <see cref="NameProblem"/> first: a name the format cannot carry is left out and named
/// in <see cref="RenderedOutput.Refused"/>, never written half right. The first entry of
/// an address gives its PTR record, as in a hosts file.
/// </summary>
public static class OutputRenderer
{
    public const string Notice = "Managed by RouterHosts: change entries with the agent, not by hand.";

    public static OutputFormat Parse(string? value) => (value ?? "").ToLowerInvariant() switch
    {
        "hosts" => OutputFormat.Hosts,
        "dnsmasq" => OutputFormat.Dnsmasq,
        "unbound" => OutputFormat.Unbound,
        _ => throw new ArgumentException($"'{value}' is not an output format (use hosts, dnsmasq or unbound)"),
    };

    public static string Name(OutputFormat format) => format.ToString().ToLowerInvariant();

    public static RenderedOutput Render(OutputFormat format, IEnumerable<HostEntry> orderedEntries)
    {
        var sb = new StringBuilder();
        var refused = new List<string>();
        var written = new HashSet<string>(StringComparer.Ordinal);
        var withPtr = new HashSet<string>(StringComparer.Ordinal);
        var entries = 0;
        switch (format)
        {
            case OutputFormat.Hosts:
                sb.Append(HostsFileRenderer.BeginMarker).Append('\n').Append(HostsFileRenderer.ManagedNotice).Append('\n');
                break;
            case OutputFormat.Dnsmasq:
                sb.Append("# ").Append(Notice).Append('\n');
                break;
            case OutputFormat.Unbound:
                sb.Append("# ").Append(Notice).Append('\n').Append("server:\n");
                break;
        }
        foreach (var entry in orderedEntries)
        {
            var names = new List<string>(1 + entry.Aliases.Count);
            foreach (var name in entry.Aliases.Prepend(entry.Hostname))
            {
                if (NameProblem(name) is { } problem) refused.Add($"{entry.IpAddress} {name} (host {entry.Id}): {problem}");
                else names.Add(name);
            }
            if (names.Count == 0) continue;
            entries++;
            var ip = entry.IpAddress;
            switch (format)
            {
                case OutputFormat.Hosts:
                    HostsFileRenderer.AppendLine(sb, entry with { Hostname = names[0], Aliases = names.Skip(1).ToArray() });
                    break;
                case OutputFormat.Dnsmasq:
                    // One line per name: dnsmasq gives the PTR to the first address of the first name it reads.
                    foreach (var name in names) Once(sb, written, $"host-record={name},{ip}");
                    break;
                case OutputFormat.Unbound:
                    var address = IPAddress.Parse(ip);
                    var type = address.AddressFamily == AddressFamily.InterNetworkV6 ? "AAAA" : "A";
                    foreach (var name in names) Once(sb, written, $"\tlocal-data: \"{name}. {type} {ip}\"");
                    // One PTR per address (the first entry's hostname); none for 0.0.0.0 and :: (blocked names).
                    if (!address.Equals(IPAddress.Any) && !address.Equals(IPAddress.IPv6Any) && withPtr.Add(ip))
                        sb.Append($"\tlocal-data-ptr: \"{ip} {names[0]}.\"\n");
                    break;
            }
        }
        if (format == OutputFormat.Hosts) sb.Append(HostsFileRenderer.EndMarker).Append('\n');
        return new RenderedOutput(Encoding.UTF8.GetBytes(sb.ToString()), entries, refused);
    }

    private static void Once(StringBuilder sb, HashSet<string> written, string line)
    {
        // DNS names are case-insensitive: "Web" and "web" on one address are one record.
        if (written.Add(line.ToLowerInvariant())) sb.Append(line).Append('\n');
    }

    /// <summary>
    /// Why a name cannot be written as a DNS name (null when it can): letters, digits and '-' in
    /// labels of 1 to 63 characters, 253 in all, and a last label that is not all digits. The agent
    /// accepts only such names today; this guards what older databases or imports may hold, since a
    /// quote or a comma would break the file's syntax.
    /// </summary>
    public static string? NameProblem(string name)
    {
        if (name.Length is 0 or > HostValidator.MaxHostnameLength) return $"a DNS name has 1 to {HostValidator.MaxHostnameLength} characters";
        var labels = name.Split('.');
        foreach (var label in labels)
        {
            if (label.Length is 0 or > HostValidator.MaxLabelLength) return $"label '{label}' is not 1 to {HostValidator.MaxLabelLength} characters";
            if (!label.All(c => char.IsAsciiLetterOrDigit(c) || c == '-') || label[0] == '-' || label[^1] == '-')
                return $"label '{label}' is not letters, digits and inner '-', which is all a DNS name may hold";
        }
        if (labels[^1].All(char.IsAsciiDigit)) return "its last label is all digits";
        return null;
    }
}
