#!/usr/bin/env bash
# Media relay load: N concurrent relayed G.711 calls with real RTP through the switch (CPU per
# packet and per call, packet loss, memory per call and whether it comes back), and in the same
# run the cost per packet of a bare UDP echo loop over one socket per flow, the floor for a relay.
# Method: MEDIA.md (merged into ../shared/bench/README.md's "Media" section).
#
#   bash benches/media-load.sh [--calls "500 1000 2000"] [--seconds 20] [--opus [N]] [--quick]
#
# Each step, for N calls (2N flows, N x 2 x 50 packets/s):
#   baseline: `rtp_load echo` over 2N sockets on CPU $SW_CPU, `rtp_load gen --echo-base` on $GEN_CPU;
#   switch:   `switchyard run` (media.workers = 1) on CPU $SW_CPU, `rtp_load gen --switch` on
#             $GEN_CPU: N calls by SIP, RTP both ways for --seconds, BYE, then RSS after settling.
#   --opus:   N (default 100) calls whose caller sends Opus and whose callee answers PCMU, so the
#             switch transcodes both ways; perf (if present) tells the codec's share of the CPU.
# Not run in CI. 127.0.0.1 only: UDP 5060 (switch), 5090 (callee), 5091 (caller), the echo
# sockets from ECHO_BASE (20000) and the switch's media ports 16384-32767; the generator's own
# RTP sockets are ephemeral (32768 up), so the two never collide.
# Results: target/bench/media-load-<timestamp>/ (JSON per step, logs, summary.md).
#
# Environment: SWITCHYARD_BIN (skip the cargo build), CALLS, WINDOW_S (20), WARMUP_S (3),
# SETTLE_S (35: the switch keeps finished SIP transactions 32 s), RATE (200 calls/s),
# OPUS_CALLS (100), SW_CPU (0), GEN_CPU (1), QUIET_LOAD (1.0) and QUIET_WAIT_S (300): wait for the
# load average to drop below it first; BENCH_NICE (e.g. -10, as root): run the measured processes
# at that nice level; ALLOW_UNANCHORED=1: do not fail when the switch does not anchor media.
set -uo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=python3
[ -x /usr/bin/python3 ] && PY=/usr/bin/python3

CALLS_ARG="" OPUS=0 QUICK=0 WINDOW_ARG=""
while [ $# -gt 0 ]; do
    case "$1" in
        --calls) CALLS_ARG=${2:-}; shift ;;
        --seconds) WINDOW_ARG=${2:-}; shift ;;
        --opus) OPUS=1; if [[ ${2:-} =~ ^[0-9]+$ ]]; then OPUS_CALLS=$2; shift; fi ;;
        --quick) QUICK=1 ;;
        -h|--help) sed -n '2,26p' "$0"; exit 0 ;;
        *) echo "unknown argument: $1 (see --help)" >&2; exit 2 ;;
    esac
    shift
