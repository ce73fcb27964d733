#!/usr/bin/env bash
# Side-by-side load comparison of blackwatch and Prometheus blackbox_exporter, both probing
# one loopback nginx with the same http_2xx module, plus the "floor": wrk straight at nginx
# with a new connection per request (what a probe costs nginx and the kernel, with no prober).
#
# Usage: benches/compare.sh            (see benches/README.md)
#
# Environment (all optional):
#   DURATION=10s          wrk duration of each measured point (wrk syntax: 10s, 1m)
#   WARMUP=2s             unmeasured wrk run at the same concurrency before each point (0 = none)
#   CONCURRENCY="1 16 128" connection counts; wrk threads = min(c, 2)
#   WRK_TIMEOUT=5s        wrk per-request timeout (slower responses count as socket timeouts)
#   STARTUP_RUNS=11       exec-to-ready samples per tool (median, min and max are reported)
#   NGINX_WORKERS=1       nginx worker_processes (a number or auto)
#   BLACKWATCH_BIN=path   use this binary instead of `cargo build --release` + target/release
#   BLACKBOX_BIN=prometheus-blackbox-exporter
#   NGINX_BIN=nginx
#   RESULTS=path          also write the markdown report there
#   COMPARE_DEBUG=1       log the raw CPU accounting of each point
#
# Everything listens on 127.0.0.1 only and the probe target is the local nginx: nothing off
# loopback is contacted. Every process started here is stopped on exit (by PID), and the temp
# directory is removed. Exit status: 0 when every point ran and every probe succeeded; 1 on a
# setup failure; 3 when the report was printed but some probe failed, wrk saw errors, or the
# in-load sample response was not `probe_success 1`.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONCURRENCY=${CONCURRENCY:-"1 16 128"}
WRK_TIMEOUT=${WRK_TIMEOUT:-5s}
STARTUP_RUNS=${STARTUP_RUNS:-11}
NGINX_WORKERS=${NGINX_WORKERS:-1}
BLACKBOX_BIN=${BLACKBOX_BIN:-prometheus-blackbox-exporter}
NGINX_BIN=${NGINX_BIN:-nginx}
RESULTS=${RESULTS:-}

log() { printf '[compare] %s\n' "$*" >&2; }
die() {
    printf '[compare] error: %s\n' "$*" >&2
    exit 1
}

# --- tools ---------------------------------------------------------------------------------
for tool in wrk curl python3 awk ps "$NGINX_BIN" "$BLACKBOX_BIN"; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found in PATH"
done
BLACKBOX_BIN=$(command -v "$BLACKBOX_BIN")
NGINX_BIN=$(command -v "$NGINX_BIN")
CLK_TCK=$(getconf CLK_TCK)

# "10s" / "1m" / "500ms" -> seconds (float), for the mid-run sample.
to_seconds() {
    awk -v d="$1" 'BEGIN {
        if (d ~ /ms$/) { sub(/ms$/, "", d); print d / 1000; exit }
        if (d ~ /s$/)  { sub(/s$/, "", d);  print d; exit }
        if (d ~ /m$/)  { sub(/m$/, "", d);  print d * 60; exit }
        if (d ~ /h$/)  { sub(/h$/, "", d);  print d * 3600; exit }
        print d
    }'
}
DURATION_S=$(to_seconds "$DURATION")

# --- process bookkeeping -------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/blackwatch-compare.XXXXXX")
PIDS=()        # long-lived processes, stopped in reverse order on exit
SAMPLE_PID=""  # the in-load sample request, while one is running

