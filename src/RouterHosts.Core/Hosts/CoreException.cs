namespace RouterHosts.Core.Hosts;

/// <summary>Why a core operation refused; adapters map each kind to one status code.</summary>
public enum CoreErrorKind
{
    InvalidArgument,
    NotFound,
    AlreadyExists,
    /// <summary>Optimistic concurrency failed or a commit conflicted (ABORTED).</summary>
    Conflict,
    FailedPrecondition,
    ResourceExhausted,
    PermissionDenied,
    Unavailable,
    /// <summary>Stored data is damaged (DATA_LOSS): the database is corrupt.</summary>
    DataLoss,
}

public class CoreException(CoreErrorKind kind, string message, IReadOnlyList<string>? details = null)
    : Exception(message)
{
    public CoreErrorKind Kind { get; } = kind;

    /// <summary>A stable, machine-readable reason where one status code covers several cases (see <see cref="RouterHostsReasons"/>).</summary>
    public string? Reason { get; init; }

    /// <summary>Individual problems (validation errors with line numbers, commit conflicts).</summary>
    public IReadOnlyList<string> Details { get; } = details ?? [];

    public static CoreException Invalid(string field, string? value, string rule) =>
        new(CoreErrorKind.InvalidArgument, $"invalid {field} {Quote(value)}: {rule}");

    public static CoreException NotFound(string id) =>
        new(CoreErrorKind.NotFound, $"host {Quote(id)} not found");

    /// <summary>
    /// Quotes a user value for an error message, escaping control characters, line separators and
    /// invisible format characters (a byte-order mark, zero-width spaces) so that they show.
    /// </summary>
    public static string Quote(string? value)
    {
        if (value is null) return "(none)";
        var shown = value.Length > 80 ? value[..80] + "..." : value;
        var sb = new System.Text.StringBuilder("'");
        foreach (var c in shown)
        {
            if (char.IsControl(c) || c is '\u2028' or '\u2029' ||
                char.GetUnicodeCategory(c) == System.Globalization.UnicodeCategory.Format) sb.Append($"\\u{(int)c:x4}");
            else sb.Append(c);
        }
        return sb.Append('\'').ToString();
    }
}
