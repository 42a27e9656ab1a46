#!/usr/bin/python3
"""A real gRPC peer (Debian's python3-grpcio, C-core) calling the RouterHosts agent.

usage: python_client.py STUBS_DIR ENDPOINT PKI_DIR SCENARIO
Prints one JSON object on stdout with what it saw; the C# test asserts on it.
Scenarios use the stubs protoc generated from our proto/router_hosts/v1/hosts.proto.
"""
import json
import os
import sys

import grpc

stubs, endpoint, pki, scenario = sys.argv[1:5]
sys.path.insert(0, stubs)
from router_hosts.v1 import hosts_pb2 as pb  # noqa: E402
from router_hosts.v1 import hosts_pb2_grpc as rpc  # noqa: E402


def read(name):
    with open(os.path.join(pki, name), "rb") as f:
        return f.read()


def channel(cert="client.crt", key="client.key", ca="ca.crt", with_client_cert=True):
    creds = grpc.ssl_channel_credentials(
        read(ca),
        read(key) if with_client_cert else None,
        read(cert) if with_client_cert else None)
    return grpc.secure_channel(endpoint, creds, options=[("grpc.ssl_target_name_override", "localhost")])


def status(err):
    return {"code": err.code().name, "details": err.details()}


out = {}
if scenario == "all-call-kinds":
    stub = rpc.HostsServiceStub(channel())
    # unary
    added = stub.AddHost(pb.AddHostRequest(ip_address="10.77.0.1", hostname="py-unary", tags=["py"], comment="from python"))
    got = stub.GetHost(pb.GetHostRequest(id=added.id))
    out["unary"] = {"id": added.id, "hostname": got.entry.hostname, "version": got.entry.version, "comment": got.entry.comment}
    # server streaming
    out["server_streaming"] = [r.entry.hostname for r in stub.ListHosts(pb.ListHostsRequest(filter="py-"))]
    # bidirectional, one result per item
    items = [pb.BulkAddHostsRequest(ip_address="10.77.0.%d" % i, hostname="py-bulk%d" % i) for i in range(2, 5)]
    items.append(pb.BulkAddHostsRequest(ip_address="not-an-ip", hostname="py-bad"))
    out["bidi_bulk"] = [{"index": r.index, "code": r.error_code, "hostname": r.entry.hostname, "error": r.error_message}
                        for r in stub.BulkAddHosts(iter(items))]
    # bidirectional import, chunks then last_chunk
    text = b"10.77.1.1 py-imp1 py-imp1-alias # [lab] imported\n10.77.1.2 py-imp2\n"
    reqs = [pb.ImportHostsRequest(chunk=text[:20], format="hosts", conflict_mode="strict"),
            pb.ImportHostsRequest(chunk=text[20:]), pb.ImportHostsRequest(last_chunk=True)]
    final = [r for r in stub.ImportHosts(iter(reqs)) if r.done][0]
    out["bidi_import"] = {"processed": final.processed, "created": final.created}
    # bidirectional watch without follow: the full set then SnapshotComplete
    watch = list(stub.WatchHosts(iter([pb.WatchHostsRequest(follow=False)])))
    out["watch"] = {"entries": sum(1 for w in watch if w.HasField("entry")), "complete_count": watch[-1].complete.count,
                    "change_id": watch[-1].complete.change_id, "contract": watch[-1].complete.contract_version}
    # server streaming export
    out["export"] = b"".join(r.chunk for r in stub.ExportHosts(pb.ExportHostsRequest(format="csv"))).decode().splitlines()[0]
    # health
    health = stub.Health(pb.HealthRequest())
    out["health"] = {"healthy": health.healthy, "backend": health.database.backend, "count": health.host_count}
