#!/usr/bin/env bash
# Scheduled probing at scale: blackwatch probing TARGETS (10,000) HTTP targets every 15 s on
# its own schedule (`probes:`), against the setup it replaces: Prometheus scraping
# blackbox_exporter's /probe for the same targets at the same interval. Both probe distinct
# URLs (http://127.0.0.1:PORT/t/00001 ...) on one loopback nginx. The two setups run one after
# the other (never at the same time), each warmed up and then measured over the same window.
#
# Usage: benches/schedule_10k.sh            (see benches/README.md)
#
# Environment (all optional):
#   TARGETS=10000         number of targets
#   DURATION=300s         measured window of each setup (s/m suffix, or plain seconds)
#   WARMUP=30s            unmeasured run before each window (every target runs at least once)
#   INTERVAL=15s          probe / scrape interval
#   SCRAPE_TIMEOUT=10s    Prometheus scrape_timeout (blackwatch's job timeout is the same)
#   METRICS_FETCHES=7     timed fetches of blackwatch's /metrics after its window
#   HALVES="blackwatch pair"  which setups to measure (re-run a disturbed one alone)
#   NGINX_WORKERS=1       nginx worker_processes
#   BLACKWATCH_BIN=path   use this binary instead of `cargo build --release` + target/release
#   BLACKBOX_BIN=prometheus-blackbox-exporter  PROMETHEUS_BIN=prometheus  NGINX_BIN=nginx
#   PERF_SECONDS=0        after blackwatch's window, `perf record -g` it for this long (into
#                         PERF_DATA, default ./perf-schedule.data); outside the measured window.
#                         Use an unstripped BLACKWATCH_BIN to get symbols.
#   RESULTS=path          also write the markdown report there
#
# Everything listens on 127.0.0.1 and every target is the local nginx: nothing off loopback is
# contacted. Every process started here is stopped by PID on exit (also on Ctrl-C), and the
# temp directory (configs, Prometheus' TSDB) is removed.
#
# Exit status: 0 everything ran, every target succeeded and the issue's bar was met; 1 setup
# failure; 3 the report was printed but some target did not end with probe_success 1 / up 1
# (or blackwatch skipped runs); 4 all correct, but a bar was missed (see the table).

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
TARGETS=${TARGETS:-10000}
DURATION=${DURATION:-300s}
WARMUP=${WARMUP:-30s}
INTERVAL=${INTERVAL:-15s}
SCRAPE_TIMEOUT=${SCRAPE_TIMEOUT:-10s}
METRICS_FETCHES=${METRICS_FETCHES:-7}
HALVES=${HALVES:-"blackwatch pair"}
NGINX_WORKERS=${NGINX_WORKERS:-1}
BLACKBOX_BIN=${BLACKBOX_BIN:-prometheus-blackbox-exporter}
PROMETHEUS_BIN=${PROMETHEUS_BIN:-prometheus}
NGINX_BIN=${NGINX_BIN:-nginx}
PERF_SECONDS=${PERF_SECONDS:-0}
PERF_DATA=${PERF_DATA:-$PWD/perf-schedule.data}
RESULTS=${RESULTS:-}

# shellcheck disable=SC2034 # used by lib.sh
BENCH_TAG=schedule_10k
# shellcheck source=benches/lib.sh
. "$ROOT/benches/lib.sh"

# --- arguments and tools -------------------------------------------------------------------
[[ "$TARGETS" =~ ^[1-9][0-9]*$ ]] || die "TARGETS must be a positive integer"
[[ "$METRICS_FETCHES" =~ ^[1-9][0-9]*$ ]] || die "METRICS_FETCHES must be a positive integer"
for h in $HALVES; do
    [[ "$h" == blackwatch || "$h" == pair ]] || die "HALVES: unknown setup '$h' (blackwatch, pair)"
done
want() { [[ " $HALVES " == *" $1 "* ]]; }

tools=(curl python3 awk ps "$NGINX_BIN")
if want pair; then tools+=("$BLACKBOX_BIN" "$PROMETHEUS_BIN"); fi
((PERF_SECONDS == 0)) || tools+=(perf)
for tool in "${tools[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found in PATH"
done
NGINX_BIN=$(command -v "$NGINX_BIN")
if want pair; then
    BLACKBOX_BIN=$(command -v "$BLACKBOX_BIN")
    PROMETHEUS_BIN=$(command -v "$PROMETHEUS_BIN")
fi
CLK_TCK=$(getconf CLK_TCK)
DURATION_S=$(to_seconds "$DURATION")
WARMUP_S=$(to_seconds "$WARMUP")
INTERVAL_S=$(to_seconds "$INTERVAL")

# Each probe is a socket (and Prometheus keeps connections to blackbox_exporter): lift the
# descriptor limit of everything started from here.
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
NOFILE=$(ulimit -n)
if [[ "$NOFILE" != unlimited ]] && ((NOFILE < 4096)); then
    die "ulimit -n is $NOFILE and could not be raised to 4096 or more"
