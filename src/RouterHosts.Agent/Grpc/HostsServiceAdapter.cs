using System.Diagnostics;
using System.Threading.Channels;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using RouterHosts.Core;
using RouterHosts.Core.Hosts;
using RouterHosts.Core.Sessions;
using RouterHosts.Protocol.V1;
using static RouterHosts.Agent.Grpc.ProtoConvert;
using HostEntry = RouterHosts.Core.Hosts.HostEntry;

namespace RouterHosts.Agent.Grpc;

/// <summary>
/// router_hosts.v1 on top of the core: translates messages and nothing more.
/// Errors are mapped by <see cref="CallGuard"/>; the caller's identity comes from it too.
/// </summary>
public sealed partial class HostsServiceAdapter(HostsEngine engine, AgentInfo agent, ILogger<HostsServiceAdapter> log, Core.Outputs.OutputSet outputs) : HostsService.HostsServiceBase
{
    private static string Actor(ServerCallContext context) => CallGuard.CallerOf(context).Actor;

    /// <summary>The edit token as the caller presents it (null when none is given): the session checks it is theirs.</summary>
    private static EditAccess? Edit(string? token, ServerCallContext context) =>
        string.IsNullOrEmpty(token) ? null : new EditAccess(token, CallGuard.CallerOf(context).Identity);

    // ---- hosts ----

    public override async Task<AddHostResponse> AddHost(AddHostRequest request, ServerCallContext context)
    {
        var draft = ToDraft(request.IpAddress, request.Hostname, request.HasComment ? request.Comment : null, request.Tags, request.Aliases);
        var (entry, outcome) = await engine.AddAsync(Actor(context), draft, Edit(request.EditToken, context), context.CancellationToken);
        return new AddHostResponse { Id = entry.Id, Entry = ToProto(entry), Outcome = ToProto(outcome) };
    }

    public override Task<GetHostResponse> GetHost(GetHostRequest request, ServerCallContext context) =>
        Task.FromResult(new GetHostResponse
        {
            Entry = ToProto(engine.Get(request.Id, Edit(request.EditToken, context), ToTime(request.AsOf))),
        });

    public override async Task<UpdateHostResponse> UpdateHost(UpdateHostRequest request, ServerCallContext context)
    {
        var patch = new HostPatch(
            request.HasIpAddress ? request.IpAddress : null,
            request.HasHostname ? request.Hostname : null,
            request.HasComment ? request.Comment : null,
            request.Tags?.Values.ToList(),
            request.Aliases?.Values.ToList());
        var (entry, outcome) = await engine.UpdateAsync(Actor(context), request.Id, patch,
            request.HasExpectedVersion ? request.ExpectedVersion : null, Edit(request.EditToken, context), context.CancellationToken);
        return new UpdateHostResponse { Entry = ToProto(entry), Outcome = ToProto(outcome) };
    }

    public override async Task<DeleteHostResponse> DeleteHost(DeleteHostRequest request, ServerCallContext context)
    {
        var (_, outcome) = await engine.DeleteAsync(Actor(context), request.Id,
            request.HasExpectedVersion ? request.ExpectedVersion : null, Edit(request.EditToken, context), context.CancellationToken);
        return new DeleteHostResponse { Success = true, Outcome = ToProto(outcome) };
    }

    public override async Task ListHosts(ListHostsRequest request, IServerStreamWriter<ListHostsResponse> responseStream, ServerCallContext context)
    {
        var query = new HostQuery(
            request.HasFilter ? request.Filter : null,
            request.HasHostnamePattern ? request.HostnamePattern : null,
            request.HasIpAddress ? request.IpAddress : null,
            request.HasTag ? request.Tag : null,
            request.HasOffset ? request.Offset : 0,
            request.HasLimit && request.Limit > 0 ? request.Limit : null);
        await WriteAllAsync(responseStream, engine.Stream(query, Edit(request.EditToken, context), ToTime(request.AsOf)),
            entry => new ListHostsResponse { Entry = ToProto(entry) }, context.CancellationToken);
    }

