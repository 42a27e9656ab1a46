using System.Security.Cryptography;
using RouterHosts.Core.Hosts;
using RouterHosts.Core.Storage;
using RouterHosts.Core.Writes;

namespace RouterHosts.Core.Sessions;

public sealed record EditSessionInfo(
    string Holder, DateTimeOffset StartedAt, DateTimeOffset ExpiresAt, int StagedChanges, TimeSpan IdleTimeout);

/// <summary>
/// What a caller presents to use the live session: its token, and who the caller is
/// (<paramref name="Owner"/>: a certificate subject, or a Unix uid). The token alone is
/// not enough: only the identity that started the session may use it.
/// </summary>
public sealed record EditAccess(string Token, string Owner);

/// <summary>A session ended without its token: what it was, whether another identity held it, and what was discarded.</summary>
public sealed record EndedEditSession(EditSessionInfo Info, bool HeldByAnother, int DiscardedChanges);

/// <summary>
/// The one live edit session of an agent. Staged commands are validated at once
/// against the committed state plus what is already staged, and kept to be applied
/// again, all in one transaction, at commit. The idle timeout slides with each use.
/// A session belongs to the identity that started it: that identity may take it up
/// again (<see cref="Start"/> with resume) or end it from anywhere; nobody else may use it.
/// </summary>
public sealed class EditSessions(IHostProjection store, TimeProvider clock)
{
    public const int MaxStagedChanges = 100_000;
    private const int RememberedEndedTokens = 64;

    private readonly object _gate = new();
    // Tokens of sessions that are over, with why, so that their holder is told rather than "unknown token".
    private readonly Queue<(string Token, string Message, string Reason)> _endedTokens = new();
    private Session? _live;