fi

# --- process bookkeeping -------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/blackwatch-schedule.XXXXXX")
PIDS=()       # long-lived processes, stopped in reverse order on exit
SAMPLE_PID="" # the window's sleep (so that Ctrl-C does not wait for it)

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# stop_tracked PID: stop one process now and forget it.
stop_tracked() {
    local pid=$1 i keep=()
    stop_pid "$pid"
    for i in "${PIDS[@]}"; do [[ "$i" == "$pid" ]] || keep+=("$i"); done
    PIDS=("${keep[@]}")
}

# pause SECONDS: an interruptible sleep.
pause() {
    sleep "$1" &
    SAMPLE_PID=$!
    wait "$SAMPLE_PID" || true
    SAMPLE_PID=""
}

now_s() { printf '%s' "$EPOCHREALTIME"; }

# --- build ---------------------------------------------------------------------------------
if want blackwatch; then build_blackwatch; fi

# --- nginx: 200 for any /t/* -----------------------------------------------------------------
NGINX_PORT=$(free_port)
mkdir -p "$WORK/nginx/tmp"
chmod 755 "$WORK" "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<EOF
# Generated by benches/schedule_10k.sh.
daemon off;
master_process on;
worker_processes $NGINX_WORKERS;
worker_rlimit_nofile 65536;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx.log warn;
events {
    worker_connections 16384;
}
http {
    access_log off;
    server_tokens off;
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    default_type text/plain;
    server {
        listen 127.0.0.1:$NGINX_PORT backlog=4096;
        location /t/ { return 200 "ok\n"; }
        location / { return 404; }
    }
}
EOF
"$NGINX_BIN" -p "$WORK/nginx" -e "$WORK/nginx.log" -c "$WORK/nginx/nginx.conf" -t >/dev/null 2>&1 ||
    die "nginx config test failed: $("$NGINX_BIN" -p "$WORK/nginx" -e "$WORK/nginx.log" -c "$WORK/nginx/nginx.conf" -t 2>&1)"
"$NGINX_BIN" -p "$WORK/nginx" -e "$WORK/nginx.log" -c "$WORK/nginx/nginx.conf" </dev/null >"$WORK/nginx.out" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
BASE="http://127.0.0.1:$NGINX_PORT/t"
wait_http "$BASE/00001" "$NGINX_PID" nginx
NGINX_WORKER_PIDS=$(ps -o pid= --ppid "$NGINX_PID" | tr -s ' \n' ' ')
[[ -n "${NGINX_WORKER_PIDS// /}" ]] || die "no nginx worker processes found"
nginx_ticks() {
    local t=0 p
    for p in $NGINX_WORKER_PIDS; do t=$((t + $(cpu_ticks "$p"))); done
    echo "$t"
}
log "nginx (master $NGINX_PID, workers$NGINX_WORKER_PIDS) answering 200 on $BASE/*; ulimit -n $NOFILE"

# --- configs -------------------------------------------------------------------------------
WIDTH=${#TARGETS}
((WIDTH >= 5)) || WIDTH=5
MODULE_YAML='modules:
  http_2xx:
    prober: http
    http:
      preferred_ip_protocol: ip4'
printf '%s\n' "$MODULE_YAML" >"$WORK/blackbox.yml"
{
    printf '%s\n' "$MODULE_YAML"
    printf 'probes:\n  - job: bench\n    module: http_2xx\n    interval: %s\n    timeout: %s\n    targets:\n' \
        "$INTERVAL" "$SCRAPE_TIMEOUT"
    awk -v n="$TARGETS" -v w="$WIDTH" -v b="$BASE" 'BEGIN { for (i = 1; i <= n; i++) printf "      - %s/%0*d\n", b, w, i }'
} >"$WORK/blackwatch.yml"
awk -v n="$TARGETS" -v w="$WIDTH" -v b="$BASE" 'BEGIN {
    printf "[{\"labels\": {}, \"targets\": [\n"
    for (i = 1; i <= n; i++) printf "  \"%s/%0*d\"%s\n", b, w, i, (i < n ? "," : "")
    printf "]}]\n"
}' >"$WORK/targets.json"

# --- the analysis helper -------------------------------------------------------------------
cat >"$WORK/analyze.py" <<'EOF'
"""Helpers for schedule_10k.sh. Subcommands:

blackwatch START END: compare two /metrics bodies of blackwatch; prints shell assignments.
prom URL DURATION_S: Prometheus sanity figures after the pair's window; prints assignments.
quantiles FILE: median, min and max of the numbers in FILE (one per line, seconds) in ms.
"""
import json, math, re, statistics, sys, urllib.parse, urllib.request

LINE = re.compile(r'^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{[^}]*\})? (\S+)$')


