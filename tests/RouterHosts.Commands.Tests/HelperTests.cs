using System.Management.Automation;
using RouterHosts.Commands.Internal;

namespace RouterHosts.Commands.Tests;

public sealed class ListSplitterTests
{
    [Theory]
    [InlineData(new[] { "a;b" }, new[] { "a", "b" })]
    [InlineData(new[] { "a,b" }, new[] { "a", "b" })]
    [InlineData(new[] { "a", "b" }, new[] { "a", "b" })]
    [InlineData(new[] { " a ; b ,c" }, new[] { "a", "b", "c" })]
    [InlineData(new[] { "a;b", "c,d", "e" }, new[] { "a", "b", "c", "d", "e" })]
    [InlineData(new[] { "" }, new string[0])]
    [InlineData(new[] { " ; , " }, new string[0])]
    [InlineData(new string[0], new string[0])]
    public void Splits_strings_and_arrays_alike(string[] input, string[] expected) => Assert.Equal(expected, ListSplitter.Split(input));

    [Fact]
    public void Null_means_not_given_and_empty_means_clear()
    {
        Assert.Empty(ListSplitter.Split(null));
        Assert.Null(ListSplitter.SplitOrNull(null));
        Assert.Equal([], ListSplitter.SplitOrNull([])!);
        Assert.Equal([], ListSplitter.SplitOrNull([""])!);
        Assert.Equal(["x"], ListSplitter.SplitOrNull([null, "x"])!);
    }
}

public sealed class FormatInferenceTests
{
    [Theory]
    [InlineData("hosts.json", RouterHostsFormat.Json)]
    [InlineData("/tmp/Backup.JSON", RouterHostsFormat.Json)]
    [InlineData("hosts.csv", RouterHostsFormat.Csv)]
    [InlineData(@"C:\exports\lab.Csv", RouterHostsFormat.Csv)]
    [InlineData("/etc/hosts", RouterHostsFormat.Hosts)]
    [InlineData("router.hosts", RouterHostsFormat.Hosts)]
    [InlineData("hosts.txt", RouterHostsFormat.Hosts)]
    [InlineData("dnsmasq.conf", RouterHostsFormat.Hosts)]
    [InlineData("hosts.bak", RouterHostsFormat.Hosts)]
    [InlineData("hosts.orig", RouterHostsFormat.Hosts)]
    public void Infers_the_format_from_the_extension(string path, RouterHostsFormat expected) =>
        Assert.Equal(expected, FormatInference.FromPath(path));

    [Theory]
    [InlineData("hosts.xml")]
    [InlineData("data.bak")]
    [InlineData("archive.tar.gz")]
    [InlineData("/tmp/")]
    public void Unknown_extensions_infer_nothing(string path) => Assert.Null(FormatInference.FromPath(path));

    [Fact]
    public void Wire_names_are_what_the_agent_parses()
    {
        Assert.Equal("hosts", FormatInference.WireName(RouterHostsFormat.Hosts));
        Assert.Equal("json", FormatInference.WireName(RouterHostsFormat.Json));
        Assert.Equal("csv", FormatInference.WireName(RouterHostsFormat.Csv));
        Assert.Equal("skip", FormatInference.WireName(RouterHostsConflictMode.Skip));
        Assert.Equal("replace", FormatInference.WireName(RouterHostsConflictMode.Replace));
        Assert.Equal("strict", FormatInference.WireName(RouterHostsConflictMode.Strict));
    }
}