elif scenario == "watch-then-calls":
    # One-shot watches, each followed by other calls on the same channel (HTTP/2 connection):
    # every call must get its own answer, none UNKNOWN.
    stub = rpc.HostsServiceStub(channel())
    failures = []
    for i in range(150):
        try:
            watch = list(stub.WatchHosts(iter([pb.WatchHostsRequest(follow=False)])))
            exported = b"".join(r.chunk for r in stub.ExportHosts(pb.ExportHostsRequest(format="csv")))
            listed = list(stub.ListHosts(pb.ListHostsRequest()))
            if watch[-1].complete.count != len(listed) or not exported.startswith(b"id,"):
                failures.append({"round": i, "code": "MISMATCH", "details": ""})
        except grpc.RpcError as e:
            failures.append(dict(status(e), round=i))
    out["rounds"] = 150
    out["failures"] = failures
elif scenario == "errors":
    stub = rpc.HostsServiceStub(channel())
    errors = {}
    try:
        stub.AddHost(pb.AddHostRequest(ip_address="10.77.2.1", hostname="wéb-ünïcode"))
    except grpc.RpcError as e:
        errors["non_ascii"] = status(e)
    try:
        stub.GetHost(pb.GetHostRequest(id="01ZZZZZZZZZZZZZZZZZZZZZZZZ"))
    except grpc.RpcError as e:
        errors["not_found"] = status(e)
    try:
        stub.AddHost(pb.AddHostRequest(ip_address="10.77.2.2", hostname="big", comment="x" * (5 * 1024 * 1024)))
    except grpc.RpcError as e:
        errors["oversize"] = status(e)
    try:
        channel().unary_unary("/router_hosts.v1.HostsService/NoSuchMethod")(b"")
    except grpc.RpcError as e:
        errors["unknown_method"] = status(e)
    errors["deflate_ok"] = stub.AddHost(pb.AddHostRequest(ip_address="10.77.2.3", hostname="deflated"),
                                        compression=grpc.Compression.Deflate).entry.hostname
    gz = stub.AddHost(pb.AddHostRequest(ip_address="10.77.2.4", hostname="gzipped"), compression=grpc.Compression.Gzip)
    errors["gzip_ok"] = gz.entry.hostname
    out = errors
elif scenario == "deadline":
    stub = rpc.HostsServiceStub(channel())
    responses = []
    try:
        # follow=True never ends by itself; the 1.5 s deadline must end it (the server honours grpc-timeout too).
        for r in stub.WatchHosts(iter([pb.WatchHostsRequest(follow=True)]), timeout=1.5):
            responses.append(r.WhichOneof("payload"))
        out["ended"] = "normally"
    except grpc.RpcError as e:
        out = status(e)
    out["received"] = responses[-1] if responses else None
elif scenario.startswith("tls-"):
    kind = scenario[4:]
    if kind == "no-client-cert":
        ch = channel(with_client_cert=False)
    else:
        ch = channel(cert=kind + ".crt", key=kind + ".key")
    try:
        rpc.HostsServiceStub(ch).AddHost(pb.AddHostRequest(ip_address="10.77.3.1", hostname="tls-" + kind), timeout=10)
        out["result"] = "accepted"
    except grpc.RpcError as e:
        out = status(e)
elif scenario == "upstream-hosts-file":
    # A hosts file as router-hosts writes and reads it: "# comment [tag, tag]", aliases after the hostname.
    stub = rpc.HostsServiceStub(channel())
    text = ("# Generated by router-hosts\n# Entry count: 4\n\n"
            "192.168.77.10\tnas.lan files.lan\t# the nas [homelab, storage]\n"
            "192.168.77.11\tiot.lan\t# [iot, homelab]\n"
            "192.168.77.12\tdb.lan\t# Database server\n"
            "192.168.77.13\tbare.lan\n").encode()
    reqs = [pb.ImportHostsRequest(chunk=text, format="hosts", last_chunk=True)]
    final = [r for r in stub.ImportHosts(iter(reqs)) if r.done][0]
    out["created"] = final.created
    out["entries"] = [{"ip": r.entry.ip_address, "hostname": r.entry.hostname, "aliases": list(r.entry.aliases),
                       "tags": list(r.entry.tags), "comment": r.entry.comment if r.entry.HasField("comment") else None}
                      for r in stub.ListHosts(pb.ListHostsRequest(filter="192.168.77."))]
    exported = b"".join(r.chunk for r in stub.ExportHosts(pb.ExportHostsRequest(format="hosts"))).decode()
    out["exported"] = [l for l in exported.splitlines() if l.startswith("192.168.77.")]
