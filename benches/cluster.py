#!/usr/bin/env python3
"""Scale-out and HA cost (issue 17): TARGETS scheduled HTTP targets (default 30,000) every
INTERVAL (30 s) on one blackwatch, then on a cluster of 3 replicas sharing them
(--cluster.probe-replicas=1), one setup after the other on the same loopback nginx.

Per setup and replica, over the measured window after a warm-up: CPU (% of one core, from
/proc/PID/stat), RSS, schedule lag (mean and p99 from blackwatch_schedule_lag_seconds),
skipped runs, targets owned, gossip traffic (alertmanager_cluster_messages_{sent,received}_size
per second). Then notification latency in steady state: ALERTS alerts posted one every 50 ms
(each its own group, group_wait 1s) to every replica, the time from the post to the webhook
delivery, p50/p99, single instance vs cluster (duplicates counted too).

Usage: benches/cluster.py   (see benches/README.md). Environment: TARGETS, INTERVAL (s),
WARMUP (s), DURATION (s), ALERTS, BLACKWATCH_BIN (default: cargo build --release),
NGINX_BIN. Everything listens on 127.0.0.1; every process started is stopped on exit.
"""

import http.server
import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
TARGETS = int(os.environ.get("TARGETS", "30000"))
INTERVAL = int(os.environ.get("INTERVAL", "30"))
WARMUP = int(os.environ.get("WARMUP", "45"))
DURATION = int(os.environ.get("DURATION", "120"))
ALERTS = int(os.environ.get("ALERTS", "100"))
CLK_TCK = os.sysconf("SC_CLK_TCK")
PROCS = []


def free_port(kind=socket.SOCK_STREAM):
    with socket.socket(socket.AF_INET, kind) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def stop_all():
    for p in PROCS:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    deadline = time.time() + 10
    for p in PROCS:
        try:
            p.wait(timeout=max(0.1, deadline - time.time()))
        except subprocess.TimeoutExpired:
            p.kill()


def blackwatch_bin():
    if os.environ.get("BLACKWATCH_BIN"):
        return os.environ["BLACKWATCH_BIN"]
    subprocess.run(["cargo", "build", "--release", "--quiet"], cwd=ROOT, check=True)
    target = os.environ.get("CARGO_TARGET_DIR", os.path.join(ROOT, "target"))
    return os.path.join(target, "release", "blackwatch")


def start_nginx(work):
    port = free_port()
    os.makedirs(f"{work}/nginx/tmp", exist_ok=True)
    conf = f"""daemon off; master_process on; worker_processes 1; worker_rlimit_nofile 65536;
pid {work}/nginx/nginx.pid; error_log {work}/nginx.log warn;
events {{ worker_connections 16384; }}
http {{ access_log off; server_tokens off; default_type text/plain;
  client_body_temp_path {work}/nginx/tmp/body; proxy_temp_path {work}/nginx/tmp/proxy;
  fastcgi_temp_path {work}/nginx/tmp/fcgi; uwsgi_temp_path {work}/nginx/tmp/uwsgi;
  scgi_temp_path {work}/nginx/tmp/scgi;
  server {{ listen 127.0.0.1:{port} backlog=4096; location /t/ {{ return 200 "ok\\n"; }} }} }}
"""
    with open(f"{work}/nginx/nginx.conf", "w") as f:
        f.write(conf)
    nginx = os.environ.get("NGINX_BIN", shutil.which("nginx") or "/usr/sbin/nginx")
    p = subprocess.Popen([nginx, "-p", f"{work}/nginx", "-e", f"{work}/nginx.log", "-c",
                          f"{work}/nginx/nginx.conf"], stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    PROCS.append(p)
    for _ in range(100):
        try:
            urllib.request.urlopen(f"http://127.0.0.1:{port}/t/1", timeout=1)
            return port
        except OSError:
            time.sleep(0.1)
    sys.exit("nginx did not start")


class Sink(http.server.BaseHTTPRequestHandler):
    arrivals = {}
    lock = threading.Lock()

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
        group = body.get("groupLabels", {}).get("group", "")
        with Sink.lock:
            Sink.arrivals.setdefault(group, []).append(time.time())
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


def config(nginx_port, sink_port):
    targets = ",".join(f'"http://127.0.0.1:{nginx_port}/t/{i:05d}"' for i in range(TARGETS))
    return f"""modules:
  http_2xx:
    prober: http
    timeout: 10s
    http: {{preferred_ip_protocol: ip4}}
probes:
  - job: bench
    module: http_2xx
    interval: {INTERVAL}s
    targets: [{targets}]
alerting:
  route:
    receiver: sink
    group_by: [group]
    group_wait: 1s
    group_interval: 5m
    repeat_interval: 1h
  receivers:
    - name: sink
      webhook_configs:
        - url: http://127.0.0.1:{sink_port}/hook
"""


def start_replicas(binary, work, text, n):
    gossip = [free_port(socket.SOCK_DGRAM) for _ in range(n)]
    out = []
    for i in range(n):
        d = tempfile.mkdtemp(dir=work)
        with open(f"{d}/bw.yml", "w") as f:
            f.write(text)
        port = free_port()
        args = [binary, f"--config.file={d}/bw.yml", f"--web.listen-address=127.0.0.1:{port}",
                f"--storage.path={d}/data", "--probe.concurrency=1024"]
        if n > 1:
            args += [f"--cluster.listen-address=127.0.0.1:{gossip[i]}",
                     "--cluster.settle-timeout=10s"]
            args += [f"--cluster.peer=127.0.0.1:{g}" for j, g in enumerate(gossip) if j != i]
        p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=open(f"{d}/log", "w"))
        PROCS.append(p)
        out.append((p, port))
    for p, port in out:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"http://127.0.0.1:{port}/-/ready", timeout=1)
                break
            except OSError:
                time.sleep(0.1)
    return out


