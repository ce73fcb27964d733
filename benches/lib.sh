#!/usr/bin/env bash
# Shell functions shared by benches/compare.sh and benches/compare_probers.sh. Sourced, not run.
#
# The sourcing script sets, before calling them: BENCH_TAG (log prefix), ROOT, WORK (its temp
# directory), PIDS (array of long-lived PIDs, stopped in reverse order by cleanup), SAMPLE_PID,
# CLK_TCK; and installs `trap cleanup EXIT` itself.

log() { printf '[%s] %s\n' "${BENCH_TAG:-bench}" "$*" >&2; }
die() {
    printf '[%s] error: %s\n' "${BENCH_TAG:-bench}" "$*" >&2
    exit 1
}

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

# build_blackwatch: sets BW_BIN to $BLACKWATCH_BIN, or to a fresh `cargo build --release`.
build_blackwatch() {
    if [[ -n "${BLACKWATCH_BIN:-}" ]]; then
        BW_BIN=$BLACKWATCH_BIN
    else
        command -v cargo >/dev/null 2>&1 || die "cargo not found (or set BLACKWATCH_BIN)"
        log "cargo build --release --bin blackwatch (a no-op when up to date)"
        (cd "$ROOT" && cargo build --release --bin blackwatch) >&2 || die "release build failed"
        BW_BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/blackwatch
    fi
    [[ -x "$BW_BIN" ]] || die "blackwatch binary not found at $BW_BIN"
}

# write_probe_lua FILE: wrk script for the probers: counts responses whose body says
# probe_success 1, and prints the counts at the end.
write_probe_lua() {
    cat >"$1" <<'EOF'
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
}

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

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b + 0 == 0 || a == "-" || b == "-") print "-"; else printf "%.2f", a / b }'; }
mib() { awk -v k="$1" 'BEGIN { printf "%.1f", k / 1024 }'; }

# start_both MODULES_FILE: starts blackwatch ($BW_BIN) and blackbox_exporter ($BLACKBOX_BIN)
# on free loopback ports with the same module file, waits until both answer, and sets
# BW_PORT BW_PID BW_IDLE_KIB BB_PORT BB_PID BB_IDLE_KIB (PIDs are added to PIDS for cleanup).
start_both() {
    local modules=$1
    BW_PORT=$(free_port)
    "$BW_BIN" --web.listen-address "127.0.0.1:$BW_PORT" --config.file "$modules" \
        </dev/null >"$WORK/blackwatch.log" 2>&1 &
    BW_PID=$!
    PIDS+=("$BW_PID")
    wait_http "http://127.0.0.1:$BW_PORT/-/ready" "$BW_PID" blackwatch
    BW_IDLE_KIB=$(status_kib "$BW_PID" VmRSS)

    BB_PORT=$(free_port)
    "$BLACKBOX_BIN" --web.listen-address="127.0.0.1:$BB_PORT" --config.file="$modules" \
        </dev/null >"$WORK/blackbox.log" 2>&1 &
    BB_PID=$!
    PIDS+=("$BB_PID")
    wait_http "http://127.0.0.1:$BB_PORT/-/healthy" "$BB_PID" blackbox
    BB_IDLE_KIB=$(status_kib "$BB_PID" VmRSS)
}
