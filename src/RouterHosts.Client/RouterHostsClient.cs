using System.Runtime.CompilerServices;
using System.Security.Cryptography.X509Certificates;
using System.Threading.Channels;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using RouterHosts.Protocol.V1;
using RouterHosts.Transport;
using static RouterHosts.Client.ProtoMapping;

namespace RouterHosts.Client;

/// <summary>
/// The .NET client of a RouterHosts agent. Takes and returns our own types and
/// throws <see cref="RouterHostsException"/> (with the status code) for every
/// failure, transport ones included. An edit session started through a client
/// belongs to it: later calls stage into it until it is completed or undone.
/// Safe to use from several threads.
/// </summary>
public sealed partial class RouterHostsClient : IDisposable
{
    /// <summary>How many bulk-add items are written before the request stream is flushed.</summary>
    public const int BulkFlushEvery = 256;
    private const int ExportBufferBytes = 64 * 1024;
    private const int ImportChunkBytes = 1024 * 1024;

    private readonly GrpcChannel _channel;
    private readonly HostsService.HostsServiceClient _grpc;
    private readonly TlsFailureLog _tlsFailures;
    private readonly RouterHostsConnectionOptions _options;
    private readonly Func<string?>? _diagnoseClientCertificate;
    private string? _editToken;

    private RouterHostsClient(RouterHostsConnectionOptions options, GrpcChannel channel, TlsFailureLog tlsFailures,
        Func<string?>? diagnoseClientCertificate)
    {
        _options = options;
        _channel = channel;
        _tlsFailures = tlsFailures;
        _diagnoseClientCertificate = diagnoseClientCertificate;
        _grpc = new HostsService.HostsServiceClient(channel);
    }

    public string Target => _options.Target;

    /// <summary>The token of the edit session this client holds, if any.</summary>
    public string? EditToken => Volatile.Read(ref _editToken);

    /// <summary>
    /// Prepares a connection: loads and checks the certificates (so a wrong file is
    /// reported now, by name) but does not contact the agent.
    /// </summary>
    public static RouterHostsClient Connect(RouterHostsConnectionOptions options)
    {
        if (options.UnixSocket is null && !string.IsNullOrEmpty(options.Endpoint))
            options.Endpoint = RouterHostsConnectionOptions.WithDefaultPort(options.Endpoint);
        var endpoint = new GrpcEndpoint { Address = options.Endpoint, UnixSocketPath = options.UnixSocket, ServerName = options.ServerName };
        Func<string?>? diagnose = null;
        if (options.UnixSocket is null)
        {
            if (string.IsNullOrEmpty(options.Endpoint))
                throw Config("give an endpoint (host:port) or a Unix socket path");
            if (options.CaPath is null) throw Config("a CA certificate path (-CaPath) is required for TLS");
            if (options.CertificatePath is null && options.ClientCertificate is null)
                throw Config("a client certificate (-CertificatePath, or -Certificate) is required for mTLS");
            var ca = Load(() => TlsTrust.LoadBundle(options.CaPath), options.CaPath, "CA certificate");
            var certificate = options.ClientCertificate ?? Load(() => ClientCertificates.Load(options.CertificatePath!, options.KeyPath, options.PfxPassword),
                options.CertificatePath!, "client certificate or key");
            var named = options.CertificatePath ?? $"'{certificate.Subject}' ({certificate.Thumbprint})";
            if (!certificate.HasPrivateKey)
                throw Config(options.CertificatePath is null ? $"the certificate {named} has no private key" : $"{named} has no private key (give -KeyPath)");
            if (!options.SkipCertificatePreflight &&
                TlsTrust.Validate(certificate, ca, TlsTrust.ClientAuthOid) is { } problem)
            {
                throw new RouterHostsException(RouterHostsErrorCode.Unauthenticated,
                    $"the client certificate {named} would be refused: {problem}");
            }
            endpoint = endpoint with { ClientCertificate = certificate, TrustedCa = ca };
            diagnose = () => TlsTrust.Validate(certificate, ca, TlsTrust.ClientAuthOid);
        }
        var failures = new TlsFailureLog();
        return new RouterHostsClient(options, GrpcChannelFactory.Create(endpoint, failures), failures, diagnose);
    }

    private static RouterHostsException Config(string message) => new(RouterHostsErrorCode.InvalidArgument, message);

