using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using RouterHosts.Core.Hooks;
using RouterHosts.Core.Hosts;
using RouterHosts.Core.HostsFile;
using RouterHosts.Core.Storage;
using RouterHosts.Storage.Sqlite;
using static RouterHosts.Core.Tests.Hosts;

namespace RouterHosts.Core.Tests;

public sealed class HostsFileRendererTests
{
    private const string Begin = HostsFileRenderer.BeginMarker;
    private const string End = HostsFileRenderer.EndMarker;

    private static readonly HostEntry Web = Entry("01A", "10.0.0.1", "web", "front", ["prod", "web"], ["www", "w"]);
    private static readonly HostEntry Db = Entry("01B", "10.0.0.2", "db");

    private static string Block(params HostEntry[] entries) => HostsFileRenderer.RenderBlock(entries);

    [Fact]
    public void Lines_are_ip_tab_hostname_aliases_then_comment_and_tags_as_router_hosts_writes_them()
    {
        Assert.Equal(
            $"{Begin}\n{HostsFileRenderer.ManagedNotice}\n" +
            "10.0.0.1\tweb www w\t# front [prod, web]\n" +
            "10.0.0.2\tdb\n" +
            "10.0.0.3\tc\t# only comment\n" +
            "10.0.0.4\tt\t# [x]\n" +
            "10.0.0.5\tb\t# [bracketed] comment []\n" +
            $"{End}\n",
            Block(Web, Db, Entry("01C", "10.0.0.3", "c", "only comment"), Entry("01D", "10.0.0.4", "t", tags: ["x"]),
                Entry("01E", "10.0.0.5", "b", "[bracketed] comment")));
        Assert.Equal($"{Begin}\n{HostsFileRenderer.ManagedNotice}\n{End}\n", Block());
    }

    private static string Text(RenderedLines lines) => Encoding.UTF8.GetString(Chunks.Concat(lines.Snapshot().Chunks));

    /// <summary>The block rendered from scratch, in file order (IP numerically, then hostname, then id).</summary>
    private static string FromScratch(IEnumerable<HostEntry> live) =>
        Block(live.OrderBy(e => e, Comparer<HostEntry>.Create((a, b) =>
        {
            var byIp = HostValidator.CompareIp(a.IpAddress, b.IpAddress);
            if (byIp != 0) return byIp;
            var byName = string.CompareOrdinal(a.Hostname.ToLowerInvariant(), b.Hostname.ToLowerInvariant());
            return byName != 0 ? byName : string.CompareOrdinal(a.Id, b.Id);
        })).ToArray());

    [Fact]
    public void The_segmented_block_after_random_adds_updates_and_deletes_is_the_block_rendered_from_scratch()
    {
        var random = new Random(16);
        var live = new Dictionary<string, HostEntry>();
        var lines = new RenderedLines();
        var initial = Enumerable.Range(0, 700).Select(i => Entry($"00{i:D5}", $"10.{i % 3}.{i % 256}.{random.Next(1, 255)}", $"h{random.Next(1000)}")).ToList();
        foreach (var e in initial) live[e.Id] = e;
        lines.Load(initial, 1);
        Assert.Equal(FromScratch(live.Values), Text(lines));
        var next = 0;
        // Batches big enough to split segments (more than 2 x SegmentLines into one place) and to empty them.
        for (var round = 0; round < 60; round++)
        {
            var events = new List<PendingEvent>();
            for (var n = random.Next(1, round % 10 == 0 ? 900 : 40); n > 0; n--)
            {
                var pick = random.Next(10);
                if (pick < 5 || live.Count == 0)
                {
                    // Many in one /24 so that they crowd one segment; some IPv6, some non-ASCII comments, some upper case.
                    var ip = random.Next(4) == 0 ? $"fd00::{random.Next(1, 9999):x}" : $"10.{(random.Next(3) == 0 ? 9 : random.Next(3))}.{random.Next(256)}.{random.Next(1, 255)}";
                    var e = Entry($"01{next++:D6}", ip, $"{(random.Next(5) == 0 ? "Host" : "host")}{random.Next(500)}", random.Next(3) == 0 ? "café ☕" : null);
                    live[e.Id] = e;
                    events.Add(new PendingEvent(HostEventType.Created, e));
                }
                else if (pick < 8)
                {
                    var old = live.Values.ElementAt(random.Next(live.Count));
                    var updated = random.Next(2) == 0 ? old with { Comment = $"edited {round}" } : old with { IpAddress = $"10.5.{random.Next(256)}.{random.Next(1, 255)}" };
                    live[old.Id] = updated;
                    events.Add(new PendingEvent(HostEventType.Updated, updated));
                }
                else
                {
                    var gone = live.Values.ElementAt(random.Next(live.Count));
                    live.Remove(gone.Id);
                    events.Add(new PendingEvent(HostEventType.Deleted, gone));
                }
            }
            var before = lines.Snapshot();
            var beforeText = Encoding.UTF8.GetString(Chunks.Concat(before.Chunks));
            lines.Apply(events, round + 2);
            var after = lines.Snapshot();
            Assert.Equal(FromScratch(live.Values), Encoding.UTF8.GetString(Chunks.Concat(after.Chunks)));
            Assert.Equal((live.Count, round + 2L), (after.Count, after.ChangeId));
            Assert.NotEqual(before.Version, after.Version);
            // A snapshot taken before is not changed by later changes (its buffers are never written again).
            Assert.Equal(beforeText, Encoding.UTF8.GetString(Chunks.Concat(before.Chunks)));
        }
        foreach (var e in live.Values.ToList()) lines.Apply([new PendingEvent(HostEventType.Deleted, e)], 1000);
        Assert.Equal(Block(), Text(lines));
        Assert.Equal(Block(), lines.RenderBlock().Block);
    }

