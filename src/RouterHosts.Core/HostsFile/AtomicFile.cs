namespace RouterHosts.Core.HostsFile;

/// <summary>
/// Replaces a file so that readers see the old content or the new, never a part:
/// temp file in the same directory, write, fsync, copy the old file's mode and
/// owner (0644 for a new file), rename over the target, fsync the directory.
/// </summary>
public static class AtomicFile
{
    private const UnixFileMode NewFileMode =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    /// <summary>Writes <paramref name="content"/> unless the file already holds exactly it; returns whether it wrote.</summary>
    /// <param name="beforeRename">Called just before the new file takes the old one's place; throwing there writes nothing.</param>
    public static bool WriteIfChanged(string path, byte[] content, Action? beforeRename = null) =>
        WriteIfChanged(path, content, TryRead(path), beforeRename); // TryRead follows a symlink, as Replace does

    /// <summary>The same, against what the caller has just read from the file (null: there was none), which is not read again.</summary>
    public static bool WriteIfChanged(string path, byte[] content, byte[]? existing, Action? beforeRename)
    {
        if (existing is not null && existing.AsSpan().SequenceEqual(content)) return false;
        Replace(path, content, beforeRename);
        return true;
    }

    public static byte[]? TryRead(string path)
    {
        try { return File.ReadAllBytes(path); }
        catch (FileNotFoundException) { return null; }
    }

    /// <summary>The file a write replaces: a symlinked hosts file keeps its link, the file it points to is the one replaced.</summary>
    public static string TargetPath(string path) =>
        new FileInfo(path).LinkTarget is null
            ? Path.GetFullPath(path)
            : File.ResolveLinkTarget(path, returnFinalTarget: true)!.FullName;

    /// <summary>The temp file names <see cref="Replace"/> uses for <paramref name="target"/>: ".NAME.routerhosts-GUID.tmp" beside it.</summary>
    private static System.Text.RegularExpressions.Regex TempNamePattern(string target) =>
        new($@"^\.{System.Text.RegularExpressions.Regex.Escape(Path.GetFileName(target))}\.routerhosts-[0-9a-f]{{32}}\.tmp$");

    /// <summary>
    /// Deletes the temp files a write to <paramref name="path"/> left behind when the process
    /// died between creating and renaming them (kill -9, power loss). Only names this class makes
    /// for this very file, and only regular files, are touched. Returns the paths it removed.
    /// </summary>
    public static IReadOnlyList<string> RemoveLeftoverTempFiles(string path)
    {
        var target = TargetPath(path);
        var directory = Path.GetDirectoryName(target)!;
        if (!Directory.Exists(directory)) return [];
        var ours = TempNamePattern(target);
        var removed = new List<string>();
        foreach (var file in new DirectoryInfo(directory).EnumerateFiles($".{Path.GetFileName(target)}.routerhosts-*.tmp",
                     new EnumerationOptions { AttributesToSkip = 0, MatchCasing = MatchCasing.CaseSensitive }))
        {
            if (!ours.IsMatch(file.Name) || file.LinkTarget is not null) continue;
            file.Delete();
            removed.Add(file.FullName);
        }
        return removed;
    }

    public static void Replace(string path, byte[] content, Action? beforeRename = null) =>
        Replace(path, [content], beforeRename);

    /// <summary>
    /// The same, with the content gathered from <paramref name="chunks"/> (one vectored write). Returns what the new file
    /// was just before its rename (which file it is, its size and modification time), so that a caller can tell that
    /// the file at <paramref name="path"/> afterwards is still the one it wrote. Not <paramref name="durable"/>: no fsync
    /// of the file or the directory (for a file that may be lost or stale after a power cut, never torn by a reader).
    /// </summary>
    public static FileStat Replace(string path, IReadOnlyList<ReadOnlyMemory<byte>> chunks, Action? beforeRename = null, bool durable = true)
    {
        var full = TargetPath(path);
        var directory = Path.GetDirectoryName(full)!;
        var temp = Path.Combine(directory, $".{Path.GetFileName(full)}.routerhosts-{Guid.NewGuid():N}.tmp");
        try
        {
            var exists = File.Exists(full);
            var mode = exists ? File.GetUnixFileMode(full) : NewFileMode;
            using (var stream = new FileStream(temp, new FileStreamOptions
                   {
                       Mode = FileMode.CreateNew, Access = FileAccess.Write, UnixCreateMode = mode, BufferSize = 0,
                   }))
            {
                // Groups of pieces, each one pwritev (which takes at most IOV_MAX = 1024 at once).
                long offset = 0;
                for (var at = 0; at < chunks.Count; at += 512)
                {
                    var group = chunks.Skip(at).Take(512).ToList();
                    RandomAccess.Write(stream.SafeFileHandle, group, offset);
                    offset += Chunks.Length(group);
                }
                if (durable) RandomAccess.FlushToDisk(stream.SafeFileHandle);
            }
            File.SetUnixFileMode(temp, mode); // the umask may have narrowed UnixCreateMode
            if (exists) CopyOwner(full, temp);
            var written = FileStat.Of(temp) ?? throw new IOException($"{temp} is gone before its rename");
            beforeRename?.Invoke();
            File.Move(temp, full, overwrite: true);
            if (durable) FsyncDirectory(directory);
            return written;
        }
        finally
        {
            if (File.Exists(temp)) File.Delete(temp);
        }
    }

    /// <summary>
    /// Whether <paramref name="now"/> (the file's stat) is still the file <see cref="Replace(string, IReadOnlyList{ReadOnlyMemory{byte}}, Action?, bool)"/>
    /// wrote (<paramref name="written"/>): the same file, size and modification time. A file put in its place, or written
    /// since, is not (a write of the same size within the same clock tick aside).
    /// </summary>
    public static bool StillWritten(FileStat now, FileStat written) =>
        now.SameFileAs(written) && now.Size == written.Size &&
        now.ModifiedSeconds == written.ModifiedSeconds && now.ModifiedNanoseconds == written.ModifiedNanoseconds;

    private static void CopyOwner(string from, string to)
    {
        var (uid, gid) = Owner(from);
        if (Posix.chown(to, uid, gid) != 0)
        {
            var errno = Posix.LastError;
            // Without the privilege to give the file away, the new file keeps our ownership.
            if (errno != Posix.EPERM) throw new IOException($"chown of {to} failed (errno {errno})");
        }
    }

    /// <summary>The owner of a file (statx).</summary>
    public static (uint Uid, uint Gid) Owner(string path) =>
        Posix.Stat(path) is { } status
            ? (status.Uid, status.Gid)
            : throw new IOException($"statx of {path} failed (errno {Posix.LastError})");

    public static void FsyncDirectory(string directory)
    {
        var fd = Posix.open(directory, 0 /* O_RDONLY */);
        if (fd < 0) throw new IOException($"cannot open directory {directory} (errno {Posix.LastError})");
        try
        {
            if (Posix.fsync(fd) != 0) throw new IOException($"fsync of {directory} failed (errno {Posix.LastError})");
        }
        finally { Posix.close(fd); }
    }
}
