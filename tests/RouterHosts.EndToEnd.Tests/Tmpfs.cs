using System.Diagnostics;

namespace RouterHosts.EndToEnd.Tests;

/// <summary>
/// A real small filesystem (tmpfs, mounted with mount(8); the tests run as root) to run out of
/// space on. Mounting that fails throws: a disk-full test must never pass without a full disk.
/// </summary>
public sealed class Tmpfs : IDisposable
{
    private readonly string _filler;

    /// <summary>Mounts a new tmpfs on a new temporary directory (removed again on dispose).</summary>
    public Tmpfs(string size = "8m") : this(AgentProcess.NewTempDirectory(), size) { }

    private Tmpfs(string directory, string size)
    {
        Path = directory;
        var (exit, output) = Run("mount", "-t", "tmpfs", "-o", $"size={size}", "tmpfs", directory);
        if (exit != 0) throw new InvalidOperationException($"cannot mount a tmpfs on {directory} (the disk-full tests need root): {output}");
        _filler = System.IO.Path.Combine(directory, "filler");
    }

    public string Path { get; }

    /// <summary>Writes a file until the filesystem has no byte left.</summary>
    public void Fill()
    {
        using var stream = new FileStream(_filler, FileMode.Append, FileAccess.Write, FileShare.None, 1, FileOptions.None);
        var block = new byte[64 * 1024];
        Random.Shared.NextBytes(block);
        foreach (var size in new[] { block.Length, 4096, 1 })
        {
            try
            {
                while (true) stream.Write(block, 0, size);
            }
            catch (IOException e) when (e.HResult == 28 /* ENOSPC */) { }
        }
        if (new DriveInfo(Path).AvailableFreeSpace > 0) throw new InvalidOperationException($"{Path} still has free space after filling it");
    }

    /// <summary>Gives the space back.</summary>
    public void Free() => File.Delete(_filler);

    public void Dispose()
    {
        var (exit, output) = Run("umount", Path);
        if (exit != 0) (exit, output) = Run("umount", "-l", Path);
        if (exit != 0) throw new InvalidOperationException($"cannot unmount {Path}: {output}");
        Directory.Delete(Path);
    }

    private static (int Exit, string Output) Run(string file, params string[] args)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in args) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output);
    }
}
