using RouterHosts.Client;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>The client library through the real agent: host operations, errors, queries, history.</summary>
public sealed class ClientHostsTests(SharedAgent shared) : IClassFixture<SharedAgent>
{
    private RouterHostsClient Client() => shared.Agent.Connect();

    private static RouterHostInput Host(string ip, string name, string? comment = null, string[]? tags = null, string[]? aliases = null) =>
        new() { IPAddress = ip, Hostname = name, Comment = comment, Tags = tags ?? [], Aliases = aliases ?? [] };

    [Fact]
    public async Task Update_keeps_absent_fields_clears_empty_lists_and_bumps_the_version()
    {
        using var client = Client();
        var added = await client.AddHostAsync(Host("10.1.0.1", "upd01", "first", ["a", "b"], ["upd01-alias"]));
        var renamed = await client.UpdateHostAsync(added.Id, new RouterHostUpdate { Hostname = "upd01-new" });
        Assert.Equal(("upd01-new", "10.1.0.1", "first", "2"), (renamed.Hostname, renamed.IPAddress, renamed.Comment, renamed.Version));
        Assert.Equal(["a", "b"], renamed.Tags);
        var cleared = await client.UpdateHostAsync(added.Id, new RouterHostUpdate { Tags = [], Aliases = [], Comment = "" }, expectedVersion: "2");
        Assert.Empty(cleared.Tags);
        Assert.Empty(cleared.Aliases);
        Assert.Null(cleared.Comment);
        Assert.Equal("3", cleared.Version);
    }

    [Fact]
    public async Task A_stale_expected_version_is_aborted_and_changes_nothing()
    {
        using var client = Client();
        var added = await client.AddHostAsync(Host("10.1.0.2", "ver01"));
        await client.UpdateHostAsync(added.Id, new RouterHostUpdate { Comment = "by someone else" });
        var error = await Assert.ThrowsAsync<RouterHostsException>(() =>
            client.UpdateHostAsync(added.Id, new RouterHostUpdate { Comment = "mine" }, expectedVersion: "1"));
        Assert.Equal(RouterHostsErrorCode.Aborted, error.Code);
        Assert.Contains("expected 1, current 2", error.Message);
        var deleteError = await Assert.ThrowsAsync<RouterHostsException>(() => client.RemoveHostAsync(added.Id, expectedVersion: "1"));
        Assert.Equal(RouterHostsErrorCode.Aborted, deleteError.Code);
        Assert.Equal("by someone else", (await client.GetHostAsync(added.Id)).Comment);
    }

    [Fact]
    public async Task Duplicates_are_refused_on_add_and_on_update()
    {
        using var client = Client();
        var first = await client.AddHostAsync(Host("10.1.0.3", "dup01"));
        var again = await Assert.ThrowsAsync<RouterHostsException>(() => client.AddHostAsync(Host("10.1.0.3", "DUP01")));
        Assert.Equal(RouterHostsErrorCode.AlreadyExists, again.Code);
        Assert.Contains(first.Id, again.Message);
        var other = await client.AddHostAsync(Host("10.1.0.4", "dup01"));
        var clash = await Assert.ThrowsAsync<RouterHostsException>(() => client.UpdateHostAsync(other.Id, new RouterHostUpdate { IPAddress = "10.1.0.3" }));
        Assert.Equal(RouterHostsErrorCode.AlreadyExists, clash.Code);
    }

    [Fact]
    public async Task Delete_is_a_tombstone_get_then_says_not_found()
    {
        using var client = Client();
        var added = await client.AddHostAsync(Host("10.1.0.5", "del01"));
        await client.RemoveHostAsync(added.Id);
        var error = await Assert.ThrowsAsync<RouterHostsException>(() => client.GetHostAsync(added.Id));
        Assert.Equal(RouterHostsErrorCode.NotFound, error.Code);
        var again = await Assert.ThrowsAsync<RouterHostsException>(() => client.RemoveHostAsync(added.Id));
        Assert.Equal(RouterHostsErrorCode.NotFound, again.Code);
        var history = await client.GetHostHistoryAsync(added.Id).ToListAsync();
        Assert.Equal(["created", "deleted"], history.Select(h => h.EventType));
        Assert.DoesNotContain("del01", await File.ReadAllTextAsync(shared.Agent.HostsFilePath));
    }