elif scenario == "malformed-ids":
    stub = rpc.HostsServiceStub(channel())
    bad = "not-a-ulid"
    calls = {
        "GetHost": lambda: stub.GetHost(pb.GetHostRequest(id=bad)),
        "UpdateHost": lambda: stub.UpdateHost(pb.UpdateHostRequest(id=bad, comment="x")),
        "DeleteHost": lambda: stub.DeleteHost(pb.DeleteHostRequest(id=bad)),
        "GetHostHistory": lambda: list(stub.GetHostHistory(pb.GetHostHistoryRequest(id=bad))),
        "GetSnapshot": lambda: list(stub.GetSnapshot(pb.GetSnapshotRequest(snapshot_id=bad))),
        "DeleteSnapshot": lambda: stub.DeleteSnapshot(pb.DeleteSnapshotRequest(snapshot_id=bad)),
        "RollbackToSnapshot": lambda: stub.RollbackToSnapshot(pb.RollbackToSnapshotRequest(snapshot_id=bad)),
        "CompactAggregates": lambda: stub.CompactAggregates(pb.CompactAggregatesRequest(aggregate_id=bad)),
        "GetHost-well-formed": lambda: stub.GetHost(pb.GetHostRequest(id="01ZZZZZZZZZZZZZZZZZZZZZZZZ")),
    }
    for name, call in calls.items():
        try:
            call()
            out[name] = {"code": "OK"}
        except grpc.RpcError as e:
            out[name] = status(e)
elif scenario == "skip-invalid":
    stub = rpc.HostsServiceStub(channel())
    text = b"10.78.0.1 skip-ok1\n10.78.0.2\nnot-an-ip skip-bad\n10.78.0.3 skip-ok2 # kept [t1]\n"
    try:
        list(stub.ImportHosts(iter([pb.ImportHostsRequest(chunk=text, format="hosts", last_chunk=True)])))
        out["default"] = {"code": "OK"}
    except grpc.RpcError as e:
        out["default"] = status(e)
    out["after_default"] = [r.entry.hostname for r in stub.ListHosts(pb.ListHostsRequest(filter="skip-"))]
    final = [r for r in stub.ImportHosts(iter([pb.ImportHostsRequest(chunk=text, format="hosts", last_chunk=True, skip_invalid=True)]))
             if r.done][0]
    out["skip"] = {"processed": final.processed, "created": final.created, "failed": final.failed,
                   "validation_errors": list(final.validation_errors)}
    out["after_skip"] = [r.entry.hostname for r in stub.ListHosts(pb.ListHostsRequest(filter="skip-"))]
