using System.Diagnostics;
using System.Management.Automation;
using System.Runtime.CompilerServices;
using System.Text.RegularExpressions;
using RouterHosts.Client;
using RouterHosts.Commands.Internal;

namespace RouterHosts.Commands;

/// <summary>
/// The base of every RouterHosts cmdlet: one cancellation token that StopProcessing
/// (Ctrl+C) cancels and every call carries; blocking on async calls from the pipeline
/// thread (so Write* only ever runs there); and turning <see cref="RouterHostsException"/>
/// into ErrorRecords with stable ids.
/// </summary>
public abstract class RouterHostsCmdlet : PSCmdlet, IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private int _disposed;

    static RouterHostsCmdlet()
    {
        // Normally done by the module initializer at import; repeated here in case the
        // assembly was loaded some other way (Import-Module on the dll, Add-Type).
        ModuleAssemblyLoader.Register();
    }

    private protected CancellationToken StopToken => _stop.Token;

    protected override void StopProcessing()
    {
        OnStopping();
        try { _stop.Cancel(); }
        catch (ObjectDisposedException) { }
    }

    /// <summary>Ctrl+C, before the stop token is cancelled (on the thread that stops the pipeline).</summary>
    private protected virtual void OnStopping() { }

    /// <summary>When the cmdlet is disposed, before the stop token is cancelled.</summary>
    private protected virtual void OnDispose() { }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        OnDispose();
        // Abort any call still open (a stream abandoned by Select-Object -First, say).
        try { _stop.Cancel(); }
        catch (ObjectDisposedException) { }
        _stop.Dispose();
        GC.SuppressFinalize(this);
    }

    /// <summary>
    /// Writes verbose text, or debug text when the cmdlet got -Debug without -Verbose. PowerShell 7
    /// gives a compiled cmdlet's WriteVerbose the "Inquire" preference in that case, which prompts
    /// an interactive user after every line and fails the call in a non-interactive session
    /// ("PowerShell is in NonInteractive mode"). -Debug asks for more detail, not for a prompt.
    /// </summary>
    private protected new void WriteVerbose(string text)
    {
        if (IsSwitchPresent("Debug") && !MyInvocation.BoundParameters.ContainsKey("Verbose")) WriteDebug(text);
        else base.WriteVerbose(text);
    }

    private bool IsSwitchPresent(string name) =>
        MyInvocation.BoundParameters.TryGetValue(name, out var value) && value is SwitchParameter { IsPresent: true };

    // ---- blocking on async work, on the pipeline thread ----

    /// <summary>
    /// Waits for a call of the client; -Debug says what is called on which endpoint, -Verbose
    /// how long it took (<paramref name="call"/> is the calling expression, which names the call).
    /// </summary>
    private protected T Wait<T>(Task<T> task, [CallerArgumentExpression(nameof(task))] string call = "")
    {
        var name = CallName(call);
        if (name is not null) WriteDebug($"Calling {name} on {AgentTarget}.");
        var watch = Stopwatch.StartNew();
        try
        {
            var result = task.GetAwaiter().GetResult();
            if (name is not null) WriteVerbose($"{name} on {AgentTarget}: answered in {watch.Elapsed.TotalMilliseconds:0} ms.");
            return result;
        }
        catch (Exception e) when (IsStop(e)) { throw new PipelineStoppedException(); }
        catch (RouterHostsException e)
        {
            if (name is not null) WriteVerbose($"{name} on {AgentTarget}: failed after {watch.Elapsed.TotalMilliseconds:0} ms ({e.Code}).");
            throw;
        }
        catch (PipelineStoppedException) { throw; }
        catch (Exception e) { throw Unexpected(e); }
    }

    private protected void Wait(Task task, [CallerArgumentExpression(nameof(task))] string call = "") => Wait(WithResult(task), call);

    /// <summary>"Client.GetHostAsync(id, ...)" → "GetHost"; null for what is not a call of the client.</summary>
    private static string? CallName(string expression)
    {
        var match = ClientCall.Match(expression);
        return match.Success ? match.Groups[1].Value : null;
    }

    private static readonly Regex ClientCall = new(@"\bClient\.(\w+?)(?:Async)?\(", RegexOptions.CultureInvariant);

    private static async Task<bool> WithResult(Task task)
    {
        await task.ConfigureAwait(false);
        return true;
    }

    /// <summary>Enumerates an async stream on the pipeline thread, calling <paramref name="each"/> (which may Write*) per item.</summary>
    private protected void ForEach<T>(IAsyncEnumerable<T> source, Action<T> each, [CallerArgumentExpression(nameof(source))] string call = "") =>
        ForEach(source, item =>
        {
            each(item);
            return true;
        }, call);

    /// <summary>As above, stopping (and closing the stream) as soon as <paramref name="each"/> returns false.</summary>
    private protected void ForEach<T>(IAsyncEnumerable<T> source, Func<T, bool> each, [CallerArgumentExpression(nameof(source))] string call = "")
    {
        var name = CallName(call);
        if (name is not null) WriteDebug($"Calling {name} (a stream) on {AgentTarget}.");
        var watch = Stopwatch.StartNew();
        var count = 0;
        var enumerator = source.GetAsyncEnumerator(StopToken);
        try
        {
            while (Wait(enumerator.MoveNextAsync().AsTask(), ""))
            {
                count++;
                if (!each(enumerator.Current)) break;
            }
            if (name is not null) WriteVerbose($"{name} on {AgentTarget}: {count} item(s) in {watch.Elapsed.TotalMilliseconds:0} ms.");
        }
        finally
        {
            try { enumerator.DisposeAsync().AsTask().GetAwaiter().GetResult(); }
            catch (Exception) { /* the call is being torn down; its error, if any, was already raised */ }
        }
    }

    private bool IsStop(Exception e) => _stop.IsCancellationRequested
        && (e is OperationCanceledException || e is RouterHostsException { Code: RouterHostsErrorCode.Cancelled });

    /// <summary>Anything but our own exception that escapes the client (a bug or an I/O failure) still becomes ours.</summary>
    private static RouterHostsException Unexpected(Exception e) => e switch
    {
        OperationCanceledException => new RouterHostsException(RouterHostsErrorCode.Cancelled, "the operation was cancelled", null, e),
        ObjectDisposedException => new RouterHostsException(RouterHostsErrorCode.FailedPrecondition,
            "the connection was closed (Disconnect-RouterHostsAgent); connect again with Connect-RouterHostsAgent", null, e),
        _ => new RouterHostsException(RouterHostsErrorCode.Unknown, e.Message, null, e),
    };

    // ---- errors ----

    /// <summary>The target shown in messages about the agent (overridden by agent cmdlets).</summary>
    private protected virtual string AgentTarget => "the agent";

    private protected virtual void OnEditSessionGone() { }

    private protected ErrorRecord ToErrorRecord(RouterHostsException e, object? target, ErrorSubject subject)
    {
        var kind = ErrorMapping.Classify(e.Code, subject, e.Reason);
        var message = ErrorMapping.Describe(e.Message, e.Details);
        var advice = ErrorMapping.Advice(kind.ErrorId, AgentTarget, e.Reason);
        // When the agent cannot be reached or refuses us, the thing that failed is the endpoint.
        if (kind.Category is ErrorCategory.ConnectionError or ErrorCategory.AuthenticationError && AgentTarget != "the agent") target = AgentTarget;
        // The advice goes only in RecommendedAction: PowerShell shows it after the message as "Recommendation".
        var record = new ErrorRecord(e, kind.ErrorId, kind.Category, target) { ErrorDetails = new ErrorDetails(message) };
        if (advice is not null) record.ErrorDetails.RecommendedAction = advice;
        return record;
    }

    /// <summary>
    /// One failed item: a non-terminating error, and the cmdlet goes on; but when nothing
    /// else can succeed (agent unreachable, TLS refused, no permission, timeout) one
    /// terminating error that says how to fix it.
    /// </summary>
    private protected void Report(RouterHostsException e, object? target, ErrorSubject subject)
    {
        if (ErrorMapping.IsEditSessionGone(e.Code, e.Reason)) OnEditSessionGone();
        var record = ToErrorRecord(e, target, subject);
        if (ErrorMapping.IsTerminating(e.Code)) ThrowTerminatingError(record);
        else WriteError(record);
    }

    /// <summary>A failure that ends the command (the only operation it does, or nothing can proceed).</summary>
    private protected void Terminate(RouterHostsException e, object? target, ErrorSubject subject)
    {
        if (ErrorMapping.IsEditSessionGone(e.Code, e.Reason)) OnEditSessionGone();
        ThrowTerminatingError(ToErrorRecord(e, target, subject));
    }

    private protected void Terminate(string errorId, ErrorCategory category, string message, object? target, Exception? inner = null,
        string? advice = null)
    {
        ThrowTerminatingError(NewError(errorId, category, message, target, inner, advice));
    }

    private protected static ErrorRecord NewError(string errorId, ErrorCategory category, string message, object? target, Exception? inner = null,
        string? advice = null)
    {
        var exception = inner is RouterHostsException ? inner : new RouterHostsException(CodeOf(category), message, null, inner);
        var record = new ErrorRecord(exception, errorId, category, target) { ErrorDetails = new ErrorDetails(message) };
        if (advice is not null) record.ErrorDetails.RecommendedAction = advice;
        return record;
    }

    private static RouterHostsErrorCode CodeOf(ErrorCategory category) => category switch
    {
        ErrorCategory.ObjectNotFound => RouterHostsErrorCode.NotFound,
        ErrorCategory.ResourceExists => RouterHostsErrorCode.AlreadyExists,
        ErrorCategory.InvalidArgument => RouterHostsErrorCode.InvalidArgument,
        ErrorCategory.ConnectionError => RouterHostsErrorCode.Unavailable,
        _ => RouterHostsErrorCode.FailedPrecondition,
    };

    // ---- paths ----

    /// <summary>A path as PowerShell means it (relative to the current location, ~ expanded), as a file-system path.</summary>
    private protected string FileSystemPath(string path) => GetUnresolvedProviderPathFromPSPath(path);
}

