namespace RouterHosts.Transport.Server;

/// <summary>Group lookups and chgrp through libc, which .NET does not expose.</summary>
public static class UnixGroups
{
    public static uint GroupId(string name)
    {
        if (uint.TryParse(name, out var numeric)) return numeric;
        return Posix.GroupId(name) ?? throw new ArgumentException($"no group named '{name}'");
    }

    public static void Chgrp(string path, string group)
    {
        if (Posix.chown(path, uint.MaxValue /* keep owner */, GroupId(group)) != 0)
            throw new IOException($"cannot give {path} to group {group} (errno {Posix.LastError})");
    }
}
