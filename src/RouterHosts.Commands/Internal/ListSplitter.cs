namespace RouterHosts.Commands.Internal;

/// <summary>
/// Lists (tags, aliases) arrive from the pipeline as arrays, or from Import-Csv as one
/// string "a;b" or "a,b". Accept all three: split each element on ';' and ',', trim,
/// and drop empty pieces, keeping the order.
/// </summary>
internal static class ListSplitter
{
    private static readonly char[] Separators = [';', ','];

    public static string[] Split(IEnumerable<string?>? values)
    {
        if (values is null) return [];
        var result = new List<string>();
        foreach (var value in values)
        {
            if (string.IsNullOrWhiteSpace(value)) continue;
            foreach (var piece in value.Split(Separators, StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
                result.Add(piece);
        }
        return result.ToArray();
    }

    /// <summary>Null stays null (the field was not given); anything else is split.</summary>
    public static string[]? SplitOrNull(IEnumerable<string?>? values) => values is null ? null : Split(values);
}
