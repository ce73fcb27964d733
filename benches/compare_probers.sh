#!/usr/bin/env bash
# Side-by-side load comparison of blackwatch and Prometheus blackbox_exporter for the tcp,
# icmp, dns and grpc probers (compare.sh does http): both tools load the same module file and
# are driven by wrk at /probe, one after the other, in the same run.
#
#   tcp_connect  against a loopback nginx (it accepts the connection; the prober closes it)
#   icmp         echo to 127.0.0.1 (the kernel answers)
#   dns_udp      A example.com over UDP against a dnsmasq started here on a loopback port
#   grpc_health  Health/Check against a loopback gRPC health server (Python grpcio, i.e. the
#                gRPC C core, from tests/data/grpc/health_server.py), service "" SERVING
#
# Usage: benches/compare_probers.sh    (see benches/README.md)
#
# Environment (all optional):
#   DURATION=10s          wrk duration of each measured point (wrk syntax: 10s, 1m)
#   WARMUP=2s             unmeasured wrk run at the same concurrency before each point (0 = none)
#   CONCURRENCY="16 128"  connection counts; wrk threads = min(c, 2)
#   PROBERS="tcp icmp dns grpc" which modules to measure, in this order
#   WRK_TIMEOUT=5s        wrk per-request timeout (slower responses count as socket timeouts)
#   NGINX_WORKERS=1       nginx worker_processes (a number or auto)
#   DNSMASQ_CACHE=1000    dnsmasq --cache-size
#   GRPC_WORKERS=16       threads of the gRPC health server's executor
#   BLACKWATCH_BIN=path   use this binary instead of `cargo build --release` + target/release
#   BLACKBOX_BIN=prometheus-blackbox-exporter
#   NGINX_BIN=nginx
#   DNSMASQ_BIN=/usr/sbin/dnsmasq
#   RESULTS=path          also write the markdown report there
#   COMPARE_DEBUG=1       log the raw CPU accounting of each point
#
# Everything listens on 127.0.0.1 only and every target is local: nothing off loopback is
# contacted. Every process started here is stopped on exit (by PID, also on Ctrl-C), and the
# temp directory is removed. The icmp points need CAP_NET_RAW (root) unless
# net.ipv4.ping_group_range allows unprivileged ICMP sockets. Exit status: 0 when every point
# ran and every probe succeeded; 1 on a setup failure; 3 when the report was printed but some
# probe failed, wrk saw errors, or the in-load sample response was not `probe_success 1`.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${DURATION:-10s}
WARMUP=${WARMUP:-2s}
CONCURRENCY=${CONCURRENCY:-"16 128"}
PROBERS=${PROBERS:-"tcp icmp dns grpc"}
WRK_TIMEOUT=${WRK_TIMEOUT:-5s}
NGINX_WORKERS=${NGINX_WORKERS:-1}
DNSMASQ_CACHE=${DNSMASQ_CACHE:-1000}
GRPC_WORKERS=${GRPC_WORKERS:-16}
BLACKBOX_BIN=${BLACKBOX_BIN:-prometheus-blackbox-exporter}
NGINX_BIN=${NGINX_BIN:-nginx}
DNSMASQ_BIN=${DNSMASQ_BIN:-/usr/sbin/dnsmasq}
RESULTS=${RESULTS:-}

BENCH_TAG=compare_probers
# shellcheck source=benches/lib.sh
. "$ROOT/benches/lib.sh"

# --- tools ---------------------------------------------------------------------------------
for p in $PROBERS; do
    case $p in tcp | icmp | dns | grpc) ;; *) die "unknown prober '$p' in PROBERS (tcp, icmp, dns, grpc)" ;; esac
done
need=(wrk curl python3 awk ps "$BLACKBOX_BIN")
[[ " $PROBERS " != *" tcp "* ]] || need+=("$NGINX_BIN")
[[ " $PROBERS " != *" dns "* ]] || need+=("$DNSMASQ_BIN")
for tool in "${need[@]}"; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found in PATH"
done
[[ " $PROBERS " != *" grpc "* ]] || python3 -c 'import grpc, grpc_health.v1.health' 2>/dev/null ||
    die "Python's grpcio is missing: pip install --break-system-packages grpcio grpcio-health-checking"
