using System.Runtime.CompilerServices;
using RouterHosts.Protocol.V1;
using static RouterHosts.Client.ProtoMapping;

namespace RouterHosts.Client;

/// <summary>Drift of the agent's hosts file: read it, repair it, watch for it (admin only on the agent, except Watch and Health).</summary>
public sealed partial class RouterHostsClient
{
    /// <summary>The drift state after a fresh check by the agent, and the last drift it noticed.</summary>
    public Task<RouterHostsDrift> GetDriftAsync(CancellationToken ct = default) => Call(async options =>
    {
        var r = await _grpc.GetHostsFileDriftAsync(new GetHostsFileDriftRequest(), options).ConfigureAwait(false);
        return ToDrift(r.Drift);
    }, ct);

    /// <summary>Restores the hosts file from the database, or (<paramref name="adopt"/>) adopts its hand edits; <paramref name="dryRun"/> only says what it would do.</summary>
    public Task<RouterHostsFileRepair> RepairHostsFileAsync(bool adopt, bool dryRun = false, CancellationToken ct = default) => Call(async options =>
    {
        var r = await _grpc.RepairHostsFileAsync(new RepairHostsFileRequest { Adopt = adopt, DryRun = dryRun }, options).ConfigureAwait(false);
        return new RouterHostsFileRepair
        {
            Changed = r.Changed, Mode = adopt ? "adopt" : "restore", Actions = r.Actions.ToArray(), InvalidLines = r.InvalidLines.ToArray(),
            ChangeId = r.Outcome?.ChangeId ?? "", HostsFileStale = r.Outcome?.HostsFileStale ?? false, Drift = ToDrift(r.Drift),
        };
    }, ct);

    /// <summary>
    /// As <see cref="WatchAsync"/>, with each drift the agent notices in between: yields <see cref="RouterHostsChange"/>
    /// and <see cref="RouterHostsDrift"/> objects in the order they come.
    /// </summary>
    public async IAsyncEnumerable<object> WatchWithDriftAsync(bool follow, [EnumeratorCancellation] CancellationToken ct = default)
    {
        using var call = Invoke(() => _grpc.WatchHosts(StreamOptions(ct)));
        await Guard(call.RequestStream.WriteAsync(new WatchHostsRequest { Follow = follow, IncludeDrift = true }, ct)).ConfigureAwait(false);
        var hosts = new List<RouterHost>();
        await foreach (var r in Read(call.ResponseStream, r => r, ct).ConfigureAwait(false))
        {
            switch (r.PayloadCase)
            {
                case WatchHostsResponse.PayloadOneofCase.Entry:
                    hosts.Add(ToHost(r.Entry));
                    break;
                case WatchHostsResponse.PayloadOneofCase.Drift:
                    yield return ToDrift(new HostsFileDrift { State = "", Last = r.Drift });
                    break;
                case WatchHostsResponse.PayloadOneofCase.Complete:
                    yield return new RouterHostsChange { ChangeId = r.Complete.ChangeId, GeneratedAt = ToTime(r.Complete.GeneratedAt), Hosts = hosts.ToArray() };
                    hosts.Clear();
                    break;
            }
        }
    }

    private RouterHostsDrift ToDrift(HostsFileDrift? d)
    {
        var last = d?.Last;
        return new RouterHostsDrift
        {
            Endpoint = Target,
            State = d?.State ?? "",
            Policy = d?.Policy ?? "",
            DetectedAt = last?.DetectedAt is { } at ? ToTime(at) : null,
            Kinds = last?.Kinds.ToArray() ?? [],
            Diff = last?.Diff.ToArray() ?? [],
            Action = last?.Action ?? "",
            Applied = last?.Applied.ToArray() ?? [],
            InvalidLines = last?.InvalidLines.ToArray() ?? [],
            OwnerUid = last is { HasOwnerUid: true } ? last.OwnerUid : null,
            Actor = last?.Actor ?? "",
            Sequence = last?.Sequence ?? 0,
        };
    }
}