public sealed class ErrorMappingTests
{
    [Theory]
    [InlineData(RouterHostsErrorCode.NotFound, ErrorCategory.ObjectNotFound)]
    [InlineData(RouterHostsErrorCode.AlreadyExists, ErrorCategory.ResourceExists)]
    [InlineData(RouterHostsErrorCode.InvalidArgument, ErrorCategory.InvalidArgument)]
    [InlineData(RouterHostsErrorCode.FailedPrecondition, ErrorCategory.InvalidOperation)]
    [InlineData(RouterHostsErrorCode.Aborted, ErrorCategory.ResourceBusy)]
    [InlineData(RouterHostsErrorCode.PermissionDenied, ErrorCategory.PermissionDenied)]
    [InlineData(RouterHostsErrorCode.Unauthenticated, ErrorCategory.AuthenticationError)]
    [InlineData(RouterHostsErrorCode.Unavailable, ErrorCategory.ConnectionError)]
    [InlineData(RouterHostsErrorCode.DeadlineExceeded, ErrorCategory.OperationTimeout)]
    [InlineData(RouterHostsErrorCode.Cancelled, ErrorCategory.OperationStopped)]
    [InlineData(RouterHostsErrorCode.Unimplemented, ErrorCategory.NotImplemented)]
    [InlineData(RouterHostsErrorCode.ResourceExhausted, ErrorCategory.LimitsExceeded)]
    [InlineData(RouterHostsErrorCode.OutOfRange, ErrorCategory.InvalidArgument)]
    [InlineData(RouterHostsErrorCode.Internal, ErrorCategory.NotSpecified)]
    [InlineData(RouterHostsErrorCode.Unknown, ErrorCategory.NotSpecified)]
    public void Status_codes_map_to_the_guide_s_categories(RouterHostsErrorCode code, ErrorCategory expected) =>
        Assert.Equal(expected, ErrorMapping.CategoryOf(code));

    [Theory]
    [InlineData(RouterHostsErrorCode.NotFound, "host '01X' not found", "Host", "RouterHostNotFound")]
    [InlineData(RouterHostsErrorCode.NotFound, "snapshot '01X' not found", "Snapshot", "RouterHostsSnapshotNotFound")]
    [InlineData(RouterHostsErrorCode.AlreadyExists, "host 10.0.0.5 web01 already exists (id 01X)", "Host", "RouterHostAlreadyExists")]
    [InlineData(RouterHostsErrorCode.AlreadyExists, "strict import: 2 entries conflict; nothing was imported", "Import", "RouterHostsImportConflict")]
    [InlineData(RouterHostsErrorCode.InvalidArgument, "invalid ip_address 'x': not an IP address", "Host", "RouterHostsInvalidArgument")]
    [InlineData(RouterHostsErrorCode.InvalidArgument, "import rejected: 1 invalid line(s)", "Import", "RouterHostsImportInvalid")]
    [InlineData(RouterHostsErrorCode.InvalidArgument, "cannot load the CA certificate from /x", "Connection", "RouterHostsInvalidConnectionOptions")]
    [InlineData(RouterHostsErrorCode.Aborted, "version mismatch for host 01X: expected 1, current 2", "Host", "RouterHostsVersionConflict")]
    [InlineData(RouterHostsErrorCode.Aborted, "the edit session conflicts with changes made since it started (1)", "Edit", "RouterHostsEditConflict")]
    [InlineData(RouterHostsErrorCode.Aborted, "import conflicted with a concurrent change; nothing was imported", "Import", "RouterHostsImportConflict")]
    [InlineData(RouterHostsErrorCode.FailedPrecondition, "edit session expired", "Host", "RouterHostsEditExpired", "edit-session-expired")]
    [InlineData(RouterHostsErrorCode.FailedPrecondition, "unknown edit token", "Edit", "RouterHostsEditExpired", "unknown-edit-token")]
    [InlineData(RouterHostsErrorCode.FailedPrecondition, "this connection holds no edit session; start one with Start-RouterHostsEdit", "Edit", "RouterHostsNoEditSession", "no-edit-session")]
    [InlineData(RouterHostsErrorCode.FailedPrecondition, "an edit session is already open, held by admin until 2025-01-01", "Edit", "RouterHostsEditInProgress", "edit-session-held")]
    [InlineData(RouterHostsErrorCode.FailedPrecondition, "this connection already holds an edit session; complete or undo it first", "Edit", "RouterHostsEditInProgress", "edit-session-held")]
    [InlineData(RouterHostsErrorCode.FailedPrecondition, "something else", "Host", "RouterHostsInvalidOperation")]
    [InlineData(RouterHostsErrorCode.Unavailable, "cannot connect to 127.0.0.1:1: connection refused", "Host", "RouterHostsAgentUnreachable")]
    [InlineData(RouterHostsErrorCode.Unauthenticated, "TLS handshake with x failed", "Agent", "RouterHostsAuthenticationFailed")]
    [InlineData(RouterHostsErrorCode.PermissionDenied, "role reader may not write", "Host", "RouterHostsPermissionDenied")]
    [InlineData(RouterHostsErrorCode.DeadlineExceeded, "deadline", "Host", "RouterHostsTimeout")]
    [InlineData(RouterHostsErrorCode.Cancelled, "cancelled", "Host", "RouterHostsOperationCancelled")]
    [InlineData(RouterHostsErrorCode.Unimplemented, "unimplemented", "Agent", "RouterHostsNotImplemented")]
    [InlineData(RouterHostsErrorCode.ResourceExhausted, "an edit session holds at most 10000 staged changes", "Edit", "RouterHostsLimitExceeded")]
    [InlineData(RouterHostsErrorCode.Internal, "internal error in the agent; see its log", "Host", "RouterHostsAgentError")]
    [InlineData(RouterHostsErrorCode.DataLoss, "the database /x.db is corrupt", "Host", "RouterHostsDatabaseCorrupt")]
    public void Errors_get_stable_ids(RouterHostsErrorCode code, string message, string subject, string expectedId, string? reason = null)
    {
        // The message is what the agent says; only the code, the subject and the reason decide.
        _ = message;
        var kind = ErrorMapping.Classify(code, Enum.Parse<ErrorSubject>(subject), reason);
        Assert.Equal(expectedId, kind.ErrorId);
        Assert.Equal(ErrorMapping.CategoryOf(code), kind.Category);
    }

