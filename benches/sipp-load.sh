#!/usr/bin/env bash
# Signalling load benchmark: SIPp UAC -> element -> SIPp UAS, at rising call rates, for
# Kamailio 5.6 as a stateful proxy (the reference, measured in the same run) and for
# Switchyard as a B2BUA. Method and reference figures: ../shared/bench/README.md.
#
#   bash benches/sipp-load.sh [--quick] [--only kamailio|switchyard] [--rates "500 1000 ..."]
#
# Not run in CI. Needs sipp (Debian package sip-tester), kamailio, python3, ss, and the
# shared bench files in ../shared/bench (relative to the repository root). Uses 127.0.0.1
# only: UDP ports 5060 (switch), 5061 (UAC), 5062 (REGISTER client), 5070 (UAS), 5075
# (Kamailio). Results: target/bench/sipp-load-<timestamp>/ (raw SIPp CSVs per step,
# step.json, summary.md).
#
# Environment: SWITCHYARD_BIN (skip the cargo build and use this binary), RATES, STEP_S,
# PAUSE_S, REG_USERS (20000), REG_RATE (1000/s), SHARED_BENCH (default ../shared/bench),
# QUIET_LOAD (1.0) and QUIET_WAIT_S (300): wait for the load average to drop below it first;
# BENCH_NICE (e.g. -10, as root): run the elements and SIPp at that nice level.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# The system python starts faster than a pyenv shim; only the standard library is used.
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3
HELPER=("$PY" "$ROOT/benches/sipp_load_report.py")
SHARED=${SHARED_BENCH:-$ROOT/../shared/bench}

QUICK=0
ONLY=""
RATES_ARG=""
while [ $# -gt 0 ]; do
    case "$1" in
        --quick) QUICK=1 ;;
        --only) ONLY=${2:-}; shift ;;
        --rates) RATES_ARG=${2:-}; shift ;;
        -h|--help) sed -n '2,17p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done

if [ "$QUICK" = 1 ]; then
    DEFAULT_RATES="500 1000 2000 3000 4000 5000 6000"
    STEP_S=${STEP_S:-10}
    PAUSE_S=${PAUSE_S:-3}
else
    DEFAULT_RATES="250 500 1000 1500 2000 3000 4000 5000 6000 8000"
    STEP_S=${STEP_S:-20}
    PAUSE_S=${PAUSE_S:-5}
fi
RATES=${RATES_ARG:-${RATES:-$DEFAULT_RATES}}
REG_USERS=${REG_USERS:-20000}
REG_RATE=${REG_RATE:-1000}
RETRY_PAUSE_S=10
# Finished transactions: Kamailio keeps them ~5 s, the switch up to 32 s (RFC 3261 timers).
SETTLE_S=35

