using System.Runtime.InteropServices;

namespace RouterHosts.Agent;

/// <summary>The few libc calls the agent needs and .NET does not offer.</summary>
internal static class Posix
{
    public const int R_OK = 4, W_OK = 2, X_OK = 1;

    /// <summary>access(2): whether this process may read/write/enter the path (EROFS counts as not writable, even for root).</summary>
    public static bool Can(string path, int mode) => access(path, mode) == 0;

    public static uint EffectiveUid => geteuid();

    /// <summary>The device and inode of an open file descriptor, as systemd writes them in JOURNAL_STREAM ("dev:ino").</summary>
    public static (ulong Device, ulong Inode)? DeviceAndInode(int fd)
    {
        var buffer = new byte[256];
        const int AT_EMPTY_PATH = 0x1000, STATX_INO = 0x100;
        if (statx(fd, "", AT_EMPTY_PATH, STATX_INO, buffer) != 0) return null;
        var inode = BitConverter.ToUInt64(buffer, 32);
        ulong major = BitConverter.ToUInt32(buffer, 136), minor = BitConverter.ToUInt32(buffer, 140);
        // glibc's makedev()
        var device = ((major & 0xfffff000UL) << 32) | ((major & 0xfffUL) << 8) | ((minor & 0xffffff00UL) << 12) | (minor & 0xffUL);
        return (device, inode);
    }

    [DllImport("libc", SetLastError = true)] private static extern int access(string path, int mode);
    [DllImport("libc")] private static extern uint geteuid();
    [DllImport("libc", SetLastError = true)] private static extern int statx(int dirfd, string path, int flags, int mask, byte[] buffer);
}
