#!/usr/bin/env bash
# Side-by-side load comparison of blackwatch and Prometheus blackbox_exporter for the grpc
# prober: both tools load the same module file and are driven by wrk at /probe, one after
# the other, in the same run, against one loopback gRPC health server (Python grpcio, i.e.
# the gRPC C core, from tests/data/grpc/health_server.py).
#
# Usage: benches/compare_grpc.sh    (see benches/README.md)
#
# Environment (all optional):
#   DURATION=10s          wrk duration of each measured point (wrk syntax: 10s, 1m)
#   WARMUP=2s             unmeasured wrk run at the same concurrency before each point (0 = none)
#   CONCURRENCY="16 128"  connection counts; wrk threads = min(c, 2)
#   WRK_TIMEOUT=5s        wrk per-request timeout (slower responses count as socket timeouts)
#   SERVER_WORKERS=16     threads of the health server's executor
#   BLACKWATCH_BIN=path   use this binary instead of `cargo build --release` + target/release
#   BLACKBOX_BIN=prometheus-blackbox-exporter
#   RESULTS=path          also write the markdown report there
#   COMPARE_DEBUG=1       log the raw CPU accounting of each point
#
# Everything listens on 127.0.0.1 only. Every process started here is stopped on exit (by
# PID, also on Ctrl-C), and the temp directory is removed. Exit status: 0 when every point ran
# and every probe succeeded; 1 on a setup failure; 3 when the report was printed but some probe
# failed, wrk saw errors, or the in-load sample response was not `probe_success 1`.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONCURRENCY=${CONCURRENCY:-"16 128"}
WRK_TIMEOUT=${WRK_TIMEOUT:-5s}
SERVER_WORKERS=${SERVER_WORKERS:-16}
BLACKBOX_BIN=${BLACKBOX_BIN:-prometheus-blackbox-exporter}
RESULTS=${RESULTS:-}

BENCH_TAG=compare_grpc
# shellcheck source=benches/lib.sh
. "$ROOT/benches/lib.sh"

# --- tools ---------------------------------------------------------------------------------
for tool in wrk curl python3 awk "$BLACKBOX_BIN"; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found in PATH"
done
python3 -c 'import grpc, grpc_health.v1.health' 2>/dev/null ||
    die "Python's grpcio is missing: pip install --break-system-packages grpcio grpcio-health-checking"
BLACKBOX_BIN=$(command -v "$BLACKBOX_BIN")
CLK_TCK=$(getconf CLK_TCK)
DURATION_S=$(to_seconds "$DURATION")

# --- process bookkeeping -------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/blackwatch-compare-grpc.XXXXXX")
PIDS=()        # long-lived processes, stopped in reverse order on exit
SAMPLE_PID=""  # the in-load sample request, while one is running

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# --- build ---------------------------------------------------------------------------------
build_blackwatch

# --- target: the gRPC health server --------------------------------------------------------
# It exits when its standard input ends: a FIFO held open by this shell keeps it running
# until cleanup stops it by PID.
mkfifo "$WORK/server.in"
python3 "$ROOT/tests/data/grpc/health_server.py" \
    "{\"servers\": [{\"name\": \"plain\", \"statuses\": {\"\": \"SERVING\"}, \"workers\": $SERVER_WORKERS}]}" \
    <"$WORK/server.in" >"$WORK/server.out" 2>"$WORK/server.err" &
SERVER_PID=$!
PIDS+=("$SERVER_PID")
exec 3>"$WORK/server.in"
for _ in $(seq 300); do
    grep -q '^READY ' "$WORK/server.out" 2>/dev/null && break
    kill -0 "$SERVER_PID" 2>/dev/null || die "health server exited: $(cat "$WORK/server.err")"
    sleep 0.1
done
GRPC_PORT=$(sed -n 's/^READY {"plain": \([0-9]*\)}$/\1/p' "$WORK/server.out")
[[ -n "$GRPC_PORT" ]] || die "health server did not report its port: $(cat "$WORK/server.out" "$WORK/server.err")"
TARGET="127.0.0.1:$GRPC_PORT"
TARGET_DESC="grpcio $(python3 -c 'import grpc; print(grpc.__version__)') health server (Python $(python3 -c 'import platform; print(platform.python_version())'), $SERVER_WORKERS executor threads) on $TARGET, service \"\" SERVING (target CPU = its process)"
log "health server (PID $SERVER_PID) on $TARGET"

# --- probers -------------------------------------------------------------------------------
MODULE=grpc_health
MODULES="$WORK/blackbox.yml"
cat >"$MODULES" <<'EOF2'
modules:
  grpc_health:
    prober: grpc
    grpc:
      preferred_ip_protocol: ip4
EOF2

start_both "$MODULES"

