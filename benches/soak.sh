#!/usr/bin/env bash
# Soak test: blackwatch with 1,000 scheduled targets (healthy, failing, flapping and hostile),
# ad-hoc /probe load and alert churn for DURATION; RSS, open file descriptors and threads of
# the daemon sampled every SAMPLE seconds into a CSV, and a summary of warm-up vs end.
#
# Usage: benches/soak.sh            (see benches/README.md, "Soak")
#
# Environment (all optional):
#   DURATION=30m      whole run (s/m/h suffix, or plain seconds)
#   WARMUP=10m        the first part of the run, left out of the "flat after warm-up" figures
#   SAMPLE=10         seconds between samples
#   CSV=./soak.csv    where the samples go (elapsed_s,rss_kib,fds,threads)
#   RSS_SLACK_KIB=16384  FD_SLACK=32   allowed growth from the warm-up sample to the end
#   BLACKWATCH_BIN=path  use this binary instead of `cargo build --release` + target/release
#   NGINX_BIN=nginx
#   RETENTION=5m      --data.retention: how long expired silences and notification-log
#                     entries are kept. The churner expires a silence every second, so with
#                     the default 120h the retained ones grow, by design, for five days; 5m
#                     lets them reach their steady count within the warm-up.
#
# Targets (interval 15 s): 600 healthy (loopback nginx), 75 HTTP on a closed port and 75 TCP on
# closed ports, 150 flapping HTTP (200/500 switching every 90 s, so ProbeFailed fires and
# resolves all the time), 50 that accept and never answer, 50 that trickle one byte per second.
# Load: 3 clients calling /probe ~10 times a second each (healthy, closed, hanging targets) and
# an alert churner posting 20 alerts/s with short endsAt to /api/v2/alerts, creating a 30 s
# silence every second and deleting half of them early. Alerts go to a loopback webhook.
#
# Everything listens on 127.0.0.1; every process started here is stopped by PID on exit.
# Exit status: 0 flat (end - warm-up within the slack), 1 setup failure, 4 growth beyond the
# slack, 5 blackwatch died.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
DURATION=${DURATION:-30m}
WARMUP=${WARMUP:-10m}
SAMPLE=${SAMPLE:-10}
CSV=${CSV:-$PWD/soak.csv}
RSS_SLACK_KIB=${RSS_SLACK_KIB:-16384}
FD_SLACK=${FD_SLACK:-32}
NGINX_BIN=${NGINX_BIN:-nginx}
RETENTION=${RETENTION:-5m}

# shellcheck disable=SC2034 # used by lib.sh
BENCH_TAG=soak
# shellcheck source=benches/lib.sh
. "$ROOT/benches/lib.sh"

for tool in curl python3 awk "$NGINX_BIN"; do
    command -v "$tool" >/dev/null 2>&1 || die "'$tool' not found in PATH"
done
NGINX_BIN=$(command -v "$NGINX_BIN")
DURATION_S=$(to_seconds "$DURATION")
DURATION_S=${DURATION_S%.*}
WARMUP_S=$(to_seconds "$WARMUP")
WARMUP_S=${WARMUP_S%.*}
((WARMUP_S < DURATION_S)) || die "WARMUP must be shorter than DURATION"
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)" 2>/dev/null || true

WORK=$(mktemp -d "${TMPDIR:-/tmp}/blackwatch-soak.XXXXXX")
PIDS=()
SAMPLE_PID=""
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

build_blackwatch

# --- peers ---------------------------------------------------------------------------------
NGINX_PORT=$(free_port)
mkdir -p "$WORK/nginx/tmp"
chmod 755 "$WORK" "$WORK/nginx"
cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
worker_processes 1;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $WORK/nginx/tmp/body;
    proxy_temp_path $WORK/nginx/tmp/proxy;
    fastcgi_temp_path $WORK/nginx/tmp/fastcgi;
    uwsgi_temp_path $WORK/nginx/tmp/uwsgi;
    scgi_temp_path $WORK/nginx/tmp/scgi;
    default_type text/plain;
    server {
        listen 127.0.0.1:$NGINX_PORT backlog=4096;
        location / { return 200 "ok\n"; }
    }
}
EOF
"$NGINX_BIN" -p "$WORK/nginx" -e "$WORK/nginx.log" -c "$WORK/nginx/nginx.conf" </dev/null >"$WORK/nginx.out" 2>&1 &
PIDS+=("$!")
wait_http "http://127.0.0.1:$NGINX_PORT/" "$!" nginx

python3 "$ROOT/benches/soak/soak.py" serve "$WORK/ports" </dev/null >"$WORK/peers.log" 2>&1 &
PEERS_PID=$!
PIDS+=("$PEERS_PID")
for _ in $(seq 200); do [[ -s "$WORK/ports" ]] && break; sleep 0.05; done
[[ -s "$WORK/ports" ]] || die "peers did not start: $(cat "$WORK/peers.log")"
# shellcheck disable=SC1091
. "$WORK/ports"
CLOSED_PORT=$(free_port) # nothing listens there
log "nginx :$NGINX_PORT, flap :$FLAP_PORT, hang :$HANG_PORT, trickle :$TRICKLE_PORT, webhook :$HOOK_PORT, closed :$CLOSED_PORT"