proc_state() { # state letter of a PID, empty when gone
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 0
    stat=${stat##*) }
    printf '%s' "${stat%% *}"
}

stop_pid() {
    local pid=$1 state
    kill -TERM "$pid" 2>/dev/null || true
    for _ in $(seq 100); do
        state=$(proc_state "$pid")
        [[ -z "$state" || "$state" == Z ]] && break
        sleep 0.05
    done
    state=$(proc_state "$pid")
    if [[ -n "$state" && "$state" != Z ]]; then
        log "PID $pid did not stop on SIGTERM, sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
    wait "$pid" 2>/dev/null || true
}

cleanup() {
    local rc=$?
    trap - EXIT INT TERM
    local i
    [[ -z "$SAMPLE_PID" ]] || stop_pid "$SAMPLE_PID"
    for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
        stop_pid "${PIDS[$i]}"
    done
    rm -rf "$WORK"
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

free_port() {
    python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL PID NAME: until URL answers 2xx, failing if PID dies or 30 s pass.
wait_http() {
    local url=$1 pid=$2 name=$3
    for _ in $(seq 600); do
        if curl -fsS -o /dev/null --max-time 1 "$url" 2>/dev/null; then
            return 0
        fi
        kill -0 "$pid" 2>/dev/null || die "$name exited during startup (see its log below)"$'\n'"$(tail -20 "$WORK/$name.log" 2>/dev/null)"
        sleep 0.05
    done
    die "$name not ready at $url after 30 s"
}

cpu_ticks() { # utime + stime of a whole process (all threads), in clock ticks
    local stat
    stat=$(cat "/proc/$1/stat") || die "PID $1 is gone"
    stat=${stat##*) }
    # After "comm)": field 3 (state) is $1 here, so utime (14) and stime (15) are $12 and $13.
    awk '{ print $12 + $13 }' <<<"$stat"
}

status_kib() { # status_kib PID VmRSS|VmHWM
    awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status"
}

reset_hwm() { # reset VmHWM to the current RSS (Linux >= 4.0; silently ignored elsewhere)
    echo 5 >"/proc/$1/clear_refs" 2>/dev/null || true
}

loadavg1() { awk '{ print $1 }' /proc/loadavg; }

busy_ticks() { # user + nice + system + irq + softirq ticks of all CPUs (steal left out)
    awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8; exit }' /proc/stat
}

# read_child_cpu VAR: CPU seconds of the children this shell has reaped (wrk, curl, ...).
# `times` must run in this shell, not in a $(...) subshell, which has its own children.
read_child_cpu() {
    times >"$WORK/times"
    printf -v "$1" '%s' "$(awk 'NR == 2 {
        t = 0
        for (i = 1; i <= 2; i++) { split($i, a, /[ms]/); t += a[1] * 60 + a[2] }
        printf "%.3f", t
    }' "$WORK/times")"
}

# --- build ---------------------------------------------------------------------------------
if [[ -n "${BLACKWATCH_BIN:-}" ]]; then
    BW_BIN=$BLACKWATCH_BIN
else
    command -v cargo >/dev/null 2>&1 || die "cargo not found (or set BLACKWATCH_BIN)"
    log "cargo build --release --bin blackwatch (a no-op when up to date)"
    (cd "$ROOT" && cargo build --release --bin blackwatch) >&2 || die "release build failed"
    BW_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/blackwatch
fi
[[ -x "$BW_BIN" ]] || die "blackwatch binary not found at $BW_BIN"

# --- nginx ---------------------------------------------------------------------------------
NGINX_PORT=$(free_port)
mkdir -p "$WORK/nginx/www" "$WORK/nginx/tmp"
# nginx's workers run as an unprivileged user when started as root: let them read the page.
chmod 755 "$WORK" "$WORK/nginx" "$WORK/nginx/www"
cat >"$WORK/nginx/www/index.html" <<'EOF'
<!doctype html>
<html>
<head><title>blackwatch bench target</title></head>
<body>
<h1>It works</h1>
<p>A small static page served by a loopback nginx for benches/compare.sh.</p>
</body>
</html>
EOF
chmod 644 "$WORK/nginx/www/index.html"
cat >"$WORK/nginx/nginx.conf" <<EOF
# Generated by benches/compare.sh.
daemon off;
master_process on;
worker_processes $NGINX_WORKERS;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx.log warn;
events {
    worker_connections 4096;
}
http {
    access_log off;
    server_tokens off;
    keepalive_requests 100000;
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT backlog=4096;
        root $WORK/nginx/www;
        index index.html;
    }
}
EOF
"$NGINX_BIN" -p "$WORK/nginx" -e "$WORK/nginx.log" -c "$WORK/nginx/nginx.conf" -t >/dev/null 2>&1 ||
    die "nginx config test failed: $("$NGINX_BIN" -p "$WORK/nginx" -e "$WORK/nginx.log" -c "$WORK/nginx/nginx.conf" -t 2>&1)"
"$NGINX_BIN" -p "$WORK/nginx" -e "$WORK/nginx.log" -c "$WORK/nginx/nginx.conf" </dev/null >"$WORK/nginx.out" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
TARGET="http://127.0.0.1:$NGINX_PORT/"
wait_http "$TARGET" "$NGINX_PID" nginx
NGINX_WORKER_PIDS=$(ps -o pid= --ppid "$NGINX_PID" | tr -s ' \n' ' ')
[[ -n "${NGINX_WORKER_PIDS// /}" ]] || die "no nginx worker processes found"
log "nginx (master $NGINX_PID, workers$NGINX_WORKER_PIDS) serving $TARGET"

nginx_ticks() {
    local t=0 p
    for p in $NGINX_WORKER_PIDS; do t=$((t + $(cpu_ticks "$p"))); done
    echo "$t"
}

# --- probers -------------------------------------------------------------------------------
MODULES="$WORK/blackbox.yml"
cat >"$MODULES" <<'EOF'
modules:
  http_2xx:
    prober: http
    http:
      preferred_ip_protocol: ip4
EOF

BW_PORT=$(free_port)
"$BW_BIN" --web.listen-address "127.0.0.1:$BW_PORT" --config.file "$MODULES" \
    </dev/null >"$WORK/blackwatch.log" 2>&1 &
BW_PID=$!
PIDS+=("$BW_PID")
wait_http "http://127.0.0.1:$BW_PORT/-/ready" "$BW_PID" blackwatch
BW_IDLE_KIB=$(status_kib "$BW_PID" VmRSS)

BB_PORT=$(free_port)
"$BLACKBOX_BIN" --web.listen-address="127.0.0.1:$BB_PORT" --config.file="$MODULES" \
    </dev/null >"$WORK/blackbox.log" 2>&1 &
BB_PID=$!
PIDS+=("$BB_PID")
wait_http "http://127.0.0.1:$BB_PORT/-/healthy" "$BB_PID" blackbox
BB_IDLE_KIB=$(status_kib "$BB_PID" VmRSS)

PROBE_QS="module=http_2xx&target=$TARGET"
for pair in "blackwatch $BW_PORT" "blackbox $BB_PORT"; do
    read -r name port <<<"$pair"
    body=$(curl -fsS --max-time 10 "http://127.0.0.1:$port/probe?$PROBE_QS") ||
        die "$name: probe request failed"
    grep -qx 'probe_success 1' <<<"$body" || die "$name: probe of $TARGET did not succeed:"$'\n'"$body"
done
log "blackwatch (PID $BW_PID) on :$BW_PORT, blackbox_exporter (PID $BB_PID) on :$BB_PORT; both probe $TARGET"

# --- startup to ready ----------------------------------------------------------------------
cat >"$WORK/startup.py" <<'EOF'
"""Exec-to-ready: time from spawning the command until PATH first answers 200.

argv: RUNS PATH CMD... ; "{port}" in CMD is replaced by a free loopback port each run.
Prints "median min max" in milliseconds. One extra unmeasured run warms the page cache.
"""
import signal, socket, statistics, subprocess, sys, time

signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
runs, path, cmd = int(sys.argv[1]), sys.argv[2], sys.argv[3:]
req = f"GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n".encode()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def ready(port):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as s:
            s.sendall(req)
            head = b""
            while len(head) < 12:
                chunk = s.recv(64)
                if not chunk:
                    break
                head += chunk
            return head[:9] in (b"HTTP/1.0 ", b"HTTP/1.1 ") and head[9:12] == b"200"
    except OSError:
        return False


times = []
for i in range(runs + 1):
    port = free_port()
    argv = [a.replace("{port}", str(port)) for a in cmd]
    t0 = time.perf_counter()
    p = subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                         stderr=subprocess.DEVNULL)
    try:
        while True:
            if ready(port):
                if i > 0:
                    times.append((time.perf_counter() - t0) * 1000)
                break
            if p.poll() is not None:
                sys.exit(f"{argv[0]} exited with {p.returncode} before it was ready")
            if time.perf_counter() - t0 > 30:
                sys.exit(f"{argv[0]} not ready after 30 s")
            time.sleep(0.0002)
    finally:
        p.terminate()
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
print(f"{statistics.median(times):.1f} {min(times):.1f} {max(times):.1f}")
EOF