probe_url() { # probe_url TOOL
    local port
    case $1 in blackwatch) port=$BW_PORT ;; blackbox) port=$BB_PORT ;; esac
    printf 'http://127.0.0.1:%s/probe?module=%s&target=%s' "$port" "$MODULE" "$TARGET"
}

for name in blackwatch blackbox; do
    body=$(curl -fsS --max-time 10 "$(probe_url "$name")") || die "$name: probe request failed"
    grep -qx 'probe_success 1' <<<"$body" || die "$name: probe of $TARGET did not succeed:"$'\n'"$body"
done
log "blackwatch (PID $BW_PID) on :$BW_PORT, blackbox_exporter (PID $BB_PID) on :$BB_PORT; one probe succeeded on both"

# --- load ----------------------------------------------------------------------------------
write_probe_lua "$WORK/probe.lua"

declare -A R # R[name,c,field]
FAILED=0

# run_point NAME C: NAME is blackwatch or blackbox.
run_point() {
    local name=$1 c=$2 url pid k="$1,$2"
    local threads=$((c < 2 ? c : 2))
    url=$(probe_url "$name")
    case $name in blackwatch) pid=$BW_PID ;; blackbox) pid=$BB_PID ;; esac
    if [[ "$WARMUP" != 0 && "$WARMUP" != 0s ]]; then
        wrk -t "$threads" -c "$c" -d "$WARMUP" --timeout "$WRK_TIMEOUT" -s "$WORK/probe.lua" "$url" >/dev/null 2>&1 ||
            die "wrk warmup failed for $name c=$c"
    fi
    local load
    load=$(loadavg1)
    local p0 n0 b0 w0 t0 out="$WORK/wrk-$name-$c.txt" sample="$WORK/sample-$name-$c"
    reset_hwm "$pid"
    p0=$(cpu_ticks "$pid")
    n0=$(cpu_ticks "$SERVER_PID")
    b0=$(busy_ticks)
    read_child_cpu w0
    t0=$EPOCHREALTIME
    (
        sleep "$(awk -v d="$DURATION_S" 'BEGIN { print d / 2 }')"
        curl -sS --max-time 10 -o "$sample.txt" "$url" 2>>"$sample.err" || true
    ) &
    SAMPLE_PID=$!
    wrk -t "$threads" -c "$c" -d "$DURATION" --timeout "$WRK_TIMEOUT" --latency -s "$WORK/probe.lua" "$url" >"$out" 2>&1 ||
        die "wrk failed for $name c=$c: $(cat "$out")"
    local t1=$EPOCHREALTIME p1 n1 b1 w1
    read_child_cpu w1
    b1=$(busy_ticks)
    p1=$(cpu_ticks "$pid")
    n1=$(cpu_ticks "$SERVER_PID")
    wait "$SAMPLE_PID" 2>/dev/null || true
    SAMPLE_PID=""

    local rps p50 p99 reqs non2xx sock _ok bad
    read -r rps p50 p99 reqs non2xx sock _ok bad < <(parse_wrk <"$out") || die "cannot parse wrk output: $(cat "$out")"
    ((reqs > 0)) || die "wrk completed no request for $name c=$c"
    [[ -z "${COMPARE_DEBUG:-}" ]] || log "debug: busy=$((b1 - b0)) prober=$((p1 - p0)) target=$((n1 - n0)) wrk=$w0..$w1 t=$t0..$t1"
    R[$k,load]=$load
    R[$k,other]=$(awk -v b=$((b1 - b0)) -v p=$((p1 - p0)) -v n=$((n1 - n0)) -v w0="$w0" -v w1="$w1" \
        -v hz="$CLK_TCK" -v t0="$t0" -v t1="$t1" 'BEGIN {
            v = ((b - p - n) / hz - (w1 - w0)) / (t1 - t0); printf "%.2f", (v < 0 ? 0 : v)
        }')
    R[$k,rps]=$rps
    R[$k,p50]=$p50
    R[$k,p99]=$p99
    R[$k,non2xx]=$non2xx
    R[$k,sock]=$sock
    R[$k,bad]=$bad
    R[$k,cpu]=$(awk -v t=$((p1 - p0)) -v hz="$CLK_TCK" 'BEGIN { printf "%.2f", t / hz }')
    R[$k,cpuk]=$(awk -v t=$((p1 - p0)) -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN { printf "%.3f", t / hz / n * 1000 }')
    R[$k,cores]=$(awk -v t=$((p1 - p0)) -v hz="$CLK_TCK" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.2f", t / hz / (t1 - t0) }')
    R[$k,tcpuk]=$(awk -v t=$((n1 - n0)) -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN { printf "%.3f", t / hz / n * 1000 }')
    R[$k,tcores]=$(awk -v t=$((n1 - n0)) -v hz="$CLK_TCK" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.2f", t / hz / (t1 - t0) }')
    R[$k,hwm]=$(awk -v k="$(status_kib "$pid" VmHWM)" 'BEGIN { printf "%.1f", k / 1024 }')
    if grep -qx 'probe_success 1' "$sample.txt" 2>/dev/null; then
        R[$k,sample]=ok
    else
        R[$k,sample]=FAIL
        FAILED=1
        log "$name c=$c: in-load sample response was not probe_success 1:"
        sed 's/^/    /' "$sample.txt" "$sample.err" 2>/dev/null | head -40 >&2 || true
    fi
    [[ "$bad" == 0 ]] || FAILED=1
    ((non2xx == 0 && sock == 0)) || FAILED=1
    log "$(printf '%-10s c=%-3s %10s req/s  p50 %8s ms  p99 %8s ms  non-2xx %s  sock-err %s  probe!=1 %s  cpu/1k %s  target cpu/1k %s (%s cores)  load %s  other-cpu %s' \
        "$name" "$c" "$rps" "$p50" "$p99" "$non2xx" "$sock" "$bad" "${R[$k,cpuk]}" "${R[$k,tcpuk]}" "${R[$k,tcores]}" "$load" "${R[$k,other]}")"
}

for c in $CONCURRENCY; do
    for name in blackwatch blackbox; do
        run_point "$name" "$c"
    done
done

# --- report --------------------------------------------------------------------------------
report() {
    local c name label k
    echo "## blackwatch vs blackbox_exporter: grpc prober on loopback"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), host: $(nproc) CPUs, $(uname -sr)"
    echo "- blackwatch: $("$BW_BIN" --version 2>&1 | head -1) ($(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)$(cd "$ROOT" && git diff --quiet HEAD 2>/dev/null || echo ', dirty tree'))"
    echo "- blackbox_exporter: $("$BLACKBOX_BIN" --version 2>&1 | head -1)"
    echo "- $MODULE: target $TARGET_DESC"
    echo "- wrk: -d $DURATION per point after a $WARMUP warm-up, threads = min(c, 2), --timeout $WRK_TIMEOUT, keep-alive"
    echo
    echo "| prober | c | load1 | other CPU (cores) | req/s | p50 ms | p99 ms | non-2xx | sock err | probe_success != 1 | in-load sample | prober CPU s | prober CPU (cores) | prober CPU s / 1000 probes | target CPU s / 1000 probes | target CPU (cores) | prober peak RSS MiB |"
    echo "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"
    for c in $CONCURRENCY; do
        for name in blackwatch blackbox; do
            k="$name,$c"
            case $name in blackwatch) label=blackwatch ;; blackbox) label=blackbox_exporter ;; esac
            printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
                "$label" "$c" "${R[$k,load]}" "${R[$k,other]}" "${R[$k,rps]}" "${R[$k,p50]}" "${R[$k,p99]}" \
                "${R[$k,non2xx]}" "${R[$k,sock]}" "${R[$k,bad]}" "${R[$k,sample]}" \
                "${R[$k,cpu]}" "${R[$k,cores]}" "${R[$k,cpuk]}" "${R[$k,tcpuk]}" "${R[$k,tcores]}" "${R[$k,hwm]}"
        done
    done
    echo
    echo "| ratio blackwatch / blackbox_exporter | c | req/s | p99 latency | CPU s / 1000 probes | peak RSS |"
    echo "|---|---:|---:|---:|---:|---:|"
    for c in $CONCURRENCY; do
        echo "| $MODULE | $c | $(ratio "${R[blackwatch,$c,rps]}" "${R[blackbox,$c,rps]}") | $(ratio "${R[blackwatch,$c,p99]}" "${R[blackbox,$c,p99]}") | $(ratio "${R[blackwatch,$c,cpuk]}" "${R[blackbox,$c,cpuk]}") | $(ratio "${R[blackwatch,$c,hwm]}" "${R[blackbox,$c,hwm]}") |"
    done
    echo
    echo "Idle RSS right after startup: blackwatch $(mib "$BW_IDLE_KIB") MiB, blackbox_exporter $(mib "$BB_IDLE_KIB") MiB."
    local sat=""
    for c in $CONCURRENCY; do
        for name in blackwatch blackbox; do
            if awk -v v="${R[$name,$c,tcores]}" 'BEGIN { exit !(v >= 0.9) }'; then
                sat+="${sat:+; }$name c=$c (${R[$name,$c,tcores]} cores)"
            fi
        done
    done
    if [[ -n "$sat" ]]; then
        echo
        echo "Target busy (≥ 0.9 of a core; the Python health servicer runs under the GIL): $sat. Those points are bounded by the target, not the prober; CPU per probe still compares the probers."
    fi
}

REPORT=$(report)
printf '%s\n' "$REPORT"
[[ -z "$RESULTS" ]] || printf '%s\n' "$REPORT" >"$RESULTS"

if ((FAILED)); then
    log "some probes failed or wrk saw errors (see the table); exiting 3"
    exit 3
fi
