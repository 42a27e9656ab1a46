using Google.Protobuf.WellKnownTypes;
using Grpc.Core;
using RouterHosts.Core.HostsFile;
using RouterHosts.Protocol.V1;
using Drift = RouterHosts.Core.HostsFile.HostsFileDrift;

namespace RouterHosts.Agent.Grpc;

/// <summary>Drift of the hosts file on the wire: GetHostsFileDrift, RepairHostsFile (both admin only), and drift in Health, Readiness and Watch.</summary>
public sealed partial class HostsServiceAdapter
{
    private static Drift DriftOf(ServerCallContext context) =>
        context.GetHttpContext().RequestServices.GetRequiredService<Drift>();

    public override async Task<GetHostsFileDriftResponse> GetHostsFileDrift(GetHostsFileDriftRequest request, ServerCallContext context) =>
        new() { Drift = DriftToProto(await DriftOf(context).GetAsync(context.CancellationToken)) };

    public override async Task<RepairHostsFileResponse> RepairHostsFile(RepairHostsFileRequest request, ServerCallContext context)
    {
        var drift = DriftOf(context);
        var result = await drift.RepairAsync(request.Adopt, request.DryRun, context.CancellationToken);
        if (result.Changed)
            log.LogWarning("{Actor} repaired the hosts file ({How}): {Count} action(s)", Actor(context), request.Adopt ? "adopt" : "restore",
                result.Actions.Count);
        var response = new RepairHostsFileResponse
        {
            Changed = result.Changed, Drift = DriftToProto(result.Status),
            Outcome = ProtoConvert.ToProto(new Core.Writes.WriteOutcome(result.ChangeId, result.File)),
        };
        response.Actions.AddRange(result.Actions);
        response.InvalidLines.AddRange(result.InvalidLines);
        return response;
    }

    internal static Protocol.V1.HostsFileDrift DriftToProto(DriftStatus status) => new()
    {
        State = status.State, Policy = status.Policy.ToString().ToLowerInvariant(), Last = status.Last is { } last ? DriftToProto(last) : null,
    };

    internal static HostsFileDriftEvent DriftToProto(DriftEvent e)
    {
        var message = new HostsFileDriftEvent
        {
            Sequence = e.Sequence, DetectedAt = Timestamp.FromDateTimeOffset(e.DetectedAt), Action = e.Action, Actor = e.Actor ?? "",
        };
        if (e.OwnerUid is { } uid) message.OwnerUid = uid;
        message.Kinds.AddRange(e.Kinds);
        message.Diff.AddRange(e.Diff);
        message.Applied.AddRange(e.Applied);
        message.InvalidLines.AddRange(e.InvalidLines);
        return message;
    }

    /// <summary>
    /// Waits for the next change after <paramref name="seen"/>; meanwhile, when <paramref name="drift"/> is given,
    /// sends each drift event noticed (after <paramref name="driftSeen"/>). Returns the last drift event sent.
    /// </summary>
    private async Task<long> WaitForChangeAsync(long seen, Drift? drift, long driftSeen,
        IServerStreamWriter<WatchHostsResponse> responseStream, CancellationToken ct)
    {
        var changed = engine.WaitForChangeAsync(seen, ct);
        if (drift is null)
        {
            await changed;
            return driftSeen;
        }
        while (true)
        {
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
            var drifted = drift.Events.WaitAfterAsync(driftSeen, stop.Token);
            var first = await System.Threading.Tasks.Task.WhenAny(changed, drifted);
            if (first == changed)
            {
                await stop.CancelAsync(); // the drift wait is dropped, not left behind on the feed
                await changed;
                return driftSeen;
            }
            driftSeen = await drifted;
            if (drift.Status.Last is { } last)
                await responseStream.WriteAsync(new WatchHostsResponse { Drift = DriftToProto(last) }, ct);
        }
    }
}