    [Theory]
    [InlineData("edit-session-expired", "RouterHostsEditExpired")]
    [InlineData("unknown-edit-token", "RouterHostsEditExpired")]
    [InlineData("no-edit-session", "RouterHostsNoEditSession")]
    [InlineData("edit-session-held", "RouterHostsEditInProgress")]
    [InlineData("edit-session-committing", "RouterHostsEditInProgress")]
    [InlineData("before-compaction-horizon", "RouterHostsBeforeCompactionHorizon")]
    public void The_agents_reason_decides_over_the_message(string reason, string expectedId)
    {
        // A reworded message must not change the id when the agent sends its reason.
        var kind = ErrorMapping.Classify(RouterHostsErrorCode.FailedPrecondition, ErrorSubject.Edit, reason);
        Assert.Equal(expectedId, kind.ErrorId);
        Assert.Equal(reason is "edit-session-expired" or "unknown-edit-token",
            ErrorMapping.IsEditSessionGone(RouterHostsErrorCode.FailedPrecondition, reason));
    }

    [Theory]
    [InlineData(RouterHostsErrorCode.Unavailable, true)]
    [InlineData(RouterHostsErrorCode.Unauthenticated, true)]
    [InlineData(RouterHostsErrorCode.PermissionDenied, true)]
    [InlineData(RouterHostsErrorCode.DeadlineExceeded, true)]
    [InlineData(RouterHostsErrorCode.NotFound, false)]
    [InlineData(RouterHostsErrorCode.AlreadyExists, false)]
    [InlineData(RouterHostsErrorCode.InvalidArgument, false)]
    [InlineData(RouterHostsErrorCode.Aborted, false)]
    [InlineData(RouterHostsErrorCode.FailedPrecondition, false)]
    [InlineData(RouterHostsErrorCode.DataLoss, true)]
    [InlineData(RouterHostsErrorCode.ResourceExhausted, false)]
    public void Only_failures_that_stop_everything_are_terminating(RouterHostsErrorCode code, bool terminating)
    {
        Assert.Equal(terminating, ErrorMapping.IsTerminating(code));
        Assert.Equal(terminating, ErrorMapping.Classify(code, ErrorSubject.Host).Terminating);
    }

    [Fact]
    public void No_space_is_told_apart_from_other_limits_by_the_agents_reason()
    {
        Assert.Equal("RouterHostsNoSpace", ErrorMapping.Classify(RouterHostsErrorCode.ResourceExhausted, ErrorSubject.Host, "no-space").ErrorId);
        Assert.Equal("RouterHostsLimitExceeded", ErrorMapping.Classify(RouterHostsErrorCode.ResourceExhausted, ErrorSubject.Host).ErrorId);
        Assert.NotNull(ErrorMapping.Advice("RouterHostsNoSpace", "x"));
        Assert.NotNull(ErrorMapping.Advice("RouterHostsDatabaseCorrupt", "x"));
    }

