using RouterHosts.Core.Hosts;

namespace RouterHosts.Core.Formats;

/// <summary>A host read from an import file, with where it came from.</summary>
public sealed record ImportRecord(int Line, string? Id, HostDraft Draft);

/// <summary>
/// One import/export format. Parsing collects every problem as "line N: ..."
/// instead of stopping at the first, so a user can fix a file in one go.
/// Writing is incremental (start, one entry at a time, end) so exports stream.
/// </summary>
public interface IHostFormat
{
    string Name { get; }
    IReadOnlyList<ImportRecord> Parse(byte[] content, List<string> errors);
    void WriteStart(TextWriter writer);
    void WriteEntry(TextWriter writer, HostEntry entry, bool first);
    void WriteEnd(TextWriter writer);
}

public static class HostFormats
{
    public static readonly IReadOnlyList<IHostFormat> All = [new HostsTextFormat(), new JsonHostFormat(), new CsvHostFormat()];

    public static IHostFormat Get(string? name)
    {
        var wanted = string.IsNullOrEmpty(name) ? "hosts" : name.ToLowerInvariant();
        return All.FirstOrDefault(f => f.Name == wanted)
               ?? throw CoreException.Invalid("format", name, "use hosts, json or csv");
    }

    /// <summary>
    /// Parses an import in <paramref name="format"/>. Every format reads UTF-8; a leading UTF-8
    /// byte-order mark (as Windows tools write it) is dropped here, for all of them, and a
    /// UTF-16 one is named rather than reported as invalid UTF-8.
    /// </summary>
    public static IReadOnlyList<ImportRecord> Parse(IHostFormat format, ReadOnlyMemory<byte> content, List<string> errors)
    {
        var bytes = content.Span;
        if (bytes.StartsWith(Utf16LittleEndianBom) || bytes.StartsWith(Utf16BigEndianBom))
            throw CoreException.Invalid("chunk", "(import payload)", "the file is UTF-16 (it starts with a UTF-16 byte-order mark); save it as UTF-8");
        if (bytes.StartsWith(Utf8Bom)) content = content[Utf8Bom.Length..];
        return format.Parse(content.ToArray(), errors);
    }

    private static ReadOnlySpan<byte> Utf8Bom => [0xEF, 0xBB, 0xBF];
    private static ReadOnlySpan<byte> Utf16LittleEndianBom => [0xFF, 0xFE];
    private static ReadOnlySpan<byte> Utf16BigEndianBom => [0xFE, 0xFF];

    /// <summary>Splits a list given as "a;b" or "a,b" (CSV cells, hosts tags).</summary>
    public static IReadOnlyList<string> SplitList(string? value) =>
        string.IsNullOrWhiteSpace(value)
            ? []
            : value.Split([';', ','], StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    /// <summary>Validates a record now, so the error carries its line number.</summary>
    public static bool TryValidate(ImportRecord record, List<string> errors)
    {
        try
        {
            HostValidator.Normalize(record.Draft);
            return true;
        }
        catch (CoreException e)
        {
            errors.Add($"line {record.Line}: {e.Message}");
            return false;
        }
    }
}