# --- config --------------------------------------------------------------------------------
mkdir -p "$WORK/data"
cat >"$WORK/rules.yml" <<'EOF'
groups:
  - name: soak
    interval: 15s
    rules:
      - record: job:probe_success:avg
        expr: avg by (job) (probe_success)
      - alert: ProbeFailed
        expr: probe_success == 0
        for: 30s
        labels:
          severity: critical
        annotations:
          summary: "{{ $labels.instance }} is down ({{ $value }})"
      - alert: SlowProbe
        expr: probe_duration_seconds > 2
        annotations:
          summary: "slow probe of {{ $labels.instance }}: {{ $value | humanizeDuration }}"
      - alert: JobDegraded
        expr: job:probe_success:avg < 0.9
        labels:
          severity: warning
EOF
{
    cat <<EOF
modules:
  http_2xx:
    prober: http
    timeout: 5s
    http:
      preferred_ip_protocol: ip4
  tcp_connect:
    prober: tcp
    timeout: 5s
    tcp:
      preferred_ip_protocol: ip4
probes:
  - job: healthy
    module: http_2xx
    interval: 15s
    targets:
EOF
    awk -v p="$NGINX_PORT" 'BEGIN { for (i = 1; i <= 600; i++) printf "      - http://127.0.0.1:%d/t/%04d\n", p, i }'
    printf '  - job: closed_http\n    module: http_2xx\n    interval: 15s\n    targets:\n'
    awk -v p="$CLOSED_PORT" 'BEGIN { for (i = 1; i <= 75; i++) printf "      - http://127.0.0.1:%d/c/%04d\n", p, i }'
    printf '  - job: closed_tcp\n    module: tcp_connect\n    interval: 15s\n    targets:\n'
    awk -v p="$CLOSED_PORT" 'BEGIN { for (i = 1; i <= 75; i++) printf "      - 127.0.%d.%d:%d\n", int(i / 200), 2 + i % 200, p }'
    printf '  - job: flapping\n    module: http_2xx\n    interval: 15s\n    targets:\n'
    awk -v p="$FLAP_PORT" 'BEGIN { for (i = 1; i <= 150; i++) printf "      - http://127.0.0.1:%d/f/%04d\n", p, i }'
    printf '  - job: hanging\n    module: http_2xx\n    interval: 15s\n    timeout: 3s\n    targets:\n'
    awk -v p="$HANG_PORT" 'BEGIN { for (i = 1; i <= 50; i++) printf "      - http://127.0.0.1:%d/h/%04d\n", p, i }'
    printf '  - job: trickling\n    module: http_2xx\n    interval: 15s\n    timeout: 3s\n    targets:\n'
    awk -v p="$TRICKLE_PORT" 'BEGIN { for (i = 1; i <= 50; i++) printf "      - http://127.0.0.1:%d/s/%04d\n", p, i }'
    cat <<EOF
rule_files:
  - $WORK/rules.yml
global:
  evaluation_interval: 15s
alerting:
  route:
    receiver: hook
    group_by: [alertname, job]
    group_wait: 10s
    group_interval: 30s
    repeat_interval: 5m
    routes:
      - matchers: ['alertname="SoakPosted"']
        group_by: [team]
        receiver: hook
  inhibit_rules:
    - source_matchers: ['alertname="JobDegraded"']
      target_matchers: ['alertname="SlowProbe"']
      equal: [job]
  receivers:
    - name: hook
      webhook_configs:
        - url: http://127.0.0.1:$HOOK_PORT/hook
          max_alerts: 50
EOF
} >"$WORK/blackwatch.yml"
"$BW_BIN" --config.check --config.file "$WORK/blackwatch.yml" >"$WORK/check.log" 2>&1 ||
    die "config check failed: $(cat "$WORK/check.log")"

# --- blackwatch ----------------------------------------------------------------------------
BW_PORT=$(free_port)
"$BW_BIN" --web.listen-address "127.0.0.1:$BW_PORT" --config.file "$WORK/blackwatch.yml" \
    --storage.path "$WORK/data" --data.retention "$RETENTION" --log.level warn \
    </dev/null >"$WORK/blackwatch.log" 2>&1 &
BW_PID=$!
PIDS+=("$BW_PID")
BW="http://127.0.0.1:$BW_PORT"
wait_http "$BW/-/ready" "$BW_PID" blackwatch
log "blackwatch PID $BW_PID on $BW; running for ${DURATION_S}s (warm-up ${WARMUP_S}s), samples every ${SAMPLE}s into $CSV"

python3 "$ROOT/benches/soak/soak.py" load "$BW" "http://127.0.0.1:$NGINX_PORT" \
    "127.0.0.1:$CLOSED_PORT" "http://127.0.0.1:$HANG_PORT/adhoc" "$DURATION_S" \
    </dev/null >"$WORK/load.log" 2>&1 &
