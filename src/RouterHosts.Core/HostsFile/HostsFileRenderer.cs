using System.Text;
using RouterHosts.Core.Formats;
using RouterHosts.Core.Hosts;

namespace RouterHosts.Core.HostsFile;

public enum HostsFileMode
{
    /// <summary>The agent owns only the lines between its markers; every other byte is kept.</summary>
    Block,
    /// <summary>The agent owns the whole file.</summary>
    File,
}

/// <summary>
/// Renders entries as hosts-file lines, deterministically: IP numerically (IPv4
/// first), then hostname. A line is "ip&lt;TAB&gt;hostname aliases", then, when
/// there is a comment or tags, "&lt;TAB&gt;# comment [tag, tag]": the layout of
/// router-hosts, so files and exports move between the two servers with their tags.
/// The rule that keeps it unambiguous (tags never contain '[', ']', ',' or spaces):
/// a trailing text that ends in ']' has its last "[...]" as the tag list, and a
/// comment that could be mistaken for tags (it ends in ']' or starts with '[') is
/// written with an empty tag list after it ("# see [docs] []").
/// </summary>
public static class HostsFileRenderer
{
    public const string BeginMarker = "# BEGIN router-hosts";
    public const string EndMarker = "# END router-hosts";
    public const string ManagedNotice = "# Managed by RouterHosts: change entries with the agent, not by hand.";
    /// <summary>In file mode, heads the loopback lines the agent kept when it took the file over.</summary>
    public const string KeptNotice = "# Loopback lines RouterHosts kept when it took over this file:";
    /// <summary>The lines that open the managed block (every writer of a block starts with these).</summary>
    public const string BlockHead = BeginMarker + "\n" + ManagedNotice + "\n";
    /// <summary>The line that closes the managed block.</summary>
    public const string BlockTail = EndMarker + "\n";

    /// <summary>The block between (and including) the markers. Entries must be in <see cref="HostQuery.Order"/>.</summary>
    public static string RenderBlock(IEnumerable<HostEntry> orderedEntries)
    {
        var sb = new StringBuilder();
        sb.Append(BlockHead);
        foreach (var entry in orderedEntries) AppendLine(sb, entry);
        sb.Append(BlockTail);
        return sb.ToString();
    }

    public static void AppendLine(StringBuilder sb, HostEntry entry)
    {
        sb.Append(entry.IpAddress).Append('\t').Append(entry.Hostname);
        foreach (var alias in entry.Aliases) sb.Append(' ').Append(alias);
        var trailing = TrailingComment(entry.Comment, entry.Tags);
        if (trailing is not null) sb.Append("\t# ").Append(trailing);
        sb.Append('\n');
    }

    /// <summary>"comment [a, b]", "[a, b]", "comment", or null when there is neither; read back by <see cref="ParseTrailing"/>.</summary>
    public static string? TrailingComment(string? comment, IReadOnlyList<string> tags)
    {
        var hasComment = !string.IsNullOrEmpty(comment);
        if (tags.Count == 0 && !hasComment) return null;
        var looksLikeTags = hasComment && (comment!.EndsWith(']') || comment.StartsWith('['));
        if (tags.Count == 0 && !looksLikeTags) return comment;
        var tagPart = "[" + string.Join(", ", tags) + "]";
        return hasComment ? comment + " " + tagPart : tagPart;
    }

    /// <summary>
    /// The comment and tags of the text after a line's '#', in either layout: router-hosts'
    /// "comment [a, b]" (what <see cref="TrailingComment"/> writes), or the older RouterHosts
    /// "[a,b] comment". A text ending in ']' is read in the first layout.
    /// </summary>
    public static (IReadOnlyList<string> Tags, string? Comment) ParseTrailing(string trailing)
    {
        if (trailing.StartsWith(' ')) trailing = trailing[1..];
        if (trailing.EndsWith(']') && trailing.LastIndexOf('[') is var open && open >= 0)
        {
            var comment = trailing[..open];
            if (comment.EndsWith(' ')) comment = comment[..^1];
            return (HostFormats.SplitList(trailing[(open + 1)..^1]), comment.Length == 0 ? null : comment);
        }
        if (trailing.StartsWith('[') && trailing.IndexOf(']') is var close && close > 0)
        {
            var rest = trailing[(close + 1)..];
            if (rest.StartsWith(' ')) rest = rest[1..];
            return (HostFormats.SplitList(trailing[1..close]), rest.Length == 0 ? null : rest);
        }
        return ([], trailing.Length == 0 ? null : trailing);
    }

    /// <summary>
    /// The new file content. In block mode the existing bytes outside the markers are
    /// kept exactly, and the block is appended when the file has none.
    /// </summary>
    /// <param name="kept">In file mode, the loopback lines kept from a taken-over file (see <see cref="InspectFileMode"/>); written above the block.</param>
    public static byte[] Compose(HostsFileMode mode, byte[]? existing, string block, IReadOnlyList<string>? kept = null) =>
        Compose(mode, existing, Encoding.UTF8.GetBytes(block), kept);

    /// <summary>The same, from the block already encoded as UTF-8.</summary>
    public static byte[] Compose(HostsFileMode mode, byte[]? existing, ReadOnlySpan<byte> blockBytes, IReadOnlyList<string>? kept = null)
    {
        var (before, after) = Surround(mode, existing, kept);
        return [.. before.Span, .. blockBytes, .. after.Span];
    }