say() { printf '%s\n' "$*"; }
die() { printf 'sipp-load: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------
# Preflight

for t in sipp python3 ss; do
    command -v "$t" >/dev/null 2>&1 || die "$t not found (sipp is Debian's sip-tester; run scripts/setup.sh or: apt-get install -y sip-tester kamailio)"
done
HAVE_KAMAILIO=1
command -v kamailio >/dev/null 2>&1 || HAVE_KAMAILIO=0
[ -d "$SHARED" ] || die "$SHARED not found: the shared bench files (uac_rr.xml, uas_rr.xml, kamailio-proxy.cfg.in) must be in ../shared/bench relative to the repository root (or set SHARED_BENCH)"
for f in uac_rr.xml uas_rr.xml kamailio-proxy.cfg.in; do
    [ -r "$SHARED/$f" ] || die "$SHARED/$f missing"
done
SHARED=$(cd "$SHARED" && pwd)

port_busy() { [ -n "$(ss -Hlun "sport = :$1" 2>/dev/null)" ]; }
for p in 5060 5061 5062 5070 5075; do
    port_busy "$p" && die "UDP 127.0.0.1:$p is already in use ($(ss -Hlunp "sport = :$p" | head -1)); stop whatever holds it"
done

# BENCH_NICE=-10 (root only) runs the elements and SIPp at that priority, so that builds
# running meanwhile disturb the figures less. Off by default.
NICE=()
[ -n "${BENCH_NICE:-}" ] && NICE=(nice -n "$BENCH_NICE")

STAMP=$(date +%Y%m%d-%H%M%S)
RUN="$ROOT/target/bench/sipp-load-$STAMP"
mkdir -p "$RUN" || die "cannot create $RUN"
TMP=$(mktemp -d /tmp/sipp-load.XXXXXX) || die "mktemp failed"

# ---------------------------------------------------------------------------------------
# Process bookkeeping: everything started here is killed on exit, by PID.

STARTED=()
track() { STARTED+=("$1"); }
stop_pid() { # PID [SECONDS]: TERM, wait, KILL
    local pid=$1 secs=${2:-5} i
    [ -n "$pid" ] || return 0
    kill -0 "$pid" 2>/dev/null || return 0
    kill -TERM "$pid" 2>/dev/null
    for ((i = 0; i < secs * 10; i++)); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.1
    done
    kill -0 "$pid" 2>/dev/null && kill -KILL "$pid" 2>/dev/null
    wait "$pid" 2>/dev/null
    return 0
}
cleanup() {
    local i
    trap - EXIT INT TERM
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do
        stop_pid "${STARTED[$i]}" 5
    done
    # Kamailio's children, should its main process have died without taking them along.
    if [ -n "${KAM_KIDS:-}" ]; then
        for p in $KAM_KIDS; do
            if [ -r "/proc/$p/cmdline" ] && tr '\0' ' ' <"/proc/$p/cmdline" | grep -q "$TMP/kamailio"; then
                kill -KILL "$p" 2>/dev/null
            fi
        done
    fi
    [ -f "$TMP/switchyard/switchyard.log" ] && cp "$TMP/switchyard/switchyard.log" "$RUN/switchyard/" 2>/dev/null
    [ -f "$TMP/kamailio/kamailio.log" ] && cp "$TMP/kamailio/kamailio.log" "$RUN/kamailio/" 2>/dev/null
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'say "interrupted"; exit 130' INT TERM

wait_port() { # PORT up|down SECONDS
    local i
    for ((i = 0; i < $3 * 10; i++)); do
        if [ "$2" = up ]; then port_busy "$1" && return 0; else port_busy "$1" || return 0; fi
        sleep 0.1
    done
    return 1
}

# ---------------------------------------------------------------------------------------
# The switch binary

SW_SKIP=""
if [ "$ONLY" != kamailio ]; then
    if [ -n "${SWITCHYARD_BIN:-}" ]; then
        BIN=$(realpath -- "$SWITCHYARD_BIN" 2>/dev/null || echo "$SWITCHYARD_BIN")
        [ -x "$BIN" ] || SW_SKIP="SWITCHYARD_BIN=$BIN is not executable"
    else
        say "building target/release/switchyard (cargo build --release --bin switchyard) ..."
        if (cd "$ROOT" && cargo build --release --bin switchyard) >"$RUN/cargo-build.log" 2>&1; then
            BIN=$ROOT/target/release/switchyard
        else
            SW_SKIP="cargo build --release failed (see $RUN/cargo-build.log): $(grep -m1 -E '^error' "$RUN/cargo-build.log")"
            say "$SW_SKIP"
        fi
    fi
fi

{
    printf '{"started": "%s", "host": "%s", "cpus": %s, "mode": "%s", "step_s": %s, "rates": "%s", "load_before": "%s", "nice": "%s"}\n' \
        "$(date -Is)" "$(hostname)" "$(nproc)" "$([ "$QUICK" = 1 ] && echo quick || echo full)" "$STEP_S" "$RATES" \
        "$(cut -d' ' -f1-3 /proc/loadavg)" "${BENCH_NICE:-}"
} >"$RUN/run.json"

say "results: $RUN"
say "rates: $RATES; $STEP_S s steps; load average now $(cut -d' ' -f1-3 /proc/loadavg)"

# Other work on the machine (builds, tests) skews every figure: wait a bounded time for a
# quiet machine before each element, and report the load seen during each step.
QUIET_LOAD=${QUIET_LOAD:-1.0}
QUIET_WAIT_S=${QUIET_WAIT_S:-300}
wait_quiet() {
    local i l
    for ((i = 0; i <= QUIET_WAIT_S / 10; i++)); do
        l=$(cut -d' ' -f1 /proc/loadavg)
        awk -v l="$l" -v q="$QUIET_LOAD" 'BEGIN { exit !(l < q) }' && return 0
        [ "$i" = 0 ] && say "  load average $l >= $QUIET_LOAD: waiting up to ${QUIET_WAIT_S} s for a quieter machine ..."
        sleep 10
    done
    say "  WARNING: still busy (load average $(cut -d' ' -f1-3 /proc/loadavg)); measuring anyway, figures will be low"
}

# ---------------------------------------------------------------------------------------
# One step: fresh UAS, UAC at RATE for STEP_S seconds, element sampled meanwhile.

proc_cpu() { # PID -> utime+stime in clock ticks (0 if gone)
    awk '{ print $14 + $15 }' "/proc/$1/stat" 2>/dev/null || echo 0
}

SEQ=0
UAS_PID=""
start_uas() { # DIR
    (cd "$1" && exec "${NICE[@]}" sipp -sf "$SHARED/uas_rr.xml" -i 127.0.0.1 -p 5070 -nostdin -buff_size 4194304 \
        -trace_stat -fd 1 -trace_err >uas.out 2>&1) &
    UAS_PID=$!
    track "$UAS_PID"
    wait_port 5070 up 10 || { say "    the SIPp UAS did not bind 127.0.0.1:5070: $(tail -3 "$1/uas.out")"; return 1; }
}
stop_uas() {
    stop_pid "$UAS_PID" 5
    UAS_PID=""
    wait_port 5070 down 10 || say "    warning: 127.0.0.1:5070 still bound 10 s after the UAS stopped"
}

# run_step ELEMENT PID TARGET RATE KIND ATTEMPT MEMKEY IDLE_RSS_KB LOGFILE
run_step() {
    local el=$1 pid=$2 target=$3 rate=$4 kind=$5 attempt=$6 memkey=$7 idle=$8 log=${9:-}
    local calls=$((STEP_S * rate)) suffix="" dir uac sampler rc limit log0=0 log1=0 uas0=0 uas1=0
    SEQ=$((SEQ + 1))
    [ "$attempt" -gt 1 ] && suffix="-retry"
    [ "$kind" = half ] && suffix="-half"
    dir=$(printf '%s/%s/%02d-%s%s' "$RUN" "$el" "$SEQ" "$rate" "$suffix")
    mkdir -p "$dir"
    kill -0 "$pid" 2>/dev/null || { say "  $el is not running any more"; return 2; }
    # The UAC's port must be free (a UAC of the step before, or something else on the machine).
    if ! wait_port 5061 down 20; then
        say "  127.0.0.1:5061 (the UAC's port) is still in use: $(ss -Hlunp 'sport = :5061' | head -1)"
        return 2
    fi
    start_uas "$dir" || return 2
    [ -n "$log" ] && log0=$(wc -l <"$log")
    # Generation should take STEP_S; allow twice that plus the hold and some slack.
    limit=$((2 * STEP_S + 20))
    "${HELPER[@]}" snap "$pid" >"$dir/snap_before.json"
    uas0=$(proc_cpu "$UAS_PID")
    # The subshell records the UAC's CPU (its children's time, once waited for) on the way out.
    (cd "$dir" && timeout -k 5 $((limit + 15)) "${NICE[@]}" sipp -sf "$SHARED/uac_rr.xml" -s 9000 "$target" \
        -i 127.0.0.1 -p 5061 -r "$rate" -rp 1000 -m "$calls" -l $((4 * rate)) -d 1000 -nostdin \
        -buff_size 4194304 -trace_stat -fd 1 -trace_rtt -rtt_freq 100 -trace_err \
        -timeout "${limit}s" -timeout_error >uac.out 2>&1
        r=$?
        awk '{ print $16 + $17 }' "/proc/$BASHPID/stat" >uac_cpu_ticks
        exit $r) &
    uac=$!
    track "$uac"
    "${HELPER[@]}" sample "$pid" "$dir/samples.jsonl" "$uac" $((limit + 30)) &
    sampler=$!
    track "$sampler"
    wait "$uac"
    rc=$?
    "${HELPER[@]}" snap "$pid" >"$dir/snap_end.json"
    uas1=$(proc_cpu "$UAS_PID")
    wait "$sampler" 2>/dev/null
    sleep "$PAUSE_S"
    "${HELPER[@]}" snap "$pid" >"$dir/snap_after.json"
    stop_uas
    [ -n "$log" ] && log1=$(wc -l <"$log")
    if [ -n "$log" ] && [ "$log1" -gt "$log0" ]; then
        sed -n "$((log0 + 1)),$((log0 + 200))p" "$log" >"$dir/element-log.txt"
    fi
    printf '{"element": "%s", "rate": %s, "calls": %s, "step_s": %s, "kind": "%s", "attempt": %s, "rc": %s, "seq": %s, "mem": "%s", "idle_rss_kb": %s, "target": "%s", "element_log_lines": %s, "uac_cpu_ticks": %s, "uas_cpu_ticks": %s, "clk_tck": %s}\n' \
        "$el" "$rate" "$calls" "$STEP_S" "$kind" "$attempt" "$rc" "$SEQ" "$memkey" "${idle:-null}" "$target" $((log1 - log0)) "$(cat "$dir/uac_cpu_ticks" 2>/dev/null || echo null)" $((uas1 - uas0)) "$(getconf CLK_TCK)" >"$dir/meta.json"
    "${HELPER[@]}" step "$dir"
}

# run_element ELEMENT PID TARGET MEMKEY IDLE LOG -> sets BEST
BEST=0
run_element() {
    local el=$1 pid=$2 target=$3 memkey=$4 idle=$5 log=${6:-} rate r
    BEST=0
    for rate in $RATES; do
        run_step "$el" "$pid" "$target" "$rate" step 1 "$memkey" "$idle" "$log"
        r=$?
        if [ "$r" = 1 ]; then
            say "  retrying $rate/s after ${RETRY_PAUSE_S} s"
            sleep "$RETRY_PAUSE_S"
            run_step "$el" "$pid" "$target" "$rate" step 2 "$memkey" "$idle" "$log"
            r=$?
        fi
        [ "$r" = 0 ] || break
        BEST=$rate
        sleep 1
    done
}

json_num() { [ -n "${1:-}" ] && printf '%s' "$1" || printf 'null'; }
snapval() { # PID KEY
    "${HELPER[@]}" snap "$1" | "$PY" -c "import json,sys; print(int(json.load(sys.stdin)['$2']))"
}

# ---------------------------------------------------------------------------------------
# Kamailio (reference)

KAM_KIDS=""
if [ "$ONLY" != switchyard ]; then
    mkdir -p "$RUN/kamailio"
    if [ "$HAVE_KAMAILIO" = 0 ]; then
        say "kamailio not found: skipping the reference (apt-get install -y kamailio)"
        printf '{"skipped": "kamailio not installed"}\n' >"$RUN/kamailio/extra.json"
    else
        say ""
        say "== Kamailio (stateful proxy, udp:127.0.0.1:5075, -n 2 -m 1024 -M 8)"
        wait_quiet
        K=$TMP/kamailio
        mkdir -p "$K/run"
        printf '1 sip:127.0.0.1:5070 0 0\n' >"$K/ds.list"
        sed "s#@DISPATCHER_LIST@#$K/ds.list#" "$SHARED/kamailio-proxy.cfg.in" >"$K/kamailio.cfg"
        cp "$K/kamailio.cfg" "$RUN/kamailio/"
        "${NICE[@]}" kamailio -f "$K/kamailio.cfg" -DD -E -Y "$K/run" -m 1024 -M 8 -n 2 >"$K/kamailio.log" 2>&1 &
        KAM_PID=$!
        track "$KAM_PID"
        if ! wait_port 5075 up 15; then
            say "kamailio did not start: $(tail -5 "$K/kamailio.log")"
            printf '{"skipped": "kamailio did not start"}\n' >"$RUN/kamailio/extra.json"
        else
            sleep 2
            KAM_KIDS=$(ps -o pid= --ppid "$KAM_PID" | tr '\n' ' ')
            KS=$("${HELPER[@]}" snap "$KAM_PID")
            run_element kamailio "$KAM_PID" 127.0.0.1:5075 pss_kb null "$K/kamailio.log"
            KAM_BEST=$BEST
            say "  Kamailio: highest rate passed $KAM_BEST calls/s"
            "$PY" - "$KS" "$RUN/kamailio/extra.json" <<'EOF'
import json, sys
s = json.loads(sys.argv[1])
json.dump({"idle_pss_kb": s["pss_kb"], "idle_rss_kb": s["rss_kb"], "nproc": s["nproc"]}, open(sys.argv[2], "w"))
EOF
        fi
        stop_pid "$KAM_PID" 10
        wait_port 5075 down 10
    fi
fi

# ---------------------------------------------------------------------------------------
# Switchyard

if [ "$ONLY" != kamailio ]; then
    mkdir -p "$RUN/switchyard"
    if [ -n "$SW_SKIP" ]; then
        "$PY" -c 'import json,sys; json.dump({"skipped": sys.argv[1]}, open(sys.argv[2], "w"))' "$SW_SKIP" "$RUN/switchyard/extra.json"
    else
        say ""
        say "== Switchyard (B2BUA, udp:127.0.0.1:5060, $BIN)"
        wait_quiet
        S=$TMP/switchyard
        mkdir -p "$S/data"
        {
            cat <<EOF
# Written by benches/sipp-load.sh.
[server]
udp = ["127.0.0.1:5060"]
tcp = []
data_dir = "$S/data"

[log]
level = "warn"

[limits]
max_calls = 200000

# Signalling only (Kamailio, the reference, does not touch media either);
# benches/media-load.sh measures the media plane.
[media]
anchor = false

# SIPp's UAC: calls from 127.0.0.1 are inbound trunk calls (no authentication).
[[trunks]]
name = "load-in"
proxy = "127.0.0.1:5099"
inbound_acl = ["127.0.0.1/32"]

# SIPp's UAS.
[[trunks]]
name = "uas"
proxy = "127.0.0.1:5070"

[[routes]]
prefix = "9"
trunk = "uas"

EOF
            awk -v n="$REG_USERS" 'BEGIN { for (i = 0; i < n; i++) printf "[[users]]\nname = \"u%d\"\npassword = \"pw\"\n\n", 10000 + i }'
        } >"$S/switchyard.toml"
        { echo SEQUENTIAL; awk -v n="$REG_USERS" 'BEGIN { for (i = 0; i < n; i++) printf "u%d;[authentication username=u%d password=pw]\n", 10000 + i, 10000 + i }'; } >"$S/users.csv"
        sed -n '1,/^\[\[users\]\]/p' "$S/switchyard.toml" | head -n -1 >"$RUN/switchyard/switchyard.toml.head"
        EX=$RUN/switchyard/extra.json
        if ! CHECK=$("$BIN" check --config "$S/switchyard.toml" 2>&1); then
            say "the bench configuration does not pass 'switchyard check': $CHECK"
            "$PY" -c 'import json,sys; json.dump({"skipped": "switchyard check failed: " + sys.argv[1]}, open(sys.argv[2], "w"))' "$CHECK" "$EX"
        else
            say "  $CHECK"
            (cd "$S" && exec "${NICE[@]}" "$BIN" run --config "$S/switchyard.toml" >"$S/switchyard.log" 2>&1) &
            SW_PID=$!
            track "$SW_PID"
            if ! wait_port 5060 up 60 || ! kill -0 "$SW_PID" 2>/dev/null; then
                say "switchyard did not start: $(tail -5 "$S/switchyard.log")"
                "$PY" -c 'import json,sys; json.dump({"skipped": "switchyard did not start: " + sys.argv[1]}, open(sys.argv[2], "w"))' "$(tail -5 "$S/switchyard.log")" "$EX"
            else
                sleep 2
                IDLE0=$(snapval "$SW_PID" rss_kb)
                say "  idle RSS $((IDLE0 / 1024)) MB with $REG_USERS users configured"

                # Memory per registered user.
                say "  registering $REG_USERS users (REGISTER + 401 + REGISTER with digest) at $REG_RATE/s ..."
                RD=$RUN/switchyard/00-register
                mkdir -p "$RD"
                cp "$S/users.csv" "$RD/"
                REG_BEFORE=$(snapval "$SW_PID" rss_kb)
                (cd "$RD" && exec timeout -k 5 $((REG_USERS / REG_RATE * 3 + 60)) "${NICE[@]}" sipp -sf "$ROOT/benches/configs/register.xml" \
                    127.0.0.1:5060 -i 127.0.0.1 -p 5062 -inf users.csv -r "$REG_RATE" -rp 1000 -m "$REG_USERS" \
                    -l $((2 * REG_RATE)) -nostdin -buff_size 4194304 -trace_stat -fd 1 -trace_err \
                    -timeout $((REG_USERS / REG_RATE * 3 + 40))s -timeout_error >register.out 2>&1) &
                REGP=$!
                track "$REGP"
                wait "$REGP"
                REG_RC=$?
                REG_RIGHT=$(snapval "$SW_PID" rss_kb)
                REG_STAT=$("${HELPER[@]}" sippstat "$RD" register)
                [ -n "$REG_STAT" ] || REG_STAT=null
                say "  REGISTER run: exit $REG_RC; $("$PY" -c 'import json,sys; s=json.loads(sys.argv[1]) or {}; print("succeeded", s.get("succeeded"), "failed", s.get("failed"), s.get("fail_kinds"))' "$REG_STAT")"
                say "  waiting ${SETTLE_S} s for the REGISTER transactions to expire ..."
                sleep "$SETTLE_S"
                REG_AFTER=$(snapval "$SW_PID" rss_kb)
                say "  RSS before $((REG_BEFORE / 1024)) MB, right after $((REG_RIGHT / 1024)) MB, ${SETTLE_S} s after $((REG_AFTER / 1024)) MB"

                # Calls.
                CALLS_IDLE=$(snapval "$SW_PID" rss_kb)
                run_element switchyard "$SW_PID" 127.0.0.1:5060 rss_kb "$CALLS_IDLE" "$S/switchyard.log"
                SW_BEST=$BEST
                say "  Switchyard: highest rate passed $SW_BEST calls/s"
                if [ "$SW_BEST" -gt 0 ] && kill -0 "$SW_PID" 2>/dev/null; then
                    HALF=$((SW_BEST / 2))
                    say "  set-up latency at half the peak: $HALF calls/s"
                    sleep "$PAUSE_S"
                    run_step switchyard "$SW_PID" 127.0.0.1:5060 "$HALF" half 1 rss_kb "$CALLS_IDLE" "$S/switchyard.log"
                fi
                AFTER15="" AFTER35=""
                if kill -0 "$SW_PID" 2>/dev/null; then
                    # The last step ended PAUSE_S before; the UAS restart took a moment too.
                    sleep $((15 - PAUSE_S > 0 ? 15 - PAUSE_S : 0))
                    AFTER15=$(snapval "$SW_PID" rss_kb)
                    sleep 20
                    AFTER35=$(snapval "$SW_PID" rss_kb)
                    say "  RSS before the call steps $((CALLS_IDLE / 1024)) MB; 15 s after the last step $((AFTER15 / 1024)) MB; 35 s after $((AFTER35 / 1024)) MB"
                else
                    say "  switchyard is no longer running: $(tail -5 "$S/switchyard.log")"
                fi
                "$PY" - "$EX" "$REG_STAT" <<EOF
import json, sys
reg = json.loads(sys.argv[2]) or {}
users, before, after = $REG_USERS, $REG_BEFORE, $REG_AFTER
ok = reg.get("succeeded") or 0
r = {"users": users, "rate": $REG_RATE, "rc": $REG_RC, "succeeded": ok, "failed": reg.get("failed"),
     "fail_kinds": reg.get("fail_kinds"), "rss_before_kb": before, "rss_right_after_kb": $REG_RIGHT,
     "rss_after_kb": after, "after_wait_s": $SETTLE_S,
     "per_user_kb": ((after - before) / ok) if ok else None}
ex = {"idle_rss_kb": $IDLE0, "users": users, "register": r, "calls_idle_rss_kb": $CALLS_IDLE,
      "rss_before_calls_kb": $CALLS_IDLE, "rss_after15_kb": $(json_num "$AFTER15"),
      "rss_after35_kb": $(json_num "$AFTER35"), "best": $SW_BEST,
      "alive_at_end": $(kill -0 "$SW_PID" 2>/dev/null && echo True || echo False)}
json.dump(ex, open(sys.argv[1], "w"), indent=1)
EOF
            fi
            stop_pid "$SW_PID" 10
            cp "$S/switchyard.log" "$RUN/switchyard/" 2>/dev/null
            say "  switchyard log: $(wc -l <"$S/switchyard.log") lines (level warn), saved in $RUN/switchyard/"
        fi
    fi
fi

# ---------------------------------------------------------------------------------------
say ""
"${HELPER[@]}" report "$RUN"
say "raw SIPp CSVs and step.json per step: $RUN/<element>/<step>/"
