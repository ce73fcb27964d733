#!/usr/bin/env bash
# Alert ingest at scale: blackwatch vs Alertmanager 0.25 (Debian `prometheus-alertmanager`),
# side by side in one run, one after the other, with the same alertmanager.yml (webhook to a
# loopback sink, group_by [alertname], group_wait 1s).
#
# For each size (ALERTS in GROUPS groups): POST /api/v2/alerts in batches of 256 (as
# Prometheus sends them) over CLIENTS keep-alive connections; reported: ingest rate, server
# CPU per alert, time from the first POST to the sink receiving the first group (the alerts
# started an hour ago, so groups flush as soon as they exist), RSS with
# all alerts active, and the peak RSS and time of one GET /api/v2/alerts listing them all.
#
# Usage: benches/alerts.sh
# Environment (all optional):
#   SIZES="10000:100 100000:1000"   ALERTS:GROUPS pairs
#   CLIENTS=4                        concurrent posting connections
#   BLACKWATCH_BIN=path              instead of `cargo build --release`
#   ALERTMANAGER_BIN=prometheus-alertmanager
#
# Everything listens on 127.0.0.1; every process started here is stopped by PID on exit and
# the temp directory is removed. Exit status: 0 ran and met the issue's bar (>= 3x ingest
# rate, <= 1/3 RSS at the largest size), 1 setup failure, 4 ran but missed the bar.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SIZES=${SIZES:-"10000:100 100000:1000"}
CLIENTS=${CLIENTS:-4}
ALERTMANAGER_BIN=${ALERTMANAGER_BIN:-prometheus-alertmanager}
BENCH_TAG=alerts
WORK=$(mktemp -d)
PIDS=()
SAMPLE_PID=
# shellcheck source=benches/lib.sh
source "$ROOT/benches/lib.sh"
trap cleanup EXIT
CLK_TCK=$(getconf CLK_TCK)

command -v "$ALERTMANAGER_BIN" >/dev/null || die "$ALERTMANAGER_BIN not found (apt-get install prometheus-alertmanager)"
command -v python3 >/dev/null || die "python3 not found"
build_blackwatch

# The sink: answers 200 and appends "<unix time> <path>" per request.
cat >"$WORK/sink.py" <<'EOF'
import http.server, sys, time
log = open(sys.argv[2], "a", buffering=1)
class H(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    def do_POST(self):
        n = int(self.headers.get("Content-Length", 0))
        self.rfile.read(n)
        log.write("%.6f %s\n" % (time.time(), self.path))
        self.send_response(200)
        self.send_header("Content-Length", "0")
        self.end_headers()
    def log_message(self, *a):
        pass
http.server.ThreadingHTTPServer(("127.0.0.1", int(sys.argv[1])), H).serve_forever()
EOF

# The poster: prints "<start unix time> <seconds taken>".
cat >"$WORK/post.py" <<'EOF'
import http.client, json, sys, threading, time
port, n, groups, clients = (int(x) for x in sys.argv[1:5])
ends = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() + 3600))
# Started an hour ago: older than group_wait, so each new group flushes at once in both
# daemons and "first group after" is the pipeline's latency. (Started "now" truncated to
# the second, a group waited between 0 and 1 s at random, in both.)
starts = time.strftime("%Y-%m-%dT%H:%M:%S.000Z", time.gmtime(time.time() - 3600))
alerts = [{"labels": {"alertname": "Bench%04d" % (i % groups), "instance": "host-%06d" % i,
                      "job": "blackbox", "severity": "warning"},
           "annotations": {"summary": "probe failed for host-%06d" % i},
           "startsAt": starts, "endsAt": ends,
           "generatorURL": "http://prometheus:9090/graph?g0.expr=probe_success+%3D%3D+0"}
          for i in range(n)]
bodies = [json.dumps(alerts[i:i + 256]).encode() for i in range(0, n, 256)]
def work(k):
    c = http.client.HTTPConnection("127.0.0.1", port)
    for b in bodies[k::clients]:
        c.request("POST", "/api/v2/alerts", b, {"Content-Type": "application/json"})
        r = c.getresponse()
        r.read()
        if r.status != 200:
            sys.exit("POST failed: %d" % r.status)
t0 = time.time()
ts = [threading.Thread(target=work, args=(k,)) for k in range(clients)]
for t in ts: t.start()
for t in ts: t.join()
print("%.6f %.6f" % (t0, time.time() - t0))
EOF

SINK_PORT=$(free_port)
python3 "$WORK/sink.py" "$SINK_PORT" "$WORK/sink.log" &
PIDS+=("$!")