    [Fact]
    public void Pieces_compare_as_the_bytes_they_hold_however_they_are_cut()
    {
        ReadOnlyMemory<byte>[] a = ["ab"u8.ToArray(), "c"u8.ToArray(), Array.Empty<byte>(), "de"u8.ToArray()];
        ReadOnlyMemory<byte>[] b = ["a"u8.ToArray(), "bcd"u8.ToArray(), "e"u8.ToArray()];
        Assert.True(Chunks.SequenceEqual(a, b));
        Assert.True(Chunks.SequenceEqual(a, "abcde"u8));
        Assert.False(Chunks.SequenceEqual(a, "abcdf"u8));
        Assert.False(Chunks.SequenceEqual(a, "abcd"u8));
        Assert.False(Chunks.SequenceEqual(a, ["abcdx"u8.ToArray()]));
        Assert.Equal("abcde"u8.ToArray(), Chunks.Concat(a));
    }

    [Fact]
    public void Block_mode_keeps_every_foreign_byte_and_replaces_only_the_block()
    {
        var before = new byte[] { 0xff, 0xfe, (byte)'x', (byte)'\r', (byte)'\n' }; // not UTF-8, CRLF
        var oldBlock = Encoding.ASCII.GetBytes($"{Begin}\r\n10.9.9.9\told\r\n{End}\r\n");
        var after = Encoding.Latin1.GetBytes("127.0.0.1 localhost\r\n# trailing comment é\t\r\nno newline at end");
        var existing = before.Concat(oldBlock).Concat(after).ToArray();

        var composed = HostsFileRenderer.Compose(HostsFileMode.Block, existing, Block(Web));

        var block = Encoding.UTF8.GetBytes(Block(Web));
        Assert.Equal(before.Concat(block).Concat(after).ToArray(), composed);
    }

    [Fact]
    public void Block_mode_appends_the_block_when_the_file_has_none()
    {
        var block = Encoding.UTF8.GetBytes(Block(Db));
        var withNewline = Encoding.ASCII.GetBytes("127.0.0.1 localhost\n");
        Assert.Equal(withNewline.Concat(block).ToArray(), HostsFileRenderer.Compose(HostsFileMode.Block, withNewline, Block(Db)));

        var withoutNewline = new byte[] { (byte)'a', 0xc3, (byte)'\r' };
        Assert.Equal(withoutNewline.Concat("\n"u8.ToArray()).Concat(block).ToArray(),
            HostsFileRenderer.Compose(HostsFileMode.Block, withoutNewline, Block(Db)));

        Assert.Equal(block, HostsFileRenderer.Compose(HostsFileMode.Block, null, Block(Db)));
        Assert.Equal(block, HostsFileRenderer.Compose(HostsFileMode.Block, [], Block(Db)));
    }