    private static T Load<T>(Func<T> load, string path, string what)
    {
        try { return load(); }
        catch (Exception e) when (e is IOException or System.Security.Cryptography.CryptographicException
                                       or InvalidDataException or ArgumentException or UnauthorizedAccessException)
        {
            throw new RouterHostsException(RouterHostsErrorCode.InvalidArgument, $"cannot load the {what} from {path}: {e.Message}");
        }
    }

    // ---- hosts ----

    public Task<RouterHost> AddHostAsync(RouterHostInput input, CancellationToken ct = default) => Call(async options =>
    {
        var request = new AddHostRequest { IpAddress = input.IPAddress, Hostname = input.Hostname, EditToken = EditToken ?? "" };
        if (input.Comment is not null) request.Comment = input.Comment;
        request.Tags.AddRange(input.Tags);
        request.Aliases.AddRange(input.Aliases);
        var response = await _grpc.AddHostAsync(request, options).ConfigureAwait(false);
        return ToHost(response.Entry, response.Outcome?.Staged ?? false);
    }, ct);

    public Task<RouterHost> GetHostAsync(string id, DateTimeOffset? asOf = null, CancellationToken ct = default) => Call(async options =>
    {
        var token = asOf is null ? EditToken : null;
        var request = new GetHostRequest { Id = id, EditToken = token ?? "" };
        if (asOf is { } t) request.AsOf = ToTimestamp(t);
        var entry = (await _grpc.GetHostAsync(request, options).ConfigureAwait(false)).Entry;
        if (token is null) return ToHost(entry);
        string? committedVersion;
        try { committedVersion = (await _grpc.GetHostAsync(new GetHostRequest { Id = id }, UnaryOptions(ct)).ConfigureAwait(false)).Entry.Version; }
        catch (RpcException e) when (e.StatusCode == StatusCode.NotFound) { committedVersion = null; }
        return ToHost(entry, staged: committedVersion != entry.Version);
    }, ct);

    public Task<RouterHost> UpdateHostAsync(string id, RouterHostUpdate update, string? expectedVersion = null, CancellationToken ct = default) =>
        Call(async options =>
        {
            var request = new UpdateHostRequest { Id = id, EditToken = EditToken ?? "" };
            if (update.IPAddress is not null) request.IpAddress = update.IPAddress;
            if (update.Hostname is not null) request.Hostname = update.Hostname;
            if (update.Comment is not null) request.Comment = update.Comment;
            if (update.Tags is not null) request.Tags = new TagsUpdate { Values = { update.Tags } };
            if (update.Aliases is not null) request.Aliases = new AliasesUpdate { Values = { update.Aliases } };
            if (expectedVersion is not null) request.ExpectedVersion = expectedVersion;
            var response = await _grpc.UpdateHostAsync(request, options).ConfigureAwait(false);
            return ToHost(response.Entry, response.Outcome?.Staged ?? false);
        }, ct);

    public Task RemoveHostAsync(string id, string? expectedVersion = null, CancellationToken ct = default) => Call(async options =>
    {
        var request = new DeleteHostRequest { Id = id, EditToken = EditToken ?? "" };
        if (expectedVersion is not null) request.ExpectedVersion = expectedVersion;
        await _grpc.DeleteHostAsync(request, options).ConfigureAwait(false);
        return true;
    }, ct);

    /// <summary>Hosts matching every given criterion, in IP then hostname order.</summary>
    public IAsyncEnumerable<RouterHost> ListHostsAsync(RouterHostsQuery? query = null, CancellationToken ct = default)
    {
        query ??= new RouterHostsQuery();
        var request = new ListHostsRequest { EditToken = EditToken ?? "" };
        if (query.Text is not null) request.Filter = query.Text;
        if (query.HostnamePattern is not null) request.HostnamePattern = query.HostnamePattern;
        if (query.IPAddress is not null) request.IpAddress = query.IPAddress;
        if (query.Tag is not null) request.Tag = query.Tag;
        if (query.Skip is { } skip) request.Offset = skip;
        if (query.First is { } first) request.Limit = first;
        if (query.AsOf is { } asOf) request.AsOf = ToTimestamp(asOf);
        if (request.EditToken.Length == 0 || query.AsOf is not null)
        {
            request.EditToken = "";
            return Stream(options => _grpc.ListHosts(request, options), r => ToHost(r.Entry), ct);
        }
        // The committed versions of the same selection (unpaged: paging could shift between the two views).
        var committed = request.Clone();
        committed.EditToken = "";
        committed.ClearOffset();
        committed.ClearLimit();
        return InSession(Stream(options => _grpc.ListHosts(committed, options), r => r.Entry, ct),
            Stream(options => _grpc.ListHosts(request, options), r => r.Entry, ct), ct);
    }

