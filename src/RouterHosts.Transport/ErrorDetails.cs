using System.Text;

namespace RouterHosts.Transport;

/// <summary>
/// Itemised error details (line-numbered validation errors, commit conflicts) travel
/// in a binary trailer as UTF-8 lines; both the agent and the client use this.
/// </summary>
public static class ErrorDetails
{
    public const string TrailerKey = "routerhosts-details-bin";

    /// <summary>A machine-readable reason (ASCII, e.g. "edit-session-expired") where one status code covers several cases.</summary>
    public const string ReasonTrailerKey = "routerhosts-reason";

    public static byte[] Encode(IEnumerable<string> details) =>
        Encoding.UTF8.GetBytes(string.Join('\n', details.Select(d => d.Replace('\n', ' '))));

    public static IEnumerable<string> Decode(byte[] value) =>
        Encoding.UTF8.GetString(value).Split('\n', StringSplitOptions.RemoveEmptyEntries);
}
