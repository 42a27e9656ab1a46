using System.Diagnostics;
using RouterHosts.Client;
using RouterHosts.Commands.Internal;

namespace RouterHosts.Commands.Tests;

/// <summary>The sync planner (pure): exact plans, scope, prune, idempotence, and bad lists refused whole.</summary>
public sealed class SyncPlannerTests
{
    private static int _ids;

    private static RouterHost Current(string ip, string name, string[]? tags = null, string? comment = null, string[]? aliases = null) => new()
    {
        Id = $"01JB{Interlocked.Increment(ref _ids):D22}", IPAddress = ip, Hostname = name, Tags = tags ?? [], Comment = comment,
        Aliases = aliases ?? [], Version = "3",
    };

    private static RouterHostsDesiredHost Want(int row, string ip, string name, string[]? tags = null, string? comment = null,
        string[]? aliases = null, string? id = null) => new()
    {
        Row = row, IPAddress = ip, Hostname = name, Tags = tags ?? [], Comment = comment, Aliases = aliases ?? [], Id = id,
    };

    private static string[] Lines(RouterHostsSyncPlan plan) => plan.Changes.Select(c => c.ToString()).ToArray();

    [Fact]
    public void The_plan_adds_changes_and_with_prune_removes_exactly_what_differs_removals_first()
    {
        var web = Current("10.0.0.5", "web01", comment: "old");
        var same = Current("10.0.0.6", "same01");
        var gone = Current("10.0.0.9", "gone01");
        var desired = new[]
        {
            Want(1, "10.0.0.5", "web01", comment: "new", tags: ["a"]), Want(2, "10.0.0.6", "same01"), Want(3, "10.0.0.7", "db01", aliases: ["db"]),
        };

        var plan = SyncPlanner.Plan(desired, [web, same, gone], scopeTag: null, prune: true);

        Assert.Equal(
        [
            "- gone01 (10.0.0.9)",
            "~ web01 (10.0.0.5): Tags [] -> [a]; Comment 'old' -> 'new'",
            "+ db01 (10.0.0.7)",
        ], Lines(plan));
        Assert.Equal(1, plan.Unchanged);
        var update = plan.Changes[1];
        Assert.Equal((web.Id, 1), (update.Id, update.Row));
        Assert.Equal(["Tags", "Comment"], update.Fields);
        Assert.Equal(web.Version, update.Current!.Version);
        Assert.Equal(["db"], plan.Changes[2].Desired!.Aliases);
        Assert.Equal(0, plan.Changes[0].Row);
    }

    [Fact]
    public void Without_prune_hosts_missing_from_the_list_stay()
    {
        var plan = SyncPlanner.Plan([Want(1, "10.0.0.1", "a01")], [Current("10.0.0.1", "a01"), Current("10.0.0.2", "b01")], null, prune: false);
        Assert.True(plan.IsEmpty);
        Assert.Equal("already in sync: 1 host(s) match; nothing would change", plan.Describe());
    }

    [Fact]
    public void The_plan_of_what_it_planned_is_empty_keys_matching_as_the_agent_keeps_them()
    {
        // IPv6 in another spelling and the hostname in another case are the same key; the scope tag is added once.
        var current = new[] { Current("2001:db8::1", "web01", tags: ["lab", "x"]), Current("10.0.0.1", "a01", tags: ["lab"]) };
        var desired = new[] { Want(1, "2001:DB8:0::1", "web01", tags: ["LAB", "x", "X"]), Want(2, "::ffff:10.0.0.1", "a01") };
        var plan = SyncPlanner.Plan(desired, current, "lab", prune: true);
        Assert.Equal(["~ web01 (2001:db8::1): Tags [lab, x] -> [LAB, x]"], Lines(plan));
        var applied = new[] { current[0].Updated(plan.Changes[0].Desired!), current[1] };
        Assert.True(SyncPlanner.Plan(desired, applied, "lab", prune: true).IsEmpty);
    }

    [Fact]
    public void A_tag_scopes_what_is_compared_and_pruned_and_every_desired_host_gets_the_tag()
    {
        var lab = Current("10.0.0.1", "lab01", tags: ["lab"]);
        var prod = Current("10.0.0.2", "prod01", tags: ["prod"]);
        var plan = SyncPlanner.Plan([Want(1, "10.0.0.3", "lab02", tags: ["web"])], [lab, prod], "lab", prune: true);
        Assert.Equal(["- lab01 (10.0.0.1)", "+ lab02 (10.0.0.3)"], Lines(plan));
        Assert.Equal(["web", "lab"], plan.Changes[1].Desired!.Tags);
    }

    [Fact]
    public void A_desired_host_that_exists_outside_the_scope_is_refused_not_taken_over()
    {
        var prod = Current("10.0.0.2", "prod01", tags: ["prod"]);
        var e = Assert.Throws<RouterHostsException>(() => SyncPlanner.Plan([Want(4, "10.0.0.2", "PROD01")], [prod], "lab", prune: true));
        Assert.Equal(RouterHostsErrorCode.InvalidArgument, e.Code);
        Assert.Contains("row 4: 10.0.0.2 prod01 exists outside the scope of tag 'lab'", Assert.Single(e.Details));
    }