/// <summary>The base of the cmdlets that talk to an agent: they all take -Connection.</summary>
public abstract class RouterHostsAgentCmdlet : RouterHostsCmdlet
{
    private RouterHostsConnection? _resolved;

    /// <summary>
    /// The connection to use. Default: the runspace's default connection (the last
    /// Connect-RouterHostsAgent without -NotDefault), else one made from the default client
    /// configuration file if it exists.
    /// </summary>
    [Parameter]
    [ValidateNotNull]
    [ArgumentCompleter(typeof(ConnectionCompleter))]
    public RouterHostsConnection? Connection { get; set; }

    private protected RouterHostsConnection ActiveConnection => _resolved ??= ResolveConnection();

    private protected AgentSession Session => ActiveConnection.Session;

    private protected RouterHostsClient Client => Session.Client;

    private protected override string AgentTarget => _resolved?.Target ?? Connection?.Target ?? "the agent";

    private protected override void OnEditSessionGone() => _resolved?.Session.ForgetEdit();

    private RouterHostsConnection ResolveConnection()
    {
        if (Connection is not null)
        {
            if (!Connection.IsOpen)
                Terminate(ErrorIds.NotConnected, ErrorCategory.ConnectionError,
                    $"The connection to {Connection.Target} was closed by Disconnect-RouterHostsAgent.",
                    Connection, advice: ErrorMapping.Advice(ErrorIds.NotConnected, Connection.Target));
            return Connection;
        }
        if (ConnectionRegistry.Default is { } current) return current;

        var configPath = RouterHostsConnectionOptions.DefaultConfigPath;
        if (File.Exists(configPath))
        {
            WriteVerbose($"No connection given; connecting with the default client configuration {configPath}.");
            try
            {
                var connection = ConnectionFactory.FromConfigFile(configPath);
                ConnectionRegistry.SetDefault(connection);
                return connection;
            }
            catch (RouterHostsException e)
            {
                Terminate(e, configPath, ErrorSubject.Connection);
            }
            catch (Exception e) when (e is ArgumentException or FormatException or IOException or UnauthorizedAccessException)
            {
                Terminate(ErrorIds.InvalidConnectionOptions, ErrorCategory.InvalidArgument,
                    $"Cannot connect with the default client configuration {configPath}: {e.Message}", configPath, e);
            }
        }
        Terminate(ErrorIds.NotConnected, ErrorCategory.ConnectionError,
            "Not connected to a RouterHosts agent, and there is no default client configuration at " + configPath +
            " (set $env:ROUTERHOSTS_CLIENT_CONFIG to use another file).",
            null, advice: ErrorMapping.Advice(ErrorIds.NotConnected, "the agent"));
        throw new InvalidOperationException("unreachable");
    }

    /// <summary>Fails (terminating) when the connection holds no edit session; asks nothing of the agent.</summary>
    private protected void RequireEdit()
    {
        if (Session.HoldsEdit) return;
        Terminate(ErrorIds.NoEditSession, ErrorCategory.InvalidOperation,
            $"The connection to {ActiveConnection.Target} holds no edit session.",
            ActiveConnection.Target, advice: ErrorMapping.Advice(ErrorIds.NoEditSession, ActiveConnection.Target));
    }

    /// <summary>The agent's live edit session, or null.</summary>
    private protected RouterHostsEdit? EditInfo() => Wait(Client.GetEditAsync(StopToken));

    /// <summary>How many changes the held session has staged, for confirmation messages ("?" when the agent cannot say).</summary>
    private protected string StagedChanges()
    {
        try
        {
            return EditInfo()?.StagedChanges.ToString(System.Globalization.CultureInfo.InvariantCulture) ?? "?";
        }
        catch (RouterHostsException)
        {
            return "?"; // the commit or undo that follows reports the failure properly
        }
    }

    /// <summary>Records what the user has seen, for tab completion.</summary>
    private protected void Observe(RouterHost host) => Session.Cache.Observe(host);
}
