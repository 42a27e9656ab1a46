using System.Runtime.InteropServices;

namespace RouterHosts.Core.HostsFile;

/// <summary>
/// What the kernel says about a file (statx, following a symlink as reads and writes do):
/// which file it is (device, inode), its mode and owner, and its size and change times,
/// so that an unchanged file is recognised without reading it.
/// </summary>
public readonly record struct FileStat(
    uint DeviceMajor, uint DeviceMinor, ulong Inode, UnixFileMode Mode, uint Uid, uint Gid,
    ulong Size, long ChangedSeconds, uint ChangedNanoseconds, long ModifiedSeconds, uint ModifiedNanoseconds, long BornSeconds, uint BornNanoseconds)
{
    /// <summary>The same file (not one put in its place): the inode, and its birth time, since a freed inode number is soon given again.</summary>
    public bool SameFileAs(FileStat other) => Inode == other.Inode && DeviceMajor == other.DeviceMajor && DeviceMinor == other.DeviceMinor &&
                                              BornSeconds == other.BornSeconds && BornNanoseconds == other.BornNanoseconds;

    public string ModeText => Convert.ToString((int)Mode, 8).PadLeft(4, '0');

    /// <summary>The file's stat; null when it does not exist.</summary>
    public static FileStat? Of(string path)
    {
        var b = new byte[256];
        const int AT_FDCWD = -100, STATX_BASIC_STATS_AND_BTIME = 0xfff, ENOENT = 2, ENOTDIR = 20;
        if (statx(AT_FDCWD, path, 0, STATX_BASIC_STATS_AND_BTIME, b) != 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            if (errno is ENOENT or ENOTDIR) return null;
            throw new IOException($"statx of {path} failed (errno {errno})");
        }
        return new FileStat(
            BitConverter.ToUInt32(b, 136), BitConverter.ToUInt32(b, 140), BitConverter.ToUInt64(b, 32),
            (UnixFileMode)(BitConverter.ToUInt16(b, 28) & 0xfff), BitConverter.ToUInt32(b, 20), BitConverter.ToUInt32(b, 24),
            BitConverter.ToUInt64(b, 40), BitConverter.ToInt64(b, 96), BitConverter.ToUInt32(b, 104),
            BitConverter.ToInt64(b, 112), BitConverter.ToUInt32(b, 120), BitConverter.ToInt64(b, 80), BitConverter.ToUInt32(b, 88));
    }

    /// <summary>Gives <paramref name="path"/> this mode and owner; false (and why) when the kernel refuses.</summary>
    public bool TryApplyModeAndOwner(string path, out string? error)
    {
        error = null;
        try { File.SetUnixFileMode(path, Mode); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { error = $"chmod {ModeText}: {e.Message}"; return false; }
        if (chown(path, Uid, Gid) != 0)
        {
            error = $"chown {Uid}:{Gid}: errno {Marshal.GetLastPInvokeError()}";
            return false;
        }
        return true;
    }

    [DllImport("libc", SetLastError = true)] private static extern int statx(int dirfd, string path, int flags, int mask, byte[] buffer);
    [DllImport("libc", SetLastError = true)] private static extern int chown(string path, uint owner, uint group);
}
