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
            connection.Session.RefreshCompletionCache();
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
        CommandAst commandAst, IDictionary fakeBoundParameters) =>
        CompletionSource.Complete(_kind, wordToComplete, fakeBoundParameters);
}

/// <summary>Completes host ids (the tooltip shows "hostname (ip)").</summary>
public sealed class HostIdCompleter() : CachedValueCompleter(CompletionKind.HostId);

/// <summary>Completes hostnames and aliases.</summary>
public sealed class HostnameCompleter() : CachedValueCompleter(CompletionKind.Hostname);

/// <summary>Completes tags.</summary>
public sealed class TagCompleter() : CachedValueCompleter(CompletionKind.Tag);

/// <summary>Completes snapshot ids (the tooltip shows name, trigger, time and size).</summary>
public sealed class SnapshotIdCompleter() : CachedValueCompleter(CompletionKind.SnapshotId);