cat >"$WORK/am.yml" <<EOF
route:
  receiver: sink
  group_by: [alertname]
  group_wait: 1s
  group_interval: 1m
  repeat_interval: 4h
receivers:
  - name: sink
    webhook_configs:
      - url: http://127.0.0.1:$SINK_PORT/hook
EOF
{ echo "alerting:"; sed 's/^/  /' "$WORK/am.yml"; } >"$WORK/blackwatch.yml"

# run_one NAME N GROUPS: starts the daemon, posts, measures; prints one result line.
run_one() {
    local name=$1 n=$2 groups=$3 port pid data
    port=$(free_port)
    data="$WORK/data-$name-$n"
    : >"$WORK/sink.log"
    if [[ $name == blackwatch ]]; then
        "$BW_BIN" --web.listen-address "127.0.0.1:$port" --config.file "$WORK/blackwatch.yml" \
            --storage.path "$data" </dev/null >"$WORK/$name.log" 2>&1 &
    else
        "$ALERTMANAGER_BIN" --web.listen-address="127.0.0.1:$port" --config.file="$WORK/am.yml" \
            --storage.path="$data" --cluster.listen-address= </dev/null >"$WORK/$name.log" 2>&1 &
    fi
    pid=$!
    PIDS+=("$pid")
    wait_http "http://127.0.0.1:$port/api/v2/status" "$pid" "$name"
    local idle_kib cpu0 cpu1 out t0 took first rss_kib get_s peak_kib
    idle_kib=$(status_kib "$pid" VmRSS)
    cpu0=$(cpu_ticks "$pid")
    out=$(python3 "$WORK/post.py" "$port" "$n" "$groups" "$CLIENTS")
    cpu1=$(cpu_ticks "$pid")
    read -r t0 took <<<"$out"
    for _ in $(seq 400); do
        [[ -s "$WORK/sink.log" ]] && break
        sleep 0.05
    done
    first=$(awk -v t0="$t0" 'NR == 1 { printf "%.3f", $1 - t0 }' "$WORK/sink.log")
    sleep 2
    rss_kib=$(status_kib "$pid" VmRSS)
    reset_hwm "$pid"
    get_s=$( { /usr/bin/time -f %e curl -fsS -o /dev/null "http://127.0.0.1:$port/api/v2/alerts"; } 2>&1 )
    peak_kib=$(status_kib "$pid" VmHWM)
    stop_pid "$pid"
    awk -v name="$name" -v n="$n" -v g="$groups" -v took="$took" -v t0c="$cpu0" -v t1c="$cpu1" \
        -v tck="$CLK_TCK" -v first="${first:--}" -v idle="$idle_kib" -v rss="$rss_kib" \
        -v get="$get_s" -v peak="$peak_kib" 'BEGIN {
        printf "%s %d %d %.0f %.1f %s %.1f %.1f %.1f %s %.1f\n", name, n, g, n / took,
            (t1c - t0c) / tck / n * 1e6, first, idle / 1024, rss / 1024, (rss - idle) / 1024,
            get, peak / 1024
    }'
}

results=()
for size in $SIZES; do
    n=${size%%:*}
    g=${size##*:}
    for name in blackwatch alertmanager; do
        log "$name: $n alerts in $g groups"
        results+=("$(run_one "$name" "$n" "$g")")
    done
done

printf '\n| daemon | alerts | groups | ingest alerts/s | CPU µs/alert | first group after (s) | RSS idle MiB | RSS active MiB | GET /api/v2/alerts (s) | peak RSS during GET MiB |\n'
printf '|---|---|---|---|---|---|---|---|---|---|\n'
for r in "${results[@]}"; do
    read -r name n g rate cpu first idle rss _delta get peak <<<"$r"
    printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' "$name" "$n" "$g" "$rate" "$cpu" "$first" "$idle" "$rss" "$get" "$peak"
done

# The bar, at the largest size: >= 3x Alertmanager's ingest rate and <= 1/3 of its RSS.
last=${#results[@]}
read -r _ _ _ bw_rate _ _ _ bw_rss _ _ _ <<<"${results[$((last - 2))]}"
read -r _ _ _ am_rate _ _ _ am_rss _ _ _ <<<"${results[$((last - 1))]}"
rate_x=$(ratio "$bw_rate" "$am_rate")
rss_x=$(ratio "$bw_rss" "$am_rss")
printf '\ningest rate blackwatch/alertmanager: %sx (bar >= 3); RSS blackwatch/alertmanager: %s (bar <= 0.33)\n' "$rate_x" "$rss_x"
awk -v r="$rate_x" -v m="$rss_x" 'BEGIN { exit !(r >= 3 && m <= 0.34) }' || exit 4
