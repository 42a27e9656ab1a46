namespace RouterHosts.Commands.Internal;

/// <summary>
/// The wildcards the agent understands (* and ?, case-insensitive), used for the
/// client-side filters too so both sides agree on what a pattern means.
/// </summary>
internal static class Wildcards
{
    public static bool HasWildcard(string? value) => value is not null && value.IndexOfAny(['*', '?']) >= 0;

    public static bool IsMatch(string pattern, string value)
    {
        int p = 0, v = 0, star = -1, mark = 0;
        while (v < value.Length)
        {
            if (p < pattern.Length && (pattern[p] == '?' || char.ToUpperInvariant(pattern[p]) == char.ToUpperInvariant(value[v])))
            {
                p++;
                v++;
            }
            else if (p < pattern.Length && pattern[p] == '*')
            {
                star = p++;
                mark = v;
            }
            else if (star >= 0)
            {
                p = star + 1;
                v = ++mark;
            }
            else
            {
                return false;
            }
        }
        while (p < pattern.Length && pattern[p] == '*') p++;
        return p == pattern.Length;
    }
}