    public TimeSpan IdleTimeout { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>
    /// Opens a session for <paramref name="owner"/> (shown as <paramref name="holder"/>, by default the owner).
    /// With <paramref name="resume"/>, takes up the owner's live session instead and returns its token.
    /// </summary>
    public (EditAccess Access, EditSessionInfo Info) Start(string owner, string? holder = null, bool resume = false)
    {
        lock (_gate)
        {
            var live = LiveLocked();
            if (resume)
            {
                if (live is null || live.Owner != owner)
                    throw new CoreException(CoreErrorKind.FailedPrecondition, live is null
                        ? "there is no edit session to resume; start one"
                        : $"there is no edit session of yours to resume; the open one is held by {live.Holder}")
                    { Reason = RouterHostsReasons.NoEditSession };
                live.LastUsed = clock.GetUtcNow();
                return (new EditAccess(live.Token, owner), live.Info);
            }
            if (live is not null)
                throw new CoreException(CoreErrorKind.FailedPrecondition, live.Owner == owner
                    ? $"an edit session is already open, held by {live.Holder} (you) since {live.StartedAt:u} with {live.Commands.Count} staged change(s); resume it or discard it"
                    : $"an edit session is already open, held by {live.Holder} until {live.ExpiresAt:u} unless used")
                { Reason = RouterHostsReasons.EditSessionHeld };
            var token = Convert.ToBase64String(RandomNumberGenerator.GetBytes(32))
                .TrimEnd('=').Replace('+', '-').Replace('/', '_');
            var now = clock.GetUtcNow();
            _live = new Session(token, owner, holder ?? owner, now, IdleTimeout, new ChangeSet(store, now)) { LastUsed = now };
            return (new EditAccess(token, owner), _live.Info);
        }
    }

    /// <summary>The live session's description, or null when there is none.</summary>
    public EditSessionInfo? Current { get { lock (_gate) return LiveLocked()?.Info; } }

    /// <summary>
    /// Validates <paramref name="commands"/> against the staged view and stages them, all or none.
    /// Each is pinned to the version of the host it changes as the session sees it now, so that a
    /// commit finds any change made to that host meanwhile (compare-on-revision).
    /// </summary>
    public IReadOnlyList<HostEntry> Stage(EditAccess access, IReadOnlyList<HostCommand> commands)
    {
        lock (_gate)
        {
            var session = Require(access);
            if (session.Committing)
                throw new CoreException(CoreErrorKind.FailedPrecondition, "the edit session is being committed; stage again after it ends")
                { Reason = RouterHostsReasons.EditSessionCommitting };
            if (session.Commands.Count + commands.Count > MaxStagedChanges)
                throw new CoreException(CoreErrorKind.ResourceExhausted,
                    $"an edit session holds at most {MaxStagedChanges} staged changes; commit or cancel first");
            // Validate on a scratch set layered over the staged one, so a failure stages nothing.
            var scratch = new ChangeSet(session.Staged, clock.GetUtcNow());
            var pinned = new List<HostCommand>(commands.Count);
            var results = new List<HostEntry>(commands.Count);
            foreach (var command in commands)
            {
                var p = command.PinnedTo(scratch);
                results.Add(p.ApplyTo(scratch));
                pinned.Add(p);
            }
            foreach (var command in pinned) command.ApplyTo(session.Staged);
            session.Commands.AddRange(pinned);
            return results;
        }
    }

    /// <summary>Stages one command; a failure is the caller's, and stages nothing.</summary>
    public HostEntry StageOne(EditAccess access, HostCommand command) => Stage(access, [command])[0];

    /// <summary>The committed state seen through the session's staged changes.</summary>
    public IHostLookup View(EditAccess access) { lock (_gate) return Require(access).Staged; }

    /// <summary>Every live entry as the session sees it.</summary>
    public IEnumerable<HostEntry> StagedEntries(EditAccess access)
    {
        Dictionary<string, HostEntry?> overlay;
        lock (_gate) overlay = Require(access).Staged.Overlay.ToDictionary(p => p.Key, p => p.Value);
        foreach (var entry in store.StreamAll())
        {
            if (!overlay.Remove(entry.Id, out var staged)) yield return entry;
            else if (staged is not null) yield return staged;
        }
        foreach (var added in overlay.Values) if (added is not null) yield return added;
    }

    /// <summary>The staged commands, in order (for inspection; committing goes through <see cref="BeginCommit"/>).</summary>
    public IReadOnlyList<HostCommand> StagedCommands(EditAccess access)
    {
        lock (_gate) return Require(access).Commands.ToList();
    }

    /// <summary>
    /// Freezes the session for a commit and returns its staged commands: staging into
    /// it is refused until <see cref="EndCommit"/> closes it or <see cref="AbortCommit"/>
    /// reopens it, so nothing staged meanwhile can be lost.
    /// </summary>
    public IReadOnlyList<HostCommand> BeginCommit(EditAccess access)
    {
        lock (_gate)
        {
            var session = Require(access);
            if (session.Committing)
                throw new CoreException(CoreErrorKind.FailedPrecondition, "the edit session is already being committed")
                { Reason = RouterHostsReasons.EditSessionCommitting };
            session.Committing = true;
            return session.Commands.ToList();
        }
    }

    /// <summary>The commit went through: the session is over (even if it would have expired meanwhile).</summary>
    public void EndCommit(EditAccess access)
    {
        lock (_gate)
        {
            if (_live is not null && _live.Token == access.Token) _live = null;
        }
    }

    /// <summary>The commit failed: the session is open again, to be fixed or cancelled.</summary>
    public void AbortCommit(EditAccess access)
    {
        lock (_gate)
        {
            if (_live is not null && _live.Token == access.Token) _live.Committing = false;
        }
    }

    /// <summary>Discards the session's staged changes and ends it; returns how many there were.</summary>
    public int End(EditAccess access)
    {
        lock (_gate)
        {
            var session = Require(access);
            RefuseWhileCommitting(session);
            _live = null;
            return session.Commands.Count;
        }
    }

    /// <summary>
    /// Ends the live session without its token: <paramref name="owner"/>'s own (from another
    /// process), or, when <paramref name="mayEndAnothers"/> (an admin), whoever holds it.
    /// Its token then says who ended it.
    /// </summary>
    public EndedEditSession EndWithoutToken(string owner, string actor, bool mayEndAnothers)
    {
        lock (_gate)
        {
            var live = LiveLocked() ?? throw new CoreException(CoreErrorKind.FailedPrecondition, "there is no open edit session")
                { Reason = RouterHostsReasons.NoEditSession };
            var another = live.Owner != owner;
            if (another && !mayEndAnothers)
                throw new CoreException(CoreErrorKind.PermissionDenied,
                    $"the edit session is held by {live.Holder}; only its holder or an admin can end it");
            RefuseWhileCommitting(live);
            var info = live.Info;
            Remember(live.Token, $"the edit session was ended by {actor} at {clock.GetUtcNow():u}; its staged changes were discarded",
                RouterHostsReasons.EditSessionEnded);
            _live = null;
            return new EndedEditSession(info, another, info.StagedChanges);
        }
    }

    private static void RefuseWhileCommitting(Session session)
    {
        if (session.Committing)
            throw new CoreException(CoreErrorKind.FailedPrecondition, "the edit session is being committed and cannot be cancelled now")
            { Reason = RouterHostsReasons.EditSessionCommitting };
    }

    /// <summary>
    /// The live session, if <paramref name="access"/> may use it. Anyone but its owner is
    /// refused whatever token they present (checked before the token, so a guessed or
    /// stolen token tells them nothing).
    /// </summary>
    private Session Require(EditAccess access)
    {
        if (string.IsNullOrEmpty(access.Token))
            throw new CoreException(CoreErrorKind.InvalidArgument, "an edit token is required");
        var live = LiveLocked();
        // A token of a session that is over says so (to anyone: it opens nothing any more).
        foreach (var ended in _endedTokens)
        {
            if (ended.Token == access.Token)
                throw new CoreException(CoreErrorKind.FailedPrecondition, ended.Message) { Reason = ended.Reason };
        }
        if (live is not null && live.Owner != access.Owner)
            throw new CoreException(CoreErrorKind.PermissionDenied,
                $"the edit session is held by {live.Holder}; only the identity that started it can use it");
        if (live is null || !CryptographicOperations.FixedTimeEquals(
                System.Text.Encoding.UTF8.GetBytes(live.Token), System.Text.Encoding.UTF8.GetBytes(access.Token)))
            throw new CoreException(CoreErrorKind.FailedPrecondition, "unknown edit token") { Reason = RouterHostsReasons.UnknownEditToken };
        live.LastUsed = clock.GetUtcNow();
        return live;
    }

    private Session? LiveLocked()
    {
        if (_live is not null && clock.GetUtcNow() >= _live.ExpiresAt)
        {
            Remember(_live.Token, "edit session expired", RouterHostsReasons.EditSessionExpired);
            _live = null;
        }
        return _live;
    }

    private void Remember(string token, string message, string reason)
    {
        _endedTokens.Enqueue((token, message, reason));
        while (_endedTokens.Count > RememberedEndedTokens) _endedTokens.Dequeue();
    }

    private sealed record Session(string Token, string Owner, string Holder, DateTimeOffset StartedAt, TimeSpan Timeout, ChangeSet Staged)
    {
        public List<HostCommand> Commands { get; } = new();
        public bool Committing { get; set; }
        public DateTimeOffset LastUsed { get; set; }
        public DateTimeOffset ExpiresAt => LastUsed + Timeout;
        public EditSessionInfo Info => new(Holder, StartedAt, ExpiresAt, Commands.Count, Timeout);
    }
}