def parse(path, wanted):
    """(name, labels-text) -> value for the lines whose name starts with one of `wanted`."""
    out, success1, success = {}, 0, 0
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("probe_success{"):
                success += 1
                if line.rstrip("\n").endswith("} 1"):
                    success1 += 1
                continue
            if not line.startswith(wanted):
                continue
            m = LINE.match(line.rstrip("\n"))
            if m:
                out[(m.group(1), m.group(2) or "")] = float(m.group(3))
    return out, success1, success


def buckets(samples, name):
    b = {}
    for (n, labels), v in samples.items():
        if n == name + "_bucket":
            le = re.search(r'le="([^"]*)"', labels).group(1)
            b[math.inf if le == "+Inf" else float(le)] = v
    return b


def histogram_quantile(q, b):
    """Prometheus' bucketQuantile (promql/quantile.go) over {upper bound: cumulative count}."""
    bounds = sorted(b)
    if not bounds or bounds[-1] != math.inf:
        return math.nan
    counts = [b[u] for u in bounds]
    for i in range(1, len(counts)):  # ensure monotonicity, as Prometheus does
        counts[i] = max(counts[i], counts[i - 1])
    total = counts[-1]
    if total == 0:
        return math.nan
    rank = q * total
    i = next(i for i, c in enumerate(counts) if c >= rank)
    if i == len(bounds) - 1:
        return bounds[-2]
    if i == 0 and bounds[0] <= 0:
        return bounds[0]
    start, end, count = 0.0, bounds[i], counts[i]
    if i > 0:
        start = bounds[i - 1]
        count -= counts[i - 1]
        rank -= counts[i - 1]
    return start + (end - start) * (rank / count)


def sh(**kv):
    for k, v in kv.items():
        if isinstance(v, float):
            v = "nan" if math.isnan(v) else f"{v:.3f}".rstrip("0").rstrip(".")
        print(f"{k}={v}")


def blackwatch(start, end):
    wanted = ("blackwatch_schedule_", "blackwatch_probes_in_flight", "blackwatch_scheduled_targets")
    s0, _, _ = parse(start, wanted)
    s1, ok1, all1 = parse(end, wanted)
    b0 = buckets(s0, "blackwatch_schedule_lag_seconds")
    b1 = buckets(s1, "blackwatch_schedule_lag_seconds")
    delta = {u: b1[u] - b0.get(u, 0.0) for u in b1}
    total = lambda s, prefix: sum(v for (n, _), v in s.items() if n.startswith(prefix))
    skipped0 = total(s0, "blackwatch_schedule_skipped_runs")
    skipped1 = total(s1, "blackwatch_schedule_skipped_runs")
    lag_sum = s1.get(("blackwatch_schedule_lag_seconds_sum", ""), 0) - s0.get(("blackwatch_schedule_lag_seconds_sum", ""), 0)
    runs = delta.get(math.inf, 0.0)
    over = runs - max((c for u, c in delta.items() if u <= 0.25), default=0.0)
    sh(
        LAG_P50_MS=histogram_quantile(0.5, delta) * 1000,
        LAG_P99_MS=histogram_quantile(0.99, delta) * 1000,
        LAG_MEAN_MS=(lag_sum / runs * 1000) if runs else math.nan,
        LAG_OVER_250MS=int(over),
        RUNS=int(runs),
        SKIPPED_WINDOW=int(skipped1 - skipped0),
        SKIPPED_TOTAL=int(skipped1),
        IN_FLIGHT=int(s1.get(("blackwatch_probes_in_flight", ""), -1)),
        SCHEDULED=int(total(s1, "blackwatch_scheduled_targets")),
        SUCCESS1=ok1,
        SUCCESS_SERIES=all1,
    )


def prom(url, duration_s):
    def q(expr):
        data = urllib.parse.urlencode({"query": expr}).encode()
        with urllib.request.urlopen(url + "/api/v1/query", data, timeout=120) as r:
            res = json.load(r)["data"]["result"]
        return float(res[0]["value"][1]) if res else 0.0

    rng = f"{int(duration_s)}s"
    sh(
        UP1=int(q('count(up{job="blackbox"} == 1)')),
        UP_ALL=int(q('count(up{job="blackbox"})')),
        PSUCCESS1=int(q('count(probe_success{job="blackbox"} == 1)')),
        SCRAPE_AVG_MS=q('avg(scrape_duration_seconds{job="blackbox"})') * 1000,
        SCRAPE_P99_MS=q('quantile(0.99, scrape_duration_seconds{job="blackbox"})') * 1000,
        SCRAPE_MAX_MS=q('max(max_over_time(scrape_duration_seconds{job="blackbox"}[%s]))' % rng) * 1000,
        DOWN_IN_WINDOW=int(q('count(min_over_time(up{job="blackbox"}[%s]) == 0) or vector(0)' % rng)),
        SCRAPES_PER_TARGET=q('avg(count_over_time(up{job="blackbox"}[%s]))' % rng),
    )