BLACKBOX_BIN=$(command -v "$BLACKBOX_BIN")
CLK_TCK=$(getconf CLK_TCK)
DURATION_S=$(to_seconds "$DURATION")

# --- process bookkeeping -------------------------------------------------------------------
WORK=$(mktemp -d "${TMPDIR:-/tmp}/blackwatch-compare-probers.XXXXXX")
PIDS=()        # long-lived processes, stopped in reverse order on exit
SAMPLE_PID=""  # the in-load sample request, while one is running

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# A loopback port free for both TCP and UDP (dnsmasq binds both).
free_port_tcp_udp() {
    python3 - <<'EOF'
import socket
for _ in range(100):
    t = socket.socket()
    t.bind(("127.0.0.1", 0))
    port = t.getsockname()[1]
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        u.bind(("127.0.0.1", port))
    except OSError:
        continue
    finally:
        u.close()
        t.close()
    print(port)
    break
EOF
}

# --- build ---------------------------------------------------------------------------------
build_blackwatch

# --- targets -------------------------------------------------------------------------------
declare -A TARGET TARGET_PIDS TARGET_DESC # per prober: probe target, PIDs whose CPU is the target's, description

if [[ " $PROBERS " == *" tcp "* ]]; then
    NGINX_BIN=$(command -v "$NGINX_BIN")
    NGINX_PORT=$(free_port)
    mkdir -p "$WORK/nginx/tmp"
    chmod 755 "$WORK" "$WORK/nginx"
    cat >"$WORK/nginx/nginx.conf" <<EOF
# Generated by benches/compare_probers.sh: a listener for tcp_connect. The prober connects and
# closes without sending anything; nginx accepts, reads EOF and closes.
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
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    server {
        listen 127.0.0.1:$NGINX_PORT backlog=4096;
        return 204;
    }
}
EOF
    "$NGINX_BIN" -p "$WORK/nginx" -e "$WORK/nginx.log" -c "$WORK/nginx/nginx.conf" -t >/dev/null 2>&1 ||
        die "nginx config test failed: $("$NGINX_BIN" -p "$WORK/nginx" -e "$WORK/nginx.log" -c "$WORK/nginx/nginx.conf" -t 2>&1)"
    "$NGINX_BIN" -p "$WORK/nginx" -e "$WORK/nginx.log" -c "$WORK/nginx/nginx.conf" </dev/null >"$WORK/nginx.out" 2>&1 &
    NGINX_PID=$!
    PIDS+=("$NGINX_PID")
    wait_http "http://127.0.0.1:$NGINX_PORT/" "$NGINX_PID" nginx
    NGINX_WORKER_PIDS=$(ps -o pid= --ppid "$NGINX_PID" | tr -s ' \n' ' ')
    [[ -n "${NGINX_WORKER_PIDS// /}" ]] || die "no nginx worker processes found"
    TARGET[tcp]="127.0.0.1:$NGINX_PORT"
    TARGET_PIDS[tcp]=$NGINX_WORKER_PIDS
    TARGET_DESC[tcp]="nginx $("$NGINX_BIN" -v 2>&1 | sed 's/.*nginx\///') on 127.0.0.1:$NGINX_PORT, worker_processes $NGINX_WORKERS (target CPU = its workers)"
    log "nginx (master $NGINX_PID, workers$NGINX_WORKER_PIDS) listening on ${TARGET[tcp]}"
fi

if [[ " $PROBERS " == *" icmp "* ]]; then
    TARGET[icmp]=127.0.0.1
    TARGET_PIDS[icmp]=""
    TARGET_DESC[icmp]="127.0.0.1, answered by the kernel (no target process; net.ipv4.ping_group_range = $(tr '\t' ' ' </proc/sys/net/ipv4/ping_group_range), uid $(id -u))"
fi

