using System.Text;
using RouterHosts.Core.Hosts;
using RouterHosts.Core.HostsFile;

namespace RouterHosts.Core.Formats;

/// <summary>
/// The /etc/hosts format: "ip hostname [aliases...] [# comment]". Reads what the
/// agent writes back exactly (a leading "[a,b]" in the comment holds the tags) and
/// skips comment lines, including the agent's own markers.
/// </summary>
public sealed class HostsTextFormat : IHostFormat
{
    public string Name => "hosts";

    public IReadOnlyList<ImportRecord> Parse(byte[] content, List<string> errors)
    {
        var records = new List<ImportRecord>();
        var text = new UTF8Encoding(false, throwOnInvalidBytes: true).GetString(content);
        var lineNumber = 0;
        foreach (var rawLine in text.Split('\n'))
        {
            lineNumber++;
            var line = rawLine.TrimEnd('\r');
            var hash = line.IndexOf('#');
            var fieldsPart = hash < 0 ? line : line[..hash];
            var fields = fieldsPart.Split([' ', '\t'], StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length == 0) continue; // blank or comment-only (markers included)
            if (fields.Length == 1)
            {
                errors.Add($"line {lineNumber}: '{fields[0]}' has no hostname after it");
                continue;
            }
            var (tags, comment) = hash < 0 ? ([], null) : ParseTrailing(line[(hash + 1)..]);
            var record = new ImportRecord(lineNumber, null, new HostDraft(fields[0], fields[1], comment, tags, fields[2..]));
            if (HostFormats.TryValidate(record, errors)) records.Add(record);
        }
        return records;
    }

    /// <summary>Inverse of <see cref="HostsFileRenderer.TrailingComment"/>.</summary>
    private static (IReadOnlyList<string> Tags, string? Comment) ParseTrailing(string trailing)
    {
        if (trailing.StartsWith(' ')) trailing = trailing[1..];
        if (trailing.StartsWith('[') && trailing.IndexOf(']') is var close && close > 0)
        {
            var tags = HostFormats.SplitList(trailing[1..close]);
            var rest = trailing[(close + 1)..];
            if (rest.StartsWith(' ')) rest = rest[1..];
            return (tags, rest.Length == 0 ? null : rest);
        }
        return ([], trailing.Length == 0 ? null : trailing);
    }

    public void WriteStart(TextWriter writer)
    {
        writer.Write(HostsFileRenderer.BeginMarker + "\n" + HostsFileRenderer.ManagedNotice + "\n");
    }

    public void WriteEntry(TextWriter writer, HostEntry entry, bool first)
    {
        var sb = new StringBuilder();
        HostsFileRenderer.AppendLine(sb, entry);
        writer.Write(sb);
    }

    public void WriteEnd(TextWriter writer) => writer.Write(HostsFileRenderer.EndMarker + "\n");
}
