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

    /// <summary>The block between (and including) the markers. Entries must be in <see cref="HostQuery.Order"/>.</summary>
    public static string RenderBlock(IEnumerable<HostEntry> orderedEntries)
    {
        var sb = new StringBuilder();
        sb.Append(BeginMarker).Append('\n').Append(ManagedNotice).Append('\n');
        foreach (var entry in orderedEntries) AppendLine(sb, entry);
        sb.Append(EndMarker).Append('\n');
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
    public static byte[] Compose(HostsFileMode mode, byte[]? existing, string block)
    {
        var blockBytes = Encoding.UTF8.GetBytes(block);
        if (mode == HostsFileMode.File || existing is null || existing.Length == 0)
            return blockBytes;

        var begin = FindMarkerLine(existing, BeginMarker, 0);
        if (begin < 0)
        {
            if (FindMarkerLine(existing, EndMarker, 0) >= 0)
                throw new MalformedHostsFileException($"it has '{EndMarker}' without '{BeginMarker}'");
            var separator = existing[^1] == (byte)'\n' ? [] : "\n"u8.ToArray();
            return [.. existing, .. separator, .. blockBytes];
        }
        var end = FindMarkerLine(existing, EndMarker, begin);
        if (end < 0) throw new MalformedHostsFileException($"it has '{BeginMarker}' without '{EndMarker}' after it");
        if (FindMarkerLine(existing, BeginMarker, begin + 1) is var second && second >= 0 && second < end)
            throw new MalformedHostsFileException($"it has two '{BeginMarker}' lines");
        var afterEnd = LineEnd(existing, end);
        return [.. existing.AsSpan(0, begin), .. blockBytes, .. existing.AsSpan(afterEnd)];
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

public sealed class MalformedHostsFileException(string problem)
    : Exception($"the hosts file is malformed: {problem}; fix the markers by hand")
{
}