    public override async Task SearchHosts(SearchHostsRequest request, IServerStreamWriter<SearchHostsResponse> responseStream, ServerCallContext context)
    {
        if (string.IsNullOrEmpty(request.Query)) throw CoreException.Invalid("query", request.Query, "a search text is required");
        await WriteAllAsync(responseStream, engine.Stream(new HostQuery(Text: request.Query), Edit(request.EditToken, context)),
            entry => new SearchHostsResponse { Entry = ToProto(entry) }, context.CancellationToken);
    }

    /// <summary>Messages between flushes of a server stream: about 30 KiB of host entries.</summary>
    internal const int MessagesPerFlush = 128;

    /// <summary>
    /// Writes a reply stream as it is enumerated. Messages go out buffered and are flushed
    /// every <see cref="MessagesPerFlush"/>: a flush per message was most of a list's cost.
    /// A flush waits while the client is not reading (HTTP/2 flow control and Kestrel's
    /// response buffer), so a stalled stream holds one flush's worth of messages and one
    /// page of rows, and reads nothing more from the database.
    /// </summary>
    private static async Task WriteAllAsync<TSource, TMessage>(IServerStreamWriter<TMessage> stream, IEnumerable<TSource> items,
        Func<TSource, TMessage> toMessage, CancellationToken ct)
    {
        var buffered = new WriteOptions(WriteFlags.BufferHint);
        var count = 0;
        foreach (var item in items)
        {
            ct.ThrowIfCancellationRequested();
            stream.WriteOptions = ++count % MessagesPerFlush == 0 ? null : buffered;
            await stream.WriteAsync(toMessage(item), ct);
        }
        stream.WriteOptions = null; // the end of the call flushes the rest with the trailers
    }

    public override async Task GetHostHistory(GetHostHistoryRequest request, IServerStreamWriter<GetHostHistoryResponse> responseStream, ServerCallContext context)
    {
        await WriteAllAsync(responseStream, engine.History(request.Id), e =>
        {
            var response = new GetHostHistoryResponse
            {
                EventId = e.EventId, EventType = e.IsBaseline ? "baseline" : e.Type.ToString().ToLowerInvariant(), Version = e.Version.ToString(),
                OccurredAt = Timestamp.FromDateTimeOffset(e.OccurredAt), Actor = e.Actor, Entry = ToProto(e.State),
            };
            if (e.Horizon is { } horizon)
            {
                response.FoldedEvents = e.Folded;
                response.Horizon = Timestamp.FromDateTimeOffset(horizon);
                response.Deleted = e.Type == HostEventType.Deleted;
            }
            return response;
        }, context.CancellationToken);
    }

    public override async Task BulkAddHosts(IAsyncStreamReader<BulkAddHostsRequest> requestStream,
        IServerStreamWriter<BulkAddHostsResponse> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var bulk = await BulkRequests<HostDraft>.StartAsync(requestStream, context, r => r.EditToken,
            r => ToDraft(r.IpAddress, r.Hostname, r.HasComment ? r.Comment : null, r.Tags, r.Aliases));
        await engine.BulkAddAsync(Actor(context), bulk.Items, bulk.Token, async result =>
        {
            var response = new BulkAddHostsResponse { Index = result.Index };
            if (result.Entry is not null)
            {
                response.Entry = ToProto(result.Entry);
                response.Outcome = ToProto(result.Outcome);
            }
            else if (result.Error is not null)
            {
                response.ErrorCode = (int)CallGuard.StatusOf(result.Error.Kind);
                response.ErrorMessage = result.Error.Message;
                response.ErrorReason = result.Error.Reason ?? "";
            }
            // Flush once per committed batch rather than once per item.
            responseStream.WriteOptions = result.EndOfBatch ? null : new WriteOptions(WriteFlags.BufferHint);
            await responseStream.WriteAsync(response, ct);
        }, ct);
        await bulk.Reading;
    }