    public IAsyncEnumerable<RouterHost> SearchHostsAsync(string text, CancellationToken ct = default)
    {
        var request = new SearchHostsRequest { Query = text, EditToken = EditToken ?? "" };
        if (request.EditToken.Length == 0) return Stream(options => _grpc.SearchHosts(request, options), r => ToHost(r.Entry), ct);
        var committed = new SearchHostsRequest { Query = text };
        return InSession(Stream(options => _grpc.SearchHosts(committed, options), r => r.Entry, ct),
            Stream(options => _grpc.SearchHosts(request, options), r => r.Entry, ct), ct);
    }

    /// <summary>
    /// Hosts read through an edit session, each marked Staged when it differs from the
    /// committed state: absent from the committed selection, or at another version there.
    /// </summary>
    private static async IAsyncEnumerable<RouterHost> InSession(IAsyncEnumerable<HostEntry> committed, IAsyncEnumerable<HostEntry> staged,
        [EnumeratorCancellation] CancellationToken ct)
    {
        var versions = new Dictionary<string, string>(StringComparer.Ordinal);
        await foreach (var entry in committed.WithCancellation(ct).ConfigureAwait(false)) versions[entry.Id] = entry.Version;
        await foreach (var entry in staged.WithCancellation(ct).ConfigureAwait(false))
            yield return ToHost(entry, staged: !versions.TryGetValue(entry.Id, out var version) || version != entry.Version);
    }

    public IAsyncEnumerable<RouterHostHistoryEntry> GetHostHistoryAsync(string id, CancellationToken ct = default) =>
        Stream(options => _grpc.GetHostHistory(new GetHostHistoryRequest { Id = id }, options),
            r => new RouterHostHistoryEntry
            {
                EventId = r.EventId, HostId = r.Entry.Id, EventType = r.EventType, Version = r.Version,
                OccurredAt = ToTime(r.OccurredAt), Actor = r.Actor, Host = ToHost(r.Entry),
                FoldedEvents = r.FoldedEvents, Horizon = r.Horizon is null ? null : ToTime(r.Horizon),
            }, ct);

    /// <summary>
    /// Adds many hosts over one stream: inputs are written as they come (flushed every
    /// <see cref="BulkFlushEvery"/>), and one result per input comes back in order, a
    /// failed item carrying its own error while the others go through.
    /// </summary>
    public IAsyncEnumerable<RouterHostsBulkResult> BulkAddAsync(IAsyncEnumerable<RouterHostInput> inputs, CancellationToken ct = default) =>
        BulkAsync(_grpc.BulkAddHosts, inputs, (input, token) =>
        {
            var request = new BulkAddHostsRequest { IpAddress = input.IPAddress ?? "", Hostname = input.Hostname ?? "", EditToken = token };
            if (input.Comment is not null) request.Comment = input.Comment;
            request.Tags.AddRange(input.Tags);
            request.Aliases.AddRange(input.Aliases);
            return request;
        }, r => Result(r.Index, r.Entry, r.Outcome, r.ErrorCode, r.ErrorMessage, r.ErrorReason), ct);

    /// <summary>
    /// Changes or removes many hosts over one stream, as <see cref="BulkAddAsync"/> adds
    /// them: one result per item, in order, a failed item carrying its own error.
    /// </summary>
    public IAsyncEnumerable<RouterHostsBulkResult> BulkChangeAsync(IAsyncEnumerable<RouterHostChange> changes, CancellationToken ct = default) =>
        BulkAsync(_grpc.BulkChangeHosts, changes, (change, token) =>
        {
            var request = new BulkChangeHostsRequest { Id = change.Id, Remove = change.IsRemoval, EditToken = token };
            if (change.ExpectedVersion is not null) request.ExpectedVersion = change.ExpectedVersion;
            if (change.Update is { } update)
            {
                if (update.IPAddress is not null) request.IpAddress = update.IPAddress;
                if (update.Hostname is not null) request.Hostname = update.Hostname;
                if (update.Comment is not null) request.Comment = update.Comment;
                if (update.Tags is not null) request.Tags = new TagsUpdate { Values = { update.Tags } };
                if (update.Aliases is not null) request.Aliases = new AliasesUpdate { Values = { update.Aliases } };
            }
            return request;
        }, r => Result(r.Index, r.Entry, r.Outcome, r.ErrorCode, r.ErrorMessage, r.ErrorReason), ct);