    /// <summary>
    /// What goes before and after the block in the new file content (see <see cref="Compose(HostsFileMode, byte[], string, IReadOnlyList{string})"/>):
    /// the file is the one, the block between, the other.
    /// </summary>
    public static (ReadOnlyMemory<byte> Before, ReadOnlyMemory<byte> After) Surround(HostsFileMode mode, byte[]? existing, IReadOnlyList<string>? kept = null)
    {
        if (mode == HostsFileMode.File)
            return (kept is { Count: > 0 } ? Encoding.UTF8.GetBytes(KeptNotice + "\n" + string.Concat(kept.Select(l => l + "\n"))) : default, default);
        if (existing is null || existing.Length == 0)
            return (default, default);

        var begin = FindMarkerLine(existing, BeginMarker, 0);
        if (begin < 0)
        {
            if (FindMarkerLine(existing, EndMarker, 0) >= 0)
                throw new MalformedHostsFileException($"it has '{EndMarker}' without '{BeginMarker}'");
            return (existing[^1] == (byte)'\n' ? existing : [.. existing, (byte)'\n'], default);
        }
        var end = FindMarkerLine(existing, EndMarker, begin);
        if (end < 0) throw new MalformedHostsFileException($"it has '{BeginMarker}' without '{EndMarker}' after it");
        if (FindMarkerLine(existing, BeginMarker, begin + 1) is var second && second >= 0 && second < end)
            throw new MalformedHostsFileException($"it has two '{BeginMarker}' lines");
        var afterEnd = LineEnd(existing, end);
        return (existing.AsMemory(0, begin), existing.AsMemory(afterEnd));
    }

    /// <summary>
    /// Reads a file as file mode sees it: the lines the agent wrote (its block, and the loopback
    /// lines under <see cref="KeptNotice"/>) and every other non-blank line, which the agent did not
    /// write and would drop. The kept lines come back as they are in the file.
    /// </summary>
    public static FileModeContent InspectFileMode(byte[]? existing)
    {
        var kept = new List<string>();
        var foreign = new List<string>();
        if (existing is null) return new FileModeContent(kept, foreign);
        var section = Section.Outside;
        foreach (var rawLine in Encoding.UTF8.GetString(existing).Split('\n'))
        {
            var line = rawLine.TrimEnd('\r');
            if (section == Section.Block)
            {
                if (line == EndMarker) section = Section.Outside;
                continue;
            }
            if (line == BeginMarker) { section = Section.Block; continue; }
            if (line == KeptNotice) { section = Section.Kept; continue; }
            if (line.Trim().Length == 0) continue;
            if (section == Section.Kept && IsLoopbackLine(line)) { kept.Add(line); continue; }
            section = Section.Outside;
            foreign.Add(line);
        }
        return new FileModeContent(kept, foreign);
    }

    private enum Section { Outside, Kept, Block }

    /// <summary>A hosts line for a loopback address (127.0.0.0/8 or ::1), such as "127.0.0.1 localhost".</summary>
    public static bool IsLoopbackLine(string line)
    {
        var fields = line.Split([' ', '\t'], 2, StringSplitOptions.RemoveEmptyEntries);
        if (fields.Length < 2 || fields[1].TrimStart().StartsWith('#')) return false;
        try { return System.Net.IPAddress.IsLoopback(System.Net.IPAddress.Parse(HostValidator.CanonicalIp(fields[0]))); }
        catch (CoreException) { return false; }
    }

    /// <summary>The offset of the first line at or after <paramref name="from"/> that is exactly the marker (a CR before LF allowed).</summary>
    private static int FindMarkerLine(byte[] content, string marker, int from)
    {
        var needle = Encoding.ASCII.GetBytes(marker);
        var lineStart = from == 0 ? 0 : LineEnd(content, from);
        while (lineStart < content.Length)
        {
            var lineEnd = LineEnd(content, lineStart);
            var line = content.AsSpan(lineStart, lineEnd - lineStart).TrimEnd("\r\n"u8);
            if (line.SequenceEqual(needle)) return lineStart;
            lineStart = lineEnd;
        }
        return -1;
    }

    /// <summary>The offset just past the line that starts at <paramref name="start"/> (past its '\n').</summary>
    private static int LineEnd(byte[] content, int start)
    {
        var newline = Array.IndexOf(content, (byte)'\n', start);
        return newline < 0 ? content.Length : newline + 1;
    }
}

/// <summary>What file mode finds in a file: the loopback lines it kept before, and the lines it did not write.</summary>
public sealed record FileModeContent(IReadOnlyList<string> Kept, IReadOnlyList<string> Foreign);

/// <summary>File mode was pointed at a file holding lines the agent did not write, and not told to take it over.</summary>
public sealed class ForeignHostsFileException(string path, IReadOnlyList<string> foreign)
    : Exception(Describe(path, foreign))
{
    public IReadOnlyList<string> Foreign { get; } = foreign;

    public static string Describe(string path, IReadOnlyList<string> foreign) =>
        $"{path} holds {foreign.Count} line(s) RouterHosts did not write (first: {CoreException.Quote(foreign[0])}); " +
        "in file mode the agent owns the whole file and would drop them";
}

public sealed class MalformedHostsFileException(string problem)
    : Exception($"the hosts file is malformed: {problem}; fix the markers by hand")
{
}