    public override async Task BulkChangeHosts(IAsyncStreamReader<BulkChangeHostsRequest> requestStream,
        IServerStreamWriter<BulkChangeHostsResponse> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var removals = new List<bool>();
        var bulk = await BulkRequests<Core.Writes.HostCommand>.StartAsync(requestStream, context, r => r.EditToken, r =>
        {
            var expected = r.HasExpectedVersion ? r.ExpectedVersion : null;
            lock (removals) removals.Add(r.Remove);
            return r.Remove
                ? new Core.Writes.DeleteHostCommand(r.Id, expected)
                : new Core.Writes.UpdateHostCommand(r.Id, new HostPatch(
                    r.HasIpAddress ? r.IpAddress : null,
                    r.HasHostname ? r.Hostname : null,
                    r.HasComment ? r.Comment : null,
                    r.Tags?.Values.ToList(),
                    r.Aliases?.Values.ToList()), expected);
        });
        await engine.BulkChangeAsync(Actor(context), bulk.Items, bulk.Token, async result =>
        {
            var response = new BulkChangeHostsResponse { Index = result.Index };
            bool removed;
            lock (removals) removed = removals[result.Index];
            if (result.Error is not null)
            {
                response.ErrorCode = (int)CallGuard.StatusOf(result.Error.Kind);
                response.ErrorMessage = result.Error.Message;
                response.ErrorReason = result.Error.Reason ?? "";
            }
            else
            {
                if (!removed && result.Entry is not null) response.Entry = ToProto(result.Entry);
                response.Outcome = ToProto(result.Outcome);
            }
            responseStream.WriteOptions = result.EndOfBatch ? null : new WriteOptions(WriteFlags.BufferHint);
            await responseStream.WriteAsync(response, ct);
        }, ct);
        await bulk.Reading;
    }

    /// <summary>
    /// A bulk call's requests, read into a bounded channel as the engine takes them. The edit
    /// token comes with the first request, so the call waits for it before it chooses to stage
    /// or to write.
    /// </summary>
    private sealed class BulkRequests<TItem>
    {
        public required ChannelReader<TItem> Items { get; init; }
        public required Task Reading { get; init; }
        public required EditAccess? Token { get; init; }

        public static async Task<BulkRequests<TItem>> StartAsync<TRequest>(IAsyncStreamReader<TRequest> requests, ServerCallContext context,
            Func<TRequest, string> tokenOf, Func<TRequest, TItem> toItem)
        {
            var ct = context.CancellationToken;
            var items = Channel.CreateBounded<TItem>(new BoundedChannelOptions(4 * HostsEngine.BulkBatchSize) { SingleReader = true, SingleWriter = true });
            var first = new TaskCompletionSource<EditAccess?>(TaskCreationOptions.RunContinuationsAsynchronously);
            var reading = Task.Run(async () =>
            {
                try
                {
                    await foreach (var r in requests.ReadAllAsync(ct))
                    {
                        first.TrySetResult(Edit(tokenOf(r), context));
                        await items.Writer.WriteAsync(toItem(r), ct);
                    }
                    items.Writer.Complete();
                }
                catch (Exception e) { items.Writer.Complete(e); }
                finally { first.TrySetResult(null); }
            }, ct);
            return new BulkRequests<TItem> { Items = items.Reader, Reading = reading, Token = await first.Task };
        }
    }

    // ---- import / export ----