    [Fact]
    public void An_unreachable_agent_error_says_how_to_fix_it()
    {
        var advice = ErrorMapping.Advice(ErrorIds.AgentUnreachable, "router.lan:50051");
        Assert.NotNull(advice);
        Assert.Contains("router.lan:50051", advice);
        Assert.Contains("routerhosts-agent", advice);
        Assert.Contains("Connect-RouterHostsAgent", advice);
        Assert.Contains("Connect-RouterHostsAgent", ErrorMapping.Advice(ErrorIds.NotConnected, "x"));
        Assert.Contains("Start-RouterHostsEdit", ErrorMapping.Advice(ErrorIds.EditExpired, "x"));
        Assert.Contains("Undo-RouterHostsEdit", ErrorMapping.Advice(ErrorIds.EditConflict, "x"));
        Assert.Null(ErrorMapping.Advice(ErrorIds.HostNotFound, "x"));
    }

    [Fact]
    public void Details_are_listed_one_per_line_under_the_message()
    {
        var text = ErrorMapping.Describe("the edit session conflicts (2)", ["change 1 (add web01): exists", "change 2 (delete 01X): not found"]);
        var lines = text.Split(Environment.NewLine);
        Assert.Equal(["the edit session conflicts (2)", "  change 1 (add web01): exists", "  change 2 (delete 01X): not found"], lines);
        Assert.Equal("plain", ErrorMapping.Describe("plain", []));
        var many = ErrorMapping.Describe("m", Enumerable.Range(1, 60).Select(i => $"d{i}").ToList(), maxDetails: 50);
        Assert.EndsWith("... and 10 more", many);
    }

    [Fact]
    public void Only_gone_sessions_count_as_gone()
    {
        Assert.True(ErrorMapping.IsEditSessionGone(RouterHostsErrorCode.FailedPrecondition, "edit-session-expired"));
        Assert.True(ErrorMapping.IsEditSessionGone(RouterHostsErrorCode.FailedPrecondition, "unknown-edit-token"));
        Assert.True(ErrorMapping.IsEditSessionGone(RouterHostsErrorCode.FailedPrecondition, "edit-session-ended"));
        Assert.False(ErrorMapping.IsEditSessionGone(RouterHostsErrorCode.FailedPrecondition, "edit-session-held"));
        Assert.False(ErrorMapping.IsEditSessionGone(RouterHostsErrorCode.FailedPrecondition, null));
        Assert.False(ErrorMapping.IsEditSessionGone(RouterHostsErrorCode.InvalidArgument, "edit-session-expired"));
    }
}

public sealed class SnapshotDiffTests
{
    private static RouterHost Host(string id, string ip, string name, string? comment = null, string[]? tags = null, string[]? aliases = null) =>
        new() { Id = id, IPAddress = ip, Hostname = name, Comment = comment, Tags = tags ?? [], Aliases = aliases ?? [] };

    [Fact]
    public void Finds_what_a_restore_would_add_remove_and_change()
    {
        RouterHost[] current = [Host("1", "10.0.0.5", "web01", "new"), Host("2", "10.0.0.6", "db01"), Host("3", "10.0.0.7", "app01")];
        RouterHost[] snapshot = [Host("1", "10.0.0.5", "web01", "old"), Host("2", "10.0.0.6", "db01"), Host("4", "10.0.0.9", "old01")];
        var diff = SnapshotDiff.Compute(current, snapshot);
        Assert.Equal(["old01"], diff.Added.Select(h => h.Hostname));
        Assert.Equal(["app01"], diff.Removed.Select(h => h.Hostname));
        var change = Assert.Single(diff.Changed);
        Assert.Equal("web01", change.Current.Hostname);
        Assert.Equal(["Comment"], change.Fields);
        Assert.False(diff.IsEmpty);
    }

    [Fact]
    public void Identical_sets_mean_nothing_changes()
    {
        RouterHost[] hosts = [Host("1", "10.0.0.5", "web01", null, ["a"], ["www"])];
        RouterHost[] same = [Host("1", "10.0.0.5", "web01", "", ["a"], ["www"])];
        var diff = SnapshotDiff.Compute(hosts, same);
        Assert.True(diff.IsEmpty);
        Assert.Contains("nothing would change", diff.Describe());
    }

