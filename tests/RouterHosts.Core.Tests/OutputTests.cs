using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using RouterHosts.Core.Hooks;
using RouterHosts.Core.Hosts;
using RouterHosts.Core.HostsFile;
using RouterHosts.Core.Outputs;
using RouterHosts.Core.Writes;
using RouterHosts.Storage.Sqlite;
using static RouterHosts.Core.Tests.Hosts;

namespace RouterHosts.Core.Tests;

public sealed class OutputRendererTests
{
    private static readonly HostEntry[] Entries =
    [
        Entry("01A", "10.0.0.1", "web.lan", "front", ["prod"], ["www.lan", "Web.lan"]),
        Entry("01B", "10.0.0.1", "other.lan"),
        Entry("01C", "0.0.0.0", "ads.example"),
        Entry("01D", "fd00::5", "web.lan"),
    ];

    private static string Render(OutputFormat format, params HostEntry[] entries) =>
        Encoding.UTF8.GetString(OutputRenderer.Render(format, entries).Content);

    [Fact]
    public void Unbound_gets_A_and_AAAA_for_each_name_and_one_PTR_per_address_none_for_a_blocked_name()
    {
        Assert.Equal(
            $"# {OutputRenderer.Notice}\nserver:\n" +
            "\tlocal-data: \"web.lan. A 10.0.0.1\"\n" +
            "\tlocal-data: \"www.lan. A 10.0.0.1\"\n" +
            "\tlocal-data-ptr: \"10.0.0.1 web.lan.\"\n" +
            "\tlocal-data: \"other.lan. A 10.0.0.1\"\n" +
            "\tlocal-data: \"ads.example. A 0.0.0.0\"\n" +
            "\tlocal-data: \"web.lan. AAAA fd00::5\"\n" +
            "\tlocal-data-ptr: \"fd00::5 web.lan.\"\n",
            Render(OutputFormat.Unbound, Entries));
    }

    [Fact]
    public void Dnsmasq_gets_one_host_record_per_name_and_address()
    {
        Assert.Equal(
            $"# {OutputRenderer.Notice}\n" +
            "host-record=web.lan,10.0.0.1\nhost-record=www.lan,10.0.0.1\nhost-record=other.lan,10.0.0.1\n" +
            "host-record=ads.example,0.0.0.0\nhost-record=web.lan,fd00::5\n",
            Render(OutputFormat.Dnsmasq, Entries));
    }

    [Fact]
    public void Hosts_gets_the_agents_block_as_in_the_hosts_file()
    {
        Assert.Equal(HostsFileRenderer.RenderBlock(Entries), Render(OutputFormat.Hosts, Entries));
    }

    [Theory]
    [InlineData(OutputFormat.Hosts)]
    [InlineData(OutputFormat.Dnsmasq)]
    [InlineData(OutputFormat.Unbound)]
    public void A_name_the_format_cannot_carry_is_left_out_and_named_and_the_rest_of_the_entry_stays(OutputFormat format)
    {
        // The agent's validator refuses such names; an older database or import may still hold one.
        var entry = Entry("01E", "10.0.0.9", "bad\"name.lan", aliases: ["good.lan", "under_score.lan"]);
        var rendered = OutputRenderer.Render(format, [entry]);
        var text = Encoding.UTF8.GetString(rendered.Content);
        Assert.Contains("good.lan", text);
        Assert.DoesNotContain("bad", text);
        Assert.DoesNotContain("under_score", text);
        Assert.Equal(2, rendered.Refused.Count);
        Assert.StartsWith("10.0.0.9 bad\"name.lan (host 01E): label 'bad\"name'", rendered.Refused[0]);
        Assert.StartsWith("10.0.0.9 under_score.lan (host 01E)", rendered.Refused[1]);
        Assert.Equal(1, rendered.Entries);
    }

    [Fact]
    public void An_entry_with_no_name_left_is_not_written_at_all()
    {
        var rendered = OutputRenderer.Render(OutputFormat.Dnsmasq, [Entry("01F", "10.0.0.9", "a..b")]);
        Assert.Equal((0, 1), (rendered.Entries, rendered.Refused.Count));
        Assert.DoesNotContain("host-record", Encoding.UTF8.GetString(rendered.Content));
    }

    [Fact]
    public void Unknown_formats_are_named()
    {
        var e = Assert.Throws<ArgumentException>(() => OutputRenderer.Parse("bind"));
        Assert.Equal("'bind' is not an output format (use hosts, dnsmasq or unbound)", e.Message);
    }
}

/// <summary>The outputs following a real SQLite store through the real writer, into real files, with real hook processes.</summary>
public sealed class OutputSetTests : IAsyncLifetime
{
    private readonly string _dir = Directory.CreateTempSubdirectory("routerhosts-outputs-").FullName;
    private SqliteHostStore _store = null!;
    private HookRunner _fileHooks = null!;
    private HostsFileSync _hostsFile = null!;
    private ChangeFeed _feed = null!;
    private HostWriter _writer = null!;

    public Task InitializeAsync()
    {
        _store = new SqliteHostStore(Path.Combine(_dir, "hosts.db"));
        _fileHooks = new HookRunner(HookSet.None, NullLogger.Instance);
        _hostsFile = new HostsFileSync(Path.Combine(_dir, "hosts"), HostsFileMode.Block, _store, _fileHooks, NullLogger.Instance);
        _feed = new ChangeFeed();
        _writer = new HostWriter(_store, _hostsFile, _feed, TimeProvider.System);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _fileHooks.DisposeAsync();
        _hostsFile.Dispose();
        _store.Dispose();
        Directory.Delete(_dir, true);
    }

