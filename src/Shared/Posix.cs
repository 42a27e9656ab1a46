using System.Runtime.InteropServices;

namespace RouterHosts;

/// <summary>
/// Every libc call RouterHosts makes (what .NET does not offer), in this one file. It is compiled
/// into each assembly that needs one (Core, Transport.Server, the agent) as an internal class, so
/// none of them exposes it. Linux; after a failed call, <see cref="LastError"/> is errno.
/// </summary>
internal static class Posix
{
    public const int R_OK = 4, W_OK = 2, X_OK = 1;
    public const int EPERM = 1;

    /// <summary>access(2): whether this process may read/write/enter the path (EROFS counts as not writable, even for root).</summary>
    public static bool Can(string path, int mode) => access(path, mode) == 0;

    public static uint EffectiveUid => geteuid();

    public const int SIGHUP = 1;

    /// <summary>
    /// Sets <paramref name="signal"/> back to its default action; true when it was ignored (SIG_IGN)
    /// before. A signal ignored at exec (nohup, a parent that ignores it) stays ignored, and .NET
    /// installs no handler for an ignored signal, so a PosixSignalRegistration for it never runs.
    /// </summary>
    public static bool RestoreDefaultAction(int signal) => signal_(signal, SigDfl) == SigIgn;

    private static readonly IntPtr SigDfl = IntPtr.Zero, SigIgn = new(1);

    /// <summary>errno of the last failed call.</summary>
    public static int LastError => Marshal.GetLastPInvokeError();

    /// <summary>What statx(2) says of a file: owner, group, and the device and inode (as systemd writes them in JOURNAL_STREAM).</summary>
    public readonly record struct FileStatus(uint Uid, uint Gid, ulong Device, ulong Inode);

    /// <summary>statx of a path (following links); null when it fails (see <see cref="LastError"/>).</summary>
    public static FileStatus? Stat(string path) => Statx(AtFdCwd, path, 0);

    /// <summary>statx of an open file descriptor; null when it fails.</summary>
    public static FileStatus? Stat(int fd) => Statx(fd, "", AtEmptyPath);

    private const int AtFdCwd = -100, AtEmptyPath = 0x1000;

    private static FileStatus? Statx(int dirfd, string path, int flags)
    {
        const int STATX_UID = 0x8, STATX_GID = 0x10, STATX_INO = 0x100;
        // struct statx has the same layout on every architecture.
        var buffer = new byte[256];
        if (statx(dirfd, path, flags, STATX_UID | STATX_GID | STATX_INO, buffer) != 0) return null;
        ulong major = BitConverter.ToUInt32(buffer, 136), minor = BitConverter.ToUInt32(buffer, 140);
        // glibc's makedev()
        var device = ((major & 0xfffff000UL) << 32) | ((major & 0xfffUL) << 8) | ((minor & 0xffffff00UL) << 12) | (minor & 0xffUL);
        return new FileStatus(BitConverter.ToUInt32(buffer, 20), BitConverter.ToUInt32(buffer, 24), device, BitConverter.ToUInt64(buffer, 32));
    }

    /// <summary>getgrnam(3): the id of a group; null when there is no such group.</summary>
    public static uint? GroupId(string name)
    {
        var entry = getgrnam(name);
        // struct group { char *gr_name; char *gr_passwd; gid_t gr_gid; ... }
        return entry == IntPtr.Zero ? null : (uint)Marshal.ReadInt32(entry, 2 * IntPtr.Size);
    }

    // Files
    [DllImport("libc", SetLastError = true)] public static extern int chown(string path, uint owner, uint group);
    [DllImport("libc", SetLastError = true)] public static extern int open(string path, int flags);
    [DllImport("libc", SetLastError = true)] public static extern int fsync(int fd);
    [DllImport("libc", SetLastError = true)] public static extern int close(int fd);
    [DllImport("libc", SetLastError = true)] private static extern int access(string path, int mode);
    [DllImport("libc", SetLastError = true)] private static extern int statx(int dirfd, string path, int flags, int mask, byte[] buffer);

    // Processes (hook runs)
    [DllImport("libc", SetLastError = true)] public static extern int kill(int pid, int signal);
    [DllImport("libc", SetLastError = true)] public static extern int waitpid(int pid, out int status, int options);
    [DllImport("libc", SetLastError = true)] public static extern int prctl(int option, ulong arg2, ulong arg3, ulong arg4, ulong arg5);

    // Users and groups
    [DllImport("libc")] private static extern uint geteuid();
    [DllImport("libc", EntryPoint = "signal")] private static extern IntPtr signal_(int signum, IntPtr handler);
    [DllImport("libc", SetLastError = true)] private static extern IntPtr getgrnam(string name);
}