    [Fact]
    public void Every_field_is_compared()
    {
        var a = Host("1", "10.0.0.5", "web01", "c", ["t1"], ["a1"]);
        var b = Host("1", "10.0.0.6", "web02", "d", ["t2"], ["a2"]);
        Assert.Equal(["IPAddress", "Hostname", "Aliases", "Tags", "Comment"], SnapshotDiff.FieldsThatDiffer(a, b));
    }

    [Fact]
    public void The_description_lists_each_host_and_caps_long_lists()
    {
        var current = Enumerable.Range(0, 30).Select(i => Host($"c{i}", $"10.1.0.{i}", $"cur{i:00}")).ToList();
        RouterHost[] snapshot = [Host("s1", "10.2.0.1", "snap01"), Host("c0", "10.1.0.99", "cur00")];
        var text = SnapshotDiff.Compute(current, snapshot).Describe(maxLines: 5);
        var lines = text.Split(Environment.NewLine);
        Assert.Equal("would add 1, remove 29 and change 1 host(s)", lines[0]);
        Assert.Equal("  + snap01 (10.2.0.1)", lines[1]);
        Assert.Equal("  - cur01 (10.1.0.1)", lines[2]);
        Assert.Equal("  ... and 26 more", lines[^1]);
        Assert.Equal(7, lines.Length);
        var full = SnapshotDiff.Compute(current, snapshot).Describe(maxLines: 100);
        Assert.Contains("  ~ cur00 (10.1.0.0): IPAddress 10.1.0.0 -> 10.1.0.99", full);
    }
}

public sealed class WildcardsTests
{
    [Theory]
    [InlineData("web*", "web01", true)]
    [InlineData("WEB*", "web01", true)]
    [InlineData("web?1", "web01", true)]
    [InlineData("*01", "web01", true)]
    [InlineData("*", "", true)]
    [InlineData("w*b*1", "web01", true)]
    [InlineData("web", "web01", false)]
    [InlineData("db*", "web01", false)]
    [InlineData("web??", "web1", false)]
    [InlineData("", "", true)]
    [InlineData("", "x", false)]
    public void Star_and_question_mark_match_case_insensitively(string pattern, string value, bool expected) =>
        Assert.Equal(expected, Wildcards.IsMatch(pattern, value));

    [Theory]
    [InlineData("web*", true)]
    [InlineData("web?", true)]
    [InlineData("web01", false)]
    [InlineData("web[0-9]", false)]
    [InlineData(null, false)]
    public void Only_star_and_question_mark_are_wildcards(string? value, bool expected) => Assert.Equal(expected, Wildcards.HasWildcard(value));
}

public sealed class CompletionTests
{
    private static readonly CompletionCandidate[] Candidates =
    [
        new("web01", "10.0.0.5"), new("web02", "10.0.0.6"), new("db01", "10.0.0.7"), new("my host", "10.0.0.8"), new("-odd", "x"),
    ];

    [Fact]
    public void Completes_by_prefix_case_insensitively_in_order()
    {
        Assert.Equal(["web01", "web02"], CompletionMatcher.Match(Candidates, "WE").Select(i => i.CompletionText));
        Assert.Equal(5, CompletionMatcher.Match(Candidates, "").Count);
        Assert.Equal(5, CompletionMatcher.Match(Candidates, null).Count);
        Assert.Empty(CompletionMatcher.Match(Candidates, "zz"));
    }

    [Fact]
    public void Completes_wildcards_and_keeps_the_tooltip()
    {
        var item = Assert.Single(CompletionMatcher.Match(Candidates, "*b01"), i => i.ListItemText == "db01");
        Assert.Equal("10.0.0.7", item.ToolTip);
        Assert.Equal(2, CompletionMatcher.Match(Candidates, "*01").Count);
    }

    [Fact]
    public void Quotes_values_PowerShell_would_split_and_follows_an_opened_quote()
    {
        Assert.Equal("'my host'", CompletionMatcher.Match(Candidates, "my").Single().CompletionText);
        Assert.Equal("'-odd'", CompletionMatcher.Match(Candidates, "-").Single().CompletionText);
        Assert.Equal("'web01'", CompletionMatcher.Match(Candidates, "'web0").First().CompletionText);
        Assert.Equal("\"web01\"", CompletionMatcher.Match(Candidates, "\"web0").First().CompletionText);
        Assert.Equal("'it''s'", CompletionMatcher.Quote("it's"));
        Assert.Equal("\"a`$b\"", CompletionMatcher.Quote("a$b", '"'));
        Assert.Equal("plain", CompletionMatcher.Quote("plain"));
    }