done
if [ "$QUICK" = 1 ]; then DEF_CALLS="500 2000"; DEF_WINDOW=10; else DEF_CALLS=2000; DEF_WINDOW=20; fi
CALLS=${CALLS_ARG:-${CALLS:-$DEF_CALLS}}
WINDOW_S=${WINDOW_ARG:-${WINDOW_S:-$DEF_WINDOW}}
WARMUP_S=${WARMUP_S:-3}
SETTLE_S=${SETTLE_S:-35}
RATE=${RATE:-200}
OPUS_CALLS=${OPUS_CALLS:-100}
SW_CPU=${SW_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
ECHO_BASE=${ECHO_BASE:-20000}
MEDIA_MIN=16384
MEDIA_MAX=32767

say() { printf '%s\n' "$*"; }
die() { printf 'media-load: %s\n' "$*" >&2; exit 1; }

# ---------------------------------------------------------------------------------------
# Preflight

for t in taskset ss "$PY" cargo; do
    command -v "$t" >/dev/null 2>&1 || die "$t not found"
done
[ "$(nproc)" -ge 2 ] || die "needs 2 CPUs (the switch and the generator each get one; set SW_CPU/GEN_CPU)"
for n in $CALLS $([ "$OPUS" = 1 ] && echo "$OPUS_CALLS"); do
    [[ $n =~ ^[0-9]+$ ]] && [ "$n" -gt 0 ] || die "calls must be positive integers, got '$n'"
    # Each call holds two RTP ports and their RTCP ports in the switch's range.
    [ $((4 * n)) -le $((MEDIA_MAX - MEDIA_MIN)) ] || die "$n calls need more than the media range $MEDIA_MIN-$MEDIA_MAX"
    [ $((ECHO_BASE + 2 * n)) -le 32767 ] || die "the echo sockets for $n calls would reach the ephemeral range"
done
read -r EPH_LO _ </proc/sys/net/ipv4/ip_local_port_range
[ "$EPH_LO" -gt "$MEDIA_MAX" ] || say "WARNING: ephemeral ports start at $EPH_LO, inside the media range: the generator may take the switch's ports"
FDS=$(ulimit -n)
for n in $CALLS; do
    [ "$FDS" -ge $((4 * n + 200)) ] || die "ulimit -n is $FDS; $n calls need about $((4 * n + 200)) descriptors per process (ulimit -n 65536)"
done
port_busy() { [ -n "$(ss -Hlun "sport = :$1" 2>/dev/null)" ]; }
for p in 5060 5090 5091 "$ECHO_BASE"; do
    port_busy "$p" && die "UDP 127.0.0.1:$p is already in use ($(ss -Hlunp "sport = :$p" | head -1)); stop whatever holds it"
done

STAMP=$(date +%Y%m%d-%H%M%S)
RUN="$ROOT/target/bench/media-load-$STAMP"
mkdir -p "$RUN" || die "cannot create $RUN"
TMP=$(mktemp -d /tmp/media-load.XXXXXX) || die "mktemp failed"

# BENCH_NICE=-10 (root only) runs the measured processes at that priority so that builds running
# meanwhile disturb the figures less. With autogroup scheduling a nice value only orders tasks
# of one session, so the session's autogroup gets it too (restored on exit).
NICE=()
AUTOGROUP_OLD=""
if [ -n "${BENCH_NICE:-}" ]; then
    NICE=(nice -n "$BENCH_NICE")
    if [ "$(cat /proc/sys/kernel/sched_autogroup_enabled 2>/dev/null)" = 1 ] && [ -w /proc/self/autogroup ]; then
        AUTOGROUP_OLD=$(sed -n 's/.*nice \(-\?[0-9]\+\).*/\1/p' /proc/self/autogroup)
        echo "$BENCH_NICE" >/proc/self/autogroup 2>/dev/null || AUTOGROUP_OLD=""
    fi
fi

# ---------------------------------------------------------------------------------------
# Process bookkeeping: everything started here is stopped on exit, by PID.

STARTED=()
stop_pid() { # PID [SECONDS]: TERM, wait, KILL
    local pid=$1 secs=${2:-5} i
    [ -n "$pid" ] && kill -0 "$pid" 2>/dev/null || return 0
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
    for ((i = ${#STARTED[@]} - 1; i >= 0; i--)); do stop_pid "${STARTED[$i]}" 5; done
    [ -n "$AUTOGROUP_OLD" ] && echo "$AUTOGROUP_OLD" >/proc/self/autogroup 2>/dev/null
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
    say "  WARNING: still busy (load average $(cut -d' ' -f1-3 /proc/loadavg)); measuring anyway"
}

# ---------------------------------------------------------------------------------------
# Build: the switch and the tool (a harness = false bench target, located via cargo's JSON).

if [ -n "${SWITCHYARD_BIN:-}" ]; then
    BIN=$(realpath -- "$SWITCHYARD_BIN" 2>/dev/null || echo "$SWITCHYARD_BIN")
    [ -x "$BIN" ] || die "SWITCHYARD_BIN=$BIN is not executable"
else
    say "building the switch (cargo build --release --bin switchyard) ..."
    (cd "$ROOT" && cargo build --release --bin switchyard) >"$RUN/cargo-build.log" 2>&1 ||
        die "cargo build failed (see $RUN/cargo-build.log): $(grep -m1 -E '^error' "$RUN/cargo-build.log")"
    BIN=${CARGO_TARGET_DIR:-$ROOT/target}/release/switchyard
fi
say "building the load tool (cargo bench --bench rtp_load --no-run) ..."
TOOL=$(cd "$ROOT" && cargo bench --bench rtp_load --no-run --message-format=json 2>>"$RUN/cargo-build.log" |
    "$PY" -c 'import json,sys
for l in sys.stdin:
    try: m = json.loads(l)
    except ValueError: continue
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "rtp_load" and m.get("executable"): print(m["executable"])')
[ -x "$TOOL" ] || die "could not build benches/rtp_load.rs (see $RUN/cargo-build.log)"
CLK=$(getconf CLK_TCK 2>/dev/null || echo 100)

# ---------------------------------------------------------------------------------------
# The switch's configuration. Does this build know [media] (media anchoring)?

write_config() { # FILE DATA_DIR WITH_MEDIA(0|1) CODECS
    cat >"$1" <<TOML
[server]
udp = ["127.0.0.1:5060"]
tcp = []
data_dir = "$2"
[limits]
max_calls = 100000
drain_timeout_s = 1
TOML
    [ "$3" = 1 ] && cat >>"$1" <<TOML
[media]
anchor = true
port_min = $MEDIA_MIN
port_max = $MEDIA_MAX
timeout_s = 0
workers = 1
codecs = [$4]
opus_complexity = 5
TOML
    cat >>"$1" <<TOML
[[trunks]]
name = "gen"
proxy = "127.0.0.1:5090"
inbound_acl = ["127.0.0.1"]
[[routes]]
prefix = "9"
trunk = "gen"
[log]
level = "warn"
TOML
}

MEDIA=1
write_config "$TMP/check.toml" "$TMP/check-data" 1 '"PCMU"'
if ! "$BIN" check --config "$TMP/check.toml" >"$TMP/check.out" 2>&1; then
    if grep -qi media "$TMP/check.out"; then
        MEDIA=0
        say "############################################################################"
        say "WARNING: this switch does not know [media] ($(head -1 "$TMP/check.out"))"
        say "         it does not anchor media: RTP flows generator to generator, and the"
        say "         switch figures below are signalling only, NOT a relay measurement."
        say "############################################################################"
    else
        die "the bench configuration is rejected: $(cat "$TMP/check.out")"
    fi
fi

printf '{"started":"%s","host":"%s","cpus":%s,"calls":"%s","window_s":%s,"warmup_s":%s,"settle_s":%s,"rate":%s,"load_before":"%s","nice":"%s","media_config":%s,"switch_cpu":%s,"gen_cpu":%s}\n' \
    "$(date -Is)" "$(hostname)" "$(nproc)" "$CALLS" "$WINDOW_S" "$WARMUP_S" "$SETTLE_S" "$RATE" \
    "$(cut -d' ' -f1-3 /proc/loadavg)" "${BENCH_NICE:-}" "$MEDIA" "$SW_CPU" "$GEN_CPU" >"$RUN/run.json"
say "results: $RUN"
say "calls: $CALLS; window $WINDOW_S s; load average now $(cut -d' ' -f1-3 /proc/loadavg)"

GEN_ARGS=(--seconds "$WINDOW_S" --warmup "$WARMUP_S" --clk-tck "$CLK" --rate "$RATE")
FAILED=()

# ---------------------------------------------------------------------------------------
# Steps

baseline() { # N
    local n=$1 flows=$(($1 * 2)) epid
    say "  baseline: echo over $flows sockets, $((flows * 50)) packets/s"
    "${NICE[@]}" taskset -c "$SW_CPU" "$TOOL" echo --flows "$flows" --base-port "$ECHO_BASE" \
        >"$RUN/echo-server-$n.json" 2>"$RUN/echo-server-$n.err" &
    epid=$!
    STARTED+=("$epid")
    wait_port $((ECHO_BASE + flows - 1)) up 20 || { FAILED+=("baseline $n: the echo loop did not start: $(cat "$RUN/echo-server-$n.err")"); stop_pid "$epid"; return; }
    "${NICE[@]}" taskset -c "$GEN_CPU" "$TOOL" gen --echo-base "$ECHO_BASE" --flows "$flows" --watch-pid "$epid" \
        "${GEN_ARGS[@]}" >"$RUN/baseline-$n.json" 2>"$RUN/baseline-$n.err" ||
        FAILED+=("baseline $n: the generator failed: $(tail -1 "$RUN/baseline-$n.err")")
    stop_pid "$epid" 5
}

SW_PID=""
start_switch() { # NAME CODECS
    local dir=$TMP/$1
    mkdir -p "$dir/data"
    write_config "$dir/switch.toml" "$dir/data" "$MEDIA" "$2"
    "${NICE[@]}" taskset -c "$SW_CPU" "$BIN" run --config "$dir/switch.toml" >"$RUN/switch-$1.log" 2>&1 &
    SW_PID=$!
    STARTED+=("$SW_PID")
    wait_port 5060 up 20 || { FAILED+=("$1: the switch did not start: $(tail -3 "$RUN/switch-$1.log")"); stop_pid "$SW_PID"; return 1; }
}
stop_switch() {
    stop_pid "$SW_PID" 10
    SW_PID=""
    wait_port 5060 down 10 || say "    warning: 127.0.0.1:5060 still bound after the switch stopped"
}

# Fails loudly when calls did not set up, were not anchored or were hung up by the switch.
check_calls() { # NAME JSON N
    local why
    why=$("$PY" - "$2" "$3" "${ALLOW_UNANCHORED:-0}" <<'EOF'
import json, sys
path, n, allow = sys.argv[1], int(sys.argv[2]), sys.argv[3] == "1"
try:
    r = json.load(open(path))
except (OSError, ValueError) as e:
    sys.exit(print(f"no result ({e})"))
if r["calls_up"] < n or r["calls_failed"]:
    print(f'{n - r["calls_up"]} of {n} calls failed to set up (final responses {r["fail_codes"]}, 408 = no answer)')
if r["anchored"] < r["calls_up"] and not allow:
    print(f'{r["calls_up"] - r["anchored"]} calls not anchored: the SDP of the 200 was the callee\'s own')
if r["dropped_by_switch"]:
    print(f'the switch hung up {r["dropped_by_switch"]} calls itself')
EOF
)
    if [ -n "$why" ]; then
        while IFS= read -r l; do say "    FAIL: $l"; FAILED+=("$1: $l"); done <<<"$why"
    fi
}

relay() { # N
    local n=$1
    say "  switch: $n calls, $((n * 100)) packets/s relayed"
    start_switch "relay-$n" '"PCMU"' || return
    "${NICE[@]}" taskset -c "$GEN_CPU" "$TOOL" gen --switch 127.0.0.1:5060 --calls "$n" --uas-port 5090 --uac-port 5091 \
        --watch-pid "$SW_PID" --settle "$SETTLE_S" "${GEN_ARGS[@]}" >"$RUN/switch-$n.json" 2>"$RUN/switch-$n.err" ||
        FAILED+=("switch $n: the generator failed: $(tail -1 "$RUN/switch-$n.err")")
    stop_switch
    check_calls "switch $n" "$RUN/switch-$n.json" "$n"
}

opus_step() { # N
    local n=$1 gpid i
    say "  opus: $n calls, caller Opus (complexity 5) <-> callee PCMU"
    start_switch "opus-$n" '"PCMU", "opus"' || return
    "${NICE[@]}" taskset -c "$GEN_CPU" "$TOOL" gen --switch 127.0.0.1:5060 --calls "$n" --codec opus \
        --watch-pid "$SW_PID" --settle 2 "${GEN_ARGS[@]}" >"$RUN/opus-$n.json" 2>"$RUN/opus-$n.err" &
    gpid=$!
    STARTED+=("$gpid")
    if command -v perf >/dev/null 2>&1; then
        # Profile the middle of the window: where the codec's share of the switch's CPU shows.
        for ((i = 0; i < 600; i++)); do
            grep -q "window starts" "$RUN/opus-$n.err" 2>/dev/null && break
            kill -0 "$gpid" 2>/dev/null || break
            sleep 0.2
        done
        if grep -q "window starts" "$RUN/opus-$n.err"; then
            perf record -F 499 -p "$SW_PID" -o "$RUN/opus-$n.perf.data" -- sleep $((WINDOW_S > 4 ? WINDOW_S - 2 : 2)) >/dev/null 2>&1 &&
                perf report -i "$RUN/opus-$n.perf.data" --no-children --sort sym --stdio 2>/dev/null >"$RUN/opus-$n.perf.txt"
        fi
    else
        say "    (perf not found: the codec's share is estimated from the relay cost instead)"
    fi
    wait "$gpid" || FAILED+=("opus $n: the generator failed: $(tail -1 "$RUN/opus-$n.err")")
    stop_switch
    [ -s "$RUN/opus-$n.json" ] && check_calls "opus $n" "$RUN/opus-$n.json" "$n"
}

for n in $CALLS; do
    say "step: $n calls"
    wait_quiet
    baseline "$n"
    relay "$n"
done
if [ "$OPUS" = 1 ]; then
    say "step: opus"
    wait_quiet
    opus_step "$OPUS_CALLS"
fi

"$PY" "$ROOT/benches/media_load_report.py" "$RUN" | tee "$RUN/summary.md"
if [ ${#FAILED[@]} -gt 0 ]; then
    say ""
    say "media-load FAILED:"
    printf '  - %s\n' "${FAILED[@]}"
    exit 1
fi
