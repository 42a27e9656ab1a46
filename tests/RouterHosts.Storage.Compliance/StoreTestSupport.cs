using System.Diagnostics;
using System.Text;
using RouterHosts.Core.Hosts;
using RouterHosts.Core.Storage;
using RouterHosts.Core.Writes;

// Shared by every storage backend's tests; kept in the namespace it had in Core.Tests.
namespace RouterHosts.Core.Tests;

/// <summary>A fresh directory under /tmp, removed (even if made read-only or immutable) on dispose.</summary>
public sealed class TempDir : IDisposable
{
    public TempDir()
    {
        Path = Directory.CreateTempSubdirectory("rh-core-tests-").FullName;
    }

    public string Path { get; }

    public string File(string name) => System.IO.Path.Combine(Path, name);

    public string Dir(string name) => Directory.CreateDirectory(File(name)).FullName;

    public void Dispose()
    {
        try
        {
            ReadOnlyDir.ReleaseUnder(Path);
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
    }
}

/// <summary>
/// Makes a directory unwritable for this process. As root, mode bits do not stop
/// writes, so the directory is also made immutable (chattr +i, CAP_LINUX_IMMUTABLE).
/// Callers assert the precondition with <see cref="IsWritable"/>.
/// </summary>
public static class ReadOnlyDir
{
    private static readonly System.Collections.Concurrent.ConcurrentDictionary<string, bool> Locked = new();

    public static void MakeReadOnly(string dir)
    {
        Locked[dir] = true;
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.GroupRead
                                  | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
        if (IsWritable(dir)) Run("chattr", "+i", dir);
    }

    public static void ReleaseUnder(string root)
    {
        foreach (var dir in Locked.Keys.Where(d => d.StartsWith(root, StringComparison.Ordinal)).ToList())
        {
            if (Directory.Exists(dir)) MakeWritable(dir);
        }
    }

    public static void MakeWritable(string dir)
    {
        Locked.TryRemove(dir, out _);
        Run("chattr", "-i", dir);
        File.SetUnixFileMode(dir, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute
                                  | UnixFileMode.GroupRead | UnixFileMode.GroupExecute
                                  | UnixFileMode.OtherRead | UnixFileMode.OtherExecute);
    }

    public static bool IsWritable(string dir)
    {
        var probe = Path.Combine(dir, ".probe-" + Guid.NewGuid().ToString("N"));
        try
        {
            File.WriteAllBytes(probe, []);
            File.Delete(probe);
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private static void Run(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardError = true, RedirectStandardOutput = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        try
        {
            using var p = Process.Start(info)!;
            p.WaitForExit();
        }
        catch (System.ComponentModel.Win32Exception) { }
    }
}

public static class Hosts
{
    public static readonly DateTimeOffset T0 = new(2030, 1, 1, 0, 0, 0, TimeSpan.Zero);

    public static HostEntry Entry(string id, string ip, string hostname, string? comment = null,
        string[]? tags = null, string[]? aliases = null, DateTimeOffset? at = null, long version = 1) =>
        new(id, ip, hostname, comment, tags ?? [], aliases ?? [], at ?? T0, at ?? T0, version);

    /// <summary>Every field, so lists of entries compare (and differ) readably.</summary>
    public static string Describe(HostEntry e) =>
        $"{e.Id}|{e.IpAddress}|{e.Hostname}|{e.Comment ?? "(null)"}|[{string.Join(",", e.Tags)}]|[{string.Join(",", e.Aliases)}]|" +
        $"{e.CreatedAt.UtcTicks}|{e.UpdatedAt.UtcTicks}|v{e.Version}";

    /// <summary>The user-visible content only (no id, times, version).</summary>
    public static string Content(HostEntry e) =>
        $"{e.IpAddress}|{e.Hostname}|{e.Comment ?? "(null)"}|[{string.Join(",", e.Tags)}]|[{string.Join(",", e.Aliases)}]";

    public static void Same(HostEntry? expected, HostEntry? actual)
    {
        Assert.NotNull(expected);
        Assert.NotNull(actual);
        Assert.Equal(Describe(expected!), Describe(actual!));
    }

    public static void Same(IEnumerable<HostEntry> expected, IEnumerable<HostEntry> actual) =>
        Assert.Equal(expected.Select(Describe).ToList(), actual.Select(Describe).ToList());

    /// <summary>Plans on a <see cref="ChangeSet"/> over the store and appends its events, as the writer does.</summary>
    public static (T Result, long ChangeId) Commit<T>(IHostStore store, DateTimeOffset now, Func<ChangeSet, T> plan, string actor = "test")
    {
        var set = new ChangeSet(store, now);
        var result = plan(set);
        var id = set.Events.Count == 0 ? 0 : store.Append(set.Events, actor, now);
        return (result, id);
    }

    public static string Utf8(byte[] bytes) => Encoding.UTF8.GetString(bytes);
}