    /// <summary>
    /// One bulk stream: inputs are written as they come (flushed every <see cref="BulkFlushEvery"/>,
    /// the edit token on the first), and one result per input comes back in order.
    /// </summary>
    private async IAsyncEnumerable<RouterHostsBulkResult> BulkAsync<TInput, TRequest, TResponse>(
        Func<CallOptions, AsyncDuplexStreamingCall<TRequest, TResponse>> open, IAsyncEnumerable<TInput> inputs, Func<TInput, string, TRequest> toRequest,
        Func<TResponse, RouterHostsBulkResult> toResult, [EnumeratorCancellation] CancellationToken ct)
    {
        using var call = Invoke(() => open(StreamOptions(ct)));
        var token = EditToken ?? "";
        var writer = Task.Run(async () =>
        {
            var count = 0;
            await foreach (var input in inputs.WithCancellation(ct).ConfigureAwait(false))
            {
                var request = toRequest(input, count == 0 ? token : "");
                call.RequestStream.WriteOptions = ++count % BulkFlushEvery == 0 ? null : new WriteOptions(WriteFlags.BufferHint);
                await call.RequestStream.WriteAsync(request, ct).ConfigureAwait(false);
            }
            await call.RequestStream.CompleteAsync().ConfigureAwait(false);
        }, ct);

        await foreach (var result in Read(call.ResponseStream, toResult, ct).ConfigureAwait(false)) yield return result;
        await Guard(writer).ConfigureAwait(false);
    }

    private RouterHostsBulkResult Result(int index, HostEntry? entry, WriteOutcome? outcome, int errorCode, string errorMessage, string errorReason) => new()
    {
        Index = index,
        Host = entry is null ? null : ToHost(entry, outcome?.Staged ?? false),
        Error = errorCode == 0 ? null
            : new RouterHostsException((RouterHostsErrorCode)errorCode, errorMessage) { Reason = errorReason.Length == 0 ? null : errorReason },
    };

    // ---- import / export ----

    private static async Task<int> ReadImport(Stream content, byte[] buffer, CancellationToken ct)
    {
        try { return await content.ReadAsync(buffer, ct).ConfigureAwait(false); }
        catch (IOException e)
        {
            throw new RouterHostsException(RouterHostsErrorCode.InvalidArgument, $"cannot read the data to import: {e.Message}", null, e);
        }
    }

    /// <summary>
    /// Imports all-or-nothing; with <paramref name="skipInvalid"/> the invalid lines are left out and named
    /// in <see cref="RouterHostsImportResult.FailedLines"/> while the valid ones are imported.
    /// </summary>
    public Task<RouterHostsImportResult> ImportAsync(Stream content, string format, string conflictMode = "skip",
        IProgress<int>? progress = null, CancellationToken ct = default, bool skipInvalid = false) => Call(async _ =>
    {
        using var call = _grpc.ImportHosts(StreamOptions(ct));
        var buffer = new byte[ImportChunkBytes];
        var first = true;
        int read;
        while ((read = await ReadImport(content, buffer, ct).ConfigureAwait(false)) > 0)
        {
            var request = new ImportHostsRequest { Chunk = ByteString.CopyFrom(buffer, 0, read) };
            if (first)
            {
                request.Format = format;
                request.ConflictMode = conflictMode;
                request.EditToken = EditToken ?? "";
                if (skipInvalid) request.SkipInvalid = true;
                first = false;
            }
            await call.RequestStream.WriteAsync(request, ct).ConfigureAwait(false);
        }
        var last = new ImportHostsRequest { LastChunk = true };
        if (first) { last.Format = format; last.ConflictMode = conflictMode; last.EditToken = EditToken ?? ""; if (skipInvalid) last.SkipInvalid = true; }
        await call.RequestStream.WriteAsync(last, ct).ConfigureAwait(false);
        await call.RequestStream.CompleteAsync().ConfigureAwait(false);
        ImportHostsResponse? final = null;
        await foreach (var response in call.ResponseStream.ReadAllAsync(ct).ConfigureAwait(false))
        {
            if (response.Done) final = response;
            else progress?.Report(response.Processed);
        }
        if (final is null) throw new RouterHostsException(RouterHostsErrorCode.Internal, "the agent ended the import without a result");
        return new RouterHostsImportResult
        {
            Processed = final.Processed, Created = final.Created, Updated = final.Updated, Skipped = final.Skipped,
            Failed = final.Failed, FailedLines = final.ValidationErrors.ToArray(),
            Staged = final.Outcome?.Staged ?? false, HostsFileStale = final.Outcome?.HostsFileStale ?? false,
        };
    }, ct, unary: false);

