using System.Text.Json;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>
/// Issue 15: what users coming from router-hosts meet, seen by a client of another
/// implementation (python grpcio, stubs generated from our proto) calling the real agent.
/// </summary>
public sealed class UpstreamInteropTests(SharedAgent shared) : IClassFixture<SharedAgent>
{
    private JsonElement Run(string scenario) => PythonPeer.RunClient(shared.Agent.Endpoint, shared.Agent.PkiDirectory, scenario);

    private static string? Text(JsonElement e, string name) => e.GetProperty(name).ValueKind == JsonValueKind.Null ? null : e.GetProperty(name).GetString();
    private static string[] List(JsonElement e, string name) => e.GetProperty(name).EnumerateArray().Select(x => x.GetString()!).ToArray();

    [Fact]
    public void A_hosts_file_in_router_hosts_layout_imports_every_tag_alias_and_comment_and_exports_the_same_layout()
    {
        var r = Run("upstream-hosts-file");
        Assert.Equal(4, r.GetProperty("created").GetInt32());
        var entries = r.GetProperty("entries").EnumerateArray().ToList();
        Assert.Equal(["nas.lan", "iot.lan", "db.lan", "bare.lan"], entries.Select(e => e.GetProperty("hostname").GetString()));
        Assert.Equal(["192.168.77.10", "192.168.77.11", "192.168.77.12", "192.168.77.13"], entries.Select(e => e.GetProperty("ip").GetString()));
        Assert.Equal(["files.lan"], List(entries[0], "aliases"));
        Assert.Equal(["homelab", "storage"], List(entries[0], "tags"));
        Assert.Equal("the nas", Text(entries[0], "comment"));
        Assert.Empty(List(entries[1], "aliases"));
        Assert.Equal(["iot", "homelab"], List(entries[1], "tags"));
        Assert.Null(Text(entries[1], "comment"));
        Assert.Empty(List(entries[2], "tags"));
        Assert.Equal("Database server", Text(entries[2], "comment"));
        Assert.Empty(List(entries[3], "tags"));
        Assert.Empty(List(entries[3], "aliases"));
        Assert.Null(Text(entries[3], "comment"));
        // Exported (and written to the hosts file) in router-hosts' layout again, byte for byte.
        Assert.Equal(
        [
            "192.168.77.10\tnas.lan files.lan\t# the nas [homelab, storage]",
            "192.168.77.11\tiot.lan\t# [iot, homelab]",
            "192.168.77.12\tdb.lan\t# Database server",
            "192.168.77.13\tbare.lan",
        ], List(r, "exported"));
        var file = File.ReadAllLines(shared.Agent.HostsFilePath).Where(l => l.StartsWith("192.168.77.")).ToList();
        Assert.Equal(List(r, "exported"), file);
    }

    [Fact]
    public void A_malformed_id_is_INVALID_ARGUMENT_naming_it_on_every_call_taking_an_id()
    {
        var r = Run("malformed-ids");
        foreach (var call in new[] { "GetHost", "UpdateHost", "DeleteHost", "GetHostHistory", "GetSnapshot", "DeleteSnapshot", "RollbackToSnapshot", "CompactAggregates" })
        {
            var result = r.GetProperty(call);
            Assert.True("INVALID_ARGUMENT" == result.GetProperty("code").GetString(), $"{call}: {result}");
            Assert.Contains("'not-a-ulid'", result.GetProperty("details").GetString());
        }
        Assert.Equal("NOT_FOUND", r.GetProperty("GetHost-well-formed").GetProperty("code").GetString());
    }

    [Fact]
    public void Imports_are_all_or_nothing_unless_skip_invalid_asks_for_router_hosts_behaviour()
    {
        var r = Run("skip-invalid");
        Assert.Equal("INVALID_ARGUMENT", r.GetProperty("default").GetProperty("code").GetString());
        Assert.Empty(List(r, "after_default"));

        var skip = r.GetProperty("skip");
        Assert.Equal(2, skip.GetProperty("processed").GetInt32());
        Assert.Equal(2, skip.GetProperty("created").GetInt32());
        Assert.Equal(2, skip.GetProperty("failed").GetInt32());
        var errors = List(skip, "validation_errors");
        Assert.Equal(2, errors.Length);
        Assert.StartsWith("line 2: '10.78.0.2' has no hostname", errors[0]);
        Assert.StartsWith("line 3: invalid ip_address 'not-an-ip'", errors[1]);
        Assert.Equal(["skip-ok1", "skip-ok2"], List(r, "after_skip"));
    }

