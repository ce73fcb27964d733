"""Helpers for benches/soak.sh (standard library only). Subcommands:

serve PORTFILE: the loopback peers, on ports written to PORTFILE as shell assignments:
    FLAP_PORT   HTTP, answers 200 or 500, switching every FLAP_PERIOD seconds (per path: half
                of the paths are shifted by half a period, so alerts fire and resolve all the time)
    HANG_PORT   accepts and never answers (holds the connection until the peer closes)
    TRICKLE_PORT  sends an HTTP response head one byte per second, forever
    HOOK_PORT   webhook receiver: 200 to every POST, counts requests and bytes
    Everything listens on 127.0.0.1.

load BW_URL HEALTHY_URL CLOSED_TARGET HANG_TARGET DURATION_S: /probe load and alert churn
    against blackwatch until DURATION_S elapsed. Prints a summary line at the end.
"""
import asyncio
import json
import random
import sys
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from datetime import datetime, timedelta, timezone

FLAP_PERIOD = 90


async def _read_head(reader):
    try:
        await reader.readuntil(b"\r\n\r\n")
        return True
    except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
        return False


async def flap(reader, writer):
    try:
        while True:
            try:
                line = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            path = line.split(b" ", 2)[1] if line.count(b" ") >= 2 else b"/"
            shift = (sum(path) % 2) * FLAP_PERIOD // 2
            up = int((time.time() + shift) // FLAP_PERIOD) % 2 == 0
            status = b"200 OK" if up else b"500 Internal Server Error"
            body = b"ok\n" if up else b"down\n"
            writer.write(b"HTTP/1.1 " + status + b"\r\nContent-Length: %d\r\n\r\n" % len(body) + body)
            await writer.drain()
    except ConnectionError:
        pass
    finally:
        writer.close()


async def hang(reader, writer):
    try:
        while await reader.read(4096):
            pass
    except ConnectionError:
        pass
    finally:
        writer.close()


async def trickle(reader, writer):
    try:
        if not await _read_head(reader):
            return
        head = b"HTTP/1.1 200 OK\r\nX-Slow: "
        i = 0
        while True:
            writer.write(head[i : i + 1] if i < len(head) else b"a")
            await writer.drain()
            i += 1
            await asyncio.sleep(1)
    except ConnectionError:
        pass
    finally:
        writer.close()


HOOK = {"requests": 0, "bytes": 0}


async def hook(reader, writer):
    try:
        while True:
            try:
                head = await reader.readuntil(b"\r\n\r\n")
            except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
                return
            length = 0
            for line in head.split(b"\r\n"):
                if line.lower().startswith(b"content-length:"):
                    length = int(line.split(b":", 1)[1])
            if length:
                await reader.readexactly(length)
            HOOK["requests"] += 1
            HOOK["bytes"] += length
            writer.write(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            await writer.drain()
    except (ConnectionError, asyncio.IncompleteReadError):
        pass
    finally:
        writer.close()


async def serve(portfile):
    servers = {}
    for name, handler in (("FLAP", flap), ("HANG", hang), ("TRICKLE", trickle), ("HOOK", hook)):
        servers[name] = await asyncio.start_server(handler, "127.0.0.1", 0, backlog=4096)
    with open(portfile + ".tmp", "w") as f:
        for name, s in servers.items():
            f.write("%s_PORT=%d\n" % (name, s.sockets[0].getsockname()[1]))
    import os

    os.rename(portfile + ".tmp", portfile)
    while True:
        await asyncio.sleep(10)
        print("hook requests=%d bytes=%d" % (HOOK["requests"], HOOK["bytes"]), flush=True)


def _req(method, url, body=None, timeout=10):
    data = None if body is None else json.dumps(body).encode()
    req = urllib.request.Request(url, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()
    except (urllib.error.URLError, OSError):
        return 0, b""


def _iso(t):
    return t.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def load(bw, healthy, closed, hanging, duration):
    end = time.time() + duration
    stats = {"probe": 0, "probe_err": 0, "alerts": 0, "silences": 0, "expired": 0, "api_err": 0}
    lock = threading.Lock()

    def bump(key):
        with lock:
            stats[key] += 1

    # /probe load: 3 threads, each ~10 requests/s, mixing healthy, closed and hanging targets
    # (the hanging ones with a 1 s timeout through the Prometheus header).
    def prober(seed):
        rnd = random.Random(seed)
        while time.time() < end:
            kind = rnd.random()
            if kind < 0.7:
                target, module, hdr = healthy + "/p/%d" % rnd.randrange(1000), "http_2xx", "5"
            elif kind < 0.85:
                target, module, hdr = closed, "tcp_connect", "5"
            else:
                target, module, hdr = hanging, "http_2xx", "1.5"
            url = "%s/probe?%s" % (bw, urllib.parse.urlencode({"target": target, "module": module}))
            req = urllib.request.Request(url)
            req.add_header("X-Prometheus-Scrape-Timeout-Seconds", hdr)
            try:
                with urllib.request.urlopen(req, timeout=10) as r:
                    r.read()
                    bump("probe")
            except (urllib.error.URLError, OSError):
                bump("probe_err")
            time.sleep(0.1)

    # Alert churn: every second post a batch of 20 alerts with short endsAt from a pool of 200
    # label sets, create a silence on a random alert with a 30 s lifetime and expire some early.
    def churn():
        rnd = random.Random(7)
        live = []
        while time.time() < end:
            now = datetime.now(timezone.utc)
            batch = []
            for _ in range(20):
                i = rnd.randrange(200)
                batch.append(
                    {
                        "labels": {"alertname": "SoakPosted", "instance": "i%03d" % i, "team": "t%d" % (i % 5)},
                        "annotations": {"summary": "posted %d at %s" % (i, _iso(now))},
                        "startsAt": _iso(now),
                        "endsAt": _iso(now + timedelta(seconds=rnd.randrange(20, 120))),
                        "generatorURL": "http://soak/%d" % i,
                    }
                )
            st, _ = _req("POST", bw + "/api/v2/alerts", batch)
            bump("alerts" if st == 200 else "api_err")
            i = rnd.randrange(200)
            sil = {
                "matchers": [{"name": "instance", "value": "i%03d" % i, "isRegex": False, "isEqual": True}],
                "startsAt": _iso(now),
                "endsAt": _iso(now + timedelta(seconds=30)),
                "createdBy": "soak",
                "comment": "soak churn",
            }
            st, body = _req("POST", bw + "/api/v2/silences", sil)
            if st == 200:
                bump("silences")
                try:
                    live.append(json.loads(body)["silenceID"])
                except (ValueError, KeyError):
                    bump("api_err")
            else:
                bump("api_err")
            if live and rnd.random() < 0.5:
                sid = live.pop(rnd.randrange(len(live)))
                st, _ = _req("DELETE", bw + "/api/v2/silence/" + sid)
                bump("expired" if st == 200 else "api_err")
            if len(live) > 100:
                live = live[-100:]
            if rnd.random() < 0.1:
                for path in ("/api/v2/alerts", "/api/v2/silences", "/api/v2/alerts/groups", "/metrics", "/"):
                    st, _ = _req("GET", bw + path)
                    if st != 200:
                        bump("api_err")
            time.sleep(1)

    threads = [threading.Thread(target=prober, args=(s,)) for s in range(3)]
    threads.append(threading.Thread(target=churn))
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    print(" ".join("%s=%d" % kv for kv in stats.items()), flush=True)


def main():
    if len(sys.argv) >= 3 and sys.argv[1] == "serve":
        asyncio.run(serve(sys.argv[2]))
    elif len(sys.argv) == 7 and sys.argv[1] == "load":
        load(sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5], float(sys.argv[6]))
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