    // ---- compaction ----

    /// <summary>
    /// Folds events into one baseline per host (admin only): of host <paramref name="id"/>, else of every
    /// host with more than <paramref name="overThreshold"/> events, else of every host; events at or before
    /// <paramref name="before"/> (or now). <paramref name="dryRun"/> reports what it would fold.
    /// </summary>
    public Task<IReadOnlyList<RouterHostsCompaction>> CompactAsync(DateTimeOffset? before, string? id = null, long? overThreshold = null,
        bool dryRun = false, CancellationToken ct = default) => Call(async options =>
    {
        var request = new CompactAggregatesRequest { DryRun = dryRun };
        if (id is not null) request.AggregateId = id;
        else if (overThreshold is { } n) request.OverThreshold = n;
        if (before is { } b) request.Before = ToTimestamp(b);
        var r = await _grpc.CompactAggregatesAsync(request, options).ConfigureAwait(false);
        var horizon = ToTime(r.Horizon);
        return (IReadOnlyList<RouterHostsCompaction>)r.Compacted.Select(c => new RouterHostsCompaction
        {
            HostId = c.AggregateId, EventsBefore = c.EventsBefore, EventsAfter = c.EventsAfter, Version = c.Version.ToString(),
            Horizon = horizon, DryRun = r.DryRun,
        }).ToList();
    }, ct);

    /// <summary>Streams every host in <paramref name="format"/> (hosts, json or csv) into <paramref name="destination"/>.</summary>
    public Task ExportAsync(string format, Stream destination, CancellationToken ct = default) => Call(async _ =>
    {
        using var call = _grpc.ExportHosts(new ExportHostsRequest { Format = format }, StreamOptions(ct));
        await foreach (var chunk in call.ResponseStream.ReadAllAsync(ct).ConfigureAwait(false))
            await destination.WriteAsync(chunk.Chunk.Memory, ct).ConfigureAwait(false);
        return true;
    }, ct, unary: false);

    // ---- snapshots ----

    public Task<RouterHostsSnapshot> CreateSnapshotAsync(string name, string trigger = "manual", CancellationToken ct = default) =>
        Call(async options =>
        {
            var r = await _grpc.CreateSnapshotAsync(new CreateSnapshotRequest { Name = name, Trigger = trigger }, options).ConfigureAwait(false);
            return new RouterHostsSnapshot { Id = r.SnapshotId, Name = name, Trigger = trigger, CreatedAt = ToTime(r.CreatedAt), EntryCount = r.EntryCount };
        }, ct);

    public IAsyncEnumerable<RouterHostsSnapshot> ListSnapshotsAsync(int skip = 0, int? first = null, CancellationToken ct = default) =>
        Stream(options => _grpc.ListSnapshots(new ListSnapshotsRequest { Offset = (uint)skip, Limit = (uint)(first ?? 0) }, options),
            r => ToSnapshot(r.Snapshot), ct);

    /// <summary>A snapshot and the hosts it recorded.</summary>
    public Task<(RouterHostsSnapshot Snapshot, IReadOnlyList<RouterHost> Hosts)> GetSnapshotAsync(string snapshotId, CancellationToken ct = default) =>
        Call(async _ =>
        {
            using var call = _grpc.GetSnapshot(new GetSnapshotRequest { SnapshotId = snapshotId }, StreamOptions(ct));
            RouterHostsSnapshot? snapshot = null;
            var hosts = new List<RouterHost>();
            await foreach (var r in call.ResponseStream.ReadAllAsync(ct).ConfigureAwait(false))
            {
                if (r.Snapshot is not null) snapshot = ToSnapshot(r.Snapshot);
                if (r.Entry is not null) hosts.Add(ToHost(r.Entry));
            }
            return (snapshot ?? throw new RouterHostsException(RouterHostsErrorCode.NotFound, $"snapshot '{snapshotId}' not found"),
                (IReadOnlyList<RouterHost>)hosts);
        }, ct, unary: false);

