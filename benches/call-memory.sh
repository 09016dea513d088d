#!/usr/bin/env bash
# Memory per call in progress, and whether it all comes back: SIPp's built-in
# uac/uas (which hold a call for -d, unlike the shared uac_rr.xml whose hold is
# a fixed 1 s) place calls that are held 40 s, so at the sampling point (30 s) no call has ended
# and nothing but live calls (their dialogs, transactions, CDR state) is in
# the switch. Then every call ends and, after RFC 3261's 32 s of transaction
# linger, the resident size is read again.
#   bash benches/call-memory.sh [RATE] [HOLD_S]      (defaults 300 calls/s, 40 s)
# Not in CI. Traffic on 127.0.0.1 only; ports 5260/5261/5270.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
RATE=${1:-300}
HOLD=${2:-40}
SAMPLE_AT=$((HOLD - 10))
command -v sipp >/dev/null || { echo "needs sipp: run scripts/setup.sh" >&2; exit 1; }
BIN=${SWITCHYARD_BIN:-target/release/switchyard}
[[ -x $BIN ]] || cargo build --release --bin switchyard
work=$(mktemp -d /tmp/call-memory.XXXXXX)
pids=()
cleanup() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; }
trap cleanup EXIT
cat > "$work/sw.toml" <<TOML
[server]
udp = ["127.0.0.1:5260"]
tcp = []
data_dir = "$work/data"
[log]
level = "warn"
[limits]
max_calls = 200000

# Signalling only (Kamailio, the reference, does not touch media either);
# benches/media-load.sh measures the media plane.
[media]
anchor = false
[[trunks]]
name = "load-in"
proxy = "127.0.0.1:5299"
inbound_acl = ["127.0.0.1/32"]
[[trunks]]
name = "uas"
proxy = "127.0.0.1:5270"
[[routes]]
prefix = "9"
trunk = "uas"
TOML
"$BIN" run --config "$work/sw.toml" > "$work/switch.log" 2>&1 &
sw=$!; pids+=("$sw")
sipp -sn uas -i 127.0.0.1 -p 5270 -nostdin -buff_size 4194304 > /dev/null 2>&1 &
pids+=("$!")
sleep 2
rss() { awk '/VmRSS/ {print $2}' "/proc/$sw/status"; }
idle=$(rss)
calls=$((RATE * (HOLD - 15)))
sipp -sn uac -s 9000 127.0.0.1:5260 -i 127.0.0.1 -p 5261 -r "$RATE" -m "$calls" -l $((calls + 10)) \
    -d $((HOLD * 1000)) -nostdin -buff_size 4194304 -trace_stat -stf "$work/uac.csv" -fd 1 > "$work/uac.out" 2>&1 &
uac=$!; pids+=("$uac")
sleep "$SAMPLE_AT"
busy=$(rss)
live=$(tail -1 "$work/uac.csv" | awk -F';' '{print $14}')
wait "$uac" || true
ok=$(tail -1 "$work/uac.csv" | awk -F';' '{print $16}')
failed=$(tail -1 "$work/uac.csv" | awk -F';' '{print $18}')
sleep 40
after=$(rss)
per_call=$(( (busy - idle) * 1024 / (live > 0 ? live : 1) ))
echo "rate ${RATE}/s, held ${HOLD} s: ${ok} calls ok, ${failed} failed"
echo "RSS idle ${idle} KB; with ${live} calls up (none ended yet) ${busy} KB => $((per_call / 1024)) KB per call in progress"
echo "RSS 40 s after the last call ended: ${after} KB ($(( (after - idle) )) KB above idle)"
