using System.Text;
using System.Text.Json;
using RouterHosts.Core.Hosts;

namespace RouterHosts.Core.Formats;

/// <summary>A JSON array of {id, ip_address, hostname, comment, tags, aliases}.</summary>
public sealed class JsonHostFormat : IHostFormat
{
    public string Name => "json";

    public IReadOnlyList<ImportRecord> Parse(byte[] content, List<string> errors)
    {
        var records = new List<ImportRecord>();
        var reader = new Utf8JsonReader(content, new JsonReaderOptions { CommentHandling = JsonCommentHandling.Skip });
        var lineCounter = new LineCounter(content);
        try
        {
            if (!reader.Read() || reader.TokenType != JsonTokenType.StartArray)
            {
                errors.Add("line 1: a JSON import is an array of host objects");
                return records;
            }
            while (reader.Read() && reader.TokenType != JsonTokenType.EndArray)
            {
                var line = lineCounter.LineAt(reader.TokenStartIndex);
                using var element = JsonDocument.ParseValue(ref reader);
                if (element.RootElement.ValueKind != JsonValueKind.Object)
                {
                    errors.Add($"line {line}: expected an object, found {element.RootElement.ValueKind}");
                    continue;
                }
                var record = ToRecord(element.RootElement, line, errors);
                if (record is not null && HostFormats.TryValidate(record, errors)) records.Add(record);
            }
        }
        catch (JsonException e)
        {
            errors.Add($"line {(e.LineNumber ?? 0) + 1}: malformed JSON: {e.Message}");
        }
        return records;
    }

    private static ImportRecord? ToRecord(JsonElement o, int line, List<string> errors)
    {
        try
        {
            return new ImportRecord(line, Text(o, "id"), new HostDraft(
                Text(o, "ip_address") ?? "", Text(o, "hostname") ?? "", Text(o, "comment"), List(o, "tags"), List(o, "aliases")));
        }
        catch (InvalidOperationException e)
        {
            errors.Add($"line {line}: {e.Message}");
            return null;
        }
    }

    private static string? Text(JsonElement o, string name) =>
        !o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null ? null
        : v.ValueKind == JsonValueKind.String ? v.GetString()
        : throw new InvalidOperationException($"'{name}' must be a string");

    private static IReadOnlyList<string> List(JsonElement o, string name)
    {
        if (!o.TryGetProperty(name, out var v) || v.ValueKind == JsonValueKind.Null) return [];
        if (v.ValueKind == JsonValueKind.String) return HostFormats.SplitList(v.GetString());
        if (v.ValueKind != JsonValueKind.Array) throw new InvalidOperationException($"'{name}' must be an array of strings");
        return v.EnumerateArray().Select(item => item.ValueKind == JsonValueKind.String
            ? item.GetString()! : throw new InvalidOperationException($"'{name}' must be an array of strings")).ToList();
    }

    public void WriteStart(TextWriter writer) => writer.Write("[\n");

    public void WriteEntry(TextWriter writer, HostEntry entry, bool first)
    {
        if (!first) writer.Write(",\n");
        var buffer = new MemoryStream();
        using (var json = new Utf8JsonWriter(buffer))
        {
            json.WriteStartObject();
            json.WriteString("id", entry.Id);
            json.WriteString("ip_address", entry.IpAddress);
            json.WriteString("hostname", entry.Hostname);
            if (entry.Comment is null) json.WriteNull("comment"); else json.WriteString("comment", entry.Comment);
            json.WriteStartArray("tags");
            foreach (var tag in entry.Tags) json.WriteStringValue(tag);
            json.WriteEndArray();
            json.WriteStartArray("aliases");
            foreach (var alias in entry.Aliases) json.WriteStringValue(alias);
            json.WriteEndArray();
            json.WriteEndObject();
        }
        writer.Write("  ");
        writer.Write(Encoding.UTF8.GetString(buffer.GetBuffer(), 0, (int)buffer.Length));
    }

    public void WriteEnd(TextWriter writer) => writer.Write("\n]\n");

    /// <summary>Turns byte offsets into 1-based line numbers, scanning forward only.</summary>
    private sealed class LineCounter(byte[] content)
    {
        private int _offset;
        private int _line = 1;

        public int LineAt(long offset)
        {
            for (; _offset < offset && _offset < content.Length; _offset++)
                if (content[_offset] == (byte)'\n') _line++;
            return _line;
        }
    }
}
