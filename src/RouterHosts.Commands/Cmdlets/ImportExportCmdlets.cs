using System.Management.Automation;
using System.Text;
using RouterHosts.Commands.Internal;

namespace RouterHosts.Commands;

/// <summary>
/// Import-RouterHost: imports hosts files, JSON or CSV (the format inferred from the
/// extension unless -Format is given), all or nothing per file, streaming the file to the
/// agent with progress. With -SkipInvalid (router-hosts' behaviour) the valid lines are
/// imported and each invalid line is named in a warning. Inside an edit session the import is staged.
/// </summary>
[Cmdlet(VerbsData.Import, "RouterHost", SupportsShouldProcess = true, DefaultParameterSetName = PathSet)]
[OutputType(typeof(RouterHostsImportResult))]
public sealed class ImportRouterHostCommand : RouterHostsAgentCmdlet
{
    private const string PathSet = "Path";
    private const string LiteralPathSet = "LiteralPath";
    private static readonly TimeSpan ProgressEvery = TimeSpan.FromMilliseconds(250);

    [Parameter(Mandatory = true, Position = 0, ParameterSetName = PathSet, ValueFromPipeline = true)]
    [SupportsWildcards]
    [ValidateNotNullOrEmpty]
    public string[] Path { get; set; } = [];

    [Parameter(Mandatory = true, ParameterSetName = LiteralPathSet, ValueFromPipelineByPropertyName = true)]
    [Alias("PSPath", "LP")]
    [ValidateNotNullOrEmpty]
    public string[] LiteralPath { get; set; } = [];

    [Parameter]
    public RouterHostsFormat? Format { get; set; }

    [Parameter]
    public RouterHostsConflictMode ConflictMode { get; set; } = RouterHostsConflictMode.Skip;

    /// <summary>Import the valid lines and warn about each invalid one, instead of importing nothing.</summary>
    [Parameter]
    public SwitchParameter SkipInvalid { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void ProcessRecord()
    {
        foreach (var file in ResolveFiles())
        {
            var format = Format ?? FormatInference.FromPath(file);
            if (format is null)
            {
                WriteError(NewError(ErrorIds.UnknownFormat, ErrorCategory.InvalidArgument,
                    $"Cannot tell the format of {file} from its extension; give -Format Hosts, Json or Csv.", file));
                continue;
            }
            var invalid = SkipInvalid ? ", skipping invalid lines" : "";
            if (!ShouldProcess(file, $"Import ({format}, conflicts: {ConflictMode}{invalid}) into {ActiveConnection.Target}")) continue;
            Import(file, format.Value);
        }
    }

    private IEnumerable<string> ResolveFiles()
    {
        if (ParameterSetName == LiteralPathSet)
        {
            foreach (var literal in LiteralPath)
            {
                var path = FileSystemPath(literal);
                if (File.Exists(path)) yield return path;
                else WriteError(FileNotFound(path));
            }
            yield break;
        }
        foreach (var pattern in Path)
        {
            List<string> resolved;
            try
            {
                resolved = GetResolvedProviderPathFromPSPath(pattern, out var provider).ToList();
                if (provider.Name != "FileSystem")
                {
                    WriteError(NewError(ErrorIds.FileNotFound, ErrorCategory.InvalidArgument,
                        $"{pattern} is not a file-system path.", pattern));
                    continue;
                }
            }
            catch (ItemNotFoundException)
            {
                WriteError(FileNotFound(pattern));
                continue;
            }
            foreach (var path in resolved)
            {
                if (File.Exists(path)) yield return path;
                else if (!Directory.Exists(path)) WriteError(FileNotFound(path));
            }
        }
    }

    private static ErrorRecord FileNotFound(string path) =>
        NewError(ErrorIds.FileNotFound, ErrorCategory.ObjectNotFound, $"Cannot find the file {path}.", path);

    private void Import(string path, RouterHostsFormat format)
    {
        FileStream file;
        try
        {
            file = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 64 * 1024, useAsync: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            WriteError(NewError(ErrorIds.FileError, ErrorCategory.ReadError, $"Cannot read {path}: {e.Message}", path, e));
            return;
        }

        using (file)
        {
            var content = new CountingStream(file);
            var processed = new LatestValue();
            var length = file.Length;
            var activity = $"Importing {System.IO.Path.GetFileName(path)} into {ActiveConnection.Target}";
            WriteDebug($"Calling ImportHosts (a stream) on {ActiveConnection.Target} with {path}.");
            var watch = System.Diagnostics.Stopwatch.StartNew();
            var task = Client.ImportAsync(content, FormatInference.WireName(format), FormatInference.WireName(ConflictMode), processed, StopToken,
                SkipInvalid.IsPresent);
            try
            {
                while (!task.Wait((int)ProgressEvery.TotalMilliseconds, StopToken))
                {
                    var sent = content.BytesTransferred;
                    var status = sent < length
                        ? $"Sent {sent / 1024:N0} of {length / 1024:N0} KiB"
                        : processed.Value > 0 ? $"{processed.Value:N0} entries processed" : "Waiting for the agent";
                    WriteProgress(new ProgressRecord(2, activity, status)
                    {
                        PercentComplete = length == 0 ? 100 : (int)Math.Min(100, sent * 100 / length),
                    });
                }
            }
            catch (OperationCanceledException)
            {
                throw new PipelineStoppedException();
            }
            catch (AggregateException)
            {
                // Observed below through Wait(task), which unwraps it.
            }
            finally
            {
                WriteProgress(new ProgressRecord(2, activity, "Done") { RecordType = ProgressRecordType.Completed });
            }

            try
            {
                var result = Wait(task);
                Session.Cache.Invalidate();
                WriteVerbose($"ImportHosts on {ActiveConnection.Target}: {path}: {result.Processed} processed, {result.Created} created, " +
                             $"{result.Updated} updated, {result.Skipped} skipped" + (SkipInvalid ? $", {result.Failed} failed" : "") +
                             $" in {watch.Elapsed.TotalMilliseconds:0} ms" + (result.Staged ? " (staged in the edit session)." : "."));
                foreach (var line in result.FailedLines) WriteWarning($"{path}: {line} (skipped)");
                if (result.HostsFileStale)
                    WriteWarning("The import is committed, but the agent could not write the hosts file yet; Get-RouterHostsAgent shows why.");
                if (PassThru) WriteObject(result);
            }
            catch (RouterHostsException e)
            {
                Report(e, path, ErrorSubject.Import);
            }
        }
    }
}

/// <summary>
/// Export-RouterHost: every host in the hosts, JSON or CSV format, to a file (-Path) or as
/// text to the pipeline (one string per line, or one string with -Raw).
/// </summary>
[Cmdlet(VerbsData.Export, "RouterHost", SupportsShouldProcess = true)]
[OutputType(typeof(string), typeof(FileInfo))]
public sealed class ExportRouterHostCommand : RouterHostsAgentCmdlet
{
    private static readonly TimeSpan ProgressEvery = TimeSpan.FromMilliseconds(250);