# dns_ready PORT: one A query for example.com over UDP; succeeds on an answer with an A record.
dns_ready() {
    python3 - "$1" <<'EOF'
import socket, struct, sys
q = struct.pack(">HHHHHH", 0x1234, 0x0100, 1, 0, 0, 0) + b"\x07example\x03com\x00" + struct.pack(">HH", 1, 1)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.2)
try:
    s.sendto(q, ("127.0.0.1", int(sys.argv[1])))
    r = s.recv(512)
except OSError:
    sys.exit(1)
_, flags, _, an = struct.unpack(">HHHH", r[:8])
sys.exit(0 if flags & 0xF == 0 and an >= 1 else 1)
EOF
}

if [[ " $PROBERS " == *" dns "* ]]; then
    DNSMASQ_BIN=$(command -v "$DNSMASQ_BIN")
    DNSMASQ_PID=""
    for attempt in 1 2 3 4 5; do
        DNS_PORT=$(free_port_tcp_udp)
        [[ -n "$DNS_PORT" ]] || die "no free loopback port for dnsmasq"
        # --conf-file=/dev/null: ignore /etc/dnsmasq.conf; --user: stay the invoking user
        # (as root it would otherwise switch to an unprivileged one; same either way here).
        "$DNSMASQ_BIN" --no-daemon --keep-in-foreground --conf-file=/dev/null \
            --port="$DNS_PORT" --listen-address=127.0.0.1 --bind-interfaces \
            --no-resolv --no-hosts --address=/example.com/127.0.0.1 \
            --pid-file="$WORK/dnsmasq.pid" --cache-size="$DNSMASQ_CACHE" --user="$(id -un)" \
            </dev/null >"$WORK/dnsmasq.log" 2>&1 &
        DNSMASQ_PID=$!
        for _ in $(seq 100); do
            dns_ready "$DNS_PORT" && break
            kill -0 "$DNSMASQ_PID" 2>/dev/null || break
            sleep 0.05
        done
        if kill -0 "$DNSMASQ_PID" 2>/dev/null && dns_ready "$DNS_PORT"; then
            PIDS+=("$DNSMASQ_PID")
            break
        fi
        stop_pid "$DNSMASQ_PID"
        log "dnsmasq attempt $attempt on port $DNS_PORT failed: $(tail -3 "$WORK/dnsmasq.log" | tr '\n' ' ')"
        DNSMASQ_PID=""
    done
    [[ -n "$DNSMASQ_PID" ]] || die "dnsmasq did not come up"
    TARGET[dns]="127.0.0.1:$DNS_PORT"
    TARGET_PIDS[dns]=$DNSMASQ_PID
    TARGET_DESC[dns]="$("$DNSMASQ_BIN" --version | head -1 | sed "s/ *Copyright.*//") on 127.0.0.1:$DNS_PORT, --address=/example.com/127.0.0.1 --cache-size=$DNSMASQ_CACHE (target CPU = dnsmasq, single-threaded)"
    log "dnsmasq (PID $DNSMASQ_PID) answering on ${TARGET[dns]}"
fi

if [[ " $PROBERS " == *" grpc "* ]]; then
    # It exits when its standard input ends: a FIFO held open by this shell keeps it running
    # until cleanup stops it by PID.
    mkfifo "$WORK/grpc.in"
    python3 "$ROOT/tests/data/grpc/health_server.py" \
        "{\"servers\": [{\"name\": \"plain\", \"statuses\": {\"\": \"SERVING\"}, \"workers\": $GRPC_WORKERS}]}" \
        <"$WORK/grpc.in" >"$WORK/grpc.out" 2>"$WORK/grpc.err" &
    GRPC_PID=$!
    PIDS+=("$GRPC_PID")
    exec 3>"$WORK/grpc.in"
    for _ in $(seq 300); do
        grep -q '^READY ' "$WORK/grpc.out" 2>/dev/null && break
        kill -0 "$GRPC_PID" 2>/dev/null || die "gRPC health server exited: $(cat "$WORK/grpc.err")"
        sleep 0.1
    done
    GRPC_PORT=$(sed -n 's/^READY {"plain": \([0-9]*\)}$/\1/p' "$WORK/grpc.out")
    [[ -n "$GRPC_PORT" ]] || die "gRPC health server did not report its port: $(cat "$WORK/grpc.out" "$WORK/grpc.err")"
    TARGET[grpc]="127.0.0.1:$GRPC_PORT"
    TARGET_PIDS[grpc]=$GRPC_PID
    TARGET_DESC[grpc]="grpcio $(python3 -c 'import grpc; print(grpc.__version__)') health server (Python $(python3 -c 'import platform; print(platform.python_version())'), $GRPC_WORKERS executor threads) on ${TARGET[grpc]}, service \"\" SERVING (target CPU = its process)"
    log "gRPC health server (PID $GRPC_PID) on ${TARGET[grpc]}"
