using System.Runtime.InteropServices;

namespace RouterHosts.Transport.Server;

/// <summary>Group lookups and chgrp through libc, which .NET does not expose.</summary>
public static class UnixGroups
{
    public static uint GroupId(string name)
    {
        if (uint.TryParse(name, out var numeric)) return numeric;
        var entry = getgrnam(name);
        if (entry == IntPtr.Zero) throw new ArgumentException($"no group named '{name}'");
        // struct group { char *gr_name; char *gr_passwd; gid_t gr_gid; ... }
        return (uint)Marshal.ReadInt32(entry, 2 * IntPtr.Size);
    }

    public static void Chgrp(string path, string group)
    {
        if (chown(path, uint.MaxValue /* keep owner */, GroupId(group)) != 0)
            throw new IOException($"cannot give {path} to group {group} (errno {Marshal.GetLastPInvokeError()})");
    }

    [DllImport("libc", SetLastError = true)] private static extern IntPtr getgrnam(string name);
    [DllImport("libc", SetLastError = true)] private static extern int chown(string path, uint owner, uint group);
}
