using System.Security.Cryptography;
using RouterHosts.Core.Hosts;
using RouterHosts.Core.Storage;
using RouterHosts.Core.Writes;

namespace RouterHosts.Core.Sessions;

/// <param name="Agent">With a shared database: the agent the session was started through (and is used through).</param>
public sealed record EditSessionInfo(
    string Holder, DateTimeOffset StartedAt, DateTimeOffset ExpiresAt, int StagedChanges, TimeSpan IdleTimeout, string? Agent = null);

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
/// With <paramref name="shared"/> (agents sharing one database) there is one live session per
/// database: it holds the database's slot, so a start through any other agent is refused naming
/// this one (<paramref name="agent"/>), and any agent shows it; its staged changes stay here, so it
/// is used and committed through this agent, and may be ended (by its owner or an admin) through any.
/// </summary>
public sealed class EditSessions(IHostProjection store, TimeProvider clock, ISharedEditSessions? shared = null, string agent = "")
{
    /// <summary>How often using a session tells the shared database (and checks it was not ended elsewhere); commit and cancel always check.</summary>
    public static readonly TimeSpan ConfirmInterval = TimeSpan.FromSeconds(1);

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
            var live = LiveLocked(strict: true);
            var elsewhere = live is null ? ElsewhereLocked() : null;
            if (resume)
            {
                if (elsewhere is not null && elsewhere.Owner == owner)
                    throw new CoreException(CoreErrorKind.FailedPrecondition,
                        $"your edit session is open on agent {elsewhere.Agent}; resume, commit or cancel it through that agent")
                    { Reason = RouterHostsReasons.EditSessionHeld };
                if (live is null || live.Owner != owner)
                    throw new CoreException(CoreErrorKind.FailedPrecondition, (live ?? (object?)elsewhere) is null
                        ? "there is no edit session to resume; start one"
                        : $"there is no edit session of yours to resume; the open one is held by {live?.Holder ?? elsewhere!.Holder}")
                    { Reason = RouterHostsReasons.NoEditSession };
                live.LastUsed = clock.GetUtcNow();
                return (new EditAccess(live.Token, owner), live.Info);
            }
            if (live is not null)
                throw new CoreException(CoreErrorKind.FailedPrecondition, live.Owner == owner
                    ? $"an edit session is already open, held by {live.Holder} (you) since {live.StartedAt:u} with {live.Commands.Count} staged change(s); resume it or discard it"
                    : $"an edit session is already open, held by {live.Holder} until {live.ExpiresAt:u} unless used")
                { Reason = RouterHostsReasons.EditSessionHeld };
            if (elsewhere is not null) throw HeldElsewhere(elsewhere, owner);
            var token = NewSecret();
            var now = clock.GetUtcNow();
            var session = new Session(token, NewSecret(), owner, holder ?? owner, now, IdleTimeout, new ChangeSet(store, now))
                { LastUsed = now, Confirmed = now, Agent = shared is null ? null : agent };
            if (shared?.TryClaim(new SharedEditSession(session.Id, owner, session.Holder, agent, now, now, IdleTimeout, 0)) is { } holderRow)
                throw HeldElsewhere(holderRow, owner); // another agent's start won the race
            _live = session;
            return (new EditAccess(token, owner), _live.Info);
        }
    }

    private static string NewSecret() =>
        Convert.ToBase64String(RandomNumberGenerator.GetBytes(32)).TrimEnd('=').Replace('+', '-').Replace('/', '_');

    private static CoreException HeldElsewhere(SharedEditSession s, string owner) => new(CoreErrorKind.FailedPrecondition, s.Owner == owner
        ? $"an edit session is already open on agent {s.Agent}, held by {s.Holder} (you) since {s.StartedAt:u} with {s.StagedChanges} staged change(s); resume or discard it through that agent"
        : $"an edit session is already open on agent {s.Agent}, held by {s.Holder} until {s.ExpiresAt:u} unless used")
        { Reason = RouterHostsReasons.EditSessionHeld };

    private static EditSessionInfo InfoOf(SharedEditSession s) => new(s.Holder, s.StartedAt, s.ExpiresAt, s.StagedChanges, s.IdleTimeout, s.Agent);

    /// <summary>
    /// The live session's description (with a shared database, whichever agent holds it), or null when
    /// there is none. While the shared database cannot be reached, only this agent's own session shows.
    /// </summary>
    public EditSessionInfo? Current
    {
        get
        {
            lock (_gate)
            {
                try { return LiveLocked(strict: true)?.Info ?? (ElsewhereLocked() is { } elsewhere ? InfoOf(elsewhere) : null); }
                catch (CoreException e) when (e.Kind == CoreErrorKind.Unavailable) { return _live?.Info; }
            }
        }
    }

    /// <summary>
    /// Validates <paramref name="commands"/> against the staged view and stages them, all or none.
    /// Each is pinned to the version of the host it changes as the session sees it now, so that a
    /// commit finds any change made to that host meanwhile (compare-on-revision).
    /// </summary>
    public IReadOnlyList<HostEntry> Stage(EditAccess access, IReadOnlyList<HostCommand> commands)
    {
        lock (_gate)
        {
            var session = Require(access, strict: false); // the database is told after staging
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
            // Agents sharing the database show the staged count; a session ended there meanwhile is over here too.
            if (shared is not null && LiveLocked(use: true, strict: true) is null)
                throw new CoreException(CoreErrorKind.FailedPrecondition, "the edit session was ended elsewhere; nothing was staged")
                { Reason = RouterHostsReasons.EditSessionEnded };
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
            if (_live is not null && _live.Token == access.Token) ReleaseLocked("committed");
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
            ReleaseLocked("cancelled");
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
            var live = LiveLocked(strict: true);
            var endedBy = $"{actor} at {clock.GetUtcNow():u}";
            if (live is null && ElsewhereLocked() is { } elsewhere)
            {
                // Started through another agent: its slot is ended here, and that agent drops the staged changes on its next look.
                var elsewhereAnother = elsewhere.Owner != owner;
                if (elsewhereAnother && !mayEndAnothers)
                    throw new CoreException(CoreErrorKind.PermissionDenied,
                        $"the edit session is held by {elsewhere.Holder}; only its holder or an admin can end it");
                if (shared!.End(elsewhere.SessionId, endedBy))
                    return new EndedEditSession(InfoOf(elsewhere), elsewhereAnother, elsewhere.StagedChanges);
            }
            if (live is null)
                throw new CoreException(CoreErrorKind.FailedPrecondition, "there is no open edit session") { Reason = RouterHostsReasons.NoEditSession };
            var another = live.Owner != owner;
            if (another && !mayEndAnothers)
                throw new CoreException(CoreErrorKind.PermissionDenied,
                    $"the edit session is held by {live.Holder}; only its holder or an admin can end it");
            RefuseWhileCommitting(live);
            var info = live.Info;
            Remember(live.Token, EndedMessage(endedBy), RouterHostsReasons.EditSessionEnded);
            ReleaseLocked(endedBy);
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
    /// <param name="strict">With a shared database, ask it now whether the session still holds its slot (else at most every <see cref="ConfirmInterval"/>).</param>
    private Session Require(EditAccess access, bool strict = true)
    {
        if (string.IsNullOrEmpty(access.Token))
            throw new CoreException(CoreErrorKind.InvalidArgument, "an edit token is required");
        var live = LiveLocked(use: true, strict: strict);
        // A token of a session that is over says so (to anyone: it opens nothing any more).
        foreach (var ended in _endedTokens)
        {
            if (ended.Token == access.Token)
                throw new CoreException(CoreErrorKind.FailedPrecondition, ended.Message) { Reason = ended.Reason };
        }
        if (live is not null && live.Owner != access.Owner)
            throw new CoreException(CoreErrorKind.PermissionDenied,
                $"the edit session is held by {live.Holder}; only the identity that started it can use it");
        if (live is null && ElsewhereLocked() is { } elsewhere)
        {
            if (elsewhere.Owner != access.Owner)
                throw new CoreException(CoreErrorKind.PermissionDenied,
                    $"the edit session is held by {elsewhere.Holder}; only the identity that started it can use it");
            throw new CoreException(CoreErrorKind.FailedPrecondition,
                $"the edit session is open on agent {elsewhere.Agent}; stage, commit or cancel it through that agent")
            { Reason = RouterHostsReasons.EditSessionHeld };
        }
        if (live is null || !CryptographicOperations.FixedTimeEquals(
                System.Text.Encoding.UTF8.GetBytes(live.Token), System.Text.Encoding.UTF8.GetBytes(access.Token)))
            throw new CoreException(CoreErrorKind.FailedPrecondition, "unknown edit token") { Reason = RouterHostsReasons.UnknownEditToken };
        live.LastUsed = clock.GetUtcNow();
        return live;
    }

    /// <summary>
    /// This agent's session, unless it is over: idle past its timeout, or, with a shared database,
    /// ended (through another agent) or expired there. The database is asked at most every
    /// <see cref="ConfirmInterval"/> unless <paramref name="strict"/>; <paramref name="use"/> also marks it used there.
    /// </summary>
    private Session? LiveLocked(bool use = false, bool strict = false)
    {
        var now = clock.GetUtcNow();
        if (_live is not null && now >= _live.ExpiresAt)
        {
            Remember(_live.Token, "edit session expired", RouterHostsReasons.EditSessionExpired);
            ReleaseLocked("expired");
        }
        if (_live is not null && shared is not null && (strict || now - _live.Confirmed >= ConfirmInterval))
        {
            var held = use ? shared.Touch(_live.Id, _live.Commands.Count) : shared.Read() is { IsLive: true } slot && slot.SessionId == _live.Id;
            if (held) _live.Confirmed = now;
            else
            {
                var row = shared.Read();
                if (row is not null && row.SessionId == _live.Id && row.EndedBy is { } by)
                    Remember(_live.Token, EndedMessage(by), RouterHostsReasons.EditSessionEnded);
                else Remember(_live.Token, "edit session expired", RouterHostsReasons.EditSessionExpired);
                _live = null;
            }
        }
        return _live;
    }

    /// <summary>With a shared database: its live session when this agent does not hold it (started through another agent).</summary>
    private SharedEditSession? ElsewhereLocked() =>
        shared?.Read() is { IsLive: true } row && row.SessionId != _live?.Id ? row : null;

    /// <summary>Ends this agent's session, giving up the shared slot (best effort: unreachable, it idles out there).</summary>
    private void ReleaseLocked(string why)
    {
        if (_live is null) return;
        var id = _live.Id;
        _live = null;
        try { shared?.End(id, why); }
        catch (CoreException e) when (e.Kind == CoreErrorKind.Unavailable) { }
    }

    /// <summary>Gives up this agent's session (the agent is stopping; its staged changes go with it).</summary>
    public void Abandon(string why)
    {
        lock (_gate) ReleaseLocked(why);
    }

    private static string EndedMessage(string endedBy) => $"the edit session was ended by {endedBy}; its staged changes were discarded";

    private void Remember(string token, string message, string reason)
    {
        _endedTokens.Enqueue((token, message, reason));
        while (_endedTokens.Count > RememberedEndedTokens) _endedTokens.Dequeue();
    }

    /// <param name="Id">Names the session in a shared database (the token never leaves this agent).</param>
    private sealed record Session(string Token, string Id, string Owner, string Holder, DateTimeOffset StartedAt, TimeSpan Timeout, ChangeSet Staged)
    {
        public List<HostCommand> Commands { get; } = new();
        public bool Committing { get; set; }
        public DateTimeOffset LastUsed { get; set; }
        /// <summary>When the shared database last confirmed this session holds its slot.</summary>
        public DateTimeOffset Confirmed { get; set; }
        public string? Agent { get; init; }
        public DateTimeOffset ExpiresAt => LastUsed + Timeout;
        public EditSessionInfo Info => new(Holder, StartedAt, ExpiresAt, Commands.Count, Timeout, Agent);
    }
}