log "startup to ready: $STARTUP_RUNS runs each (load $(loadavg1))"
read -r BW_START_MED BW_START_MIN BW_START_MAX < <(
    python3 "$WORK/startup.py" "$STARTUP_RUNS" /-/ready \
        "$BW_BIN" --web.listen-address "127.0.0.1:{port}" --config.file "$MODULES"
) || die "blackwatch startup measurement failed"
read -r BB_START_MED BB_START_MIN BB_START_MAX < <(
    python3 "$WORK/startup.py" "$STARTUP_RUNS" /-/healthy \
        "$BLACKBOX_BIN" "--web.listen-address=127.0.0.1:{port}" "--config.file=$MODULES"
) || die "blackbox_exporter startup measurement failed"
[[ -n "${BW_START_MED:-}" && -n "${BB_START_MED:-}" ]] || die "startup measurement printed nothing"

# --- load ----------------------------------------------------------------------------------
# wrk script for the probers: counts responses whose body says probe_success 1.
cat >"$WORK/probe.lua" <<'EOF'
ok_count, bad_count = 0, 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
function response(status, headers, body)
    if status == 200 and string.find(body, "\nprobe_success 1\n", 1, true) then
        ok_count = ok_count + 1
    else
        bad_count = bad_count + 1
    end
end
function done(summary, latency, requests)
    local ok, bad = 0, 0
    for _, t in ipairs(threads) do
        ok = ok + t:get("ok_count")
        bad = bad + t:get("bad_count")
    end
    io.write(string.format("probe_success_1: %d\nprobe_success_other: %d\n", ok, bad))
