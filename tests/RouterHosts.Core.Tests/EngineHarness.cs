using System.Text;
using System.Threading.Channels;
using Microsoft.Extensions.Logging.Abstractions;
using RouterHosts.Core.Hooks;
using RouterHosts.Core.Hosts;
using RouterHosts.Core.HostsFile;
using RouterHosts.Core.Sessions;
using RouterHosts.Core.Writes;
using RouterHosts.Storage.Sqlite;

namespace RouterHosts.Core.Tests;

/// <summary>A whole in-process engine: real SQLite store, real hosts file, real hook runner.</summary>
public sealed class EngineHarness : IAsyncDisposable
{
    public const string ForeignLines = "127.0.0.1\tlocalhost\r\n# keep me\n";

    private readonly bool _ownsTemp;

    public EngineHarness(HookSet? hooks = null, TempDir? temp = null, string? hostsDirectory = null,
        HostsFileMode mode = HostsFileMode.Block, Microsoft.Extensions.Logging.ILogger? syncLog = null, Task? loadLinesAfter = null)
    {
        _ownsTemp = temp is null;
        Temp = temp ?? new TempDir();
        var hostsDir = hostsDirectory ?? Temp.Path;
        HostsPath = Path.Combine(hostsDir, "hosts");
        if (!File.Exists(HostsPath)) File.WriteAllText(HostsPath, ForeignLines);
        Store = new SqliteHostStore(Path.Combine(Temp.Dir("db-" + Guid.NewGuid().ToString("N")[..8]), "hosts.db"));
        Hooks = new HookRunner(hooks ?? HookSet.None, NullLogger.Instance);
        Sync = new HostsFileSync(HostsPath, mode, Store, Hooks, syncLog ?? NullLogger.Instance, loadAfter: loadLinesAfter);
        Feed = new ChangeFeed();
        Writer = new HostWriter(Store, Sync, Feed, TimeProvider.System);
        Sessions = new EditSessions(Store, TimeProvider.System);
        Engine = new HostsEngine(Store, Writer, Sessions, Sync, Hooks, Feed, TimeProvider.System);
    }

    public TempDir Temp { get; }
    public string HostsPath { get; }
    public SqliteHostStore Store { get; }
    public HookRunner Hooks { get; }
    public HostsFileSync Sync { get; }
    public ChangeFeed Feed { get; }
    public HostWriter Writer { get; }
    public EditSessions Sessions { get; }
    public HostsEngine Engine { get; }

    public string HostsText => File.ReadAllText(HostsPath);

    /// <summary>The managed lines of the hosts file (between the markers, notice excluded).</summary>
    public IReadOnlyList<string> ManagedLines
    {
        get
        {
            var lines = HostsText.Split('\n');
            var begin = Array.IndexOf(lines, HostsFileRenderer.BeginMarker);
            var end = Array.IndexOf(lines, HostsFileRenderer.EndMarker);
            Assert.True(begin >= 0 && end > begin, "the hosts file has no managed block:\n" + HostsText);
            return lines[(begin + 2)..end];
        }
    }

    public async Task<HostEntry> AddAsync(string ip, string hostname, string? comment = null, string[]? tags = null, string[]? aliases = null)
    {
        var (entry, outcome) = await Engine.AddAsync("test", new HostDraft(ip, hostname, comment, tags, aliases), null, CancellationToken.None);
        Assert.NotNull(outcome);
        return entry;
    }

    public async Task<byte[]> ExportAsync(string format)
    {
        var buffer = new MemoryStream();
        await Engine.ExportAsync(format, chunk => { buffer.Write(chunk.Span); return Task.CompletedTask; }, CancellationToken.None);
        return buffer.ToArray();
    }

    public Task<ImportResult> ImportAsync(string text, string format = "hosts", ConflictMode mode = ConflictMode.Skip, EditAccess? token = null) =>
        Engine.ImportAsync("test", Encoding.UTF8.GetBytes(text), format, mode, token, null, CancellationToken.None);

    public async Task<List<BulkItemResult>> BulkAddAsync(IEnumerable<HostDraft> drafts, EditAccess? token = null)
    {
        var channel = Channel.CreateUnbounded<HostDraft>();
        foreach (var d in drafts) channel.Writer.TryWrite(d);
        channel.Writer.Complete();
        var results = new List<BulkItemResult>();
        await Engine.BulkAddAsync("test", channel.Reader, token, r => { results.Add(r); return Task.CompletedTask; }, CancellationToken.None);
        return results;
    }

    public async ValueTask DisposeAsync()
    {
        Writer.Dispose();
        await Hooks.DisposeAsync();
        Sync.Dispose();
        Store.Dispose();
        if (_ownsTemp) Temp.Dispose();
    }
}