    public override async Task ImportHosts(IAsyncStreamReader<ImportHostsRequest> requestStream,
        IServerStreamWriter<ImportHostsResponse> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var payload = new MemoryStream();
        string? format = null, conflictMode = null;
        EditAccess? token = null;
        bool? skipInvalid = null;
        var complete = false;
        await foreach (var chunk in requestStream.ReadAllAsync(ct))
        {
            if (chunk.HasSkipInvalid) skipInvalid ??= chunk.SkipInvalid;
            if (chunk.HasFormat) format ??= chunk.Format;
            if (chunk.HasConflictMode) conflictMode ??= chunk.ConflictMode;
            token ??= Edit(chunk.EditToken, context);
            if (payload.Length + chunk.Chunk.Length > HostsEngine.MaxImportBytes)
                throw new CoreException(CoreErrorKind.ResourceExhausted,
                    $"import payload over {HostsEngine.MaxImportBytes / (1024 * 1024)} MiB; split the file");
            chunk.Chunk.WriteTo(payload);
            if (chunk.LastChunk) { complete = true; break; }
        }
        // A stream that ends without its last chunk is an upload cut short: import none of it.
        if (!complete)
            throw new CoreException(CoreErrorKind.InvalidArgument,
                $"the import upload was incomplete: the stream ended after {payload.Length} byte(s) without a chunk marked last_chunk; nothing was imported")
            { Reason = RouterHostsReasons.ImportIncomplete };
        var mode = HostsEngine.ParseConflictMode(conflictMode);
        try
        {
            var result = await engine.ImportAsync(Actor(context), payload.ToArray(), format, mode, token,
                progress => responseStream.WriteAsync(new ImportHostsResponse { Processed = progress.Processed }, ct), ct,
                skipInvalid ?? false);
            var done = new ImportHostsResponse
            {
                Processed = result.Processed, Created = result.Created, Updated = result.Updated, Skipped = result.Skipped,
                Failed = result.Failed, Outcome = ToProto(result.Outcome), Done = true,
            };
            done.ValidationErrors.AddRange(result.FailedLines ?? []);
            await responseStream.WriteAsync(done, ct);
        }
        catch (CoreException e) when (e.Kind == CoreErrorKind.InvalidArgument && e.Details.Count > 0)
        {
            // The other server's clients read validation errors from the response, ours from the status; give both.
            var failed = new ImportHostsResponse { Failed = e.Details.Count, Error = e.Message, Done = true };
            failed.ValidationErrors.AddRange(e.Details);
            await responseStream.WriteAsync(failed, ct);
            throw;
        }
    }

    public override Task ExportHosts(ExportHostsRequest request, IServerStreamWriter<ExportHostsResponse> responseStream, ServerCallContext context) =>
        engine.ExportAsync(request.Format, chunk =>
            responseStream.WriteAsync(new ExportHostsResponse { Chunk = ByteString.CopyFrom(chunk.Span) }, context.CancellationToken),
            context.CancellationToken);

    public override async Task WatchHosts(IAsyncStreamReader<WatchHostsRequest> requestStream,
        IServerStreamWriter<WatchHostsResponse> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        if (!await requestStream.MoveNext(ct)) return;
        var follow = requestStream.Current.Follow;
        var drift = requestStream.Current.IncludeDrift ? DriftOf(context) : null;
        // Later requests only carry the sink's status; read and drop them so the stream keeps
        // flowing. CallGuard ends a read still pending when the call ends.
        _ = DrainAsync(requestStream, ct);
        await SendSetsAsync(responseStream, follow, drift, ct);
    }

    private static async Task DrainAsync<T>(IAsyncStreamReader<T> requests, CancellationToken ct)
    {
        try { while (await requests.MoveNext(ct)) { } }
        catch (Exception e) when (e is OperationCanceledException or RpcException or IOException or InvalidOperationException) { }
    }

    /// <summary>The full set, then (with <paramref name="follow"/>) the full set again after each change.</summary>
    private async Task SendSetsAsync(IServerStreamWriter<WatchHostsResponse> responseStream, bool follow, Core.HostsFile.HostsFileDrift? drift,
        CancellationToken ct)
    {
        var driftSeen = drift?.Events.ChangeId ?? 0;
        while (!ct.IsCancellationRequested)
        {
            var set = engine.CurrentSet();
            var count = 0;
            await WriteAllAsync(responseStream, set.Entries, entry =>
            {
                count++;
                return new WatchHostsResponse { Entry = ToProto(entry) };
            }, ct);
            await responseStream.WriteAsync(new WatchHostsResponse
            {
                Complete = new SnapshotComplete
                {
                    Count = count, GeneratedAt = Timestamp.FromDateTime(DateTime.UtcNow), ContractVersion = "1", ChangeId = set.ChangeId.ToString(),
                },
            }, ct);
            if (!follow) return;
            try { driftSeen = await WaitForChangeAsync(set.ChangeId, drift, driftSeen, responseStream, ct); }
            catch (OperationCanceledException) { return; }
        }
    }