    [Fact]
    public void Caps_the_number_of_results()
    {
        var many = Enumerable.Range(0, 500).Select(i => new CompletionCandidate($"h{i:000}", ""));
        Assert.Equal(CompletionMatcher.MaxResults, CompletionMatcher.Match(many, "h").Count);
    }

    [Fact]
    public void The_cache_learns_from_results_and_forgets_removed_entries()
    {
        var cache = new CompletionCache();
        cache.Observe(new RouterHost { Id = "01A", IPAddress = "10.0.0.5", Hostname = "web01", Aliases = ["www"], Tags = ["lab", "web"] });
        cache.Observe(new RouterHostsSnapshot { Id = "01S", Name = "before", Trigger = "manual", EntryCount = 3 });
        Assert.Equal(["01A"], cache.Candidates(CompletionKind.HostId).Select(c => c.Value));
        Assert.Equal("web01 (10.0.0.5)", cache.Candidates(CompletionKind.HostId).Single().ToolTip);
        Assert.Equal(["web01", "www"], cache.Candidates(CompletionKind.Hostname).Select(c => c.Value).Order());
        Assert.Equal(["lab", "web"], cache.Candidates(CompletionKind.Tag).Select(c => c.Value).Order());
        Assert.Equal(["01S"], cache.Candidates(CompletionKind.SnapshotId).Select(c => c.Value));
        cache.ForgetHost("01A");
        cache.ForgetSnapshot("01S");
        Assert.Empty(cache.Candidates(CompletionKind.HostId));
        Assert.Empty(cache.Candidates(CompletionKind.SnapshotId));
    }

    [Fact]
    public async Task A_stale_cache_refreshes_in_the_background_without_blocking_the_caller()
    {
        var now = DateTimeOffset.UtcNow;
        var cache = new CompletionCache(() => now) { MaxAge = TimeSpan.FromSeconds(30), FetchTimeout = TimeSpan.FromSeconds(5) };
        var release = new TaskCompletionSource();
        var calls = 0;
        Task<(IReadOnlyList<RouterHost>, IReadOnlyList<RouterHostsSnapshot>)> Fetch(CancellationToken ct)
        {
            Interlocked.Increment(ref calls);
            return release.Task.ContinueWith(_ => ((IReadOnlyList<RouterHost>)[new RouterHost { Id = "01B", Hostname = "db01", IPAddress = "10.0.0.6" }],
                (IReadOnlyList<RouterHostsSnapshot>)[]), ct);
        }

        Assert.True(cache.IsStale);
        cache.RefreshIfStale(Fetch); // returns at once although the fetch is still pending
        Assert.True(cache.IsRefreshing);
        cache.RefreshIfStale(Fetch); // one refresh at a time
        Assert.Empty(cache.Candidates(CompletionKind.HostId));
        release.SetResult();
        await cache.LastRefresh;
        Assert.Equal(1, calls);
        Assert.False(cache.IsRefreshing);
        Assert.Equal(["01B"], cache.Candidates(CompletionKind.HostId).Select(c => c.Value));
        Assert.False(cache.IsStale);
        cache.RefreshIfStale(Fetch); // fresh: no call
        Assert.Equal(1, calls);
        now += TimeSpan.FromSeconds(31);
        Assert.True(cache.IsStale);
        cache.Invalidate();
        Assert.True(cache.IsStale);
    }

    [Fact]
    public async Task A_failing_or_slow_refresh_keeps_what_was_cached()
    {
        var cache = new CompletionCache { FetchTimeout = TimeSpan.FromMilliseconds(50) };
        cache.Observe(new RouterHost { Id = "01A", Hostname = "web01", IPAddress = "10.0.0.5" });
        cache.RefreshIfStale(async ct =>
        {
            await Task.Delay(Timeout.Infinite, ct); // the agent never answers
            return ([], []);
        });
        await cache.LastRefresh;
        Assert.Equal(["01A"], cache.Candidates(CompletionKind.HostId).Select(c => c.Value));
        Assert.False(cache.IsRefreshing);
    }
}