def quantiles(path):
    xs = [float(l) * 1000 for l in open(path) if l.strip()]
    print(f"{statistics.median(xs):.1f} {min(xs):.1f} {max(xs):.1f}")


if __name__ == "__main__":
    cmd = sys.argv[1]
    if cmd == "blackwatch":
        blackwatch(sys.argv[2], sys.argv[3])
    elif cmd == "prom":
        prom(sys.argv[2], float(sys.argv[3]))
    elif cmd == "scraped":  # targets Prometheus has scraped at least once
        data = urllib.parse.urlencode({"query": 'count(up{job="blackbox"})'}).encode()
        with urllib.request.urlopen(sys.argv[2] + "/api/v1/query", data, timeout=60) as r:
            res = json.load(r)["data"]["result"]
        print(int(float(res[0]["value"][1])) if res else 0)
    elif cmd == "quantiles":
        quantiles(sys.argv[2])
    else:
        sys.exit(f"unknown subcommand {cmd}")
EOF

# --- measurement ---------------------------------------------------------------------------
declare -A R # R[setup,field]
FAILED=0

# window SETUP PID...: measures the CPU of the PIDs (and nginx, and the machine) over
# DURATION_S; sets R[SETUP,cpu_pct] (sum, % of one core), R[SETUP,cpu_pct,PID], R[SETUP,nginx_pct],
# R[SETUP,other] (cores), R[SETUP,wall], R[SETUP,load].
window() {
    local setup=$1 pid t0 t1 b0 b1 n0 n1 sum=0
    shift
    local -A p0 p1
    R[$setup,load]=$(loadavg1)
    for pid in "$@"; do p0[$pid]=$(cpu_ticks "$pid"); done
    n0=$(nginx_ticks)
    b0=$(busy_ticks)
    t0=$(now_s)
    log "$setup: measuring for ${DURATION_S}s (load $(loadavg1))"
    pause "$DURATION_S"
    t1=$(now_s)
    b1=$(busy_ticks)
    n1=$(nginx_ticks)
    for pid in "$@"; do
        p1[$pid]=$(cpu_ticks "$pid")
        sum=$((sum + p1[$pid] - p0[$pid]))
        R[$setup,cpu_pct,$pid]=$(awk -v t=$((p1[$pid] - p0[$pid])) -v hz="$CLK_TCK" -v t0="$t0" -v t1="$t1" \
            'BEGIN { printf "%.1f", t / hz / (t1 - t0) * 100 }')
    done
    R[$setup,wall]=$(awk -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.1f", t1 - t0 }')
    R[$setup,cpu_s]=$(awk -v t=$sum -v hz="$CLK_TCK" 'BEGIN { printf "%.1f", t / hz }')
    R[$setup,cpu_pct]=$(awk -v t=$sum -v hz="$CLK_TCK" -v t0="$t0" -v t1="$t1" \
        'BEGIN { printf "%.1f", t / hz / (t1 - t0) * 100 }')
    R[$setup,nginx_pct]=$(awk -v t=$((n1 - n0)) -v hz="$CLK_TCK" -v t0="$t0" -v t1="$t1" \
        'BEGIN { printf "%.1f", t / hz / (t1 - t0) * 100 }')
    # CPU (in cores) used by anything but the measured processes and nginx: other work on the
    # machine (a build, ...), plus a little kernel time charged to no process.
    R[$setup,other]=$(awk -v b=$((b1 - b0)) -v p=$sum -v n=$((n1 - n0)) -v hz="$CLK_TCK" -v t0="$t0" -v t1="$t1" \
        'BEGIN { v = (b - p - n) / hz / (t1 - t0); printf "%.2f", (v < 0 ? 0 : v) }')
    log "$setup: CPU ${R[$setup,cpu_pct]}% of a core, nginx ${R[$setup,nginx_pct]}%, other ${R[$setup,other]} cores"
}

# --- (a) blackwatch alone ------------------------------------------------------------------
if want blackwatch; then
    BW_PORT=$(free_port)
    BW_URL="http://127.0.0.1:$BW_PORT"
    "$BW_BIN" --config.check --config.file "$WORK/blackwatch.yml" >"$WORK/config-check.log" 2>&1 ||
        die "blackwatch rejected the generated config: $(tail -5 "$WORK/config-check.log")"
    t_start=$(now_s)
    "$BW_BIN" --web.listen-address "127.0.0.1:$BW_PORT" --config.file "$WORK/blackwatch.yml" \
        </dev/null >"$WORK/blackwatch.log" 2>&1 &
    BW_PID=$!
    PIDS+=("$BW_PID")
    wait_http "$BW_URL/-/ready" "$BW_PID" blackwatch
    R[blackwatch,ready_ms]=$(awk -v a="$t_start" -v b="$(now_s)" 'BEGIN { printf "%.0f", (b - a) * 1000 }')
    R[blackwatch,idle_kib]=$(status_kib "$BW_PID" VmRSS)
    log "blackwatch (PID $BW_PID) on :$BW_PORT probing $TARGETS targets every $INTERVAL; warm-up ${WARMUP_S}s"
    pause "$WARMUP_S"

    curl -fsS --max-time 60 -o "$WORK/bw-start.txt" "$BW_URL/metrics" || die "blackwatch /metrics failed"
    window blackwatch "$BW_PID"
    R[blackwatch,rss_end_kib]=$(status_kib "$BW_PID" VmRSS)
    R[blackwatch,hwm_window_kib]=$(status_kib "$BW_PID" VmHWM)

    # /metrics: time to first byte (the body is built in full before it is sent, so this is
    # the encoding) and total (plus the transfer of the uncompressed body over loopback).
    : >"$WORK/ttfb" && : >"$WORK/total"
    for i in $(seq "$METRICS_FETCHES"); do
        out=$(curl -fsS --max-time 60 -o "$WORK/bw-end.txt" \
            -w '%{time_starttransfer} %{time_total} %{size_download}\n' "$BW_URL/metrics") ||
            die "blackwatch /metrics failed"
        read -r ttfb total size <<<"$out"
        echo "$ttfb" >>"$WORK/ttfb"
        echo "$total" >>"$WORK/total"
        R[blackwatch,metrics_bytes]=$size
    done
    read -r 'R[blackwatch,ttfb_med]' 'R[blackwatch,ttfb_min]' 'R[blackwatch,ttfb_max]' < <(python3 "$WORK/analyze.py" quantiles "$WORK/ttfb")
    read -r 'R[blackwatch,total_med]' 'R[blackwatch,total_min]' 'R[blackwatch,total_max]' < <(python3 "$WORK/analyze.py" quantiles "$WORK/total")
    # The same as Prometheus scrapes it (Accept-Encoding: gzip): the body is compressed in full
    # before it is sent, so the time to first byte is encoding plus compression.
    : >"$WORK/gz"
    for i in $(seq "$METRICS_FETCHES"); do
        out=$(curl -fsS --max-time 60 -o /dev/null -H 'Accept-Encoding: gzip' \
            -w '%{time_starttransfer} %{size_download}\n' "$BW_URL/metrics") ||
            die "blackwatch /metrics (gzip) failed"
        read -r ttfb size <<<"$out"
        echo "$ttfb" >>"$WORK/gz"
        R[blackwatch,gz_bytes]=$size
    done
    read -r 'R[blackwatch,gz_med]' 'R[blackwatch,gz_min]' 'R[blackwatch,gz_max]' < <(python3 "$WORK/analyze.py" quantiles "$WORK/gz")
    R[blackwatch,hwm_kib]=$(status_kib "$BW_PID" VmHWM)
    R[blackwatch,metrics_lines]=$(wc -l <"$WORK/bw-end.txt")

    eval "$(python3 "$WORK/analyze.py" blackwatch "$WORK/bw-start.txt" "$WORK/bw-end.txt")" ||
        die "could not analyse blackwatch's /metrics"
    for k in LAG_P50_MS LAG_P99_MS LAG_MEAN_MS LAG_OVER_250MS RUNS SKIPPED_WINDOW SKIPPED_TOTAL IN_FLIGHT SCHEDULED SUCCESS1 SUCCESS_SERIES; do
        R[blackwatch,$k]=${!k}
    done
    log "blackwatch: lag p50 ${LAG_P50_MS} ms p99 ${LAG_P99_MS} ms, $RUNS runs, skipped $SKIPPED_WINDOW, probe_success 1: $SUCCESS1/$TARGETS, /metrics ${R[blackwatch,ttfb_med]} ms to first byte, ${R[blackwatch,metrics_bytes]} bytes"
    if ((SUCCESS1 != TARGETS || SUCCESS_SERIES != TARGETS || SKIPPED_TOTAL != 0)); then
        FAILED=1
        log "blackwatch: $SUCCESS1 of $SUCCESS_SERIES probe_success series are 1 (want $TARGETS), $SKIPPED_TOTAL skipped runs"
    fi

    if ((PERF_SECONDS > 0)); then
        log "perf record -g -p $BW_PID for ${PERF_SECONDS}s -> $PERF_DATA (outside the measured window)"
        perf record -F 499 -g -p "$BW_PID" -o "$PERF_DATA" -- sleep "$PERF_SECONDS" >"$WORK/perf.log" 2>&1 ||
            log "perf record failed: $(tail -3 "$WORK/perf.log")"
    fi
    R[blackwatch,log_bytes]=$(wc -c <"$WORK/blackwatch.log")
    stop_tracked "$BW_PID"
fi

# --- (b) Prometheus scraping blackbox_exporter --------------------------------------------
if want pair; then
    BB_PORT=$(free_port)
    "$BLACKBOX_BIN" --web.listen-address="127.0.0.1:$BB_PORT" --config.file="$WORK/blackbox.yml" \
        </dev/null >"$WORK/blackbox.log" 2>&1 &
    BB_PID=$!
    PIDS+=("$BB_PID")
    wait_http "http://127.0.0.1:$BB_PORT/-/healthy" "$BB_PID" blackbox
    curl -fsS --max-time 10 "http://127.0.0.1:$BB_PORT/probe?module=http_2xx&target=$BASE/00001" |
        grep -qx 'probe_success 1' || die "blackbox_exporter: a probe of $BASE/00001 did not succeed"

    PROM_PORT=$(free_port)
    PROM_URL="http://127.0.0.1:$PROM_PORT"
    mkdir -p "$WORK/tsdb"
    cat >"$WORK/prometheus.yml" <<EOF
# Generated by benches/schedule_10k.sh.
global:
  scrape_interval: $INTERVAL
  scrape_timeout: $SCRAPE_TIMEOUT
  evaluation_interval: 1m
scrape_configs:
  - job_name: blackbox
    metrics_path: /probe
    params:
      module: [http_2xx]
    file_sd_configs:
      - files: ['$WORK/targets.json']
    relabel_configs:
      - source_labels: [__address__]
        target_label: __param_target
      - source_labels: [__param_target]
        target_label: instance
      - target_label: __address__
        replacement: 127.0.0.1:$BB_PORT
EOF
    if command -v promtool >/dev/null 2>&1; then
        promtool check config "$WORK/prometheus.yml" >"$WORK/promtool.log" 2>&1 ||
            die "promtool rejected the generated config: $(cat "$WORK/promtool.log")"
    fi
    "$PROMETHEUS_BIN" --config.file="$WORK/prometheus.yml" --storage.tsdb.path="$WORK/tsdb" \
        --web.listen-address="127.0.0.1:$PROM_PORT" --storage.tsdb.retention.time=1d \
        </dev/null >"$WORK/prometheus.log" 2>&1 &
    PROM_PID=$!
    PIDS+=("$PROM_PID")
    wait_http "$PROM_URL/-/ready" "$PROM_PID" prometheus
    log "blackbox_exporter (PID $BB_PID) on :$BB_PORT, Prometheus (PID $PROM_PID) on :$PROM_PORT scraping $TARGETS targets every $INTERVAL; warm-up ${WARMUP_S}s"
    pause "$WARMUP_S"
    # Service discovery plus the first scrape's offset can take longer than a short WARMUP:
    # wait (up to 60 s more) until every target has been scraped once.
    for _ in $(seq 60); do
        scraped=$(python3 "$WORK/analyze.py" scraped "$PROM_URL") || scraped=0
        ((scraped >= TARGETS)) && break
        pause 1
    done
    ((scraped >= TARGETS)) || log "pair: only $scraped of $TARGETS targets scraped before the window"

    window pair "$BB_PID" "$PROM_PID"
    R[pair,bb_pct]=${R[pair,cpu_pct,$BB_PID]}
    R[pair,prom_pct]=${R[pair,cpu_pct,$PROM_PID]}
    R[pair,bb_hwm_kib]=$(status_kib "$BB_PID" VmHWM)
    R[pair,prom_hwm_kib]=$(status_kib "$PROM_PID" VmHWM)
    R[pair,hwm_kib]=$((R[pair,bb_hwm_kib] + R[pair,prom_hwm_kib]))

    eval "$(python3 "$WORK/analyze.py" prom "$PROM_URL" "$DURATION_S")" || die "could not query Prometheus"
    for k in UP1 UP_ALL PSUCCESS1 SCRAPE_AVG_MS SCRAPE_P99_MS SCRAPE_MAX_MS DOWN_IN_WINDOW SCRAPES_PER_TARGET; do
        R[pair,$k]=${!k}
    done
    # Prometheus' own scrape-interval accuracy: its summary of the time between two scrapes of a
    # target (the closest it has to a schedule lag).
    curl -fsS --max-time 30 "$PROM_URL/metrics" >"$WORK/prom-metrics.txt" || die "Prometheus /metrics failed"
    R[pair,ival_p50]=$(awk -v i="$INTERVAL_S" '/^prometheus_target_interval_length_seconds\{.*quantile="0.5"/ { printf "%.1f", ($2 - i) * 1000 }' "$WORK/prom-metrics.txt")
    R[pair,ival_p99]=$(awk -v i="$INTERVAL_S" '/^prometheus_target_interval_length_seconds\{.*quantile="0.99"/ { printf "%.1f", ($2 - i) * 1000 }' "$WORK/prom-metrics.txt")
    R[pair,head_series]=$(awk '/^prometheus_tsdb_head_series / { print $2 }' "$WORK/prom-metrics.txt")
    # The pair's counterpart of blackwatch's /metrics: every current result as text.
    : >"$WORK/fed"
    for i in 1 2 3; do
        out=$(curl -fsS --max-time 120 -o /dev/null -G --data-urlencode 'match[]={job="blackbox"}' \
            -w '%{time_starttransfer} %{time_total} %{size_download}\n' "$PROM_URL/federate") ||
            die "Prometheus /federate failed"
        read -r _ total size <<<"$out"
        echo "$total" >>"$WORK/fed"
        R[pair,fed_bytes]=$size
    done
    read -r 'R[pair,fed_med]' _ _ < <(python3 "$WORK/analyze.py" quantiles "$WORK/fed")
    log "pair: up 1: $UP1/$TARGETS, probe_success 1: $PSUCCESS1, scrape avg ${SCRAPE_AVG_MS} ms p99 ${SCRAPE_P99_MS} ms, $SCRAPES_PER_TARGET scrapes/target in the window"
    if ((UP1 != TARGETS || PSUCCESS1 != TARGETS || DOWN_IN_WINDOW != 0)); then
        FAILED=1
        log "pair: $UP1 targets up, $PSUCCESS1 probe_success 1, $DOWN_IN_WINDOW down at some point (want $TARGETS, $TARGETS, 0)"
    fi
    stop_tracked "$PROM_PID"
    stop_tracked "$BB_PID"
fi

# --- report --------------------------------------------------------------------------------
v() { printf '%s' "${R[$1]:--}"; }
cmp() { # cmp VALUE OP LIMIT -> met / not met / -
    awk -v a="$1" -v op="$2" -v b="$3" 'BEGIN {
        if (a == "-" || a == "" || a == "nan") { print "-"; exit }
        ok = (op == "<=" ? a + 0 <= b + 0 : a + 0 < b + 0); print (ok ? "met" : "**not met**")
    }'
}
BARS_MISSED=0