fi

target_ticks() { # target_ticks PROBER: CPU ticks of the target processes (0 when none)
    local t=0 p
    for p in ${TARGET_PIDS[$1]}; do t=$((t + $(cpu_ticks "$p"))); done
    echo "$t"
}

# --- probers -------------------------------------------------------------------------------
declare -A MODULE=([tcp]=tcp_connect [icmp]=icmp [dns]=dns_udp [grpc]=grpc_health)
MODULES="$WORK/blackbox.yml"
cat >"$MODULES" <<'EOF'
modules:
  tcp_connect:
    prober: tcp
    tcp:
      preferred_ip_protocol: ip4
  icmp:
    prober: icmp
    icmp:
      preferred_ip_protocol: ip4
  dns_udp:
    prober: dns
    dns:
      query_name: example.com
      query_type: A
      preferred_ip_protocol: ip4
  grpc_health:
    prober: grpc
    grpc:
      preferred_ip_protocol: ip4
EOF

start_both "$MODULES"

probe_url() { # probe_url TOOL PROBER
    local port
    case $1 in blackwatch) port=$BW_PORT ;; blackbox) port=$BB_PORT ;; esac
    printf 'http://127.0.0.1:%s/probe?module=%s&target=%s' "$port" "${MODULE[$2]}" "${TARGET[$2]}"
}

for p in $PROBERS; do
    for name in blackwatch blackbox; do
        body=$(curl -fsS --max-time 10 "$(probe_url "$name" "$p")") || die "$name: $p probe request failed"
        grep -qx 'probe_success 1' <<<"$body" ||
            die "$name: ${MODULE[$p]} probe of ${TARGET[$p]} did not succeed:"$'\n'"$body"
    done
done
log "blackwatch (PID $BW_PID) on :$BW_PORT, blackbox_exporter (PID $BB_PID) on :$BB_PORT; one probe of each module succeeded on both"

# --- load ----------------------------------------------------------------------------------
# wrk script for the probers: counts responses whose body says probe_success 1.
write_probe_lua "$WORK/probe.lua"

declare -A R # R[prober,name,c,field]
FAILED=0