    public Task<RouterHostsRestoreResult> RestoreSnapshotAsync(string snapshotId, CancellationToken ct = default) => Call(async options =>
    {
        var r = await _grpc.RollbackToSnapshotAsync(new RollbackToSnapshotRequest { SnapshotId = snapshotId }, options).ConfigureAwait(false);
        return new RouterHostsRestoreResult
        {
            SnapshotId = snapshotId, BackupSnapshotId = r.NewSnapshotId, RestoredEntryCount = r.RestoredEntryCount,
            HostsFileStale = r.Outcome?.HostsFileStale ?? false,
        };
    }, ct);

    public Task RemoveSnapshotAsync(string snapshotId, CancellationToken ct = default) => Call(async options =>
    {
        await _grpc.DeleteSnapshotAsync(new DeleteSnapshotRequest { SnapshotId = snapshotId }, options).ConfigureAwait(false);
        return true;
    }, ct);

    // ---- edit sessions ----

    /// <summary>
    /// Opens the agent's edit session and attaches it to this client. With <paramref name="resume"/>,
    /// attaches the session this identity already holds (started from another process) instead.
    /// </summary>
    public Task<RouterHostsEdit> StartEditAsync(bool resume = false, CancellationToken ct = default) => Call(async options =>
    {
        if (EditToken is not null)
            throw new RouterHostsException(RouterHostsErrorCode.FailedPrecondition,
                "this connection already holds an edit session; complete or undo it first") { Reason = RouterHostsReasons.EditSessionHeld };
        var r = await _grpc.StartEditAsync(new StartEditRequest { Resume = resume }, options).ConfigureAwait(false);
        Volatile.Write(ref _editToken, r.EditToken);
        return ToEdit(r.Session, isMine: true);
    }, ct);

    /// <summary>Commits the attached session's staged changes atomically.</summary>
    public Task<RouterHostsEditResult> CompleteEditAsync(CancellationToken ct = default) => Call(async options =>
    {
        var token = RequireEditToken();
        try
        {
            var r = await _grpc.FinishEditAsync(new FinishEditRequest { EditToken = token }, options).ConfigureAwait(false);
            Volatile.Write(ref _editToken, null);
            return new RouterHostsEditResult
            {
                Added = r.Added, Changed = r.Changed, Removed = r.Removed, SnapshotId = r.SnapshotId,
                HostsFileStale = r.Outcome?.HostsFileStale ?? false,
            };
        }
        catch (RpcException e) when (e.StatusCode == StatusCode.FailedPrecondition)
        {
            Volatile.Write(ref _editToken, null); // expired or unknown: the session is gone either way
            throw;
        }
    }, ct);

    /// <summary>
    /// Discards the attached session's staged changes; returns how many there were. With
    /// <paramref name="force"/>, ends the agent's live session without its token: this identity's
    /// own (held by another process), or, for an admin, anyone's.
    /// </summary>
    public Task<int> UndoEditAsync(bool force = false, CancellationToken ct = default) => Call(async options =>
    {
        var token = force ? EditToken ?? "" : RequireEditToken();
        try
        {
            var r = await _grpc.CancelEditAsync(new CancelEditRequest { EditToken = token, Force = force }, options).ConfigureAwait(false);
            return r.DiscardedChanges;
        }
        finally { Volatile.Write(ref _editToken, null); }
    }, ct);

    /// <summary>The agent's live edit session (whoever holds it), or null.</summary>
    public Task<RouterHostsEdit?> GetEditAsync(CancellationToken ct = default) => Call(async options =>
    {
        var r = await _grpc.GetEditAsync(new GetEditRequest { EditToken = EditToken ?? "" }, options).ConfigureAwait(false);
        return r.Session is null ? null : ToEdit(r.Session, isMine: EditToken is not null);
    }, ct);

    private string RequireEditToken() => EditToken ?? throw new RouterHostsException(RouterHostsErrorCode.FailedPrecondition,
        "this connection holds no edit session; start one with Start-RouterHostsEdit") { Reason = RouterHostsReasons.NoEditSession };

    // ---- agent ----

