#!/usr/bin/env python3
"""Summary of a benches/media-load.sh run: a markdown table per step and the issue's goals.

    python3 benches/media_load_report.py target/bench/media-load-<timestamp>

Reads run.json, baseline-N.json, switch-N.json (rtp_load gen output), opus-N.json and
opus-N.perf.txt (perf report --sort sym) from that directory. Standard library only.
"""

import glob
import json
import os
import re
import sys

# Symbols of the codec work in a perf profile of the switch: libopus (statically linked: its
# SILK, CELT and range coder functions), the switch's own codecs crate and resampler.
CODEC_SYMBOLS = re.compile(
    r"opus|silk_|celt|ec_(enc|dec|laplace|tell)|quant_|clt_mdct|alg_(un)?quant|op_pvq|"
    r"compute_(band|allocation|mdcts|stereo|theta|qn)|tonality|run_analysis|pitch_|xcorr|"
    r"kf_|haar1|spreading_decision|transient_analysis|dynalloc|deemphasis|preemphasis|"
    r"comb_filter|renormalise|exp_rotation|interp_bits|stereo_|switchyard_codecs::(g711|g722|opus|l16|resample|plc)|g711|"
    r"resampl|ulaw|alaw|mulaw|(en|de)code_pulses|(de)?normalise_bands|anti_collapse|tf_(analysis|encode|decode)|"
    r"l1_metric|patch_transient|remove_doubling|find_best_pitch|band_energies|amp2Log2|log2Amp|unquant_|"
    r"hysteresis_decision|downmix_|frame_size_select|compute_frame_energy|is_digital_silence|smooth_fade|"
    r"cwrsi|icwrs|encode_size|gen_toc|NLSF|LPC|LTP|burg|schur|k2a|A2NLSF|bwexpander|sum_sqr_shift|"
    r"inner_prod|autocorr|energy_FLP|scale_vector|decode_(core|parameters|pitch|indices)"
)

# The issue's goals.
GOAL_CALLS = 2000
GOAL_LOSS_PCT = 0.1
GOAL_RATIO = 1.5
GOAL_KB_PER_CALL = 100
GOAL_OPUS_CALLS_PER_CORE = 100
GOAL_CODEC_SHARE = 80


def load(path):
    try:
        with open(path) as f:
            return json.load(f)
    except (OSError, ValueError):
        return None


def fmt(v, spec=".2f", none="-"):
    return none if v is None else format(v, spec)


def overloaded(r):
    """The generator fell behind: what it offered is below the nominal rate."""
    if not r or not r.get("pps_nominal"):
        return False
    offered = r["skipped"] / max(r["window_s"], 1e-9)
    return offered > 0.005 * r["pps_nominal"] or r["max_lag_ms"] > 50


def returned(r):
    """Share of the growth while calls were up that was given back after they ended."""
    b, u, a = r.get("rss_before_kb"), r.get("rss_up_kb"), r.get("rss_after_kb")
    if None in (b, u, a) or u <= b:
        return None
    return 100.0 * (u - a) / (u - b)


def codec_share(perf_txt):
    """Percent of the samples in codec symbols, from `perf report --no-children --sort sym`."""
    total = codec = 0.0
    try:
        lines = open(perf_txt).read().splitlines()
    except OSError:
        return None
    for line in lines:
        m = re.match(r"\s*([\d.]+)%\s+\[[.k]\]\s+(.*)", line)
        if m:
            pct, sym = float(m.group(1)), m.group(2)
            total += pct
            if CODEC_SYMBOLS.search(sym):
                codec += pct
    return codec if total > 0 else None


def top_other(perf_txt, k=6):
    """The k largest symbols of the profile that are not codec work (kernel excluded)."""
    rows = []
    for line in open(perf_txt).read().splitlines():
        m = re.match(r"\s*([\d.]+)%\s+\[\.\]\s+(.*)", line)
        if m and not CODEC_SYMBOLS.search(m.group(2)):
            rows.append((float(m.group(1)), m.group(2).strip()))
    return sorted(rows, reverse=True)[:k]