    [Fact]
    public void Composing_twice_is_stable()
    {
        var existing = Encoding.UTF8.GetBytes("127.0.0.1 localhost\n::1 localhost\n");
        var once = HostsFileRenderer.Compose(HostsFileMode.Block, existing, Block(Web, Db));
        var twice = HostsFileRenderer.Compose(HostsFileMode.Block, once, Block(Web, Db));
        Assert.Equal(once, twice);
        var changed = HostsFileRenderer.Compose(HostsFileMode.Block, once, Block(Db));
        Assert.Equal(existing.Concat(Encoding.UTF8.GetBytes(Block(Db))).ToArray(), changed);
    }

    [Fact]
    public void A_block_at_the_very_start_or_end_is_found()
    {
        var atStart = Encoding.UTF8.GetBytes($"{Begin}\nold\n{End}\ntail\n");
        Assert.Equal(Block(Db) + "tail\n", Utf8(HostsFileRenderer.Compose(HostsFileMode.Block, atStart, Block(Db))));
        var atEndNoNewline = Encoding.UTF8.GetBytes($"head\n{Begin}\nold\n{End}");
        Assert.Equal("head\n" + Block(Db), Utf8(HostsFileRenderer.Compose(HostsFileMode.Block, atEndNoNewline, Block(Db))));
    }

    [Theory]
    [InlineData("a\n" + Begin + "\n10.0.0.1 x\n", "without")]
    [InlineData("a\n" + End + "\nb\n", "without")]
    [InlineData(Begin + "\n" + Begin + "\n" + End + "\n", "two")]
    [InlineData(End + "\n", "without")]
    public void Malformed_markers_throw(string content, string problem)
    {
        var e = Assert.Throws<MalformedHostsFileException>(
            () => HostsFileRenderer.Compose(HostsFileMode.Block, Encoding.UTF8.GetBytes(content), Block(Db)));
        Assert.Contains(problem, e.Message);
        Assert.Contains("malformed", e.Message);
    }

    [Fact]
    public void File_mode_owns_the_whole_file()
    {
        var existing = Encoding.UTF8.GetBytes("127.0.0.1 localhost\nwhatever\n");
        Assert.Equal(Encoding.UTF8.GetBytes(Block(Web)), HostsFileRenderer.Compose(HostsFileMode.File, existing, Block(Web)));
        // In file mode even broken markers do not matter.
        Assert.Equal(Encoding.UTF8.GetBytes(Block(Web)),
            HostsFileRenderer.Compose(HostsFileMode.File, Encoding.UTF8.GetBytes(Begin + "\n"), Block(Web)));
    }
}

public sealed class AtomicFileTests : IDisposable
{
    private readonly TempDir _temp = new();

    public void Dispose() => _temp.Dispose();

    private void AssertNoTempFiles() =>
        Assert.DoesNotContain(Directory.EnumerateFileSystemEntries(_temp.Path), p => p.EndsWith(".tmp", StringComparison.Ordinal));

    [Fact]
    public void A_symlinked_file_keeps_its_link_and_the_target_is_replaced()
    {
        var target = _temp.File("real-hosts");
        File.WriteAllText(target, "old\n");
        var link = Path.Combine(_temp.Path, "hosts");
        File.CreateSymbolicLink(link, target);
        Assert.True(AtomicFile.WriteIfChanged(link, "new\n"u8.ToArray()));
        Assert.NotNull(new FileInfo(link).LinkTarget);
        Assert.Equal("new\n", File.ReadAllText(target));
        AssertNoTempFiles();
    }

