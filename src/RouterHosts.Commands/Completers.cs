using System.Collections;
using System.Management.Automation;
using System.Management.Automation.Language;
using RouterHosts.Commands.Internal;

namespace RouterHosts.Commands;

/// <summary>
/// Tab completion from the connection's cache (the -Connection being typed, else the
/// runspace's default). Never waits on the network: a stale cache is refreshed in the
/// background with a short timeout, and this keystroke gets what is cached now.
/// Without a connection there is nothing to complete.
/// </summary>
internal static class CompletionSource
{
    public static IEnumerable<CompletionResult> Complete(CompletionKind kind, string? wordToComplete, IDictionary? fakeBoundParameters)
    {
        var connection = ConnectionFrom(fakeBoundParameters) ?? ConnectionRegistry.Default;
        if (connection is not { IsOpen: true }) return [];
        try
        {
            var first = connection.Session.Cache.NeverRefreshed;
            connection.Session.RefreshCompletionCache();
            // Right after Connect the cache is empty: the first completion waits for its first
            // fill (bounded by the fetch timeout); later keystrokes never wait.
            if (first) connection.Session.Cache.LastRefresh.Wait(CompletionCache.DefaultFetchTimeout);
            return CompletionMatcher.Match(connection.Session.Cache.Candidates(kind), wordToComplete)
                .Select(item => new CompletionResult(item.CompletionText, item.ListItemText, CompletionResultType.ParameterValue, item.ToolTip))
                .ToList();
        }
        catch (Exception)
        {
            return []; // completion must never throw at the user
        }
    }

    private static RouterHostsConnection? ConnectionFrom(IDictionary? fakeBoundParameters)
    {
        if (fakeBoundParameters is null || !fakeBoundParameters.Contains("Connection")) return null;
        var value = fakeBoundParameters["Connection"];
        return (value is PSObject wrapped ? wrapped.BaseObject : value) as RouterHostsConnection;
    }
}

/// <summary>A completer for one kind of value, served from the connection's cache.</summary>
public abstract class CachedValueCompleter : IArgumentCompleter
{
    private readonly CompletionKind _kind;

    private protected CachedValueCompleter(CompletionKind kind) => _kind = kind;

    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var results = CompletionSource.Complete(_kind, wordToComplete, fakeBoundParameters).ToList();
        // Addresses and snapshot names are never files: with nothing to offer, say so rather than let PowerShell list paths.
        if (results.Count == 0 && _kind is CompletionKind.IPAddress or CompletionKind.SnapshotName)
            return [ConnectionCompleter.NoSuggestion(wordToComplete)];
        return results;
    }
}

/// <summary>Completes host ids (the tooltip shows "hostname (ip)").</summary>
public sealed class HostIdCompleter() : CachedValueCompleter(CompletionKind.HostId);

/// <summary>Completes hostnames and aliases.</summary>
public sealed class HostnameCompleter() : CachedValueCompleter(CompletionKind.Hostname);

/// <summary>Completes tags.</summary>
public sealed class TagCompleter() : CachedValueCompleter(CompletionKind.Tag);

/// <summary>Completes snapshot ids (the tooltip shows name, trigger, time and size).</summary>
public sealed class SnapshotIdCompleter() : CachedValueCompleter(CompletionKind.SnapshotId);

/// <summary>Completes the IP addresses of known hosts.</summary>
public sealed class IPAddressCompleter() : CachedValueCompleter(CompletionKind.IPAddress);

/// <summary>Completes snapshot names.</summary>
public sealed class SnapshotNameCompleter() : CachedValueCompleter(CompletionKind.SnapshotName);

/// <summary>
/// Completes -Connection with the variables that hold a connection ($lab), never file
/// paths (which PowerShell would offer for a parameter without a completer).
/// </summary>
public sealed class ConnectionCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters)
    {
        var word = (wordToComplete ?? "").TrimStart('$');
        IReadOnlyList<PSVariable> variables;
        try
        {
            using var ps = System.Management.Automation.PowerShell.Create(RunspaceMode.CurrentRunspace);
            variables = ps.AddCommand("Get-Variable").Invoke<PSVariable>();
        }
        catch (Exception)
        {
            return [NoSuggestion(wordToComplete)]; // completion must never throw at the user
        }
        var results = variables
            .Where(v => (v.Value is PSObject o ? o.BaseObject : v.Value) is RouterHostsConnection
                        && v.Name.StartsWith(word, StringComparison.OrdinalIgnoreCase))
            .Select(v => new CompletionResult("$" + v.Name, "$" + v.Name, CompletionResultType.Variable,
                ((RouterHostsConnection)(v.Value is PSObject o ? o.BaseObject : v.Value)).Target))
            .ToList();
        return results.Count > 0 ? results : [NoSuggestion(wordToComplete)];
    }

    /// <summary>Returned when there is nothing to offer, so PowerShell does not fall back to file paths.</summary>
    internal static CompletionResult NoSuggestion(string? word) =>
        new(string.IsNullOrEmpty(word) ? " " : word, "(nothing to complete)", CompletionResultType.ParameterValue, "nothing to complete");
}

/// <summary>Completes -AsOf with a few points in time (an hour, a day, a week ago), never file paths.</summary>
public sealed class PointInTimeCompleter : IArgumentCompleter
{
    public IEnumerable<CompletionResult> CompleteArgument(string commandName, string parameterName, string wordToComplete,
        CommandAst commandAst, IDictionary fakeBoundParameters) =>
        new[] { ("(Get-Date).AddHours(-1)", "an hour ago"), ("(Get-Date).AddDays(-1)", "a day ago"), ("(Get-Date).AddDays(-7)", "a week ago") }
            .Where(c => c.Item1.StartsWith(wordToComplete ?? "", StringComparison.OrdinalIgnoreCase))
            .Select(c => new CompletionResult(c.Item1, c.Item2, CompletionResultType.ParameterValue, c.Item2));
}