def main(run):
    meta = load(os.path.join(run, "run.json")) or {}
    steps = sorted(
        int(m.group(1))
        for p in glob.glob(os.path.join(run, "switch-*.json")) + glob.glob(os.path.join(run, "baseline-*.json"))
        if (m := re.search(r"-(\d+)\.json$", p))
    )
    steps = sorted(set(steps))
    out = []
    out.append(f"# media-load {os.path.basename(run)}")
    out.append("")
    out.append(
        f"host {meta.get('host', '?')}, {meta.get('cpus', '?')} CPUs, switch on CPU {meta.get('switch_cpu', '?')}, "
        f"generator on CPU {meta.get('gen_cpu', '?')}, window {meta.get('window_s', '?')} s, "
        f"load average before {meta.get('load_before', '?')}, nice {meta.get('nice') or 'none'}"
    )
    if meta.get("media_config") == 0:
        out.append("")
        out.append("**This switch does not anchor media (no [media] section): RTP went generator to generator; the")
        out.append("switch columns are signalling only and are not a relay measurement.**")
    out.append("")
    out.append(
        "| calls | packets/s nominal | baseline packets/s | baseline µs/pkt | switch packets/s | switch µs/pkt | ratio | loss % | "
        "switch CPU % | µs CPU per call-s | gen CPU % | KB/call | RSS before / up / 2 s after BYE / after MB | returned |"
    )
    out.append("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    notes = []
    goals = {}
    for n in steps:
        b = load(os.path.join(run, f"baseline-{n}.json"))
        s = load(os.path.join(run, f"switch-{n}.json"))
        b_us = b["us_per_pkt"] if b and b["us_per_pkt"] > 0 else None
        # Without anchoring the switch relays nothing: its CPU per packet would be meaningless.
        anchored = bool(s) and s["calls_up"] > 0 and s["anchored"] >= s["calls_up"]
        s_us = s["us_per_pkt"] if anchored and s["us_per_pkt"] > 0 else None
        ratio = s_us / b_us if b_us and s_us else None
        mb = lambda k: None if not s or s.get(k) is None else s[k] / 1024
        rss = " / ".join(fmt(mb(k), ".1f") for k in ("rss_before_kb", "rss_up_kb", "rss_bye_kb", "rss_after_kb"))
        ret = returned(s) if s else None
        out.append(
            f"| {n} | {n * 100} | {fmt(b and b['pps'], '.0f')} | {fmt(b_us, '.2f')} | {fmt(s and s['pps'], '.0f')} | {fmt(s_us, '.2f')} | "
            f"{fmt(ratio, '.2f')} | {fmt(s and s['loss_pct'], '.3f')} | {fmt(s and s['cpu_pct'], '.1f')} | "
            f"{fmt(s and s['cpu_pct_per_call'] * 1e4, '.1f')} | {fmt(s and s['gen_cpu_pct'], '.0f')} | "
            f"{fmt(s and s['kb_per_call'], '.1f')} | {rss} | {fmt(ret, '.0f')}{'' if ret is None else ' %'} |"
        )
        for name, r in (("baseline", b), ("switch", s)):
            if r is None:
                notes.append(f"{n} calls: no {name} result")
            elif overloaded(r):
                notes.append(
                    f"{n} calls, {name}: the generator fell behind (max lag {r['max_lag_ms']:.0f} ms, "
                    f"{r['skipped']} packets not sent, {r['gen_cpu_pct']:.0f} % CPU): the offered load was below nominal"
                )
            if r and r.get("loss_pct", 0) > 0 and name == "baseline":
                notes.append(f"{n} calls: the bare echo loop lost {r['loss_pct']:.3f} %")
        if s and (s["calls_failed"] or s["calls_up"] < n):
            notes.append(f"{n} calls: {n - s['calls_up']} calls did not set up ({s['fail_codes']})")
        if s and s["anchored"] < s["calls_up"]:
            notes.append(f"{n} calls: {s['calls_up'] - s['anchored']} calls were not anchored by the switch")
        if n == max(steps) and s:
            why = f"{n} calls, loss {s['loss_pct']:.3f} %" + ("" if n >= GOAL_CALLS else f"; the goal needs a {GOAL_CALLS}-call step")
            goals["loss"] = (n >= GOAL_CALLS and s["loss_pct"] < GOAL_LOSS_PCT and not overloaded(s), why + (", generator overloaded" if overloaded(s) else ""))
            goals["ratio"] = (ratio is not None and ratio <= GOAL_RATIO, f"{fmt(ratio)}x the bare loop" if anchored else "not anchored")
            kb = s.get("kb_per_call")
            goals["memory"] = (kb is not None and kb < GOAL_KB_PER_CALL, f"{fmt(kb, '.1f')} KB per call")
            goals["returned"] = (ret is not None and ret >= 90, f"{fmt(ret, '.0f')} % of the growth returned")

    for p in sorted(glob.glob(os.path.join(run, "opus-*.json"))):
        o = load(p)
        if not o:
            continue
        n = o["calls"]
        per_call = o["cpu_pct_per_call"]
        per_core = 100.0 / per_call if per_call > 0 else None
        share = codec_share(p.replace(".json", ".perf.txt"))
        # Without a profile: what a relayed PCMU call costs, against what this call costs.
        relay = [load(os.path.join(run, f"switch-{m}.json")) for m in steps]
        relay = [r["cpu_pct_per_call"] for r in relay if r and r["cpu_pct_per_call"] > 0]
        estimate = 100.0 * (1 - min(relay) / per_call) if relay and per_call > 0 else None
        out.append("")
        # The switch encodes on its own clock: behind it, it drops whole frames (a timestamp jump
        # with consecutive sequence numbers) rather than losing packets, so both are shown.
        sent = o["sent_ab"] + o["sent_ba"]
        ts_pct = 100.0 * o.get("ts_skipped", 0) / sent if sent else None
        gap_pct = o.get("gap_loss_pct")
        out.append(
            "| opus calls | switch CPU % | µs CPU per call-s | calls per core | codec share (perf) | codec share (vs relay) "
            "| sent - received % | frames dropped by the switch % | sequence gaps % | KB/call |"
        )
        out.append("|---|---|---|---|---|---|---|---|---|---|")
        out.append(
            f"| {n} | {o['cpu_pct']:.1f} | {per_call * 1e4:.0f} | {fmt(per_core, '.0f')} | {fmt(share, '.0f')} % | "
            f"{fmt(estimate, '.0f')} % | {o['loss_pct']:.3f} | {fmt(ts_pct, '.3f')} | {fmt(gap_pct, '.3f')} | {fmt(o.get('kb_per_call'), '.0f')} |"
        )
        if share is not None:
            out.append("")
            out.append("Largest non-codec symbols in the profile: " + ", ".join(f"{sym} {pct:.1f} %" for pct, sym in top_other(p.replace(".json", ".perf.txt"))))
        goals["opus calls per core"] = (per_core is not None and per_core >= GOAL_OPUS_CALLS_PER_CORE, f"{fmt(per_core, '.0f')} calls per core")
        best = share if share is not None else estimate
        goals["opus codec share"] = (best is not None and best >= GOAL_CODEC_SHARE, f"{fmt(best, '.0f')} % in the codec")

    if notes:
        out.append("")
        out.extend(f"- {x}" for x in notes)
    if goals:
        out.append("")
        out.append("Goals: " + "; ".join(f"{k}: {'PASS' if ok else 'FAIL'} ({why})" for k, (ok, why) in goals.items()))
    print("\n".join(out))


if __name__ == "__main__":
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    main(sys.argv[1])