end
EOF

# Parses wrk output into "rps p50_ms p99_ms requests non2xx sockerr probe_ok probe_bad".
parse_wrk() {
    awk '
    function ms(v) {
        if (v ~ /us$/) { sub(/us$/, "", v); return v / 1000 }
        if (v ~ /ms$/) { sub(/ms$/, "", v); return v + 0 }
        if (v ~ /m$/)  { sub(/m$/, "", v);  return v * 60000 }
        if (v ~ /s$/)  { sub(/s$/, "", v);  return v * 1000 }
        return v + 0
    }
    /^ +50%/ { p50 = ms($2) }
    /^ +99%/ { p99 = ms($2) }
    / requests in / { reqs = $1 }
    /^Requests\/sec:/ { rps = $2 }
    /Non-2xx or 3xx responses:/ { non2xx = $NF }
    /Socket errors:/ { gsub(/,/, ""); sock = $4 + $6 + $8 + $10 }
    /^probe_success_1:/ { ok = $2 }
    /^probe_success_other:/ { bad = $2 }
    END {
        if (rps == "") exit 1
        printf "%s %.3f %.3f %d %d %d %s %s\n", rps, p50, p99, reqs, non2xx, sock,
            (ok == "" ? "-" : ok), (bad == "" ? "-" : bad)
    }'
}

declare -A R # R[name,c,field]
FAILED=0

