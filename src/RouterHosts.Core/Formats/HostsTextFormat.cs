using System.Text;
using RouterHosts.Core.Hosts;
using RouterHosts.Core.HostsFile;

namespace RouterHosts.Core.Formats;

/// <summary>
/// The /etc/hosts format: "ip hostname [aliases...] [# comment [tags]]". Reads what the
/// agent writes back exactly, router-hosts' layout and our older one (see
/// <see cref="HostsFileRenderer.ParseTrailing"/>), and skips comment lines, including the agent's own markers.
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
            var (tags, comment) = hash < 0 ? ([], null) : HostsFileRenderer.ParseTrailing(line[(hash + 1)..]);
            var record = new ImportRecord(lineNumber, null, new HostDraft(fields[0], fields[1], comment, tags, fields[2..]));
            if (HostFormats.TryValidate(record, errors)) records.Add(record);
        }
        return records;
    }

    public void WriteStart(TextWriter writer)
    {
        writer.Write(HostsFileRenderer.BlockHead);
    }

    public void WriteEntry(TextWriter writer, HostEntry entry, bool first)
    {
        var sb = new StringBuilder();
        HostsFileRenderer.AppendLine(sb, entry);
        writer.Write(sb);
    }

    public void WriteEnd(TextWriter writer) => writer.Write(HostsFileRenderer.BlockTail);
}