    [Fact]
    public void A_new_file_is_created_0644_with_the_content()
    {
        var path = _temp.File("hosts");
        Assert.True(AtomicFile.WriteIfChanged(path, "abc\n"u8.ToArray()));
        Assert.Equal("abc\n", File.ReadAllText(path));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead,
            File.GetUnixFileMode(path));
        AssertNoTempFiles();
    }

    [Fact]
    public void Replacing_keeps_the_mode_and_owner_of_the_existing_file()
    {
        var path = _temp.File("hosts");
        File.WriteAllText(path, "old\n");
        var mode0640 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead;
        File.SetUnixFileMode(path, mode0640);
        var owner = AtomicFile.Owner(path);
        var inodeBefore = Inode(path);

        Assert.True(AtomicFile.WriteIfChanged(path, "new\n"u8.ToArray()));

        Assert.Equal("new\n", File.ReadAllText(path));
        Assert.Equal(mode0640, File.GetUnixFileMode(path));
        Assert.Equal(owner, AtomicFile.Owner(path));
        Assert.NotEqual(inodeBefore, Inode(path)); // replaced by rename, not rewritten in place
        AssertNoTempFiles();
    }

    [Fact]
    public void Unchanged_content_is_not_written()
    {
        var path = _temp.File("hosts");
        File.WriteAllText(path, "same\n");
        var stamp = new DateTime(2001, 2, 3, 4, 5, 6, DateTimeKind.Utc);
        File.SetLastWriteTimeUtc(path, stamp);
        var inode = Inode(path);

        Assert.False(AtomicFile.WriteIfChanged(path, "same\n"u8.ToArray()));

        Assert.Equal(stamp, File.GetLastWriteTimeUtc(path));
        Assert.Equal(inode, Inode(path));
        Assert.True(AtomicFile.WriteIfChanged(path, "other\n"u8.ToArray()));
        Assert.NotEqual(stamp, File.GetLastWriteTimeUtc(path));
        AssertNoTempFiles();
    }

    [Fact]
    public void What_the_caller_read_is_what_unchanged_is_judged_by()
    {
        var path = _temp.File("hosts");
        File.WriteAllText(path, "on disk\n");

        // The render read "read\n" and composed the same bytes: nothing to write, and the file is not read again.
        Assert.False(AtomicFile.WriteIfChanged(path, "read\n"u8.ToArray(), "read\n"u8.ToArray(), beforeRename: null));
        Assert.Equal("on disk\n", File.ReadAllText(path));

        Assert.True(AtomicFile.WriteIfChanged(path, "new\n"u8.ToArray(), "read\n"u8.ToArray(), beforeRename: null));
        Assert.Equal("new\n", File.ReadAllText(path));
        AssertNoTempFiles();
    }

    [Fact]
    public void A_failed_replace_leaves_the_old_file_and_no_temp_file()
    {
        var dir = _temp.Dir("ro");
        var path = Path.Combine(dir, "hosts");
        File.WriteAllText(path, "old\n");
        ReadOnlyDir.MakeReadOnly(dir);
        Assert.False(ReadOnlyDir.IsWritable(dir), "precondition: the directory could not be made read-only");
        try
        {
            Assert.ThrowsAny<Exception>(() => AtomicFile.Replace(path, "new\n"u8.ToArray()));
            Assert.Equal("old\n", File.ReadAllText(path));
            Assert.Equal(["hosts"], Directory.EnumerateFileSystemEntries(dir).Select(Path.GetFileName));
        }
        finally { ReadOnlyDir.MakeWritable(dir); }
    }

    [Fact]
    public void TryRead_of_a_missing_file_is_null()
    {
        Assert.Null(AtomicFile.TryRead(_temp.File("missing")));
    }

    private static string Inode(string path)
    {
        // stat -c %i: the inode number, to tell a rename from an in-place write.
        var info = new System.Diagnostics.ProcessStartInfo("stat") { RedirectStandardOutput = true };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add("%i");
        info.ArgumentList.Add(path);
        using var p = System.Diagnostics.Process.Start(info)!;
        var output = p.StandardOutput.ReadToEnd().Trim();
        p.WaitForExit();
        return output;
    }
}

/// <summary>HostsFileSync over a real store and file: deterministic order, block kept, hooks told once.</summary>
public sealed class HostsFileSyncTests : IAsyncLifetime
{
    private readonly TempDir _temp = new();
    private SqliteHostStore _store = null!;
    private HookRunner _hooks = null!;

    public Task InitializeAsync()
    {
        _store = new SqliteHostStore(_temp.File("hosts.db"));
        _hooks = new HookRunner(HookSet.None, NullLogger.Instance);
        return Task.CompletedTask;
    }

    public async Task DisposeAsync()
    {
        await _hooks.DisposeAsync();
        _store.Dispose();
        _temp.Dispose();
    }

