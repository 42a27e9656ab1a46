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
        stub.GetHost(pb.GetHostRequest(id="01NOSUCHHOST0000000000000"))
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
else:
    sys.exit("unknown scenario " + scenario)

print(json.dumps(out))