    [Fact]
    public void An_id_names_the_host_so_its_address_and_name_can_change_and_an_unknown_id_falls_back_to_the_key()
    {
        var web = Current("10.0.0.5", "web01");
        var plan = SyncPlanner.Plan([Want(1, "10.0.0.50", "web01", id: web.Id), Want(2, "10.0.0.6", "new01", id: "01JBZZZZZZZZZZZZZZZZZZZZZZ")],
            [web], null, prune: true);
        Assert.Equal(["~ web01 (10.0.0.5): IPAddress 10.0.0.5 -> 10.0.0.50", "+ new01 (10.0.0.6)"], Lines(plan));
    }

    [Fact]
    public void A_bad_list_is_refused_whole_naming_every_bad_row()
    {
        var desired = new[]
        {
            Want(2, "10.0.0.1", "ok01"),
            Want(3, "10.0.0.999", "bad01"),
            Want(4, "10.0.0.2", "bad_name"),
            Want(5, "10.0.0.1", "OK01"),
            Want(6, "", "noip"),
            Want(7, "10.0.0.3", "al01", aliases: ["al01"]),
            Want(8, "10.0.0.4/24", "cidr01"),
            Want(9, "10.0.0.5", "id01", id: "not-an-id"),
        };
        var e = Assert.Throws<RouterHostsException>(() => SyncPlanner.Plan(desired, [], null, prune: true, rowWord: "line"));
        Assert.Equal("the desired list was refused: 7 bad line(s); nothing was changed", e.Message);
        Assert.Equal(
        [
            "line 3: invalid IP address '10.0.0.999'",
            "line 4: invalid hostname 'bad_name': labels are 1-63 letters, digits or '-', not starting or ending with '-'",
            "line 5: 10.0.0.1 OK01 repeats line 2",
            "line 6: an IP address is required",
            "line 7: alias 'al01' repeats the hostname",
            "line 8: invalid IP address '10.0.0.4/24': CIDR notation is not an address",
            "line 9: invalid id 'not-an-id': not a host id (a ULID)",
        ], e.Details);
    }

    [Fact]
    public void A_repeated_id_is_refused()
    {
        var web = Current("10.0.0.5", "web01");
        var e = Assert.Throws<RouterHostsException>(() =>
            SyncPlanner.Plan([Want(1, "10.0.0.5", "web01", id: web.Id), Want(2, "10.0.0.6", "web02", id: web.Id)], [web], null, false));
        Assert.Equal([$"row 2: id {web.Id} repeats row 1"], e.Details);
    }

    [Fact]
    public void The_description_lists_adds_removals_and_changes_like_restore_and_says_how_many_more()
    {
        var current = Enumerable.Range(1, 60).Select(i => Current($"10.1.0.{i}", $"h{i:D2}")).ToList();
        var plan = SyncPlanner.Plan([Want(1, "10.2.0.1", "new01")], current, null, prune: true);
        var lines = plan.Describe(maxLines: 3).Split(Environment.NewLine);
        Assert.Equal("would add 1, remove 60 and change 0 host(s); 0 unchanged", lines[0]);
        Assert.Equal(["  + new01 (10.2.0.1)", "  - h01 (10.1.0.1)", "  - h02 (10.1.0.2)", "  ... and 58 more (Compare-RouterHost lists them all)"], lines[1..]);
    }

    [Fact]
    public void Ten_thousand_against_ten_thousand_plans_every_change()
    {
        // Correctness at size; how long planning takes is measured by bench/ (--sync), not here.
        var current = Enumerable.Range(0, 10_000).Select(i => Current($"10.{i / 256}.{i % 256}.1", $"h{i}", tags: ["lab"])).ToList();
        var desired = Enumerable.Range(0, 10_000).Select(i => Want(i + 1, $"10.{i / 256}.{i % 256}.1", $"h{i}", comment: i % 10 == 0 ? "x" : null)).ToList();
        var plan = SyncPlanner.Plan(desired, current, "lab", prune: true);
        Assert.Equal((1000, 9000), (plan.Count(RouterHostsSyncAction.Update), plan.Unchanged));
    }
}

internal static class RouterHostCopy
{
    /// <summary>The current host after an update to <paramref name="desired"/> (what the agent would store).</summary>
    public static RouterHost Updated(this RouterHost current, RouterHost desired) => new()
    {
        Id = current.Id, Version = current.Version, IPAddress = desired.IPAddress, Hostname = desired.Hostname, Tags = desired.Tags,
        Aliases = desired.Aliases, Comment = desired.Comment,
    };
}

public sealed class CsvRowsTests
{
    [Fact]
    public void Records_keep_the_line_they_start_on_through_blank_lines_and_quoted_line_breaks()
    {
        var text = "ip_address,hostname,comment\n10.0.0.1,a01,\"one\"\n\n10.0.0.2,b01,\"two\nlines, \"\"quoted\"\"\"\n10.0.0.3,c01\n";
        var rows = CsvRows.Read(new StringReader(text));
        Assert.Equal([2, 4, 6], rows.Select(r => r.Line));
        Assert.Equal("two\nlines, \"quoted\"", rows[1].Fields["COMMENT"]);
        Assert.False(rows[2].Fields.ContainsKey("comment"));
        Assert.Equal("c01", rows[2].Fields["hostname"]);
    }
}
