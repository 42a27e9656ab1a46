using System.Security.Cryptography;
using RouterHosts.Core.Hosts;
using RouterHosts.Core.Storage;
using RouterHosts.Core.Writes;

namespace RouterHosts.Core.Sessions;

public sealed record EditSessionInfo(
    string Holder, DateTimeOffset StartedAt, DateTimeOffset ExpiresAt, int StagedChanges, TimeSpan IdleTimeout);

/// <summary>
/// The one live edit session of an agent. Staged commands are validated at once
/// against the committed state plus what is already staged, and kept to be applied
/// again, all in one transaction, at commit. The idle timeout slides with each use.
/// </summary>
public sealed class EditSessions(IHostStore store, TimeProvider clock)
{
    public const int MaxStagedChanges = 100_000;
    private const int RememberedExpiredTokens = 64;

    private readonly object _gate = new();
    private readonly Queue<string> _expiredTokens = new();
    private Session? _live;

    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(15);

    public (string Token, EditSessionInfo Info) Start(string holder)
    {
        lock (_gate)
        {
            var live = LiveLocked();
            if (live is not null)
                throw new CoreException(CoreErrorKind.FailedPrecondition,
                    $"an edit session is already open, held by {live.Holder} until {live.ExpiresAt:u} unless used")
                { Reason = CoreReasons.EditSessionHeld };
            var token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))
                .TrimEnd('=').Replace('+', '-').Replace('/', '_');
            var now = clock.GetUtcNow();
            _live = new Session(token, holder, now, IdleTimeout, new ChangeSet(store, now)) { LastUsed = now };
            return (token, _live.Info);
        }
    }

    /// <summary>The live session's description, or null when there is none.</summary>
    public EditSessionInfo? Current { get { lock (_gate) return LiveLocked()?.Info; } }

    /// <summary>Validates <paramref name="commands"/> against the staged view and stages them, all or none.</summary>
    public IReadOnlyList<HostEntry> Stage(string token, IReadOnlyList<HostCommand> commands)
    {
        lock (_gate)
        {
            var session = Require(token);
            if (session.Committing)
                throw new CoreException(CoreErrorKind.FailedPrecondition, "the edit session is being committed; stage again after it ends")
                { Reason = CoreReasons.EditSessionCommitting };
            if (session.Commands.Count + commands.Count > MaxStagedChanges)
                throw new CoreException(CoreErrorKind.ResourceExhausted,
                    $"an edit session holds at most {MaxStagedChanges} staged changes; commit or cancel first");
            // Validate on a scratch set layered over the staged one, so a failure stages nothing.
            var scratch = new ChangeSet(session.Staged, clock.GetUtcNow());
            var results = commands.Select(c => c.ApplyTo(scratch)).ToList();
            foreach (var command in commands) command.ApplyTo(session.Staged);
            session.Commands.AddRange(commands);
            return results;
        }
    }

    /// <summary>Stages one command; a failure is the caller's, and stages nothing.</summary>
    public HostEntry StageOne(string token, HostCommand command) => Stage(token, [command])[0];

    /// <summary>The committed state seen through the session's staged changes.</summary>
    public IHostLookup View(string token) { lock (_gate) return Require(token).Staged; }

    /// <summary>Every live entry as the session sees it.</summary>
    public IEnumerable<HostEntry> StagedEntries(string token)
    {
        Dictionary<string, HostEntry?> overlay;
        lock (_gate) overlay = Require(token).Staged.Overlay.ToDictionary(p => p.Key, p => p.Value);
        foreach (var entry in store.StreamAll())
        {
            if (!overlay.Remove(entry.Id, out var staged)) yield return entry;
            else if (staged is not null) yield return staged;
        }
        foreach (var added in overlay.Values) if (added is not null) yield return added;
    }

    /// <summary>The staged commands, in order (for inspection; committing goes through <see cref="BeginCommit"/>).</summary>
    public IReadOnlyList<HostCommand> StagedCommands(string token)
    {
        lock (_gate) return Require(token).Commands.ToList();
    }

    /// <summary>
    /// Freezes the session for a commit and returns its staged commands: staging into
    /// it is refused until <see cref="EndCommit"/> closes it or <see cref="AbortCommit"/>
    /// reopens it, so nothing staged meanwhile can be lost.
    /// </summary>
    public IReadOnlyList<HostCommand> BeginCommit(string token)
    {
        lock (_gate)
        {
            var session = Require(token);
            if (session.Committing)
                throw new CoreException(CoreErrorKind.FailedPrecondition, "the edit session is already being committed")
                { Reason = CoreReasons.EditSessionCommitting };
            session.Committing = true;
            return session.Commands.ToList();
        }
    }

    /// <summary>The commit went through: the session is over (even if it would have expired meanwhile).</summary>
    public void EndCommit(string token)
    {
        lock (_gate)
        {
            if (_live is not null && _live.Token == token) _live = null;
        }
    }

    /// <summary>The commit failed: the session is open again, to be fixed or cancelled.</summary>
    public void AbortCommit(string token)
    {
        lock (_gate)
        {
            if (_live is not null && _live.Token == token) _live.Committing = false;
        }
    }

    public int End(string token)
    {
        lock (_gate)
        {
            var session = Require(token);
            if (session.Committing)
                throw new CoreException(CoreErrorKind.FailedPrecondition, "the edit session is being committed and cannot be cancelled now")
                { Reason = CoreReasons.EditSessionCommitting };
            _live = null;
            return session.Commands.Count;
        }
    }

    private Session Require(string token)
    {
        if (string.IsNullOrEmpty(token))
            throw new CoreException(CoreErrorKind.InvalidArgument, "an edit token is required");
        var live = LiveLocked();
        if (live is null || !CryptographicOperations.FixedTimeEquals(
                System.Text.Encoding.UTF8.GetBytes(live.Token), System.Text.Encoding.UTF8.GetBytes(token)))
        {
            var expired = _expiredTokens.Contains(token);
            throw new CoreException(CoreErrorKind.FailedPrecondition, expired ? "edit session expired" : "unknown edit token")
            { Reason = expired ? CoreReasons.EditSessionExpired : CoreReasons.UnknownEditToken };
        }
        live.LastUsed = clock.GetUtcNow();
        return live;
    }

    private Session? LiveLocked()
    {
        if (_live is not null && clock.GetUtcNow() >= _live.ExpiresAt)
        {
            _expiredTokens.Enqueue(_live.Token);
            while (_expiredTokens.Count > RememberedExpiredTokens) _expiredTokens.Dequeue();
            _live = null;
        }
        return _live;
    }

    private sealed record Session(string Token, string Holder, DateTimeOffset StartedAt, TimeSpan Timeout, ChangeSet Staged)
    {
        public List<HostCommand> Commands { get; } = new();
        public bool Committing { get; set; }
        public DateTimeOffset LastUsed { get; set; }
        public DateTimeOffset ExpiresAt => LastUsed + Timeout;
        public EditSessionInfo Info => new(Holder, StartedAt, ExpiresAt, Commands.Count, Timeout);
    }
}