# run_point PROBER NAME C: NAME is blackwatch or blackbox.
run_point() {
    local prober=$1 name=$2 c=$3 url pid k="$1,$2,$3"
    local threads=$((c < 2 ? c : 2))
    url=$(probe_url "$name" "$prober")
    case $name in blackwatch) pid=$BW_PID ;; blackbox) pid=$BB_PID ;; esac
    if [[ "$WARMUP" != 0 && "$WARMUP" != 0s ]]; then
        wrk -t "$threads" -c "$c" -d "$WARMUP" --timeout "$WRK_TIMEOUT" -s "$WORK/probe.lua" "$url" >/dev/null 2>&1 ||
            die "wrk warmup failed for $name $prober c=$c"
    fi
    local load
    load=$(loadavg1)
    local p0 n0 b0 w0 t0 out="$WORK/wrk-$prober-$name-$c.txt" sample="$WORK/sample-$prober-$name-$c"
    reset_hwm "$pid"
    p0=$(cpu_ticks "$pid")
    n0=$(target_ticks "$prober")
    b0=$(busy_ticks)
    read_child_cpu w0
    t0=$EPOCHREALTIME
    # One probe by hand half-way through the run, to see a real response under load.
    (
        sleep "$(awk -v d="$DURATION_S" 'BEGIN { print d / 2 }')"
        curl -sS --max-time 10 -o "$sample.txt" "$url" 2>>"$sample.err" || true
    ) &
    SAMPLE_PID=$!
    wrk -t "$threads" -c "$c" -d "$DURATION" --timeout "$WRK_TIMEOUT" --latency -s "$WORK/probe.lua" "$url" >"$out" 2>&1 ||
        die "wrk failed for $name $prober c=$c: $(cat "$out")"
    local t1=$EPOCHREALTIME p1 n1 b1 w1
    read_child_cpu w1
    b1=$(busy_ticks)
    p1=$(cpu_ticks "$pid")
    n1=$(target_ticks "$prober")
    wait "$SAMPLE_PID" 2>/dev/null || true
    SAMPLE_PID=""

    local rps p50 p99 reqs non2xx sock _ok bad
    read -r rps p50 p99 reqs non2xx sock _ok bad < <(parse_wrk <"$out") || die "cannot parse wrk output: $(cat "$out")"
    ((reqs > 0)) || die "wrk completed no request for $name $prober c=$c"
    [[ -z "${COMPARE_DEBUG:-}" ]] || log "debug: busy=$((b1 - b0)) prober=$((p1 - p0)) target=$((n1 - n0)) wrk=$w0..$w1 t=$t0..$t1"
    R[$k,load]=$load
    # CPU (in cores) that neither the prober, the target process nor wrk used during the
    # point: other work on the machine, plus kernel time charged to no process (softirq).
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
    if [[ -n "${TARGET_PIDS[$prober]}" ]]; then
        R[$k,tcpuk]=$(awk -v t=$((n1 - n0)) -v hz="$CLK_TCK" -v n="$reqs" 'BEGIN { printf "%.3f", t / hz / n * 1000 }')
        R[$k,tcores]=$(awk -v t=$((n1 - n0)) -v hz="$CLK_TCK" -v t0="$t0" -v t1="$t1" 'BEGIN { printf "%.2f", t / hz / (t1 - t0) }')
    else
        R[$k,tcpuk]=-
        R[$k,tcores]=-
    fi
    R[$k,hwm]=$(awk -v k="$(status_kib "$pid" VmHWM)" 'BEGIN { printf "%.1f", k / 1024 }')
    if grep -qx 'probe_success 1' "$sample.txt" 2>/dev/null; then
        R[$k,sample]=ok
    else
        R[$k,sample]=FAIL
        FAILED=1
        log "$name $prober c=$c: in-load sample response was not probe_success 1:"
        sed 's/^/    /' "$sample.txt" "$sample.err" 2>/dev/null | head -40 >&2 || true
    fi
    [[ "$bad" == 0 ]] || FAILED=1
    ((non2xx == 0 && sock == 0)) || FAILED=1
    log "$(printf '%-4s %-10s c=%-3s %10s req/s  p50 %8s ms  p99 %8s ms  non-2xx %s  sock-err %s  probe!=1 %s  cpu/1k %s  target cpu/1k %s (%s cores)  load %s  other-cpu %s' \
        "$prober" "$name" "$c" "$rps" "$p50" "$p99" "$non2xx" "$sock" "$bad" "${R[$k,cpuk]}" "${R[$k,tcpuk]}" "${R[$k,tcores]}" "$load" "${R[$k,other]}")"
}

for p in $PROBERS; do
    for c in $CONCURRENCY; do
        for name in blackwatch blackbox; do
            run_point "$p" "$name" "$c"
        done
    done
done