    [Fact]
    public async Task The_file_lists_entries_ipv4_numerically_before_ipv6_then_by_hostname()
    {
        var path = _temp.File("hosts");
        File.WriteAllText(path, "127.0.0.1\tlocalhost\n");
        var drafts = new[]
        {
            new HostDraft("2001:db8::1", "v6"), new HostDraft("10.0.0.10", "ten"), new HostDraft("::1", "loop6"),
            new HostDraft("9.0.0.1", "nine"), new HostDraft("10.0.0.2", "b"), new HostDraft("10.0.0.2", "A"),
            new HostDraft("192.168.0.1", "router"),
        };
        foreach (var (draft, i) in drafts.Select((d, i) => (d, i)))
            Commit(_store, T0.AddSeconds(i), set => set.Add(draft));

        using var sync = new HostsFileSync(path, HostsFileMode.Block, _store, _hooks, NullLogger.Instance);
        var state = await sync.EnsureCurrentAsync(_store.LastChangeId(), CancellationToken.None);

        Assert.True(state.Current);
        Assert.Equal(_store.LastChangeId(), state.RenderedChangeId);
        Assert.Equal(
            "127.0.0.1\tlocalhost\n" + HostsFileRenderer.BeginMarker + "\n" + HostsFileRenderer.ManagedNotice + "\n" +
            "9.0.0.1\tnine\n10.0.0.2\tA\n10.0.0.2\tb\n10.0.0.10\tten\n192.168.0.1\trouter\n::1\tloop6\n2001:db8::1\tv6\n" +
            HostsFileRenderer.EndMarker + "\n",
            File.ReadAllText(path));
    }

    [Fact]
    public async Task Lines_outside_the_block_edited_or_replaced_between_renders_are_kept_by_the_next_render()
    {
        var path = _temp.File("hosts");
        File.WriteAllText(path, "127.0.0.1\tlocalhost\n");
        Commit(_store, T0, set => set.Add(new HostDraft("10.0.0.1", "a")));
        using var sync = new HostsFileSync(path, HostsFileMode.Block, _store, _hooks, NullLogger.Instance);
        await sync.EnsureCurrentAsync(_store.LastChangeId(), CancellationToken.None);
        string Block(params string[] lines) =>
            HostsFileRenderer.BlockHead + string.Concat(lines.Select(l => l + "\n")) + HostsFileRenderer.BlockTail;

        // Edited in place (the same file), then replaced by another file: each time the next render reads it again.
        File.WriteAllText(path, File.ReadAllText(path) + "192.168.1.1\trouter\n");
        var id = Commit(_store, T0, set => set.Add(new HostDraft("10.0.0.2", "b"))).ChangeId;
        sync.Lines.Load(_store.StreamAll(), id);
        await sync.EnsureCurrentAsync(id, CancellationToken.None);
        Assert.Equal("127.0.0.1\tlocalhost\n" + Block("10.0.0.1\ta", "10.0.0.2\tb") + "192.168.1.1\trouter\n", File.ReadAllText(path));

        var other = _temp.File("other");
        File.WriteAllText(other, "# mine\n" + File.ReadAllText(path));
        File.Move(other, path, overwrite: true);
        var unchanged = File.ReadAllText(path);
        await sync.EnsureCurrentAsync(0, CancellationToken.None); // nothing changed: the file is left as it is
        Assert.Equal(unchanged, File.ReadAllText(path));
        id = Commit(_store, T0, set => set.Add(new HostDraft("10.0.0.3", "c"))).ChangeId;
        sync.Lines.Load(_store.StreamAll(), id);
        await sync.EnsureCurrentAsync(id, CancellationToken.None);
        Assert.Equal("# mine\n127.0.0.1\tlocalhost\n" + Block("10.0.0.1\ta", "10.0.0.2\tb", "10.0.0.3\tc") + "192.168.1.1\trouter\n",
            File.ReadAllText(path));
    }

    [Fact]
    public async Task A_malformed_file_is_left_alone_and_reported()
    {
        var path = _temp.File("hosts");
        var content = "127.0.0.1 localhost\n" + HostsFileRenderer.BeginMarker + "\nhand edit\n";
        File.WriteAllText(path, content);
        Commit(_store, T0, set => set.Add(new HostDraft("10.0.0.1", "a")));
        using var sync = new HostsFileSync(path, HostsFileMode.Block, _store, _hooks, NullLogger.Instance);

        var state = await sync.EnsureCurrentAsync(_store.LastChangeId(), CancellationToken.None);

        Assert.False(state.Current);
        Assert.Contains("malformed", state.LastError);
        Assert.Equal(content, File.ReadAllText(path));
    }