    public Task<RouterHostsAgentStatus> GetAgentStatusAsync(CancellationToken ct = default) => Call(async options =>
    {
        var h = await _grpc.HealthAsync(new HealthRequest(), options).ConfigureAwait(false);
        return new RouterHostsAgentStatus
        {
            Endpoint = Target,
            Healthy = h.Healthy,
            Version = h.Server?.Version ?? "",
            Uptime = TimeSpan.FromSeconds(h.Server?.UptimeSeconds ?? 0),
            BuildInfo = h.Server?.BuildInfo ?? "",
            DatabaseBackend = h.Database?.Backend ?? "",
            DatabaseConnected = h.Database?.Connected ?? false,
            DatabaseLatency = TimeSpan.FromTicks((h.Database?.LatencyMicros ?? 0) * 10),
            DatabaseError = string.IsNullOrEmpty(h.Database?.Error) ? null : h.Database!.Error,
            HostCount = h.HostCount,
            ChangeId = h.ChangeId,
            HostsFilePath = h.HostsFile?.Path ?? "",
            HostsFileMode = h.HostsFile?.Mode ?? "",
            HostsFileCurrent = h.HostsFile?.Current ?? false,
            HostsFileError = string.IsNullOrEmpty(h.HostsFile?.LastError) ? null : h.HostsFile!.LastError,
            HookNames = h.Hooks?.HookNames.ToArray() ?? [],
            LastHookRuns = h.Hooks?.LastRuns.Select(ToHookStatus).ToArray() ?? [],
            Outputs = h.Outputs.Select(o => new RouterHostsOutputStatus
            {
                Path = o.Path, Format = o.Format, Current = o.Current, Error = string.IsNullOrEmpty(o.LastError) ? null : o.LastError,
                RenderedChangeId = o.RenderedChangeId, Refused = o.Refused.ToArray(), LastHookRuns = o.LastHookRuns.Select(ToHookStatus).ToArray(),
                Drift = o.Drift is null ? null : ToDrift(o.Drift),
            }).ToArray(),
            EditSession = h.EditSession is null ? null : ToEdit(h.EditSession, EditToken is not null),
            HostsFileDrift = h.HostsFile?.Drift?.State ?? "",
            ServerCertificateSubject = string.IsNullOrEmpty(h.Acme?.CertificateSubject) ? null : h.Acme.CertificateSubject,
            ServerCertificateIssuer = string.IsNullOrEmpty(h.Acme?.CertificateIssuer) ? null : h.Acme.CertificateIssuer,
            ServerCertificateExpiresAt = h.Acme?.CertificateNotAfter?.ToDateTimeOffset(),
            Agents = h.Agents.Select(ToAgent).ToArray(),
        };
    }, ct);

    private static RouterHostsHookStatus ToHookStatus(HookRun r) => new()
    {
        Name = r.Name, Event = r.Event, ExitCode = r.ExitCode, TimedOut = r.TimedOut,
        Duration = TimeSpan.FromMilliseconds(r.DurationMs), FinishedAt = ToTime(r.FinishedAt), OutputTail = r.OutputTail,
    };

    /// <summary>True when the agent answers and says it is ready; the reason when it is not.</summary>
    public async Task<(bool Ready, string Reason)> TestAsync(CancellationToken ct = default)
    {
        try
        {
            var r = await Call(async options => await _grpc.ReadinessAsync(new ReadinessRequest(), options), ct).ConfigureAwait(false);
            return (r.Ready, r.Reason);
        }
        catch (RouterHostsException e) when (e.IsConnectionProblem || e.Code == RouterHostsErrorCode.DeadlineExceeded)
        {
            return (false, e.Message);
        }
    }

    /// <summary>The full set now, then (with <paramref name="follow"/>) a fresh full set after each change, until cancelled.</summary>
    public async IAsyncEnumerable<RouterHostsChange> WatchAsync(bool follow, [EnumeratorCancellation] CancellationToken ct = default)
    {
        using var call = Invoke(() => _grpc.WatchHosts(StreamOptions(ct)));
        await Guard(call.RequestStream.WriteAsync(new WatchHostsRequest { Follow = follow }, ct)).ConfigureAwait(false);
        var hosts = new List<RouterHost>();
        await foreach (var r in Read(call.ResponseStream, r => r, ct).ConfigureAwait(false))
        {
            if (r.PayloadCase == WatchHostsResponse.PayloadOneofCase.Entry) { hosts.Add(ToHost(r.Entry)); continue; }
            yield return new RouterHostsChange { ChangeId = r.Complete.ChangeId, GeneratedAt = ToTime(r.Complete.GeneratedAt), Hosts = hosts.ToArray() };
            hosts.Clear();
        }
    }

