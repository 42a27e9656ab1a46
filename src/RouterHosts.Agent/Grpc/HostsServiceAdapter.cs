using System.Diagnostics;
using System.Threading.Channels;
using Google.Protobuf;
using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using RouterHosts.Core;
using RouterHosts.Core.Hosts;
using RouterHosts.Protocol.V1;
using static RouterHosts.Agent.Grpc.ProtoConvert;
using HostEntry = RouterHosts.Core.Hosts.HostEntry;

namespace RouterHosts.Agent.Grpc;

/// <summary>
/// router_hosts.v1 on top of the core: translates messages and nothing more.
/// Errors are mapped by <see cref="CallGuard"/>; the caller's identity comes from it too.
/// </summary>
public sealed class HostsServiceAdapter(HostsEngine engine, AgentInfo agent) : HostsService.HostsServiceBase
{
    private static string Actor(ServerCallContext context) => CallGuard.CallerOf(context).Actor;

    // ---- hosts ----

    public override async Task<AddHostResponse> AddHost(AddHostRequest request, ServerCallContext context)
    {
        var draft = ToDraft(request.IpAddress, request.Hostname, request.HasComment ? request.Comment : null, request.Tags, request.Aliases);
        var (entry, outcome) = await engine.AddAsync(Actor(context), draft, NullIfEmpty(request.EditToken), context.CancellationToken);
        return new AddHostResponse { Id = entry.Id, Entry = ToProto(entry), Outcome = ToProto(outcome) };
    }

    public override Task<GetHostResponse> GetHost(GetHostRequest request, ServerCallContext context) =>
        Task.FromResult(new GetHostResponse
        {
            Entry = ToProto(engine.Get(request.Id, NullIfEmpty(request.EditToken), ToTime(request.AsOf))),
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
            request.HasExpectedVersion ? request.ExpectedVersion : null, NullIfEmpty(request.EditToken), context.CancellationToken);
        return new UpdateHostResponse { Entry = ToProto(entry), Outcome = ToProto(outcome) };
    }

    public override async Task<DeleteHostResponse> DeleteHost(DeleteHostRequest request, ServerCallContext context)
    {
        var (_, outcome) = await engine.DeleteAsync(Actor(context), request.Id,
            request.HasExpectedVersion ? request.ExpectedVersion : null, NullIfEmpty(request.EditToken), context.CancellationToken);
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
        await WriteAllAsync(responseStream, engine.Stream(query, NullIfEmpty(request.EditToken), ToTime(request.AsOf)),
            entry => new ListHostsResponse { Entry = ToProto(entry) }, context.CancellationToken);
    }