    // ---- snapshots ----

    public override async Task<CreateSnapshotResponse> CreateSnapshot(CreateSnapshotRequest request, ServerCallContext context)
    {
        var s = await engine.CreateSnapshotAsync(request.Name, request.Trigger, context.CancellationToken);
        return new CreateSnapshotResponse { SnapshotId = s.Id, CreatedAt = Timestamp.FromDateTimeOffset(s.CreatedAt), EntryCount = s.EntryCount };
    }

    public override async Task ListSnapshots(ListSnapshotsRequest request, IServerStreamWriter<ListSnapshotsResponse> responseStream, ServerCallContext context)
    {
        foreach (var s in engine.ListSnapshots((int)request.Offset, request.Limit == 0 ? null : (int)request.Limit))
            await responseStream.WriteAsync(new ListSnapshotsResponse { Snapshot = ToProto(s) }, context.CancellationToken);
    }

    public override async Task GetSnapshot(GetSnapshotRequest request, IServerStreamWriter<GetSnapshotResponse> responseStream, ServerCallContext context)
    {
        var (info, entries) = engine.GetSnapshot(request.SnapshotId);
        await responseStream.WriteAsync(new GetSnapshotResponse { Snapshot = ToProto(info) }, context.CancellationToken);
        await WriteAllAsync(responseStream, entries, entry => new GetSnapshotResponse { Entry = ToProto(entry) }, context.CancellationToken);
    }

    public override async Task<RollbackToSnapshotResponse> RollbackToSnapshot(RollbackToSnapshotRequest request, ServerCallContext context)
    {
        var result = await engine.RollbackAsync(Actor(context), request.SnapshotId, context.CancellationToken);
        return new RollbackToSnapshotResponse
        {
            Success = true, NewSnapshotId = result.BackupSnapshotId, RestoredEntryCount = result.RestoredEntryCount,
            Outcome = ToProto(result.Outcome),
        };
    }

    public override Task<DeleteSnapshotResponse> DeleteSnapshot(DeleteSnapshotRequest request, ServerCallContext context)
    {
        engine.DeleteSnapshot(request.SnapshotId);
        return Task.FromResult(new DeleteSnapshotResponse { Success = true });
    }

    public override Task<CompactAggregatesResponse> CompactAggregates(CompactAggregatesRequest request, ServerCallContext context)
    {
        var hostId = request.TargetCase == CompactAggregatesRequest.TargetOneofCase.AggregateId ? request.AggregateId : null;
        long? threshold = request.TargetCase == CompactAggregatesRequest.TargetOneofCase.OverThreshold ? request.OverThreshold : null;
        if (request.TargetCase == CompactAggregatesRequest.TargetOneofCase.None && request.Before is null)
            throw CoreException.Invalid("target", null, "give aggregate_id, over_threshold, or before (a time horizon for every host)");
        var report = engine.Compact(hostId, threshold, ToTime(request.Before, "before"), request.DryRun);
        var response = new CompactAggregatesResponse
        {
            TotalEventsReclaimed = report.EventsReclaimed, Horizon = Timestamp.FromDateTimeOffset(report.Horizon), DryRun = report.DryRun,
        };
        response.Compacted.AddRange(report.Hosts.Select(h => new CompactedAggregate
        {
            AggregateId = h.HostId, EventsBefore = h.EventsBefore, EventsAfter = h.EventsAfter, Version = h.Version,
        }));
        return Task.FromResult(response);
    }

    // ---- edit sessions ----

    public override Task<StartEditResponse> StartEdit(StartEditRequest request, ServerCallContext context)
    {
        var caller = CallGuard.CallerOf(context);
        var (access, info) = engine.StartEdit(caller.Identity, caller.Actor, request.Resume);
        return Task.FromResult(new StartEditResponse { EditToken = access.Token, Session = ToProto(info) });
    }