elif scenario == "compaction":
    from google.protobuf import timestamp_pb2
    stub = rpc.HostsServiceStub(channel())
    added = stub.AddHost(pb.AddHostRequest(ip_address="10.79.0.1", hostname="compact-me"))
    hid = added.id
    stub.UpdateHost(pb.UpdateHostRequest(id=hid, comment="two"))
    mid = stub.GetHost(pb.GetHostRequest(id=hid)).entry.updated_at
    stub.UpdateHost(pb.UpdateHostRequest(id=hid, comment="three"))
    other = stub.AddHost(pb.AddHostRequest(ip_address="10.79.0.2", hostname="compact-other")).id
    stub.UpdateHost(pb.UpdateHostRequest(id=other, comment="x"))

    def compacted(r):
        return {"hosts": [{"id": c.aggregate_id, "before": c.events_before, "after": c.events_after, "version": c.version}
                          for c in r.compacted],
                "reclaimed": r.total_events_reclaimed, "dry_run": r.dry_run, "horizon": r.horizon.ToJsonString()}

    out["as_of_before"] = stub.GetHost(pb.GetHostRequest(id=hid, as_of=mid)).entry.comment
    out["dry"] = compacted(stub.CompactAggregates(pb.CompactAggregatesRequest(aggregate_id=hid, dry_run=True)))
    out["history_after_dry"] = [h.event_type for h in stub.GetHostHistory(pb.GetHostHistoryRequest(id=hid))]
    out["real"] = compacted(stub.CompactAggregates(pb.CompactAggregatesRequest(aggregate_id=hid)))
    out["history"] = [{"type": h.event_type, "version": h.version, "folded": h.folded_events, "comment": h.entry.comment,
                       "horizon": h.horizon.ToJsonString() if h.HasField("horizon") else None}
                      for h in stub.GetHostHistory(pb.GetHostHistoryRequest(id=hid))]
    try:
        stub.GetHost(pb.GetHostRequest(id=hid, as_of=mid))
        out["as_of_after"] = {"code": "OK"}
    except grpc.RpcError as e:
        out["as_of_after"] = status(e)
        out["as_of_after"]["reason"] = dict(e.trailing_metadata() or ()).get("routerhosts-reason")
    out["live"] = stub.GetHost(pb.GetHostRequest(id=hid)).entry.comment
    # router-hosts' other shape: every host over N events; then a time horizon in the past for every host.
    out["threshold"] = compacted(stub.CompactAggregates(pb.CompactAggregatesRequest(over_threshold=1, dry_run=True)))
    past = timestamp_pb2.Timestamp()
    past.FromSeconds(86400)
    out["before_1970"] = compacted(stub.CompactAggregates(pb.CompactAggregatesRequest(before=past)))
    future = timestamp_pb2.Timestamp()
    future.FromSeconds(4102444800)
    try:
        stub.CompactAggregates(pb.CompactAggregatesRequest(before=future))
        out["future"] = {"code": "OK"}
    except grpc.RpcError as e:
        out["future"] = status(e)
    try:
        stub.CompactAggregates(pb.CompactAggregatesRequest())
        out["no_target"] = {"code": "OK"}
    except grpc.RpcError as e:
        out["no_target"] = status(e)
elif scenario == "small-wire":
    stub = rpc.HostsServiceStub(channel())
    health = stub.Health(pb.HealthRequest())
    out["acme"] = {"enabled": health.acme.enabled, "status": health.acme.status}
    # A sink reporting a ULID-shaped rendered_change_id (as router-hosts' sinks do) is accepted.
    status_msg = pb.SinkStatus(rendered_change_id="01JAAAAAAAAAAAAAAAAAAAAAAA", contract_version="1")
    watch = list(stub.WatchHosts(iter([pb.WatchHostsRequest(follow=False, status=status_msg)])))
    out["watch_complete"] = watch[-1].WhichOneof("payload")
    for ip, name in [("10.80.0.2", "order-b"), ("10.80.0.10", "order-a"), ("10.80.0.2", "order-a"), ("fd00::80", "order-c"),
                     ("10.80.0.1", "order-z")]:
        stub.AddHost(pb.AddHostRequest(ip_address=ip, hostname=name))
    out["order"] = [r.entry.ip_address + " " + r.entry.hostname for r in stub.ListHosts(pb.ListHostsRequest(filter="order-"))]
    out["order_again"] = [r.entry.ip_address + " " + r.entry.hostname for r in stub.ListHosts(pb.ListHostsRequest(filter="order-"))]
    out["order_paged"] = [r.entry.hostname for r in stub.ListHosts(pb.ListHostsRequest(filter="order-", offset=1, limit=2))]
else:
    sys.exit("unknown scenario " + scenario)

print(json.dumps(out))