    [Theory]
    [InlineData("10.1.1.1", "evil\n10.6.6.6 injected", null, "hostname")]
    [InlineData("10.1.1.1", "okname", "line\n10.6.6.6 injected", "comment")]
    [InlineData("10.1.1.1", "okname", "nul\0byte", "comment")]
    [InlineData("10.1.1.1", "-bad", null, "hostname")]
    [InlineData("10.1.1.1/24", "okname", null, "ip_address")]
    [InlineData("fe80::1%eth0", "okname", null, "ip_address")]
    [InlineData("10.1", "okname", null, "ip_address")]
    public async Task Invalid_input_is_refused_with_the_field_and_value_named_and_the_file_untouched(string ip, string name, string? comment, string field)
    {
        using var client = Client();
        var before = await File.ReadAllBytesAsync(shared.Agent.HostsFilePath);
        var error = await Assert.ThrowsAsync<RouterHostsException>(() => client.AddHostAsync(Host(ip, name, comment)));
        Assert.Equal(RouterHostsErrorCode.InvalidArgument, error.Code);
        Assert.StartsWith($"invalid {field} '", error.Message);
        Assert.DoesNotContain("\n", error.Message);
        Assert.Equal(before, await File.ReadAllBytesAsync(shared.Agent.HostsFilePath));
    }

    [Fact]
    public async Task Injection_through_tags_and_aliases_is_refused_too()
    {
        using var client = Client();
        var tag = await Assert.ThrowsAsync<RouterHostsException>(() => client.AddHostAsync(Host("10.1.1.2", "inj01", tags: ["x\r\ny"])));
        Assert.StartsWith("invalid tag", tag.Message);
        var alias = await Assert.ThrowsAsync<RouterHostsException>(() => client.AddHostAsync(Host("10.1.1.2", "inj01", aliases: ["a\nb"])));
        Assert.StartsWith("invalid alias", alias.Message);
    }

    [Fact]
    public async Task IPv6_is_stored_canonically()
    {
        using var client = Client();
        var added = await client.AddHostAsync(Host("2001:DB8:0:0:0:0:0:10", "v6canon"));
        Assert.Equal("2001:db8::10", added.IPAddress);
    }

    [Fact]
    public async Task List_honours_filters_order_limit_and_offset_and_search_covers_aliases()
    {
        using var client = Client();
        await client.AddHostAsync(Host("10.2.0.10", "q-web10", tags: ["qlab"]));
        await client.AddHostAsync(Host("10.2.0.9", "q-web9", tags: ["qlab"], aliases: ["q-printer"]));
        await client.AddHostAsync(Host("fd00::2", "q-v6", tags: ["qlab"]));
        await client.AddHostAsync(Host("10.2.0.11", "q-db", tags: ["qprod"], comment: "Primary DATABASE"));

        var lab = await client.ListHostsAsync(new RouterHostsQuery { Tag = "QLAB" }).Select(h => h.Hostname).ToListAsync();
        Assert.Equal(["q-web9", "q-web10", "q-v6"], lab); // numeric IP order, IPv4 before IPv6
        var page = await client.ListHostsAsync(new RouterHostsQuery { Tag = "qlab", Skip = 1, First = 1 }).Select(h => h.Hostname).ToListAsync();
        Assert.Equal(["q-web10"], page);
        var pattern = await client.ListHostsAsync(new RouterHostsQuery { HostnamePattern = "q-web?" }).Select(h => h.Hostname).ToListAsync();
        Assert.Equal(["q-web9"], pattern);
        var byIp = await client.ListHostsAsync(new RouterHostsQuery { IPAddress = "fd00:0::2" }).Select(h => h.Hostname).ToListAsync();
        Assert.Equal(["q-v6"], byIp);
        Assert.Equal(["q-web9"], await client.SearchHostsAsync("PRINTER").Select(h => h.Hostname).ToListAsync());
        Assert.Equal(["q-db"], await client.SearchHostsAsync("database").Select(h => h.Hostname).ToListAsync());
    }

