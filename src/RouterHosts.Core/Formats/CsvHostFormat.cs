using System.Text;
using RouterHosts.Core.Hosts;

namespace RouterHosts.Core.Formats;

/// <summary>
/// CSV with the header id,ip_address,hostname,comment,tags,aliases (RFC 4180
/// quoting; lists joined with ';'). On import the columns may come in any order,
/// id, comment, tags and aliases may be missing, and common header names
/// (ip, address, name, host) are understood.
/// </summary>
public sealed class CsvHostFormat : IHostFormat
{
    public const string Header = "id,ip_address,hostname,comment,tags,aliases";

    private static readonly Dictionary<string, string> ColumnNames = new(StringComparer.OrdinalIgnoreCase)
    {
        ["id"] = "id",
        ["ip_address"] = "ip", ["ip"] = "ip", ["ipaddress"] = "ip", ["address"] = "ip",
        ["hostname"] = "hostname", ["name"] = "hostname", ["host"] = "hostname",
        ["comment"] = "comment", ["tags"] = "tags", ["aliases"] = "aliases",
    };

    public string Name => "csv";

    public IReadOnlyList<ImportRecord> Parse(byte[] content, List<string> errors)
    {
        var records = new List<ImportRecord>();
        var rows = ReadRows(new UTF8Encoding(false, true).GetString(content), errors);
        if (rows.Count == 0) return records;
        var (headerLine, header) = rows[0];
        var columns = new Dictionary<string, int>();
        for (var i = 0; i < header.Count; i++)
        {
            if (!ColumnNames.TryGetValue(header[i].Trim(), out var column))
                errors.Add($"line {headerLine}: unknown column '{header[i]}' (expected {Header})");
            else columns[column] = i;
        }
        foreach (var required in new[] { "ip", "hostname" })
        {
            if (!columns.ContainsKey(required))
            {
                errors.Add($"line {headerLine}: the header has no {(required == "ip" ? "ip_address" : "hostname")} column");
                return records;
            }
        }
        foreach (var (line, cells) in rows.Skip(1))
        {
            if (cells.Count == 1 && cells[0].Length == 0) continue; // blank line
            if (cells.Count != header.Count)
            {
                errors.Add($"line {line}: {cells.Count} fields where the header has {header.Count}");
                continue;
            }
            string? Cell(string name) => columns.TryGetValue(name, out var i) ? cells[i] : null;
            var id = Cell("id");
            var comment = Cell("comment");
            var record = new ImportRecord(line, string.IsNullOrEmpty(id) ? null : id, new HostDraft(
                Cell("ip") ?? "", Cell("hostname") ?? "", string.IsNullOrEmpty(comment) ? null : comment,
                HostFormats.SplitList(Cell("tags")), HostFormats.SplitList(Cell("aliases"))));
            if (HostFormats.TryValidate(record, errors)) records.Add(record);
        }
        return records;
    }

    /// <summary>RFC 4180 rows with the line each starts on; a quoted field may span lines.</summary>
    private static List<(int Line, List<string> Cells)> ReadRows(string text, List<string> errors)
    {
        var rows = new List<(int, List<string>)>();
        var cells = new List<string>();
        var cell = new StringBuilder();
        var line = 1;
        var rowStart = 1;
        var quoted = false;
        for (var i = 0; i < text.Length; i++)
        {
            var c = text[i];
            if (quoted)
            {
                if (c == '"' && i + 1 < text.Length && text[i + 1] == '"') { cell.Append('"'); i++; }
                else if (c == '"') quoted = false;
                else { if (c == '\n') line++; cell.Append(c); }
                continue;
            }
            switch (c)
            {
                case '"' when cell.Length == 0: quoted = true; break;
                case ',': cells.Add(cell.ToString()); cell.Clear(); break;
                case '\r': break;
                case '\n':
                    cells.Add(cell.ToString()); cell.Clear();
                    rows.Add((rowStart, cells)); cells = new List<string>();
                    line++; rowStart = line;
                    break;
                default: cell.Append(c); break;
            }
        }
        if (quoted) errors.Add($"line {rowStart}: a quoted field is not closed");
        if (cell.Length > 0 || cells.Count > 0) { cells.Add(cell.ToString()); rows.Add((rowStart, cells)); }
        return rows;
    }

    public void WriteStart(TextWriter writer) => writer.Write(Header + "\n");

    public void WriteEntry(TextWriter writer, HostEntry entry, bool first)
    {
        writer.Write(string.Join(',', Quote(entry.Id), Quote(entry.IpAddress), Quote(entry.Hostname),
            Quote(entry.Comment ?? ""), Quote(string.Join(';', entry.Tags)), Quote(string.Join(';', entry.Aliases))));
        writer.Write('\n');
    }

    public void WriteEnd(TextWriter writer) { }

    private static string Quote(string value) =>
        value.IndexOfAny([',', '"', '\n', '\r']) >= 0 || value.StartsWith(' ') || value.EndsWith(' ')
            ? "\"" + value.Replace("\"", "\"\"") + "\""
            : value;
}