report() {
    local cpu_ratio="-" rss_ratio="-" bw_mib="-" pair_mib="-"
    want blackwatch && bw_mib=$(mib "${R[blackwatch,hwm_kib]}")
    want pair && pair_mib=$(mib "${R[pair,hwm_kib]}")
    if want blackwatch && want pair; then
        cpu_ratio=$(ratio "${R[blackwatch,cpu_pct]}" "${R[pair,cpu_pct]}")
        rss_ratio=$(ratio "${R[blackwatch,hwm_kib]}" "${R[pair,hwm_kib]}")
    fi
    echo "## Scheduled probing: $TARGETS HTTP targets every $INTERVAL, blackwatch vs Prometheus + blackbox_exporter"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), host: $(nproc) CPUs, $(uname -sr), ulimit -n $NOFILE"
    if want blackwatch; then
        echo "- blackwatch: $("$BW_BIN" --version 2>&1 | head -1) ($(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)$(cd "$ROOT" && git diff --quiet HEAD 2>/dev/null || echo ', dirty tree')), default --probe.concurrency"
    fi
    if want pair; then
        echo "- pair: $("$PROMETHEUS_BIN" --version 2>&1 | head -1 | sed 's/ (.*//'), $("$BLACKBOX_BIN" --version 2>&1 | head -1 | sed 's/ (.*//'); file_sd + /probe relabelling, scrape_timeout $SCRAPE_TIMEOUT"
    fi
    echo "- targets: $TARGETS distinct URLs $BASE/$(printf '%0*d' "$WIDTH" 1) ... on nginx $("$NGINX_BIN" -v 2>&1 | sed 's/.*nginx\///') (worker_processes $NGINX_WORKERS, return 200, access_log off); module http_2xx, preferred_ip_protocol ip4"
    echo "- each setup alone: ${WARMUP_S}s warm-up, then a ${DURATION_S}s window; CPU = utime+stime deltas (% of one core), peak RSS = VmHWM"
    echo
    echo "| | blackwatch | Prometheus + blackbox_exporter | ratio | bar |"
    echo "|---|---:|---:|---:|---|"
    local bar_cpu="-" bar_rss="-" bar_lag bar_enc
    if [[ "$cpu_ratio" != - ]]; then bar_cpu="≤ 0.33: $(cmp "$cpu_ratio" "<=" 0.3334)"; fi
    if [[ "$rss_ratio" != - ]]; then bar_rss="≤ 0.25: $(cmp "$rss_ratio" "<=" 0.25)"; fi
    bar_lag="< 250 ms: $(cmp "$(v blackwatch,LAG_P99_MS)" "<" 250)"
    bar_enc="< 100 ms: $(cmp "$(v blackwatch,ttfb_med)" "<" 100)"
    local pair_cpu=-
    want pair && pair_cpu="$(v pair,cpu_pct) ($(v pair,prom_pct) Prometheus + $(v pair,bb_pct) blackbox)"
    echo "| CPU, % of one core (avg over the window) | $(v blackwatch,cpu_pct) | $pair_cpu | $cpu_ratio | $bar_cpu |"
    local pair_rss=-
    want pair && pair_rss="$pair_mib ($(mib "${R[pair,prom_hwm_kib]}") Prometheus + $(mib "${R[pair,bb_hwm_kib]}") blackbox)"
    echo "| peak RSS, MiB | $bw_mib | $pair_rss | $rss_ratio | $bar_rss |"
    echo "| schedule lag p50 / p99, ms | $(printf '%.2f / %.2f' "$(v blackwatch,LAG_P50_MS)" "$(v blackwatch,LAG_P99_MS)" 2>/dev/null || echo -) | scrape interval − $INTERVAL: p50 $(v pair,ival_p50), p99 $(v pair,ival_p99) | | $bar_lag |"
    echo "| /metrics encode (time to first byte), ms: median (min–max) of $METRICS_FETCHES | $(v blackwatch,ttfb_med) ($(v blackwatch,ttfb_min)–$(v blackwatch,ttfb_max)) | - | | $bar_enc |"
    echo "| /metrics total fetch time, ms (median) / size, bytes | $(v blackwatch,total_med) / $(v blackwatch,metrics_bytes) | /federate of all results: $(v pair,fed_med) / $(v pair,fed_bytes) | | |"
    echo "| /metrics with Accept-Encoding: gzip (as Prometheus scrapes): time to first byte, ms, median (min–max) / size, bytes | $(v blackwatch,gz_med) ($(v blackwatch,gz_min)–$(v blackwatch,gz_max)) / $(v blackwatch,gz_bytes) | | | |"
    echo "| targets ending with probe_success 1 | $(v blackwatch,SUCCESS1) / $TARGETS | $(v pair,PSUCCESS1) / $TARGETS (up 1: $(v pair,UP1)) | | |"
    echo "| skipped runs (window / total) | $(v blackwatch,SKIPPED_WINDOW) / $(v blackwatch,SKIPPED_TOTAL) | targets down at any point: $(v pair,DOWN_IN_WINDOW) | | |"
    echo "| nginx CPU, % of one core | $(v blackwatch,nginx_pct) | $(v pair,nginx_pct) | | |"
    echo "| other CPU on the machine, cores (noise check, ~0 when quiet) | $(v blackwatch,other) | $(v pair,other) | | |"
    echo "| load1 at window start | $(v blackwatch,load) | $(v pair,load) | | |"
    echo
    if want blackwatch; then
        echo "blackwatch details: $(v blackwatch,RUNS) scheduled runs in the window (expected ≈ $(awk -v n="$TARGETS" -v d="${R[blackwatch,wall]}" -v i="$INTERVAL_S" 'BEGIN { printf "%.0f", n * d / i }')), mean lag $(v blackwatch,LAG_MEAN_MS) ms, $(v blackwatch,LAG_OVER_250MS) runs with lag > 250 ms; blackwatch_scheduled_targets $(v blackwatch,SCHEDULED), blackwatch_probes_in_flight $(v blackwatch,IN_FLIGHT) at the end; ready $(v blackwatch,ready_ms) ms after exec with the $TARGETS-target config, RSS $(mib "${R[blackwatch,idle_kib]}") MiB then, $(mib "${R[blackwatch,rss_end_kib]}") MiB at the window's end, peak $(mib "${R[blackwatch,hwm_window_kib]}") MiB before and $bw_mib MiB after the timed /metrics fetches; /metrics has $(v blackwatch,metrics_lines) lines; log $(v blackwatch,log_bytes) bytes."
        echo
    fi
    if want pair; then
        echo "Pair details: Prometheus scrape_duration_seconds at the end avg $(v pair,SCRAPE_AVG_MS) ms, p99 over targets $(v pair,SCRAPE_P99_MS) ms, max over the window $(v pair,SCRAPE_MAX_MS) ms; $(v pair,SCRAPES_PER_TARGET) scrapes per target in the ${DURATION_S}s window; $(v pair,UP_ALL) targets discovered, head series $(v pair,head_series)."
        echo
    fi
    if awk -v a="${R[blackwatch,other]:-0}" -v b="${R[pair,other]:-0}" 'BEGIN { exit !(a > 0.15 || b > 0.15) }'; then
        echo "**Warning**: another process used CPU during a window (other CPU > 0.15 cores): re-run that setup alone (HALVES=blackwatch or HALVES=pair)."
        echo
    fi
}

REPORT=$(report)
printf '%s\n' "$REPORT"
[[ -z "$RESULTS" ]] || printf '%s\n' "$REPORT" >"$RESULTS"
grep -q 'not met' <<<"$REPORT" && BARS_MISSED=1

if ((FAILED)); then
    log "some targets did not succeed or runs were skipped (see the report); exiting 3"
    exit 3
fi
if ((BARS_MISSED)); then
    log "a bar from the issue was missed (see the table); exiting 4"
    exit 4
fi