# run_point NAME C: NAME is blackwatch, blackbox or floor.
run_point() {
    local name=$1 c=$2 url pid="" extra=()
    local threads=$((c < 2 ? c : 2))
    case $name in
    blackwatch) url="http://127.0.0.1:$BW_PORT/probe?$PROBE_QS" pid=$BW_PID extra=(-s "$WORK/probe.lua") ;;
    blackbox) url="http://127.0.0.1:$BB_PORT/probe?$PROBE_QS" pid=$BB_PID extra=(-s "$WORK/probe.lua") ;;
    floor) url=$TARGET extra=(-H 'Connection: close') ;;
    esac
    if [[ "$WARMUP" != 0 && "$WARMUP" != 0s ]]; then
        wrk -t "$threads" -c "$c" -d "$WARMUP" --timeout "$WRK_TIMEOUT" "${extra[@]}" "$url" >/dev/null 2>&1 ||
            die "wrk warmup failed for $name c=$c"
    fi
    local load
    load=$(loadavg1)
    local p0=0 n0 b0 w0 t0 out="$WORK/wrk-$name-$c.txt"
    [[ -n "$pid" ]] && reset_hwm "$pid"
    [[ -n "$pid" ]] && p0=$(cpu_ticks "$pid")
    n0=$(nginx_ticks)
    b0=$(busy_ticks)
    read_child_cpu w0
    t0=$EPOCHREALTIME
    if [[ -n "$pid" ]]; then
        # One probe by hand half-way through the run, to see a real response under load.
        (
            sleep "$(awk -v d="$DURATION_S" 'BEGIN { print d / 2 }')"
            curl -sS --max-time 10 -o "$WORK/sample-$name-$c.txt" "$url" 2>>"$WORK/sample-$name-$c.err" || true
        ) &
        SAMPLE_PID=$!
    fi
    wrk -t "$threads" -c "$c" -d "$DURATION" --timeout "$WRK_TIMEOUT" --latency "${extra[@]}" "$url" >"$out" 2>&1 ||
        die "wrk failed for $name c=$c: $(cat "$out")"
    local t1=$EPOCHREALTIME p1=0 n1 b1 w1
    read_child_cpu w1
    b1=$(busy_ticks)
    [[ -n "$pid" ]] && p1=$(cpu_ticks "$pid")
    n1=$(nginx_ticks)
    if [[ -n "$SAMPLE_PID" ]]; then
        wait "$SAMPLE_PID" 2>/dev/null || true
        SAMPLE_PID=""
    fi

    local rps p50 p99 reqs non2xx sock _ok bad
    read -r rps p50 p99 reqs non2xx sock _ok bad < <(parse_wrk <"$out") || die "cannot parse wrk output: $(cat "$out")"
    ((reqs > 0)) || die "wrk completed no request for $name c=$c"
    R[$name,$c,load]=$load
    # CPU (in cores) that neither the prober, nginx nor wrk used during the point: other
    # work on the machine, plus a little kernel time not charged to any of them.
    [[ -z "${COMPARE_DEBUG:-}" ]] || log "debug: busy=$((b1 - b0)) prober=$((p1 - p0)) nginx=$((n1 - n0)) wrk=$w0..$w1 t=$t0..$t1"
    R[$name,$c,other]=$(awk -v b=$((b1 - b0)) -v p=$((p1 - p0)) -v n=$((n1 - n0)) -v w0="$w0" -v w1="$w1" \
        -v hz="$CLK_TCK" -v t0="$t0" -v t1="$t1" 'BEGIN {
            v = ((b - p - n) / hz - (w1 - w0)) / (t1 - t0); printf "%.2f", (v < 0 ? 0 : v)
        }')
    R[$name,$c,rps]=$rps
    R[$name,$c,p50]=$p50
    R[$name,$c,p99]=$p99
    R[$name,$c,non2xx]=$non2xx
    R[$name,$c,sock]=$sock
    R[$name,$c,bad]=$bad
    R[$name,$c,nginx]=$(awk -v t=$((n1 - n0)) -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN { printf "%.3f", t / hz / n * 1000 }')
    if [[ -n "$pid" ]]; then
        R[$name,$c,cpu]=$(awk -v t=$((p1 - p0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }')
        R[$name,$c,cpuk]=$(awk -v t=$((p1 - p0)) -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN { printf "%.3f", t / hz / n * 1000 }')
        R[$name,$c,hwm]=$(awk -v k="$(status_kib "$pid" VmHWM)" 'BEGIN { printf "%.1f", k / 1024 }')
        if grep -qx 'probe_success 1' "$WORK/sample-$name-$c.txt" 2>/dev/null; then
            R[$name,$c,sample]=ok
        else
            R[$name,$c,sample]=FAIL
            FAILED=1
            log "$name c=$c: in-load sample response was not probe_success 1:"
            sed 's/^/    /' "$WORK/sample-$name-$c.txt" "$WORK/sample-$name-$c.err" 2>/dev/null | head -40 >&2 || true
        fi
        [[ "$bad" == 0 ]] || FAILED=1
    else
        R[$name,$c,cpu]=-
        R[$name,$c,cpuk]=-
        R[$name,$c,hwm]=-
        R[$name,$c,sample]=-
    fi
    ((non2xx == 0 && sock == 0)) || FAILED=1
    log "$(printf '%-10s c=%-3s %10s req/s  p50 %8s ms  p99 %8s ms  non-2xx %s  sock-err %s  probe!=1 %s  load %s  other-cpu %s' \
        "$name" "$c" "$rps" "$p50" "$p99" "$non2xx" "$sock" "$bad" "$load" "${R[$name,$c,other]}")"
}

for c in $CONCURRENCY; do
    for name in floor blackwatch blackbox; do
        run_point "$name" "$c"
    done
done

# --- report --------------------------------------------------------------------------------
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0 || a == "-" || b == "-") print "-"; else printf "%.2f", a / b }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

report() {
    local c name label
    echo "## blackwatch vs blackbox_exporter: http_2xx against a loopback nginx"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), host: $(nproc) CPUs, $(uname -sr)"
    echo "- blackwatch: $("$BW_BIN" --version 2>&1 | head -1) ($(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)$(cd "$ROOT" && git diff --quiet HEAD 2>/dev/null || echo ', dirty tree'))"
    echo "- blackbox_exporter: $("$BLACKBOX_BIN" --version 2>&1 | head -1)"
    echo "- target: nginx $("$NGINX_BIN" -v 2>&1 | sed 's/.*nginx\///'), worker_processes $NGINX_WORKERS, static $(wc -c <"$WORK/nginx/www/index.html")-byte page, access_log off"
    echo "- wrk: -d $DURATION per point after a $WARMUP warm-up, threads = min(c, 2), --timeout $WRK_TIMEOUT; floor = wrk at nginx with Connection: close"
    echo
    echo "| target | c | load1 | other CPU (cores) | req/s | p50 ms | p99 ms | non-2xx | sock err | probe_success != 1 | in-load sample | prober CPU s | prober CPU s / 1000 probes | nginx CPU s / 1000 req | prober peak RSS MiB |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|"
    for c in $CONCURRENCY; do
        for name in floor blackwatch blackbox; do
            case $name in
            floor) label="floor (nginx, Connection: close)" ;;
            blackwatch) label=blackwatch ;;
            blackbox) label=blackbox_exporter ;;
            esac
            printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
                "$label" "$c" "${R[$name,$c,load]}" "${R[$name,$c,other]}" "${R[$name,$c,rps]}" "${R[$name,$c,p50]}" "${R[$name,$c,p99]}" \
                "${R[$name,$c,non2xx]}" "${R[$name,$c,sock]}" "${R[$name,$c,bad]}" "${R[$name,$c,sample]}" \
                "${R[$name,$c,cpu]}" "${R[$name,$c,cpuk]}" "${R[$name,$c,nginx]}" "${R[$name,$c,hwm]}"
        done
    done
    echo
    echo "| ratio blackwatch / blackbox_exporter | $(for c in $CONCURRENCY; do printf 'c=%s | ' "$c"; done)"
    echo "|---|$(for _ in $CONCURRENCY; do printf -- '---:|'; done)"
    echo "| req/s | $(for c in $CONCURRENCY; do printf '%s | ' "$(ratio "${R[blackwatch,$c,rps]}" "${R[blackbox,$c,rps]}")"; done)"
    echo "| p99 latency | $(for c in $CONCURRENCY; do printf '%s | ' "$(ratio "${R[blackwatch,$c,p99]}" "${R[blackbox,$c,p99]}")"; done)"
    echo "| CPU s / 1000 probes | $(for c in $CONCURRENCY; do printf '%s | ' "$(ratio "${R[blackwatch,$c,cpuk]}" "${R[blackbox,$c,cpuk]}")"; done)"
    echo "| peak RSS | $(for c in $CONCURRENCY; do printf '%s | ' "$(ratio "${R[blackwatch,$c,hwm]}" "${R[blackbox,$c,hwm]}")"; done)"
    echo "| req/s as a share of the floor (blackwatch / blackbox) | $(for c in $CONCURRENCY; do printf '%s / %s | ' "$(ratio "${R[blackwatch,$c,rps]}" "${R[floor,$c,rps]}")" "$(ratio "${R[blackbox,$c,rps]}" "${R[floor,$c,rps]}")"; done)"
    echo
    echo "| | blackwatch | blackbox_exporter | ratio |"
    echo "|---|---:|---:|---:|"
    echo "| exec to ready, ms: median (min-max) of $STARTUP_RUNS | $BW_START_MED ($BW_START_MIN-$BW_START_MAX) | $BB_START_MED ($BB_START_MIN-$BB_START_MAX) | $(ratio "$BW_START_MED" "$BB_START_MED") |"
    echo "| idle RSS after startup, MiB | $(mib "$BW_IDLE_KIB") | $(mib "$BB_IDLE_KIB") | $(ratio "$BW_IDLE_KIB" "$BB_IDLE_KIB") |"
    echo
    local top
    top=$(tr ' ' '\n' <<<"$CONCURRENCY" | grep . | sort -n | tail -1)
    echo "Headline: at c=$top, blackwatch serves $(ratio "${R[blackwatch,$top,rps]}" "${R[blackbox,$top,rps]}")x blackbox_exporter's probes/s, using $(ratio "${R[blackwatch,$top,cpuk]}" "${R[blackbox,$top,cpuk]}")x its CPU per probe, with $(ratio "${R[blackwatch,$top,p99]}" "${R[blackbox,$top,p99]}")x its p99 latency."
}

REPORT=$(report)
printf '%s\n' "$REPORT"
[[ -z "$RESULTS" ]] || printf '%s\n' "$REPORT" >"$RESULTS"

if ((FAILED)); then
    log "some probes failed or wrk saw errors (see the table); exiting 3"
    exit 3
fi