def scrape(port):
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=30).read().decode()
    vals = {}
    for line in text.splitlines():
        if line.startswith("#") or not line.strip():
            continue
        if line.startswith(("blackwatch_", "alertmanager_cluster_messages", "process_")):
            name, _, v = line.rpartition(" ")
            try:
                vals[name] = vals.get(name, 0.0) + float(v)
            except ValueError:
                pass
    return vals


def lag_p99(before, after):
    buckets = []
    for k, v in after.items():
        if k.startswith("blackwatch_schedule_lag_seconds_bucket"):
            le = k.split('le="')[1].split('"')[0]
            buckets.append((float("inf") if le == "+Inf" else float(le), v - before.get(k, 0)))
    buckets.sort()
    total = buckets[-1][1] if buckets else 0
    for le, c in buckets:
        if total and c >= 0.99 * total:
            return le
    return float("nan")


def ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])


def rss_mib(pid):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


def measure(replicas):
    time.sleep(WARMUP)
    before = [(ticks(p.pid), scrape(port)) for p, port in replicas]
    t0 = time.time()
    time.sleep(DURATION)
    dt = time.time() - t0
    rows = []
    for (p, port), (t_before, m0) in zip(replicas, before):
        m1 = scrape(port)
        d = lambda k: m1.get(k, 0) - m0.get(k, 0)
        n = d("blackwatch_schedule_lag_seconds_count")
        rows.append({
            "cpu_pct": 100 * (ticks(p.pid) - t_before) / CLK_TCK / dt,
            "rss_mib": rss_mib(p.pid),
            "probes_per_s": n / dt,
            "lag_mean_ms": 1000 * d("blackwatch_schedule_lag_seconds_sum") / n if n else float("nan"),
            "lag_p99_le_s": lag_p99(m0, m1),
            "skipped": sum(v for k, v in m1.items() if k.startswith("blackwatch_schedule_skipped_runs")),
            "owned": sum(v for k, v in m1.items() if k.startswith("blackwatch_scheduled_targets_owned")),
            "gossip_kib_s": (sum(d(k) for k in m1 if k.startswith("alertmanager_cluster_messages_sent_size"))
                             + sum(d(k) for k in m1 if k.startswith("alertmanager_cluster_messages_received_size"))) / 1024 / dt,
        })
    return rows


def latency(replicas, tag):
    Sink.arrivals.clear()
    posted = {}
    for i in range(ALERTS):
        g = f"{tag}-{i}"
        body = json.dumps([{"labels": {"alertname": "Bench", "group": g}}]).encode()
        posted[g] = time.time()
        for _, port in replicas:
            req = urllib.request.Request(f"http://127.0.0.1:{port}/api/v2/alerts", data=body,
                                         headers={"Content-Type": "application/json"})
            urllib.request.urlopen(req, timeout=10).read()
        time.sleep(0.05)
    time.sleep(5)
    lat = sorted(min(Sink.arrivals[g]) - posted[g] for g in posted if g in Sink.arrivals)
    dups = sum(len(v) - 1 for v in Sink.arrivals.values())
    lost = ALERTS - len(lat)
    q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))] * 1000 if lat else float("nan")
    return {"p50_ms": q(0.5), "p99_ms": q(0.99), "lost": lost, "duplicates": dups}


def main():
    binary = blackwatch_bin()
    work = tempfile.mkdtemp(prefix="bw-cluster-bench-")
    try:
        nginx_port = start_nginx(work)
        sink_port = free_port()
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", sink_port), Sink)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        text = config(nginx_port, sink_port)
        results = {}
        for n in (1, 3):
            replicas = start_replicas(binary, work, text, n)
            rows = measure(replicas)
            lat = latency(replicas, f"n{n}")
            results[n] = (rows, lat)
            for p, _ in replicas:
                p.send_signal(signal.SIGTERM)
                p.wait(timeout=40)
        print(f"\n{TARGETS} targets every {INTERVAL}s; window {DURATION}s after {WARMUP}s warm-up\n")
        print("| setup | replica | targets owned | probes/s | CPU % of a core | RSS MiB | lag mean ms | lag p99 ≤ s | skipped | gossip KiB/s |")
        print("|---|---|---|---|---|---|---|---|---|---|")
        for n, (rows, _) in results.items():
            for i, r in enumerate(rows):
                print(f"| {n} replica{'s' if n > 1 else ''} | {i} | {r['owned']:.0f} | {r['probes_per_s']:.0f} | {r['cpu_pct']:.1f} | "
                      f"{r['rss_mib']:.1f} | {r['lag_mean_ms']:.1f} | {r['lag_p99_le_s']} | {r['skipped']:.0f} | {r['gossip_kib_s']:.1f} |")
        print("\n| setup | notification p50 ms | p99 ms | lost | duplicates |")
        print("|---|---|---|---|---|")
        for n, (_, lat) in results.items():
            print(f"| {n} replica{'s' if n > 1 else ''} | {lat['p50_ms']:.0f} | {lat['p99_ms']:.0f} | {lat['lost']} | {lat['duplicates']} |")
        srv.shutdown()
    finally:
        stop_all()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