# --- report --------------------------------------------------------------------------------
report() {
    local p c name label k
    echo "## blackwatch vs blackbox_exporter: $PROBERS probers on loopback"
    echo
    echo "- date: $(date -u +%Y-%m-%dT%H:%M:%SZ), host: $(nproc) CPUs, $(uname -sr)"
    echo "- blackwatch: $("$BW_BIN" --version 2>&1 | head -1) ($(cd "$ROOT" && git rev-parse --short HEAD 2>/dev/null || echo unknown)$(cd "$ROOT" && git diff --quiet HEAD 2>/dev/null || echo ', dirty tree'))"
    echo "- blackbox_exporter: $("$BLACKBOX_BIN" --version 2>&1 | head -1)"
    for p in $PROBERS; do
        echo "- ${MODULE[$p]}: target ${TARGET_DESC[$p]}"
    done
    echo "- wrk: -d $DURATION per point after a $WARMUP warm-up, threads = min(c, 2), --timeout $WRK_TIMEOUT, keep-alive"
    echo
    echo "| module | prober | c | load1 | other CPU (cores) | req/s | p50 ms | p99 ms | non-2xx | sock err | probe_success != 1 | in-load sample | prober CPU s | prober CPU (cores) | prober CPU s / 1000 probes | target CPU s / 1000 probes | target CPU (cores) | prober peak RSS MiB |"
    echo "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|---:|---:|---:|---:|---:|"
    for p in $PROBERS; do
        for c in $CONCURRENCY; do
            for name in blackwatch blackbox; do
                k="$p,$name,$c"
                case $name in blackwatch) label=blackwatch ;; blackbox) label=blackbox_exporter ;; esac
                printf '| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |\n' \
                    "${MODULE[$p]}" "$label" "$c" "${R[$k,load]}" "${R[$k,other]}" "${R[$k,rps]}" "${R[$k,p50]}" "${R[$k,p99]}" \
                    "${R[$k,non2xx]}" "${R[$k,sock]}" "${R[$k,bad]}" "${R[$k,sample]}" \
                    "${R[$k,cpu]}" "${R[$k,cores]}" "${R[$k,cpuk]}" "${R[$k,tcpuk]}" "${R[$k,tcores]}" "${R[$k,hwm]}"
            done
        done
    done
    echo
    echo "| ratio blackwatch / blackbox_exporter | c | req/s | p99 latency | CPU s / 1000 probes | peak RSS | bar: ≥ 3x req/s at ≤ 1/3 CPU per probe |"
    echo "|---|---:|---:|---:|---:|---:|---|"
    local rr cr bar
    for p in $PROBERS; do
        for c in $CONCURRENCY; do
            rr=$(ratio "${R[$p,blackwatch,$c,rps]}" "${R[$p,blackbox,$c,rps]}")
            cr=$(ratio "${R[$p,blackwatch,$c,cpuk]}" "${R[$p,blackbox,$c,cpuk]}")
            bar=$(awk -v r="$rr" -v c="$cr" 'BEGIN {
                if (r == "-" || c == "-") { print "-"; exit }
                printf "%s (req/s %s, CPU %s)", (r >= 3 && c <= 1/3) ? "met" : "not met", (r >= 3 ? "ok" : "short"), (c <= 1/3 ? "ok" : "over") }')
            echo "| ${MODULE[$p]} | $c | $rr | $(ratio "${R[$p,blackwatch,$c,p99]}" "${R[$p,blackbox,$c,p99]}") | $cr | $(ratio "${R[$p,blackwatch,$c,hwm]}" "${R[$p,blackbox,$c,hwm]}") | $bar |"
        done
    done
    echo
    echo "Idle RSS right after startup: blackwatch $(mib "$BW_IDLE_KIB") MiB, blackbox_exporter $(mib "$BB_IDLE_KIB") MiB."
    local sat=""
    for p in $PROBERS; do
        [[ -n "${TARGET_PIDS[$p]}" ]] || continue
        for c in $CONCURRENCY; do
            for name in blackwatch blackbox; do
                if awk -v v="${R[$p,$name,$c,tcores]}" 'BEGIN { exit !(v >= 0.9) }'; then
                    sat+="${sat:+; }${MODULE[$p]} $name c=$c (${R[$p,$name,$c,tcores]} cores)"
                fi
            done
        done
    done
    if [[ -n "$sat" ]]; then
        echo
        echo "Target saturated (≥ 0.9 of a core, single-threaded target): $sat. Those points measure the target's floor, not the prober."
    fi
}

REPORT=$(report)
printf '%s\n' "$REPORT"
[[ -z "$RESULTS" ]] || printf '%s\n' "$REPORT" >"$RESULTS"

if ((FAILED)); then
    log "some probes failed or wrk saw errors (see the table); exiting 3"
    exit 3
fi
