using RouterHosts.Core.Hosts;
using RouterHosts.Core.Sessions;
using RouterHosts.Core.Writes;
using RouterHosts.Storage.Sqlite;
using static RouterHosts.Core.Tests.Hosts;

namespace RouterHosts.Core.Tests;

public sealed class EditSessionsTests : IDisposable
{
    private readonly TempDir _temp = new();
    private readonly SqliteHostStore _store;
    private readonly ManualClock _clock = new();
    private readonly EditSessions _sessions;

    public EditSessionsTests()
    {
        _store = new SqliteHostStore(_temp.File("hosts.db"));
        _sessions = new EditSessions(_store, _clock) { IdleTimeout = TimeSpan.FromMinutes(15) };
    }

    public void Dispose()
    {
        _store.Dispose();
        _temp.Dispose();
    }

    private HostEntry Committed(string ip, string hostname) => Commit(_store, _clock.GetUtcNow(), s => s.Add(new HostDraft(ip, hostname))).Result;

    private static AddHostCommand Add(string ip, string hostname) => new(new HostDraft(ip, hostname), Ulid.New(DateTimeOffset.UtcNow));

    private static CoreException Refused(CoreErrorKind kind, Action action)
    {
        var e = Assert.Throws<CoreException>(action);
        Assert.Equal(kind, e.Kind);
        return e;
    }

    [Fact]
    public void Only_one_session_is_live_and_a_second_start_names_the_holder()
    {
        var (token, info) = _sessions.Start("alice@laptop");
        Assert.False(string.IsNullOrEmpty(token.Token));
        Assert.Equal("alice@laptop", info.Holder);
        Assert.Equal(_clock.GetUtcNow() + TimeSpan.FromMinutes(15), info.ExpiresAt);

        var e = Refused(CoreErrorKind.FailedPrecondition, () => _sessions.Start("bob"));
        Assert.Contains("alice@laptop", e.Message);
        Assert.Equal("alice@laptop", _sessions.Current!.Holder);

        Assert.Equal(0, _sessions.End(token));
        Assert.Null(_sessions.Current);
        var (second, _) = _sessions.Start("bob");
        Assert.NotEqual(token, second);
    }

    [Fact]
    public void Unknown_and_missing_tokens_are_refused()
    {
        Assert.Equal("unknown edit token",
            Refused(CoreErrorKind.FailedPrecondition, () => _sessions.StageOne(new EditAccess("nope", "alice"), Add("10.0.0.1", "a"))).Message);
        var (token, _) = _sessions.Start("alice");
        Assert.Equal("unknown edit token",
            Refused(CoreErrorKind.FailedPrecondition, () => _sessions.View(token with { Token = token.Token + "x" })).Message);
        Refused(CoreErrorKind.InvalidArgument, () => _sessions.StagedCommands(new EditAccess("", "alice")));
        _sessions.End(token);
        Assert.Equal("unknown edit token",
            Refused(CoreErrorKind.FailedPrecondition, () => _sessions.StagedCommands(token)).Message);
    }

    [Fact]
    public void An_idle_session_expires_and_its_token_says_so()
    {
        var (token, _) = _sessions.Start("alice");
        _clock.Advance(TimeSpan.FromMinutes(10));
        _sessions.StageOne(token, Add("10.0.0.1", "a"));   // use slides the timeout
        _clock.Advance(TimeSpan.FromMinutes(10));
        Assert.Equal(1, _sessions.Current!.StagedChanges);  // 20 min after start, 10 after last use: alive

        _clock.Advance(TimeSpan.FromMinutes(5));
        Assert.Null(_sessions.Current);
        Assert.Equal("edit session expired",
            Refused(CoreErrorKind.FailedPrecondition, () => _sessions.StagedCommands(token)).Message);
        Assert.Equal("edit session expired",
            Refused(CoreErrorKind.FailedPrecondition, () => _sessions.StageOne(token, Add("10.0.0.2", "b"))).Message);

        // Someone else may start now; the old token stays expired.
        var (other, _) = _sessions.Start("bob");
        Assert.NotEqual(token, other);
        Assert.Equal("edit session expired",
            Refused(CoreErrorKind.FailedPrecondition, () => _sessions.End(token)).Message);
        Assert.Empty(_sessions.StagedCommands(other));
    }

    [Fact]
    public void Staging_validates_against_committed_plus_staged()
    {
        var committed = Committed("10.0.0.1", "web");
        var (token, _) = _sessions.Start("alice");

        Refused(CoreErrorKind.AlreadyExists, () => _sessions.StageOne(token, Add("10.0.0.1", "WEB")));
        var staged = _sessions.StageOne(token, Add("10.0.0.2", "db"));
        Refused(CoreErrorKind.AlreadyExists, () => _sessions.StageOne(token, Add("10.0.0.2", "db")));

        // A staged delete frees the key for a later staged add; a staged add can be updated with its version.
        _sessions.StageOne(token, new DeleteHostCommand(committed.Id, "1"));
        _sessions.StageOne(token, Add("10.0.0.1", "web"));
        var updated = _sessions.StageOne(token, new UpdateHostCommand(staged.Id, new HostPatch(Comment: "c"), "1"));
        Assert.Equal(2, updated.Version);
        Refused(CoreErrorKind.Conflict, () => _sessions.StageOne(token, new UpdateHostCommand(staged.Id, new HostPatch(Comment: "d"), "1")));
        Refused(CoreErrorKind.NotFound, () => _sessions.StageOne(token, new UpdateHostCommand(committed.Id, new HostPatch(Comment: "x"), null)));
        Refused(CoreErrorKind.InvalidArgument, () => _sessions.StageOne(token, Add("10.1", "bad")));

        Assert.Equal(4, _sessions.StagedCommands(token).Count);
        Assert.Equal(4, _sessions.Current!.StagedChanges);
        // The view: the committed entry is gone, the staged ones are there; storage is untouched.
        var view = _sessions.View(token);
        Assert.Null(view.Get(committed.Id));
        Assert.Equal("c", view.Get(staged.Id)!.Comment);
        Assert.Equal(["10.0.0.1 web", "10.0.0.2 db"],
            _sessions.StagedEntries(token).Order(HostQuery.Order).Select(e => $"{e.IpAddress} {e.Hostname}"));
        Assert.Equal([committed.Id], _store.StreamAll().Select(e => e.Id));
    }

