using System.Collections.ObjectModel;
using System.Runtime.CompilerServices;

namespace RouterHosts;

/// <summary>
/// A host's aliases or tags: a read-only list (index it, count it, -contains it) whose
/// string form is "a;b". Export-Csv and ConvertTo-Csv write a property's ToString(), so
/// the lists survive Export-Csv/Import-Csv as "a;b", which Add-RouterHost and
/// Set-RouterHost split again (a string[] would be written as "System.String[]").
/// </summary>
[CollectionBuilder(typeof(RouterHostsStringList), nameof(Create))]
public sealed class RouterHostsStringList : ReadOnlyCollection<string>
{
    /// <summary>The separator of the string form.</summary>
    public const char Separator = ';';

    public static readonly RouterHostsStringList Empty = new([]);

    public RouterHostsStringList(IList<string> items) : base(items) { }

    public static RouterHostsStringList Create(ReadOnlySpan<string> items) => items.IsEmpty ? Empty : new(items.ToArray());

    public static implicit operator RouterHostsStringList(string[] items) => items.Length == 0 ? Empty : new(items);

    public override string ToString() => string.Join(Separator, this);
}