    // ---- plumbing: every call goes through Call/Stream, which translate failures ----

    private CallOptions UnaryOptions(CancellationToken ct) =>
        new(deadline: DateTime.UtcNow + _options.CallTimeout, cancellationToken: ct);

    private static CallOptions StreamOptions(CancellationToken ct) => new(cancellationToken: ct);

    private async Task<T> Call<T>(Func<CallOptions, Task<T>> call, CancellationToken ct, bool unary = true)
    {
        try { return await call(unary ? UnaryOptions(ct) : StreamOptions(ct)).ConfigureAwait(false); }
        catch (RpcException e) { throw Translate(e); }
    }

    private async Task Guard(Task task)
    {
        try { await task.ConfigureAwait(false); }
        catch (RpcException e) { throw Translate(e); }
    }

    private T Invoke<T>(Func<T> start)
    {
        try { return start(); }
        catch (RpcException e) { throw Translate(e); }
    }

    /// <summary>A server-streaming call, disposed (cancelled on the wire) when the caller stops enumerating early.</summary>
    private async IAsyncEnumerable<TOut> Stream<TIn, TOut>(Func<CallOptions, AsyncServerStreamingCall<TIn>> open, Func<TIn, TOut> map,
        [EnumeratorCancellation] CancellationToken ct)
    {
        using var call = Invoke(() => open(StreamOptions(ct)));
        await foreach (var item in Read(call.ResponseStream, map, ct).ConfigureAwait(false)) yield return item;
    }

    private async IAsyncEnumerable<TOut> Read<TIn, TOut>(IAsyncStreamReader<TIn> reader, Func<TIn, TOut> map,
        [EnumeratorCancellation] CancellationToken ct)
    {
        while (true)
        {
            bool more;
            try { more = await reader.MoveNext(ct).ConfigureAwait(false); }
            catch (RpcException e) { throw Translate(e); }
            if (!more) yield break;
            yield return map(reader.Current);
        }
    }

    /// <summary>Forgets the attached edit session without asking the agent (e.g. after it expired).</summary>
    public void DetachEdit() => Volatile.Write(ref _editToken, null);

    private RouterHostsException Translate(RpcException e)
    {
        var code = (RouterHostsErrorCode)(int)e.StatusCode;
        var reason = e.Trailers.GetValue(ErrorDetails.ReasonTrailerKey);
        // The agent no longer knows our session: drop the token so later calls are not staged into nothing.
        if (RouterHostsReasons.IsEditSessionGone(reason)) DetachEdit();
        var details = e.Trailers.Where(t => t.Key == ErrorDetails.TrailerKey && t.IsBinary)
            .SelectMany(t => ErrorDetails.Decode(t.ValueBytes)).ToList();
        // We refused the agent's certificate (wrong -ServerName, or not from our CA): the advice is about the server, not our certificate.
        var serverRefused = _tlsFailures.HasFailure;
        if (code is RouterHostsErrorCode.Unavailable or RouterHostsErrorCode.Internal or RouterHostsErrorCode.Unknown
            && TransportErrors.Explain(e, Target, _tlsFailures, _diagnoseClientCertificate) is { } failure)
        {
            var isTls = failure.Kind == TransportFailureKind.Tls;
            return new RouterHostsException(isTls ? RouterHostsErrorCode.Unauthenticated : RouterHostsErrorCode.Unavailable,
                failure.Message, details, e) { Reason = isTls && serverRefused ? RouterHostsReasons.ServerCertificateRefused : null };
        }
        var message = string.IsNullOrEmpty(e.Status.Detail) ? e.StatusCode.ToString() : e.Status.Detail;
        return new RouterHostsException(code, message, details, e) { Reason = reason };
    }

    public void Dispose() => _channel.Dispose();
}

/// <summary>Criteria for <see cref="RouterHostsClient.ListHostsAsync"/>; each one set must match.</summary>
public sealed class RouterHostsQuery
{
    /// <summary>Case-insensitive substring over IP, hostname, aliases, comment and tags.</summary>
    public string? Text { get; init; }
    /// <summary>Wildcards * and ? over the hostname and aliases.</summary>
    public string? HostnamePattern { get; init; }
    public string? IPAddress { get; init; }
    public string? Tag { get; init; }
    public int? Skip { get; init; }
    public int? First { get; init; }
    public DateTimeOffset? AsOf { get; init; }
}