    [Parameter(Position = 0)]
    [Alias("FilePath")]
    [ValidateNotNullOrEmpty]
    public string? Path { get; set; }

    [Parameter]
    public RouterHostsFormat? Format { get; set; }

    [Parameter]
    public SwitchParameter NoClobber { get; set; }

    [Parameter]
    public SwitchParameter Raw { get; set; }

    [Parameter]
    public SwitchParameter PassThru { get; set; }

    protected override void EndProcessing()
    {
        if (Path is null)
        {
            var format = Format ?? RouterHostsFormat.Hosts;
            using var buffer = new MemoryStream();
            Export(buffer, format, "the pipeline");
            var text = new UTF8Encoding(false).GetString(buffer.GetBuffer(), 0, (int)buffer.Length);
            if (Raw)
            {
                WriteObject(text);
                return;
            }
            var lines = text.Split('\n');
            var count = text.EndsWith('\n') ? lines.Length - 1 : lines.Length;
            for (var i = 0; i < count; i++) WriteObject(lines[i].TrimEnd('\r'));
            return;
        }

        var path = FileSystemPath(Path);
        var fileFormat = Format ?? FormatInference.FromPath(path) ?? RouterHostsFormat.Hosts;
        if (NoClobber && File.Exists(path))
        {
            Terminate(ErrorIds.FileExists, ErrorCategory.ResourceExists, $"{path} exists and -NoClobber was given.", path);
        }
        if (!ShouldProcess(path, $"Export hosts ({fileFormat}) from {ActiveConnection.Target}")) return;

        FileStream file;
        try
        {
            file = new FileStream(path, NoClobber ? FileMode.CreateNew : FileMode.Create, FileAccess.Write, FileShare.None, 64 * 1024, useAsync: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Terminate(ErrorIds.FileError, ErrorCategory.WriteError, $"Cannot write {path}: {e.Message}", path, e);
            return;
        }
        try
        {
            using (file) Export(file, fileFormat, path);
        }
        catch
        {
            TryDelete(path); // no half-written export left behind (failure or Ctrl+C)
            throw;
        }
        if (PassThru) WriteObject(new FileInfo(path));
    }

    private void Export(Stream destination, RouterHostsFormat format, string where)
    {
        var counting = new CountingStream(destination);
        var activity = $"Exporting hosts from {ActiveConnection.Target} to {where}";
        WriteDebug($"Calling ExportHosts (a stream) on {ActiveConnection.Target}.");
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var task = Client.ExportAsync(FormatInference.WireName(format), counting, StopToken);
        try
        {
            while (!task.Wait((int)ProgressEvery.TotalMilliseconds, StopToken))
                WriteProgress(new ProgressRecord(3, activity, $"{counting.BytesTransferred / 1024:N0} KiB received"));
        }
        catch (OperationCanceledException)
        {
            throw new PipelineStoppedException();
        }
        catch (AggregateException)
        {
            // Observed below.
        }
        finally
        {
            WriteProgress(new ProgressRecord(3, activity, "Done") { RecordType = ProgressRecordType.Completed });
        }
        try
        {
            Wait(task);
            WriteVerbose($"ExportHosts on {ActiveConnection.Target}: {counting.BytesTransferred / 1024:N0} KiB in {watch.Elapsed.TotalMilliseconds:0} ms.");
        }
        catch (RouterHostsException e)
        {
            Terminate(e, where, ErrorSubject.Export);
        }
    }

    private static void TryDelete(string path)
    {
        try { File.Delete(path); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { }
    }
}

/// <summary>The latest progress value reported from another thread; read on the pipeline thread.</summary>
internal sealed class LatestValue : IProgress<int>
{
    private int _value;
    public int Value => Volatile.Read(ref _value);
    public void Report(int value) => Volatile.Write(ref _value, value);
}
