namespace RouterHosts.Commands.Internal;

/// <summary>Which import/export format a file name implies, and the names the agent uses on the wire.</summary>
internal static class FormatInference
{
    /// <summary>
    /// .json → Json; .csv → Csv; .hosts, .txt, .conf, a file named "hosts" or a name
    /// without extension → Hosts; anything else → null (the caller asks for -Format).
    /// </summary>
    public static RouterHostsFormat? FromPath(string path)
    {
        var name = Path.GetFileName(path);
        if (string.IsNullOrEmpty(name)) return null;
        var extension = Path.GetExtension(name).ToLowerInvariant();
        return extension switch
        {
            ".json" => RouterHostsFormat.Json,
            ".csv" => RouterHostsFormat.Csv,
            ".hosts" or ".txt" or ".conf" or "" => RouterHostsFormat.Hosts,
            _ when string.Equals(Path.GetFileNameWithoutExtension(name), "hosts", StringComparison.OrdinalIgnoreCase)
                && extension is ".bak" or ".orig" or ".old" => RouterHostsFormat.Hosts,
            _ => null,
        };
    }

    public static string WireName(RouterHostsFormat format) => format switch
    {
        RouterHostsFormat.Hosts => "hosts",
        RouterHostsFormat.Json => "json",
        RouterHostsFormat.Csv => "csv",
        _ => throw new ArgumentOutOfRangeException(nameof(format), format, null),
    };

    public static string WireName(RouterHostsConflictMode mode) => mode switch
    {
        RouterHostsConflictMode.Skip => "skip",
        RouterHostsConflictMode.Replace => "replace",
        RouterHostsConflictMode.Strict => "strict",
        _ => throw new ArgumentOutOfRangeException(nameof(mode), mode, null),
    };
}
