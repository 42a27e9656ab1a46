using System.Text;

namespace RouterHosts.Commands.Tests;

/// <summary>
/// A reader for the subset of PowerShell data files a module manifest uses: one hashtable
/// of keys to 'strings', "strings", @( arrays ), @{ nested hashtables }, numbers and
/// $true/$false; # comments and &lt;# block comments #&gt;. Enough to check the manifest
/// without pwsh.
/// </summary>
public static class Psd1
{
    public static Dictionary<string, object?> Parse(string text)
    {
        var reader = new Reader(text);
        reader.SkipSpace();
        var value = reader.Value();
        reader.SkipSpace();
        if (!reader.AtEnd) throw reader.Error("text after the manifest's hashtable");
        return value as Dictionary<string, object?> ?? throw reader.Error("the manifest is not a hashtable");
    }

    /// <summary>A key's value as a list of strings (a single string counts as a list of one).</summary>
    public static IReadOnlyList<string> Strings(Dictionary<string, object?> manifest, string key) => manifest.GetValueOrDefault(key) switch
    {
        null => [],
        string s => [s],
        List<object?> list => list.Select(i => i as string ?? throw new FormatException($"{key} holds a non-string")).ToList(),
        var other => throw new FormatException($"{key} is a {other.GetType().Name}"),
    };

    private sealed class Reader(string text)
    {
        private int _at;

        public bool AtEnd => _at >= text.Length;

        public FormatException Error(string what)
        {
            var line = text[.._Math(_at)].Count(c => c == '\n') + 1;
            return new FormatException($"psd1 line {line}: {what}");
        }

        private int _Math(int at) => Math.Min(at, text.Length);

        public void SkipSpace(bool newlines = true)
        {
            while (!AtEnd)
            {
                var c = text[_at];
                if (c == '#')
                {
                    while (!AtEnd && text[_at] != '\n') _at++;
                }
                else if (c == '<' && Peek(1) == '#')
                {
                    var end = text.IndexOf("#>", _at + 2, StringComparison.Ordinal);
                    if (end < 0) throw Error("unterminated block comment");
                    _at = end + 2;
                }
                else if (c is ' ' or '\t' or '\r' || (newlines && c == '\n')) _at++;
                else return;
            }
        }

        private char Peek(int ahead = 0) => _at + ahead < text.Length ? text[_at + ahead] : '\0';

        public object? Value()
        {
            SkipSpace();
            var c = Peek();
            if (c == '@' && Peek(1) == '{') { _at += 2; return Hashtable(); }
            if (c == '@' && Peek(1) == '(') { _at += 2; return Array(); }
            if (c == '\'') return SingleQuoted();
            if (c == '"') return DoubleQuoted();
            if (c == '$') return Variable();
            return Bareword();
        }

        private Dictionary<string, object?> Hashtable()
        {
            var result = new Dictionary<string, object?>(StringComparer.OrdinalIgnoreCase);
            while (true)
            {
                SkipSpace();
                while (Peek() == ';') { _at++; SkipSpace(); }
                if (Peek() == '}') { _at++; return result; }
                if (AtEnd) throw Error("unterminated hashtable");
                var key = Peek() is '\'' or '"' ? (string)Value()! : Bareword();
                SkipSpace();
                if (Peek() != '=') throw Error($"expected '=' after {key}");
                _at++;
                result[key] = Value();
            }
        }

        private List<object?> Array()
        {
            var result = new List<object?>();
            while (true)
            {
                SkipSpace();
                while (Peek() == ',') { _at++; SkipSpace(); }
                if (Peek() == ')') { _at++; return result; }
                if (AtEnd) throw Error("unterminated array");
                result.Add(Value());
            }
        }

        private string SingleQuoted()
        {
            var text1 = new StringBuilder();
            _at++;
            while (true)
            {
                if (AtEnd) throw Error("unterminated string");
                var c = text[_at++];
                if (c == '\'')
                {
                    if (Peek() == '\'') { text1.Append('\''); _at++; continue; }
                    return text1.ToString();
                }
                text1.Append(c);
            }
        }

        private string DoubleQuoted()
        {
            var text1 = new StringBuilder();
            _at++;
            while (true)
            {
                if (AtEnd) throw Error("unterminated string");
                var c = text[_at++];
                if (c == '`' && !AtEnd) { text1.Append(text[_at++]); continue; }
                if (c == '$') throw Error("variables in double-quoted strings are not allowed in a manifest");
                if (c == '"')
                {
                    if (Peek() == '"') { text1.Append('"'); _at++; continue; }
                    return text1.ToString();
                }
                text1.Append(c);
            }
        }

        private object? Variable()
        {
            var name = Bareword();
            return name.ToLowerInvariant() switch
            {
                "$true" => true,
                "$false" => false,
                "$null" => null,
                _ => throw Error($"variable {name} in a manifest"),
            };
        }

        private string Bareword()
        {
            var start = _at;
            while (!AtEnd && !char.IsWhiteSpace(text[_at]) && text[_at] is not ('=' or ';' or ',' or ')' or '}' or '#')) _at++;
            if (_at == start) throw Error($"unexpected '{Peek()}'");
            return text[start.._at];
        }
    }
}
