"""Real gRPC health servers on loopback for the grpc prober tests (tests/it/grpc.rs) and the
benchmark (benches/compare_probers.sh): Python's grpcio and grpcio-health-checking, i.e. the
gRPC C core, not tonic.

Usage: health_server.py SPEC_JSON
  SPEC_JSON = {"servers": [{"name": "plain",
                            "health": true,                 # register grpc.health.v1.Health
                            "statuses": {"": "SERVING", "svc": "NOT_SERVING"},
                            "tls": {"cert": "chain.pem", "key": "key.pem"}   # optional
                           }, ...],
               "log": true}                                # optional: one line per call

Each server binds 127.0.0.1:0. The first line printed is `READY {"<name>": <port>, ...}`.
With "log", every call then prints one JSON line:
  {"server": name, "method": "/grpc.health.v1.Health/Check", "metadata": [[key, value], ...]}
where a value of a `-bin` key is given as {"bin": "<hex>"}. The process exits when its
standard input reaches EOF (so it never outlives the test that started it).
"""

import json
import sys
import threading
from concurrent import futures

import grpc
from grpc_health.v1 import health, health_pb2, health_pb2_grpc


class Recorder(grpc.ServerInterceptor):
    def __init__(self, name, lock):
        self.name = name
        self.lock = lock

    def intercept_service(self, continuation, details):
        md = []
        for key, value in details.invocation_metadata or ():
            if isinstance(value, bytes):
                md.append([key, {"bin": value.hex()}])
            else:
                md.append([key, value])
        line = json.dumps({"server": self.name, "method": details.method, "metadata": md})
        with self.lock:
            print(line, flush=True)
        return continuation(details)


def main():
    spec = json.loads(sys.argv[1])
    lock = threading.Lock()
    servers, ports = [], {}
    for s in spec["servers"]:
        interceptors = [Recorder(s["name"], lock)] if spec.get("log") else []
        server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=s.get("workers", 8)),
            interceptors=interceptors,
            options=[("grpc.so_reuseport", 0)],
        )
        if s.get("health", True):
            h = health.HealthServicer()
            for service, status in s.get("statuses", {}).items():
                h.set(service, health_pb2.HealthCheckResponse.ServingStatus.Value(status))
            health_pb2_grpc.add_HealthServicer_to_server(h, server)
        tls = s.get("tls")
        if tls:
            with open(tls["key"], "rb") as f:
                key = f.read()
            with open(tls["cert"], "rb") as f:
                cert = f.read()
            creds = grpc.ssl_server_credentials([(key, cert)])
            port = server.add_secure_port("127.0.0.1:0", creds)
        else:
            port = server.add_insecure_port("127.0.0.1:0")
        server.start()
        servers.append(server)
        ports[s["name"]] = port
    print("READY " + json.dumps(ports), flush=True)
    sys.stdin.read()
    for server in servers:
        server.stop(0)


if __name__ == "__main__":
    main()