    [Fact]
    public async Task History_records_every_event_with_actor_and_as_of_reads_the_past()
    {
        using var client = Client();
        var added = await client.AddHostAsync(Host("10.3.0.1", "hist01", "v1"));
        await Task.Delay(20);
        var between = DateTimeOffset.UtcNow;
        await Task.Delay(20);
        await client.UpdateHostAsync(added.Id, new RouterHostUpdate { Comment = "v2" });
        var history = await client.GetHostHistoryAsync(added.Id).ToListAsync();
        Assert.Equal(["created", "updated"], history.Select(h => h.EventType));
        Assert.Equal(["1", "2"], history.Select(h => h.Version));
        Assert.All(history, h => Assert.Equal("CN=routerhosts-dev-client, OU=admin", h.Actor));
        Assert.Equal("v1", (await client.GetHostAsync(added.Id, asOf: between)).Comment);
        var pastList = await client.ListHostsAsync(new RouterHostsQuery { HostnamePattern = "hist01", AsOf = between }).ToListAsync();
        Assert.Equal("v1", Assert.Single(pastList).Comment);
        var beforeCreation = await Assert.ThrowsAsync<RouterHostsException>(() => client.GetHostAsync(added.Id, asOf: between.AddMinutes(-10)));
        Assert.Equal(RouterHostsErrorCode.NotFound, beforeCreation.Code);
    }

    [Fact]
    public async Task Bulk_add_gives_one_result_per_item_and_bad_items_do_not_stop_the_rest()
    {
        using var client = Client();
        var inputs = Enumerable.Range(0, 2500).Select(i => i == 700
            ? Host("not-an-ip", "bulk-bad")
            : Host($"10.4.{i / 250}.{i % 250 + 1}", $"bulk{i:D4}")).ToList();
        inputs.Add(Host("10.4.0.1", "bulk0000")); // duplicate of the first
        var results = await client.BulkAddAsync(inputs.ToAsyncEnumerable()).ToListAsync();
        Assert.Equal(Enumerable.Range(0, inputs.Count), results.Select(r => r.Index));
        Assert.Equal(RouterHostsErrorCode.InvalidArgument, results[700].Error!.Code);
        Assert.Equal(RouterHostsErrorCode.AlreadyExists, results[^1].Error!.Code);
        Assert.Equal(inputs.Count - 2, results.Count(r => r.Succeeded));
        Assert.Equal(inputs.Count - 2, await client.ListHostsAsync(new RouterHostsQuery { HostnamePattern = "bulk*" }).CountAsync());
        var file = await File.ReadAllTextAsync(shared.Agent.HostsFilePath);
        Assert.Contains("10.4.9.250\tbulk2499", file);
    }

    [Fact]
    public async Task Health_reports_the_database_hosts_file_and_counts()
    {
        using var client = Client();
        var status = await client.GetAgentStatusAsync();
        Assert.True(status.Healthy);
        Assert.Equal("sqlite", status.DatabaseBackend);
        Assert.True(status.HostsFileCurrent);
        Assert.Equal(shared.Agent.HostsFilePath, status.HostsFilePath);
        Assert.Equal(await client.ListHostsAsync().CountAsync(), status.HostCount);
        Assert.True((await client.TestAsync()).Ready);
    }

    [Fact]
    public async Task A_watcher_sees_the_full_set_then_a_change()
    {
        using var client = Client();
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await using var changes = client.WatchAsync(follow: true, cts.Token).GetAsyncEnumerator(cts.Token);
        Assert.True(await changes.MoveNextAsync());
        var initial = changes.Current;
        Assert.DoesNotContain(initial.Hosts, h => h.Hostname == "watched01");
        await client.AddHostAsync(Host("10.5.0.1", "watched01"));
        Assert.True(await changes.MoveNextAsync());
        Assert.Contains(changes.Current.Hosts, h => h.Hostname == "watched01");
        Assert.True(long.Parse(changes.Current.ChangeId) > long.Parse(initial.ChangeId));
        cts.Cancel();
    }

    [Fact]
    public async Task Calls_after_a_finished_watch_on_the_same_connection_get_their_own_answers()
    {
        // A one-shot watch ends while its request stream is still open. Kestrel then reuses the
        // finished HTTP/2 stream for the next call on the connection; a read the watch left pending
        // took that call's request, and the call failed with UNKNOWN "Exception was thrown by handler".
        using var client = Client();
        await client.AddHostAsync(Host("10.5.1.1", "after-watch"));
        for (var i = 0; i < 100; i++)
        {
            // One watch that ends by itself, one that the client leaves after the first set.
            var set = await client.WatchAsync(follow: false).SingleAsync();
            Assert.Contains(set.Hosts, h => h.Hostname == "after-watch");
            Assert.Contains((await client.WatchAsync(follow: true).FirstAsync()).Hosts, h => h.Hostname == "after-watch");
            var listed = await client.ListHostsAsync(new RouterHostsQuery { HostnamePattern = "after-watch" }).ToListAsync();
            Assert.Equal("10.5.1.1", Assert.Single(listed).IPAddress);
            Assert.True((await client.TestAsync()).Ready);
        }
    }
}