    [Fact]
    public void A_failed_stage_stages_nothing()
    {
        var (token, _) = _sessions.Start("alice");
        _sessions.StageOne(token, Add("10.0.0.1", "a"));
        var before = _sessions.StagedEntries(token).Select(Describe).ToList();

        var good = Add("10.0.0.2", "b");
        Refused(CoreErrorKind.AlreadyExists, () => _sessions.Stage(token, [good, Add("10.0.0.3", "c"), Add("10.0.0.2", "B")]));

        Assert.Single(_sessions.StagedCommands(token));
        Assert.Equal(before, _sessions.StagedEntries(token).Select(Describe).ToList());
        Assert.Null(_sessions.View(token).Get(good.Id));
        // The same batch without the bad item goes in whole.
        Assert.Equal(2, _sessions.Stage(token, [good, Add("10.0.0.3", "c")]).Count);
        Assert.Equal(3, _sessions.StagedCommands(token).Count);
    }

    [Fact]
    public void Staging_beyond_the_cap_is_ResourceExhausted()
    {
        var (token, _) = _sessions.Start("alice");
        var tooMany = Enumerable.Range(0, EditSessions.MaxStagedChanges + 1)
            .Select(i => (HostCommand)new DeleteHostCommand("x" + i, null)).ToList();
        Refused(CoreErrorKind.ResourceExhausted, () => _sessions.Stage(token, tooMany));
        Assert.Empty(_sessions.StagedCommands(token));
    }

    [Fact]
    public void The_staged_view_follows_direct_commits()
    {
        var (token, _) = _sessions.Start("alice");
        var direct = Committed("10.0.0.9", "direct");
        Assert.Equal(direct.Id, _sessions.View(token).FindLive(new HostKey("10.0.0.9", "direct"))!.Id);
        Refused(CoreErrorKind.AlreadyExists, () => _sessions.StageOne(token, Add("10.0.0.9", "direct")));
    }

    [Fact]
    public void Only_the_owner_uses_the_session_whatever_token_another_holds()
    {
        var (alice, _) = _sessions.Start("CN=alice");
        var bob = alice with { Owner = "CN=bob" };
        Refused(CoreErrorKind.PermissionDenied, () => _sessions.StageOne(bob, Add("10.0.0.1", "a")));
        Refused(CoreErrorKind.PermissionDenied, () => _sessions.View(bob with { Token = "guessed" }));
        Refused(CoreErrorKind.PermissionDenied, () => _sessions.BeginCommit(bob));
        Refused(CoreErrorKind.PermissionDenied, () => _sessions.End(bob));
        Refused(CoreErrorKind.PermissionDenied, () => _sessions.EndWithoutToken("CN=bob", "CN=bob", mayEndAnothers: false));
        Assert.Empty(_sessions.StagedCommands(alice));
    }

    [Fact]
    public void The_owner_resumes_or_ends_its_session_without_the_token_and_an_admin_ends_anyones()
    {
        var (first, _) = _sessions.Start("CN=alice");
        _sessions.StageOne(first, Add("10.0.0.1", "a"));
        Refused(CoreErrorKind.FailedPrecondition, () => _sessions.Start("CN=bob", resume: true));
        var (resumed, info) = _sessions.Start("CN=alice", resume: true);
        Assert.Equal(first, resumed);
        Assert.Equal(1, info.StagedChanges);

        var ended = _sessions.EndWithoutToken("CN=ada", "CN=ada", mayEndAnothers: true);
        Assert.True(ended.HeldByAnother);
        Assert.Equal(1, ended.DiscardedChanges);
        var told = Refused(CoreErrorKind.FailedPrecondition, () => _sessions.View(first));
        Assert.Equal(RouterHostsReasons.EditSessionEnded, told.Reason);
        Assert.Contains("ended by CN=ada", told.Message);
    }

    [Fact]
    public void A_staged_update_or_delete_carries_the_version_it_was_staged_against()
    {
        var host = Committed("10.0.0.1", "pinned");
        var other = Committed("10.0.0.2", "pinned-too");
        var (token, _) = _sessions.Start("alice");
        _sessions.StageOne(token, new UpdateHostCommand(host.Id, new HostPatch(Comment: "one"), null));
        _sessions.StageOne(token, new UpdateHostCommand(host.Id, new HostPatch(Comment: "two"), null));
        _sessions.StageOne(token, new DeleteHostCommand(other.Id, null));
        Assert.Equal(["1", "2", "1"], _sessions.StagedCommands(token).Select(c => c switch
        {
            UpdateHostCommand u => u.ExpectedVersion,
            DeleteHostCommand d => d.ExpectedVersion,
            _ => null,
        }));
    }
}