    public override async Task<FinishEditResponse> FinishEdit(FinishEditRequest request, ServerCallContext context)
    {
        var r = await engine.FinishEditAsync(Actor(context), RequiredEdit(request.EditToken, context), context.CancellationToken);
        return new FinishEditResponse { Added = r.Added, Changed = r.Changed, Removed = r.Removed, SnapshotId = r.SnapshotId, Outcome = ToProto(r.Outcome) };
    }

    public override async Task<CancelEditResponse> CancelEdit(CancelEditRequest request, ServerCallContext context)
    {
        if (!request.Force)
            return new CancelEditResponse { Success = true, DiscardedChanges = engine.CancelEdit(RequiredEdit(request.EditToken, context)) };
        // Without the token: the caller's own session, or, for an admin, anyone's (logged and recorded).
        var caller = CallGuard.CallerOf(context);
        var ended = await engine.EndEditWithoutTokenAsync(caller.Actor, caller.Identity, mayEndAnothers: caller.Role >= Role.Admin);
        if (ended.HeldByAnother)
            log.LogWarning("{Actor} ended the edit session of {Holder} (started {Started:u}); {Count} staged change(s) discarded",
                caller.Actor, ended.Info.Holder, ended.Info.StartedAt.UtcDateTime, ended.DiscardedChanges);
        return new CancelEditResponse { Success = true, DiscardedChanges = ended.DiscardedChanges };
    }

    public override Task<GetEditResponse> GetEdit(GetEditRequest request, ServerCallContext context)
    {
        // A token given is checked: "expired", "unknown" or "not yours" for such a token.
        var current = engine.GetEdit(Edit(request.EditToken, context));
        return Task.FromResult(new GetEditResponse { Session = current is null ? null : ToProto(current) });
    }

    /// <summary>FinishEdit and CancelEdit act on a given session: an empty token is the session check's "required".</summary>
    private static EditAccess RequiredEdit(string token, ServerCallContext context) =>
        new(token, CallGuard.CallerOf(context).Identity);

    // ---- health ----

    public override Task<LivenessResponse> Liveness(LivenessRequest request, ServerCallContext context) =>
        Task.FromResult(new LivenessResponse { Alive = true });

    public override Task<ReadinessResponse> Readiness(ReadinessRequest request, ServerCallContext context)
    {
        var reason = AgentHealth.Read(engine).NotReadyReason;
        return Task.FromResult(new ReadinessResponse
        {
            Ready = reason is null, Reason = reason ?? "", HostsFileDrift = DriftToProto(DriftOf(context).Status),
        });
    }

    public override Task<HealthResponse> Health(HealthRequest request, ServerCallContext context)
    {
        var health = AgentHealth.Read(engine);
        var file = health.HostsFile;
        var response = new HealthResponse
        {
            Healthy = health.Healthy,
            Server = new ServerInfo { Version = agent.Version, UptimeSeconds = (long)agent.Uptime.TotalSeconds, BuildInfo = agent.BuildInfo },
            Database = new DatabaseHealth
            {
                Backend = health.Backend, Connected = health.DatabaseConnected, Error = health.DatabaseError ?? "",
                LatencyMicros = (long)health.DatabaseLatency.TotalMicroseconds, LatencyMs = (long)health.DatabaseLatency.TotalMilliseconds,
            },
            Acme = ServerCertificate(),
            Hooks = new HooksHealth { ConfiguredCount = health.Hooks.All.Count() },
            HostsFile = new HostsFileHealth
            {
                Path = file.Path, Current = file.Current, LastError = file.LastError ?? "", Mode = file.Mode.ToString().ToLowerInvariant(),
                RenderedChangeId = file.RenderedChangeId.ToString(),
                LastWrittenAt = file.LastWrittenAt is { } at ? Timestamp.FromDateTimeOffset(at) : null,
                Drift = DriftToProto(DriftOf(context).Status),
            },
            HostCount = health.HostCount,
            ChangeId = health.ChangeId.ToString(),
        };
        response.Hooks.HookNames.AddRange(health.Hooks.All.Select(h => h.Name));
        response.Hooks.LastRuns.AddRange(health.LastHookRuns.Select(ToHookRun));
        foreach (var output in outputs.States)
        {
            var outputHealth = new OutputHealth
            {
                Path = output.Path, Format = Core.Outputs.OutputRenderer.Name(output.Format), Current = output.Current,
                LastError = output.LastError ?? "", RenderedChangeId = output.RenderedChangeId.ToString(),
                LastWrittenAt = output.LastWrittenAt is { } written ? Timestamp.FromDateTimeOffset(written) : null,
                Drift = output.Drift is { } drift ? DriftToProto(drift) : null,
            };
            outputHealth.Refused.AddRange(output.Refused);
            outputHealth.LastHookRuns.AddRange(output.LastHookRuns.Select(ToHookRun));
            response.Outputs.Add(outputHealth);
            response.Healthy &= output.Current;
        }
        if (health.EditSession is { } session) response.EditSession = ToProto(session);
        response.Agents.AddRange(Agents(file));
        return Task.FromResult(response);
    }