    [Fact]
    public void Compaction_folds_a_hosts_history_into_a_baseline_and_refuses_as_of_reads_before_its_horizon()
    {
        var r = Run("compaction");
        Assert.Equal("two", r.GetProperty("as_of_before").GetString());

        var dry = r.GetProperty("dry");
        Assert.True(dry.GetProperty("dry_run").GetBoolean());
        var planned = Assert.Single(dry.GetProperty("hosts").EnumerateArray());
        Assert.Equal((3, 1, 3), (planned.GetProperty("before").GetInt64(), planned.GetProperty("after").GetInt64(), planned.GetProperty("version").GetInt64()));
        Assert.Equal(2, dry.GetProperty("reclaimed").GetInt64());
        Assert.Equal(["created", "updated", "updated"], List(r, "history_after_dry"));

        var real = r.GetProperty("real");
        Assert.False(real.GetProperty("dry_run").GetBoolean());
        Assert.Equal(2, real.GetProperty("reclaimed").GetInt64());
        var horizon = real.GetProperty("horizon").GetString()!;
        var baseline = Assert.Single(r.GetProperty("history").EnumerateArray());
        Assert.Equal("baseline", baseline.GetProperty("type").GetString());
        Assert.Equal("3", baseline.GetProperty("version").GetString());
        Assert.Equal(3, baseline.GetProperty("folded").GetInt64());
        Assert.Equal("three", baseline.GetProperty("comment").GetString());
        Assert.Equal(horizon, baseline.GetProperty("horizon").GetString());

        var refused = r.GetProperty("as_of_after");
        Assert.Equal("FAILED_PRECONDITION", refused.GetProperty("code").GetString());
        Assert.Equal("before-compaction-horizon", refused.GetProperty("reason").GetString());
        Assert.Contains("compaction horizon " + DateTimeOffset.Parse(horizon).UtcDateTime.ToString("O"), refused.GetProperty("details").GetString());
        Assert.Equal("three", r.GetProperty("live").GetString());

        var overOne = r.GetProperty("threshold").GetProperty("hosts").EnumerateArray().Select(h => h.GetProperty("id").GetString()).ToList();
        Assert.DoesNotContain(planned.GetProperty("id").GetString(), overOne); // it has one event now
        Assert.NotEmpty(overOne);
        Assert.Empty(r.GetProperty("before_1970").GetProperty("hosts").EnumerateArray());
        Assert.Equal("INVALID_ARGUMENT", r.GetProperty("future").GetProperty("code").GetString());
        Assert.Contains("future", r.GetProperty("future").GetProperty("details").GetString());
        Assert.Equal("INVALID_ARGUMENT", r.GetProperty("no_target").GetProperty("code").GetString());
    }

    [Fact]
    public void Health_says_acme_disabled_sinks_may_report_any_change_id_and_lists_come_in_one_stable_documented_order()
    {
        var r = Run("small-wire");
        Assert.False(r.GetProperty("acme").GetProperty("enabled").GetBoolean());
        Assert.Equal("disabled", r.GetProperty("acme").GetProperty("status").GetString());
        Assert.Equal("complete", r.GetProperty("watch_complete").GetString());
        // IP numerically (IPv4 before IPv6), then hostname, whatever the order of adding.
        string[] expected = ["10.80.0.1 order-z", "10.80.0.2 order-a", "10.80.0.2 order-b", "10.80.0.10 order-a", "fd00::80 order-c"];
        Assert.Equal(expected, List(r, "order"));
        Assert.Equal(expected, List(r, "order_again"));
        Assert.Equal(["order-a", "order-b"], List(r, "order_paged"));
    }
}
