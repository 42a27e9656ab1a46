#!/usr/bin/python3
"""A real gRPC server (Debian's python3-grpcio) implementing part of router_hosts.v1
over mTLS, for proving that our client library interoperates with another server.

usage: python_server.py STUBS_DIR PORT PKI_DIR
Prints "listening PORT" once serving; runs until killed.
"""
import os
import sys
import time
from concurrent import futures

import grpc

stubs, port, pki = sys.argv[1], int(sys.argv[2]), sys.argv[3]
sys.path.insert(0, stubs)
from router_hosts.v1 import hosts_pb2 as pb  # noqa: E402
from router_hosts.v1 import hosts_pb2_grpc as rpc  # noqa: E402


def read(name):
    with open(os.path.join(pki, name), "rb") as f:
        return f.read()


def entry(i, hostname, ip):
    return pb.HostEntry(id="PY%024d" % i, ip_address=ip, hostname=hostname, version="1")


class Hosts(rpc.HostsServiceServicer):
    def __init__(self):
        self.hosts = []

    def AddHost(self, request, context):
        if request.hostname.startswith("dup"):
            context.abort(grpc.StatusCode.ALREADY_EXISTS, "Hôst déjà présent: " + request.hostname)
        e = entry(len(self.hosts) + 1, request.hostname, request.ip_address)
        e.tags.extend(request.tags)
        self.hosts.append(e)
        return pb.AddHostResponse(id=e.id, entry=e)

    def GetHost(self, request, context):
        for e in self.hosts:
            if e.id == request.id:
                return pb.GetHostResponse(entry=e)
        context.abort(grpc.StatusCode.NOT_FOUND, "kein Host mit der Id " + request.id)

    def ListHosts(self, request, context):
        for e in self.hosts:
            yield pb.ListHostsResponse(entry=e)

    def BulkAddHosts(self, request_iterator, context):
        for i, r in enumerate(request_iterator):
            if not r.hostname:
                yield pb.BulkAddHostsResponse(index=i, error_code=3, error_message="hostname required")
                continue
            e = entry(1000 + i, r.hostname, r.ip_address)
            self.hosts.append(e)
            yield pb.BulkAddHostsResponse(index=i, entry=e)

    def Readiness(self, request, context):
        return pb.ReadinessResponse(ready=True)

    def Health(self, request, context):
        # Slow on purpose: the client's deadline must end the call.
        time.sleep(10)
        return pb.HealthResponse(healthy=True)


server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
rpc.add_HostsServiceServicer_to_server(Hosts(), server)
credentials = grpc.ssl_server_credentials([(read("server.key"), read("server.crt"))], root_certificates=read("ca.crt"),
                                          require_client_auth=True)
server.add_secure_port("127.0.0.1:%d" % port, credentials)
server.start()
print("listening %d" % port, flush=True)
server.wait_for_termination()