    /// <summary>
    /// The server certificate in use now (after any reload): what an operator watching an ACME renewal wants to see.
    /// Enabled and status keep router-hosts' meaning (the server's own ACME client, which this agent does not have).
    /// </summary>
    private AcmeHealth ServerCertificate()
    {
        var health = new AcmeHealth { Enabled = false, Status = "disabled" };
        if (agent.Tls?.Current.Certificate is not { } certificate) return health;
        var notAfter = new DateTimeOffset(certificate.NotAfter.ToUniversalTime(), TimeSpan.Zero);
        health.ExpiresAt = notAfter.ToUnixTimeSeconds();
        health.CertificateSubject = certificate.Subject;
        health.CertificateIssuer = certificate.Issuer;
        health.CertificateNotAfter = Timestamp.FromDateTimeOffset(notAfter);
        return health;
    }

    private static HookRun ToHookRun(Core.Hooks.HookRunResult r) => new()
    {
        Name = r.Name, Event = r.Event, ExitCode = r.ExitCode, TimedOut = r.TimedOut, DurationMs = (long)r.Duration.TotalMilliseconds,
        FinishedAt = Timestamp.FromDateTimeOffset(r.FinishedAt), OutputTail = r.OutputTail,
    };

    /// <summary>
    /// The agents sharing the database as they recorded themselves, this one with its state now; with
    /// SQLite, or while the database cannot be reached, only this one (current as far as it knows).
    /// </summary>
    private IEnumerable<AgentState> Agents(Core.HostsFile.HostsFileState file)
    {
        var me = new Core.Storage.AgentRecord(agent.Name, file.Path, agent.Version, file.RenderedChangeId, file.Current, file.LastError,
            agent.StartedAt, DateTimeOffset.UtcNow);
        IReadOnlyList<Core.Storage.AgentRecord> records = [me];
        var latest = engine.ChangeId;
        if (agent.Registry is { } registry)
        {
            try
            {
                latest = registry.LastChangeId();
                records = [.. registry.Agents().Where(a => (a.Name, a.HostsFile) != (me.Name, me.HostsFile)), me];
            }
            catch (CoreException e) when (e.Kind == CoreErrorKind.Unavailable) { }
        }
        return records.OrderBy(a => a.Name, StringComparer.Ordinal).ThenBy(a => a.HostsFile, StringComparer.Ordinal).Select(a => new AgentState
        {
            Name = a.Name, HostsFile = a.HostsFile, Version = a.Version, AppliedChangeId = a.AppliedChangeId.ToString(),
            FileWritten = a.FileCurrent, FileError = a.FileError ?? "", StartedAt = Timestamp.FromDateTimeOffset(a.StartedAt),
            SeenAt = Timestamp.FromDateTimeOffset(a.SeenAt), Current = a.FileCurrent && a.AppliedChangeId >= latest,
            ThisAgent = a == me,
        });
    }
}
