using System.Text;

namespace RouterHosts.Commands.Internal;

/// <summary>One CSV record: the line it starts on, and its fields by (case-insensitive) header name.</summary>
internal sealed record CsvRow(int Line, IReadOnlyDictionary<string, string> Fields);

/// <summary>
/// Reads a CSV file as Import-Csv does (a header line, then records; "" escapes a quote inside
/// quotes; a quoted field may span lines; blank lines are skipped), keeping the line each
/// record starts on, so that errors can name the line of the file.
/// </summary>
internal static class CsvRows
{
    public static List<CsvRow> Read(TextReader reader)
    {
        var rows = new List<CsvRow>();
        string[]? header = null;
        var line = 0;
        while (Next(reader, ref line, out var start) is { } fields)
        {
            if (fields.Count == 1 && fields[0].Length == 0) continue; // a blank line
            if (header is null)
            {
                header = fields.Select(f => f.Trim()).ToArray();
                continue;
            }
            var named = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            for (var i = 0; i < header.Length && i < fields.Count; i++) named.TryAdd(header[i], fields[i]);
            rows.Add(new CsvRow(start, named));
        }
        return rows;
    }

    /// <summary>The next record's fields, or null at the end; <paramref name="start"/> is the line it starts on.</summary>
    private static List<string>? Next(TextReader reader, ref int line, out int start)
    {
        start = line + 1;
        var first = reader.ReadLine();
        if (first is null) return null;
        line++;
        var fields = new List<string>();
        var field = new StringBuilder();
        var text = first;
        var i = 0;
        var quoted = false;
        while (true)
        {
            if (i == text.Length)
            {
                if (!quoted) break;
                // A quoted field goes on over the line break.
                var more = reader.ReadLine();
                if (more is null) break;
                line++;
                field.Append('\n');
                text = more;
                i = 0;
                continue;
            }
            var c = text[i++];
            if (quoted)
            {
                if (c != '"') field.Append(c);
                else if (i < text.Length && text[i] == '"') { field.Append('"'); i++; }
                else quoted = false;
            }
            else if (c == '"') quoted = true;
            else if (c == ',') { fields.Add(field.ToString()); field.Clear(); }
            else field.Append(c);
        }
        fields.Add(field.ToString());
        return fields;
    }
}