    private Task<(HostEntry, WriteOutcome)> Add(string ip, string name, params string[] aliases) =>
        _writer.WriteAsync("test", set => set.Add(new HostDraft(ip, name, Aliases: aliases), Ulid.New(DateTimeOffset.UtcNow), idIsNew: true),
            CancellationToken.None);

    private static async Task<OutputState> WaitFor(OutputSet outputs, int index, Func<OutputState, bool> condition)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var state = outputs.States[index];
            if (condition(state)) return state;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"output state not reached: {state}");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task Each_output_follows_the_commits_is_written_only_when_its_bytes_change_and_runs_its_own_hooks()
    {
        var unbound = Path.Combine(_dir, "unbound.conf");
        var dnsmasq = Path.Combine(_dir, "dnsmasq.conf");
        var log = Path.Combine(_dir, "hook.log");
        HookSet Hook(string name) => new([new HookDefinition(name,
            $"echo \"{name} $ROUTER_HOSTS_EVENT $ROUTER_HOSTS_ENTRY_COUNT $ROUTER_HOSTS_HOSTS_FILE\" >> {log}", TimeSpan.FromSeconds(10))], []);
        await using var outputs = new OutputSet(
            [new OutputDefinition(unbound, OutputFormat.Unbound, Hook("u")), new OutputDefinition(dnsmasq, OutputFormat.Dnsmasq, Hook("d"))],
            _store, _feed, NullLogger.Instance);
        outputs.Start();
        // Each step waits for its hooks' lines: a trigger arriving while a hook runs coalesces with the next.
        await WaitForLines(log, 2);

        var (_, outcome) = await Add("10.1.0.1", "web.lan", "www.lan");
        await WaitFor(outputs, 0, s => s.RenderedChangeId == outcome.ChangeId);
        var state = await WaitFor(outputs, 1, s => s.RenderedChangeId == outcome.ChangeId);
        await WaitForLines(log, 4);
        Assert.Contains("\tlocal-data: \"www.lan. A 10.1.0.1\"\n", await File.ReadAllTextAsync(unbound));
        Assert.Contains("host-record=web.lan,10.1.0.1\n", await File.ReadAllTextAsync(dnsmasq));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
            File.GetUnixFileMode(unbound));

        // A pass that changes no byte (nothing committed) writes nothing and runs no hook.
        var written = File.GetLastWriteTimeUtc(unbound);
        var renders = outputs.Renders;
        outputs.Recheck();
        while (outputs.Renders == renders) await Task.Delay(20);
        Assert.Equal(written, File.GetLastWriteTimeUtc(unbound));

        // Changed by hand: the next pass puts it back and tells the hooks.
        await File.WriteAllTextAsync(unbound, "server:\n");
        outputs.Recheck();
        await WaitFor(outputs, 0, _ => File.ReadAllText(unbound).Contains("www.lan"));

        var lines = await WaitForLines(log, 5);
        Assert.Contains($"u success 0 {unbound}", lines);
        Assert.Contains($"d success 0 {dnsmasq}", lines);
        Assert.Contains($"u success 1 {unbound}", lines);
        Assert.Contains($"d success 1 {dnsmasq}", lines);
        Assert.Equal(3, lines.Count(l => l.StartsWith("u ")));
        Assert.Equal(2, lines.Count(l => l.StartsWith("d ")));
        Assert.Null(state.LastError);
    }

    private static async Task<string[]> WaitForLines(string path, int count)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        while (true)
        {
            var lines = File.Exists(path) ? await File.ReadAllLinesAsync(path) : [];
            if (lines.Length >= count) return lines;
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"{path}: {lines.Length} of {count} lines");
            await Task.Delay(20);
        }
    }

    [Fact]
    public async Task An_output_that_cannot_be_written_is_reported_its_failure_hook_runs_and_it_catches_up_once_it_can()
    {
        var missing = Path.Combine(_dir, "not-yet");
        var path = Path.Combine(missing, "hosts.conf");
        await using var outputs = new OutputSet(
            [new OutputDefinition(path, OutputFormat.Unbound,
                new HookSet([], [new HookDefinition("alarm", $"printf '%s' \"$ROUTER_HOSTS_ERROR\" > {_dir}/failure", TimeSpan.FromSeconds(10))]))],
            _store, _feed, NullLogger.Instance);
        outputs.Start();
        var failed = await WaitFor(outputs, 0, s => s.LastError is not null);
        Assert.False(failed.Current);
        Assert.Contains("not-yet", failed.LastError);
        await WaitForLines(Path.Combine(_dir, "failure"), 1);
        Assert.Contains("not-yet", await File.ReadAllTextAsync(Path.Combine(_dir, "failure")));

        Directory.CreateDirectory(missing);
        var (_, outcome) = await Add("10.2.0.1", "late.lan");
        await WaitFor(outputs, 0, s => s.Current && s.RenderedChangeId == outcome.ChangeId);
        Assert.Contains("late.lan. A 10.2.0.1", await File.ReadAllTextAsync(path));
    }
}