    public override async Task SearchHosts(SearchHostsRequest request, IServerStreamWriter<SearchHostsResponse> responseStream, ServerCallContext context)
    {
        if (string.IsNullOrEmpty(request.Query)) throw CoreException.Invalid("query", request.Query, "a search text is required");
        await WriteAllAsync(responseStream, engine.Stream(new HostQuery(Text: request.Query), NullIfEmpty(request.EditToken)),
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
        await WriteAllAsync(responseStream, engine.History(request.Id), e => new GetHostHistoryResponse
        {
            EventId = e.EventId, EventType = e.Type.ToString().ToLowerInvariant(), Version = e.Version.ToString(),
            OccurredAt = Timestamp.FromDateTimeOffset(e.OccurredAt), Actor = e.Actor, Entry = ToProto(e.State),
        }, context.CancellationToken);
    }

    public override async Task BulkAddHosts(IAsyncStreamReader<BulkAddHostsRequest> requestStream,
        IServerStreamWriter<BulkAddHostsResponse> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var items = Channel.CreateBounded<HostDraft>(new BoundedChannelOptions(4 * HostsEngine.BulkBatchSize) { SingleReader = true, SingleWriter = true });
        string? token = null;
        var reader = Task.Run(async () =>
        {
            try
            {
                var first = true;
                await foreach (var r in requestStream.ReadAllAsync(ct))
                {
                    if (first) { token = NullIfEmpty(r.EditToken); first = false; }
                    await items.Writer.WriteAsync(ToDraft(r.IpAddress, r.Hostname, r.HasComment ? r.Comment : null, r.Tags, r.Aliases), ct);
                }
                items.Writer.Complete();
            }
            catch (Exception e) { items.Writer.Complete(e); }
        }, ct);
        // The token arrives with the first item; wait for it before choosing staged or direct.
        await items.Reader.WaitToReadAsync(ct);
        await engine.BulkAddAsync(Actor(context), items.Reader, token, async result =>
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
            }
            // Flush once per committed batch rather than once per item.
            responseStream.WriteOptions = result.EndOfBatch ? null : new WriteOptions(WriteFlags.BufferHint);
            await responseStream.WriteAsync(response, ct);
        }, ct);
        await reader;
    }

    // ---- import / export ----

    public override async Task ImportHosts(IAsyncStreamReader<ImportHostsRequest> requestStream,
        IServerStreamWriter<ImportHostsResponse> responseStream, ServerCallContext context)
    {
        var ct = context.CancellationToken;
        var payload = new MemoryStream();
        string? format = null, conflictMode = null, token = null;
        await foreach (var chunk in requestStream.ReadAllAsync(ct))
        {
            if (chunk.HasFormat) format ??= chunk.Format;
            if (chunk.HasConflictMode) conflictMode ??= chunk.ConflictMode;
            token ??= NullIfEmpty(chunk.EditToken);
            if (payload.Length + chunk.Chunk.Length > HostsEngine.MaxImportBytes)
                throw new CoreException(CoreErrorKind.ResourceExhausted,
                    $"import payload over {HostsEngine.MaxImportBytes / (1024 * 1024)} MiB; split the file");
            chunk.Chunk.WriteTo(payload);
            if (chunk.LastChunk) break;
        }
        var mode = HostsEngine.ParseConflictMode(conflictMode);
        try
        {
            var result = await engine.ImportAsync(Actor(context), payload.ToArray(), format, mode, token,
                progress => responseStream.WriteAsync(new ImportHostsResponse { Processed = progress.Processed }, ct), ct);
            await responseStream.WriteAsync(new ImportHostsResponse
            {
                Processed = result.Processed, Created = result.Created, Updated = result.Updated, Skipped = result.Skipped,
                Outcome = ToProto(result.Outcome), Done = true,
            }, ct);
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
        // Later requests only carry the sink's status; read and drop them so the stream keeps flowing.
        // The drain must end before this handler does: Kestrel reuses a finished HTTP/2 stream for
        // the next call on the connection, and a read left pending would take that call's request
        // ("Reading is already in progress", UNKNOWN to the client).
        using var draining = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var drain = DrainAsync(requestStream, draining.Token);
        try
        {
            await SendSetsAsync(responseStream, follow, ct);
        }
        finally
        {
            await draining.CancelAsync();
            await drain;
        }
    }

    private static async Task DrainAsync<T>(IAsyncStreamReader<T> requests, CancellationToken ct)
    {
        try { while (await requests.MoveNext(ct)) { } }
        catch (Exception e) when (e is OperationCanceledException or RpcException or IOException or InvalidOperationException) { }
    }

    /// <summary>The full set, then (with <paramref name="follow"/>) the full set again after each change.</summary>
    private async Task SendSetsAsync(IServerStreamWriter<WatchHostsResponse> responseStream, bool follow, CancellationToken ct)
    {
        var seen = -1L;
        while (!ct.IsCancellationRequested)
        {
            var changeId = engine.Store.LastChangeId();
            var count = 0;
            await WriteAllAsync(responseStream, engine.Store.StreamAll(), entry =>
            {
                count++;
                return new WatchHostsResponse { Entry = ToProto(entry) };
            }, ct);
            await responseStream.WriteAsync(new WatchHostsResponse
            {
                Complete = new SnapshotComplete
                {
                    Count = count, GeneratedAt = Timestamp.FromDateTime(DateTime.UtcNow), ContractVersion = "1", ChangeId = changeId.ToString(),
                },
            }, ct);
            if (!follow) return;
            seen = changeId;
            try { await engine.Feed.WaitAfterAsync(seen, ct); }
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

    public override Task<CompactAggregatesResponse> CompactAggregates(CompactAggregatesRequest request, ServerCallContext context) =>
        throw new RpcException(new Status(StatusCode.Unimplemented,
            "RouterHosts keeps every event (history and as-of reads depend on it); compaction is not offered"));

    // ---- edit sessions ----

    public override Task<StartEditResponse> StartEdit(StartEditRequest request, ServerCallContext context)
    {
        var (token, info) = engine.Sessions.Start(Actor(context));
        return Task.FromResult(new StartEditResponse { EditToken = token, Session = ToProto(info) });
    }

    public override async Task<FinishEditResponse> FinishEdit(FinishEditRequest request, ServerCallContext context)
    {
        var r = await engine.FinishEditAsync(Actor(context), request.EditToken, context.CancellationToken);
        return new FinishEditResponse { Added = r.Added, Changed = r.Changed, Removed = r.Removed, SnapshotId = r.SnapshotId, Outcome = ToProto(r.Outcome) };
    }

    public override Task<CancelEditResponse> CancelEdit(CancelEditRequest request, ServerCallContext context) =>
        Task.FromResult(new CancelEditResponse { Success = true, DiscardedChanges = engine.Sessions.End(request.EditToken) });

    public override Task<GetEditResponse> GetEdit(GetEditRequest request, ServerCallContext context)
    {
        if (!string.IsNullOrEmpty(request.EditToken)) engine.Sessions.View(request.EditToken); // says "expired" or "unknown" for a stale token
        var current = engine.Sessions.Current;
        return Task.FromResult(new GetEditResponse { Session = current is null ? null : ToProto(current) });
    }

    // ---- health ----

    public override Task<LivenessResponse> Liveness(LivenessRequest request, ServerCallContext context) =>
        Task.FromResult(new LivenessResponse { Alive = true });

    public override Task<ReadinessResponse> Readiness(ReadinessRequest request, ServerCallContext context)
    {
        var reason = agent.NotReadyReason(engine);
        return Task.FromResult(new ReadinessResponse { Ready = reason is null, Reason = reason ?? "" });
    }

    public override Task<HealthResponse> Health(HealthRequest request, ServerCallContext context)
    {
        var database = new DatabaseHealth { Backend = engine.Store.BackendName };
        var timer = Stopwatch.StartNew();
        try
        {
            engine.Store.Ping();
            database.Connected = true;
        }
        catch (Exception e)
        {
            database.Error = e.Message;
        }
        database.LatencyMicros = (long)timer.Elapsed.TotalMicroseconds;
        database.LatencyMs = (long)timer.Elapsed.TotalMilliseconds;

        var file = engine.HostsFile.State;
        var hooks = engine.Hooks.Hooks;
        var response = new HealthResponse
        {
            Healthy = database.Connected && file.Current,
            Server = new ServerInfo { Version = agent.Version, UptimeSeconds = (long)agent.Uptime.TotalSeconds, BuildInfo = agent.BuildInfo },
            Database = database,
            Acme = new AcmeHealth { Enabled = false, Status = "not supported" },
            Hooks = new HooksHealth { ConfiguredCount = hooks.All.Count() },
            HostsFile = new HostsFileHealth
            {
                Path = file.Path, Current = file.Current, LastError = file.LastError ?? "", Mode = file.Mode.ToString().ToLowerInvariant(),
                RenderedChangeId = file.RenderedChangeId.ToString(),
                LastWrittenAt = file.LastWrittenAt is { } at ? Timestamp.FromDateTimeOffset(at) : null,
            },
            HostCount = database.Connected ? engine.Store.CountLive() : 0,
            ChangeId = engine.Feed.ChangeId.ToString(),
        };
        response.Hooks.HookNames.AddRange(hooks.All.Select(h => h.Name));
        response.Hooks.LastRuns.AddRange(engine.Hooks.LastRuns.Select(r => new HookRun
        {
            Name = r.Name, Event = r.Event, ExitCode = r.ExitCode, TimedOut = r.TimedOut, DurationMs = (long)r.Duration.TotalMilliseconds,
            FinishedAt = Timestamp.FromDateTimeOffset(r.FinishedAt), OutputTail = r.OutputTail,
        }));
        if (engine.Sessions.Current is { } session) response.EditSession = ToProto(session);
        return Task.FromResult(response);
    }
}