LOAD_PID=$!
PIDS+=("$LOAD_PID")

# --- sampling ------------------------------------------------------------------------------
echo "elapsed_s,rss_kib,fds,threads" >"$CSV"
START=${EPOCHREALTIME%.*}
DIED=0
while :; do
    now=${EPOCHREALTIME%.*}
    elapsed=$((now - START))
    state=$(proc_state "$BW_PID")
    if [[ -z "$state" || "$state" == Z ]]; then
        DIED=1
        log "blackwatch exited at ${elapsed}s; last log lines:"
        tail -20 "$WORK/blackwatch.log" >&2
        break
    fi
    rss=$(status_kib "$BW_PID" VmRSS)
    threads=$(awk '$1 == "Threads:" { print $2 }' "/proc/$BW_PID/status")
    fds=$(find "/proc/$BW_PID/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
    echo "$elapsed,$rss,$fds,$threads" >>"$CSV"
    ((elapsed < DURATION_S)) || break
    sleep "$SAMPLE" &
    SAMPLE_PID=$!
    wait "$SAMPLE_PID" || true
    SAMPLE_PID=""
done

# --- figures -------------------------------------------------------------------------------
wait "$LOAD_PID" 2>/dev/null || true
metrics=$(curl -fsS --max-time 5 "$BW/metrics" 2>/dev/null || true)
alerts=$(curl -fsS --max-time 5 "$BW/api/v2/alerts" 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>/dev/null || echo "-")
silences=$(curl -fsS --max-time 5 "$BW/api/v2/silences" 2>/dev/null | python3 -c 'import json,sys; print(len(json.load(sys.stdin)))' 2>/dev/null || echo "-")
echo
echo "## blackwatch soak: 1000 scheduled targets, /probe load, alert churn, ${DURATION_S}s"
echo
echo "load:    $(tail -1 "$WORK/load.log")"
echo "webhook: $(tail -1 "$WORK/peers.log")"
echo "at end:  alerts in API $alerts, silences in API $silences"
awk '/^probe_success\{/ { match($0, /job="[^"]*"/); j = substr($0, RSTART + 5, RLENGTH - 6); c[j " success=" $NF]++ }
    END { for (k in c) printf "  %s: %d\n", k, c[k] }' <<<"$metrics" | sort
echo
awk -F, -v w="$WARMUP_S" -v rs="$RSS_SLACK_KIB" -v fs="$FD_SLACK" '
BEGIN { n = 0 }
NR == 1 { next }
{ t[n] = $1; r[n] = $2; f[n] = $3; th[n] = $4; n++ }
END {
    if (n < 2) { print "too few samples"; exit 1 }
    for (i = 0; i < n && t[i] < w; i++);
    if (i >= n) i = n - 1
    wi = i
    # least-squares slopes over the samples after warm-up
    sx = sy = sf = sxx = sxy = sxf = 0; m = 0
    maxr = 0; maxf = 0
    for (i = wi; i < n; i++) {
        x = t[i] / 3600; sx += x; sy += r[i]; sf += f[i]; sxx += x * x; sxy += x * r[i]; sxf += x * f[i]; m++
        if (r[i] > maxr) maxr = r[i]; if (f[i] > maxf) maxf = f[i]
    }
    d = m * sxx - sx * sx
    slr = d ? (m * sxy - sx * sy) / d : 0
    slf = d ? (m * sxf - sx * sf) / d : 0
    e = n - 1
    printf "| sample | elapsed | RSS MiB | open fds | threads |\n|---|---|---|---|---|\n"
    printf "| start | %ds | %.1f | %d | %d |\n", t[0], r[0] / 1024, f[0], th[0]
    printf "| warm-up end | %ds | %.1f | %d | %d |\n", t[wi], r[wi] / 1024, f[wi], th[wi]
    printf "| end | %ds | %.1f | %d | %d |\n", t[e], r[e] / 1024, f[e], th[e]
    printf "| max after warm-up | | %.1f | %d | |\n\n", maxr / 1024, maxf
    printf "slope after warm-up (%d samples): RSS %+.1f MiB/h, fds %+.1f /h\n", m, slr / 1024, slf
    grow_r = r[e] - r[wi]; grow_f = f[e] - f[wi]
    printf "growth warm-up -> end: RSS %+.1f MiB (slack %.1f), fds %+d (slack %d)\n", grow_r / 1024, rs / 1024, grow_f, fs
    exit (grow_r > rs || grow_f > fs) ? 4 : 0
}' "$CSV" && verdict=0 || verdict=$?
echo "samples: $CSV"
if ((DIED)); then
    echo "verdict: blackwatch DIED during the run"
    exit 5
fi
if ((verdict == 0)); then echo "verdict: flat after warm-up"; else echo "verdict: GROWTH beyond the slack"; fi
exit "$verdict"