    [Fact]
    public void File_mode_refuses_a_file_with_lines_it_did_not_write()
    {
        var path = _temp.File("hosts");
        File.WriteAllText(path, "junk\n127.0.0.1 localhost\n");
        var e = Assert.Throws<ForeignHostsFileException>(() => new HostsFileSync(path, HostsFileMode.File, _store, _hooks, NullLogger.Instance));
        Assert.Equal(["junk", "127.0.0.1 localhost"], e.Foreign);
        Assert.Equal("junk\n127.0.0.1 localhost\n", File.ReadAllText(path));
    }

    [Fact]
    public async Task File_mode_taking_over_keeps_loopback_lines_above_the_block_and_drops_the_rest()
    {
        var path = _temp.File("hosts");
        File.WriteAllText(path, "junk\n127.0.0.1 localhost\n::1 localhost\n");
        Commit(_store, T0, set => set.Add(new HostDraft("10.0.0.1", "a")));
        using (var sync = new HostsFileSync(path, HostsFileMode.File, _store, _hooks, NullLogger.Instance, takeOver: true))
            await sync.EnsureCurrentAsync(_store.LastChangeId(), CancellationToken.None);
        var expected = HostsFileRenderer.KeptNotice + "\n127.0.0.1 localhost\n::1 localhost\n" + HostsFileRenderer.RenderBlock(_store.StreamAll());
        Assert.Equal(expected, File.ReadAllText(path));

        // What it wrote is its own: the next start needs no take-over and keeps the lines.
        using var again = new HostsFileSync(path, HostsFileMode.File, _store, _hooks, NullLogger.Instance);
        Commit(_store, T0.AddSeconds(1), set => set.Add(new HostDraft("10.0.0.2", "b")));
        again.Lines.Load(_store.StreamAll(), _store.LastChangeId());
        await again.EnsureCurrentAsync(_store.LastChangeId(), CancellationToken.None);
        Assert.Equal(HostsFileRenderer.KeptNotice + "\n127.0.0.1 localhost\n::1 localhost\n" + HostsFileRenderer.RenderBlock(_store.StreamAll()),
            File.ReadAllText(path));
    }

    [Fact]
    public async Task File_mode_takes_an_empty_missing_or_own_file_without_asking()
    {
        var path = _temp.File("hosts");
        Commit(_store, T0, set => set.Add(new HostDraft("10.0.0.1", "a")));
        using (var sync = new HostsFileSync(path, HostsFileMode.File, _store, _hooks, NullLogger.Instance))
            await sync.EnsureCurrentAsync(_store.LastChangeId(), CancellationToken.None);
        Assert.Equal(HostsFileRenderer.RenderBlock(_store.StreamAll()), File.ReadAllText(path));
        File.WriteAllText(path, "\n" + File.ReadAllText(path) + "\n");
        using var again = new HostsFileSync(path, HostsFileMode.File, _store, _hooks, NullLogger.Instance);
    }

    [Fact]
    public void Leftover_temp_files_of_this_file_are_removed_and_no_others()
    {
        var path = _temp.File("hosts");
        File.WriteAllText(path, "x\n");
        var ours = _temp.File($".hosts.routerhosts-{Guid.NewGuid():N}.tmp");
        string[] others =
        [
            _temp.File($".other.routerhosts-{Guid.NewGuid():N}.tmp"), _temp.File(".hosts.routerhosts-mine.tmp"),
            _temp.File($".hosts.routerhosts-{Guid.NewGuid():N}.tmp.orig"), _temp.File($".hosts.routerhosts-{Guid.NewGuid():N}".ToUpperInvariant() + ".tmp"),
        ];
        foreach (var file in others.Append(ours)) File.WriteAllText(file, "partial");
        var linked = _temp.File($".hosts.routerhosts-{Guid.NewGuid():N}.tmp");
        File.CreateSymbolicLink(linked, path);

        using var sync = new HostsFileSync(path, HostsFileMode.Block, _store, _hooks, NullLogger.Instance);

        Assert.False(File.Exists(ours));
        Assert.All(others, f => Assert.True(File.Exists(f), f));
        Assert.NotNull(new FileInfo(linked).LinkTarget);
    }
}
