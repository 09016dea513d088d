#!/usr/bin/env python3
"""Helper of benches/sipp-load.sh: process sampling, SIPp output parsing, report.

Plain python3 standard library. Subcommands:

  snap PID                      one JSON line: CPU ticks, RSS and PSS summed over PID and
                                all its descendants (processes; threads are included in
                                each process's /proc/PID/stat)
  sample PID OUT WATCH_PID      append one line per 0.5 s to OUT (time, cpu s, rss kB, pss kB)
                                until WATCH_PID exits (at most --max seconds)
  step DIR                      analyse one SIPp step directory (see sipp-load.sh), write
                                DIR/step.json, print a one-line summary; exit 0 = pass
  sippstat DIR PREFIX           totals of a SIPp statistics CSV (e.g. the REGISTER run) as JSON
  report RUNDIR                 print the tables and ratios, write RUNDIR/summary.md
"""

import glob
import json
import os
import re
import sys
import time

CLK_TCK = os.sysconf("SC_CLK_TCK")
PAGE_KB = os.sysconf("SC_PAGE_SIZE") // 1024


# ----------------------------------------------------------------------------------------
# /proc

def _stat_fields(pid):
    with open(f"/proc/{pid}/stat") as f:
        s = f.read()
    # comm may hold spaces and parentheses: split after the last ')'.
    return s[s.rindex(")") + 2:].split()


def tree(root):
    """root and all its descendants (by ppid), as a list of pids."""
    children = {}
    for d in os.listdir("/proc"):
        if not d.isdigit():
            continue
        try:
            ppid = int(_stat_fields(d)[1])
        except (OSError, ValueError, IndexError):
            continue
        children.setdefault(ppid, []).append(int(d))
    out, todo = [], [int(root)]
    while todo and len(out) < 10000:
        p = todo.pop()
        out.append(p)
        todo.extend(children.get(p, []))
    return out


def snap(root, want_pss=True, pids=None):
    cpu = 0
    rss = 0
    pss = 0
    n = 0
    for pid in (pids if pids is not None else tree(root)):
        try:
            fl = _stat_fields(pid)
            cpu += int(fl[11]) + int(fl[12])  # utime + stime
            with open(f"/proc/{pid}/status") as f:
                for line in f:
                    if line.startswith("VmRSS:"):
                        rss += int(line.split()[1])
                        break
            if want_pss:
                with open(f"/proc/{pid}/smaps_rollup") as f:
                    for line in f:
                        if line.startswith("Pss:"):
                            pss += int(line.split()[1])
                            break
            n += 1
        except (OSError, ValueError, IndexError):
            continue  # a process went away
    host_busy = host_total = 0
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:]]
        # user nice system idle iowait irq softirq steal ...
        host_busy = v[0] + v[1] + v[2] + v[5] + v[6] + (v[7] if len(v) > 7 else 0)
        host_total = host_busy + v[3] + v[4]
    except (OSError, ValueError, IndexError):
        pass
    udp = {}
    try:
        with open("/proc/net/snmp") as f:
            rows = [line.split() for line in f if line.startswith("Udp:")]
        udp = dict(zip(rows[0][1:], (int(x) for x in rows[1][1:])))
    except (OSError, ValueError, IndexError):
        pass
    return {"t": time.time(), "cpu_s": cpu / CLK_TCK, "rss_kb": rss, "pss_kb": pss, "nproc": n,
            "host_busy": host_busy, "host_total": host_total,
            "udp_rcvbuf_errors": udp.get("RcvbufErrors"), "udp_in_errors": udp.get("InErrors")}


def cmd_snap(args):
    print(json.dumps(snap(int(args[0]))))


def cmd_sample(args):
    root, out, watch = int(args[0]), args[1], int(args[2])
    max_s = float(args[3]) if len(args) > 3 else 600.0
    t0 = time.time()
    pids, k = None, 0
    with open(out, "a") as f:
        while time.time() - t0 < max_s:
            if k % 10 == 0:  # the process tree, refreshed every 5 s (a scan of /proc costs ~10 ms)
                pids = tree(root)
            k += 1
            s = snap(root, pids=pids)
            f.write(json.dumps(s) + "\n")
            f.flush()
            if not os.path.exists(f"/proc/{watch}"):
                break
            time.sleep(0.5)


# ----------------------------------------------------------------------------------------
# SIPp files

def _epoch(field):
    # "2026-11-24\t05:06:38.692547\t1795496798.692547"
    return float(field.split("\t")[-1])


def _dur_ms(field):
    # "HH:MM:SS:micro"
    try:
        h, m, s, us = field.split(":")
        return (int(h) * 3600 + int(m) * 60 + int(s)) * 1000 + int(us) / 1000.0
    except ValueError:
        return None


def read_stat(path):
    rows = []
    with open(path, encoding="latin-1") as f:
        header = f.readline().rstrip("\n").split(";")
        for line in f:
            v = line.rstrip("\n").split(";")
            if len(v) < 20:
                continue
            rows.append(dict(zip(header, v)))
    return rows


def stat_totals(rows, planned=None):
    if not rows:
        return None
    last = rows[-1]
    i = lambda r, k: int(r.get(k) or 0)
    created = max(i(r, "TotalCallCreated") for r in rows)
    out = {
        "created": created,
        "succeeded": max(i(r, "SuccessfulCall(C)") for r in rows),
        "failed": max(i(r, "FailedCall(C)") for r in rows),
        "retrans": max(i(r, "Retransmissions(C)") for r in rows),
        "dead_msgs": max(i(r, "DeadCallMsgs(C)") for r in rows),
        "out_of_call_msgs": max(i(r, "OutOfCallMsgs(C)") for r in rows),
        "max_current": max(i(r, "CurrentCall") for r in rows),
        "rt_mean_ms_stat": _dur_ms(last.get("ResponseTime1(C)", "")),
        "fail_kinds": {},
    }
    for k in last:
        if k.startswith("Failed") and k.endswith("(C)") and k != "FailedCall(C)":
            n = max(i(r, k) for r in rows)
            if n:
                out["fail_kinds"][k[:-3]] = n
    # Time at which the planned number of calls had been created, interpolated between the
    # one-second rows: calls generated per second = planned / that time.
    start = _epoch(rows[0]["StartTime"])
    target = planned or created
    prev_t, prev_c = 0.0, 0
    t_gen = None
    for r in rows:
        t = _epoch(r["CurrentTime"]) - start
        c = i(r, "TotalCallCreated")
        if c >= target and target > 0:
            if c == prev_c:
                t_gen = t
            else:
                t_gen = prev_t + (target - prev_c) / (c - prev_c) * (t - prev_t)
            break
        prev_t, prev_c = t, c
    out["gen_s"] = t_gen
    out["gen_rate"] = (target / t_gen) if t_gen else None
    out["series"] = [(_epoch(r["CurrentTime"]), i(r, "CurrentCall")) for r in rows]
    return out


def read_rtt(path):
    vals = []
    with open(path) as f:
        f.readline()
        for line in f:
            p = line.strip().split(";")
            if len(p) >= 3 and p[2] == "1":
                try:
                    vals.append(float(p[1]))
                except ValueError:
                    pass
    return vals


def pct(sorted_vals, q):
    if not sorted_vals:
        return None
    k = min(len(sorted_vals) - 1, max(0, int(round(q / 100.0 * len(sorted_vals) + 0.5)) - 1))
    return sorted_vals[k]


EXPECTED_ERR = re.compile(r"receive timeout on message UAC with route set:6, jumping to label")
ERR_SPLIT = re.compile(r"(?=\d{4}-\d\d-\d\d\t\d\d:\d\d:\d\d\.\d+\t\d+\.\d+: )")


def summarize_errors(path, keep=40):
    """SIPp error logs at a high rate are mostly the expected 1 s hold timeout of
    uac_rr.xml; keep counts and the first other events, drop the raw file if big."""
    try:
        with open(path, encoding="latin-1", errors="replace") as f:
            data = f.read()
    except OSError:
        return None
    events = [e.strip() for e in ERR_SPLIT.split(data) if e.strip()]
    expected = 0
    kinds = {}
    other = []
    for e in events:
        if EXPECTED_ERR.search(e):
            expected += 1
            continue
        if e.startswith("The following events occurred"):
            continue
        msg = re.sub(r"^\S+\t\S+\t\S+: ", "", e)
        # The kind: the event text with the first line of the SIP message it quotes, with
        # Call-IDs and numbers taken out.
        head, sep, rest = msg.partition("received '")
        if not sep:
            head, sep, rest = msg.partition("call:\n")
        kind = head + sep + rest.split("\n", 1)[0]
        kind = re.sub(r"Call-I[dD]:? '?[^\s']+'?", "Call-Id *", kind)
        kind = re.sub(r"Dead call \S+", "Dead call *", kind)
        kind = re.sub(r"\d+", "N", kind)[:200]
        kinds[kind] = kinds.get(kind, 0) + 1
        if len(other) < keep:
            other.append(e[:2000])
    out = path + ".summary.txt"
    with open(out, "w") as f:
        f.write(f"expected hold timeouts (uac_rr.xml 1 s wait for a late 180): {expected}\n")
        f.write("other events by kind:\n")
        for k, n in sorted(kinds.items(), key=lambda kv: -kv[1]):
            f.write(f"  {n:8d}  {k}\n")
        f.write(f"\nfirst {len(other)} other events:\n")
        for e in other:
            f.write(e + "\n---\n")
    if os.path.getsize(path) > 2_000_000:
        os.remove(path)
    return {"expected_hold_timeouts": expected, "other": sum(kinds.values()),
            "kinds": dict(sorted(kinds.items(), key=lambda kv: -kv[1])[:5])}


def _one(pattern):
    m = sorted(glob.glob(pattern))
    return m[0] if m else None


def _load_jsonl(path):
    out = []
    try:
        with open(path) as f:
            for line in f:
                line = line.strip()
                if line:
                    try:
                        out.append(json.loads(line))
                    except ValueError:
                        pass
    except OSError:
        pass
    return out


def cmd_step(args):
    d = args[0]
    meta = json.load(open(os.path.join(d, "meta.json")))
    rate, calls = meta["rate"], meta["calls"]
    res = dict(meta)
    reasons = []

    stat_p = _one(os.path.join(d, "uac_rr_*_.csv"))
    st = stat_totals(read_stat(stat_p), calls) if stat_p else None
    if not st:
        reasons.append("no SIPp statistics CSV")
        st = {}
    series = st.pop("series", [])
    res.update(st)

    rtt_p = _one(os.path.join(d, "uac_rr_*_rtt.csv"))
    rtt = sorted(read_rtt(rtt_p)) if rtt_p else []
    res["rtt_n"] = len(rtt)
    res["rt_mean_ms"] = (sum(rtt) / len(rtt)) if rtt else st.get("rt_mean_ms_stat")
    res["rt_p50_ms"] = pct(rtt, 50)
    res["rt_p95_ms"] = pct(rtt, 95)
    res["rt_p99_ms"] = pct(rtt, 99)
    res["rt_max_ms"] = rtt[-1] if rtt else None

    uas_p = _one(os.path.join(d, "uas_rr_*_.csv"))
    if uas_p:
        ut = stat_totals(read_stat(uas_p))
        if ut:
            res["uas"] = {k: ut[k] for k in ("created", "succeeded", "failed", "fail_kinds", "retrans")}

    err_p = _one(os.path.join(d, "uac_rr_*_errors.log"))
    res["uac_errors"] = summarize_errors(err_p) if err_p else None
    uerr_p = _one(os.path.join(d, "uas_rr_*_errors.log"))
    res["uas_errors"] = summarize_errors(uerr_p) if uerr_p else None

    # CPU and memory of the element.
    before = _load_jsonl(os.path.join(d, "snap_before.json"))
    end = _load_jsonl(os.path.join(d, "snap_end.json"))
    after = _load_jsonl(os.path.join(d, "snap_after.json"))
    samples = _load_jsonl(os.path.join(d, "samples.jsonl"))
    if before and end:
        b, e = before[0], end[0]
        wall = e["t"] - b["t"]
        res["wall_s"] = wall
        res["cpu_s_active"] = e["cpu_s"] - b["cpu_s"]
        res["cpu_pct"] = 100.0 * res["cpu_s_active"] / wall if wall > 0 else None
        a = after[0] if after else e
        res["cpu_s"] = a["cpu_s"] - b["cpu_s"]  # includes the pause after the step
        res["cpu_window_s"] = a["t"] - b["t"]
        ok = res.get("succeeded") or 0
        res["cpu_ms_per_call"] = 1000.0 * res["cpu_s"] / ok if ok else None
        res["nproc"] = e.get("nproc")
        # Datagrams the kernel dropped because a socket's receive buffer was full (machine-wide
        # counter: the element's socket, or SIPp's). Each one costs a retransmission at best.
        if e.get("udp_rcvbuf_errors") is not None and b.get("udp_rcvbuf_errors") is not None:
            a2 = after[0] if after else e
            res["udp_drops"] = a2["udp_rcvbuf_errors"] - b["udp_rcvbuf_errors"]
        # CPU over the generation window plus the 1 s hold, from the samples (a step with stuck
        # calls waits for SIPp's timeout, which would dilute the average).
        if samples and res.get("gen_s"):
            t_end = b["t"] + res["gen_s"] + 1.5
            inside = [x for x in samples if x["t"] <= t_end]
            if inside and inside[-1]["t"] - b["t"] > 1:
                res["cpu_pct"] = 100.0 * (inside[-1]["cpu_s"] - b["cpu_s"]) / (inside[-1]["t"] - b["t"])
        # Everything busy on the machine meanwhile (element + SIPp + anything else), 100 % = one core.
        if e.get("host_total") and b.get("host_total") and e["host_total"] > b["host_total"]:
            res["host_pct"] = 100.0 * (os.cpu_count() or 1) * (e["host_busy"] - b["host_busy"]) / (e["host_total"] - b["host_total"])
            tck = meta.get("clk_tck") or CLK_TCK
            sipp_s = ((meta.get("uac_cpu_ticks") or 0) + (meta.get("uas_cpu_ticks") or 0)) / tck
            res["sipp_pct"] = 100.0 * sipp_s / wall if wall > 0 else None
            if res.get("sipp_pct") is not None:
                # What is left: other processes on the machine (builds...) and the kernel's
                # softirq work not charged to a process.
                res["other_pct"] = max(0.0, res["host_pct"] - res["cpu_pct"] - res["sipp_pct"])
    mem_key = meta.get("mem", "rss_kb")
    if samples:
        res["mem_peak_kb"] = max(s[mem_key] for s in samples)
        res["rss_peak_kb"] = max(s["rss_kb"] for s in samples)
        res["pss_peak_kb"] = max(s["pss_kb"] for s in samples)
        # Memory per call in progress: (RSS - idle RSS before the run) / concurrent calls.
        idle = meta.get("idle_rss_kb")
        if idle and res.get("max_current"):
            res["kb_per_call"] = (res["rss_peak_kb"] - idle) / res["max_current"]
            # Also the same at the moment of most concurrent calls (nearest sample).
            if series:
                tmax, cmax = max(series, key=lambda tc: tc[1])
                near = min(samples, key=lambda s: abs(s["t"] - tmax))
                if cmax:
                    res["kb_per_call_at_max"] = (near["rss_kb"] - idle) / cmax

    # Verdict: 0 failed calls, every planned call created and completed, at least 95 % of
    # the rate generated, SIPp exited normally.
    if meta.get("rc") not in (0, None):
        reasons.append(f"SIPp UAC exit code {meta['rc']}" + (" (process timeout)" if meta["rc"] in (124, 137) else ""))
    if (res.get("failed") or 0) > 0:
        reasons.append(f"{res['failed']} failed calls {res.get('fail_kinds')}")
    if (res.get("created") or 0) < calls:
        reasons.append(f"only {res.get('created')} of {calls} calls created")
    elif (res.get("succeeded") or 0) < calls:
        reasons.append(f"only {res.get('succeeded')} of {calls} calls succeeded")
    gr = res.get("gen_rate")
    if gr is None or gr < 0.95 * rate:
        reasons.append(f"generated {gr:.0f} calls/s < 95 % of {rate}" if gr else "generation rate unknown")
    res["pass"] = not reasons
    res["reasons"] = reasons
    with open(os.path.join(d, "step.json"), "w") as f:
        json.dump(res, f, indent=1)
    print(one_line(res))
    sys.exit(0 if res["pass"] else 1)


def f(v, fmt="{:.0f}", none="-"):
    return none if v is None else fmt.format(v)


def one_line(r):
    return (f"  {r['element']:<10} {r['rate']:>6}/s  {'PASS' if r['pass'] else 'FAIL'}  "
            f"gen {f(r.get('gen_rate'))}/s  ok {f(r.get('succeeded'))}/{r['calls']}  failed {f(r.get('failed'))}  "
            f"cpu {f(r.get('cpu_pct'))}% (sipp {f(r.get('sipp_pct'))}%, other {f(r.get('other_pct'))}%)  {f(r.get('cpu_ms_per_call'), '{:.3f}')} ms/call  "
            f"setup mean {f(r.get('rt_mean_ms'), '{:.2f}')} p95 {f(r.get('rt_p95_ms'))} ms  "
            f"mem {f((r.get('mem_peak_kb') or 0) / 1024, '{:.1f}')} MB  udp drops {f(r.get('udp_drops'))}"
            + ("" if r["pass"] else "  <- " + "; ".join(r["reasons"])))


def cmd_sippstat(args):
    d, prefix = args[0], args[1]
    p = _one(os.path.join(d, prefix + "_*_.csv"))
    st = stat_totals(read_stat(p)) if p else None
    if st:
        st.pop("series", None)
    print(json.dumps(st))


# ----------------------------------------------------------------------------------------
# report

def load_steps(run):
    steps = []
    for p in sorted(glob.glob(os.path.join(run, "*", "*", "step.json"))):
        try:
            steps.append(json.load(open(p)))
        except (OSError, ValueError):
            pass
    steps.sort(key=lambda r: (r.get("seq", 0)))
    return steps


def table(rows, element, mem_label):
    hdr = ("| rate (calls/s) | result | generated/s | calls ok / planned | failed | concurrent (max) "
           "| CPU avg | SIPp / other CPU | CPU per call | setup mean | p50 / p95 / p99 | " + mem_label + " | UDP rcvbuf drops |")
    sep = "|" + "|".join(["---"] * (hdr.count("|") - 1)) + "|"
    out = [hdr, sep]
    for r in rows:
        kind = r.get("kind", "step")
        label = f"{r['rate']:,}" + (" (retry)" if r.get("attempt", 1) > 1 else "") + (" (peak/2)" if kind == "half" else "")
        res = "pass" if r["pass"] else "FAIL: " + "; ".join(r["reasons"])
        out.append(
            f"| {label} | {res} | {f(r.get('gen_rate'), '{:,.0f}')} | {f(r.get('succeeded'), '{:,}')} / {r['calls']:,} "
            f"| {f(r.get('failed'))} | {f(r.get('max_current'), '{:,}')} | {f(r.get('cpu_pct'))} % | {f(r.get('sipp_pct'))} / {f(r.get('other_pct'))} % "
            f"| {f(r.get('cpu_ms_per_call'), '{:.3f}')} ms | {f(r.get('rt_mean_ms'), '{:.2f}')} ms "
            f"| {f(r.get('rt_p50_ms'))} / {f(r.get('rt_p95_ms'))} / {f(r.get('rt_p99_ms'))} ms "
            f"| {f((r.get('mem_peak_kb') or 0) / 1024, '{:,.1f}')} MB | {f(r.get('udp_drops'), '{:,}')} |")
    return "\n".join(out)


def best(rows):
    ok = [r for r in rows if r["pass"] and r.get("kind", "step") == "step"]
    return max(ok, key=lambda r: r["rate"]) if ok else None


def cmd_report(args):
    run = args[0]
    info = {}
    try:
        info = json.load(open(os.path.join(run, "run.json")))
    except (OSError, ValueError):
        pass
    extra = {}
    for p in glob.glob(os.path.join(run, "*", "extra.json")):
        try:
            extra[os.path.basename(os.path.dirname(p))] = json.load(open(p))
        except (OSError, ValueError):
            pass
    steps = load_steps(run)
    by = {}
    for r in steps:
        by.setdefault(r["element"], []).append(r)

    md = [f"# SIPp signalling load: {info.get('started', '')}", ""]
    md.append(f"Host: {info.get('host', '')}; {info.get('cpus', '?')} CPUs; {info.get('mode', '')}; "
              f"{info.get('step_s', '?')} s steps, calls held 1 s; a step passes with 0 failed calls, every planned "
              "call completed and >= 95 % of the rate generated. CPU = utime+stime of all the element's "
              "processes/threads from /proc (100 % = one core; 'SIPp' is the UAC and UAS together, 'other' the rest of the machine's busy time meanwhile: other processes such as builds, and kernel work not charged to a process); CPU per call counts from the step's start until "
              "the end of the pause after it (so deferred transaction clean-up is included). Set-up = INVITE->200 at "
              "the UAC (SIPp rtd; SIPp's clock advances in ticks, 4 ms steps on the 2-CPU VMs this was written on, "
              "so p50/p95/p99 are multiples of the tick and only the mean resolves below it). SIPp UAC, SIPp UAS and the element share the same CPUs. 'UDP rcvbuf drops' is the kernel's RcvbufErrors counter over the step (all sockets): datagrams lost because a receiver's socket buffer was full.")
    if info.get("load_before"):
        md.append(f"Load average when the run started: {info['load_before']}.")
    if info.get("nice"):
        md.append(f"Elements and SIPp ran at nice {info['nice']} (BENCH_NICE) to lessen the effect of other work on the machine.")
    md.append("")
    labels = {"kamailio": ("Kamailio 5.6 stateful proxy (`-n 2 -m 1024 -M 8`)", "memory (PSS, all processes)"),
              "switchyard": ("Switchyard B2BUA", "memory (RSS)")}
    for el in ("kamailio", "switchyard"):
        rows = by.get(el)
        title, mem_label = labels[el]
        md.append(f"## {title}")
        md.append("")
        ex = extra.get(el, {})
        if ex.get("skipped"):
            md.append(f"Not measured: {ex['skipped']}")
            md.append("")
            continue
        if not rows:
            md.append("No steps recorded.")
            md.append("")
            continue
        md.append(table(rows, el, mem_label))
        md.append("")
        b = best(rows)
        md.append(f"Highest rate passed: **{f(b and b['rate'], '{:,}')} calls/s**" +
                  (f" (CPU {f(b.get('cpu_pct'))} %, {f(b.get('cpu_ms_per_call'), '{:.3f}')} ms CPU per call, "
                   f"set-up mean {f(b.get('rt_mean_ms'), '{:.2f}')} ms)" if b else ""))
        if el == "switchyard":
            md.extend(switch_extras(rows, ex, b))
        elif ex.get("idle_pss_kb"):
            md.append(f"Idle memory before the steps: PSS {ex['idle_pss_kb'] / 1024:,.1f} MB "
                      f"(RSS {ex.get('idle_rss_kb', 0) / 1024:,.1f} MB) over {ex.get('nproc', '?')} processes.")
        for note in ex.get("notes", []):
            md.append(f"- {note}")
        md.append("")

    kb = best(by.get("kamailio", []))
    sb = best(by.get("switchyard", []))
    md.append("## Switchyard against Kamailio, this run")
    md.append("")
    if kb and sb:
        md.append(f"| measure | Kamailio | Switchyard | ratio switchyard/kamailio |")
        md.append("|---|---|---|---|")
        md.append(f"| highest rate with 0 failed calls | {kb['rate']:,}/s | {sb['rate']:,}/s | {sb['rate'] / kb['rate']:.2f} |")
        kc, sc = kb.get("cpu_ms_per_call"), sb.get("cpu_ms_per_call")
        md.append(f"| CPU per call at its highest rate | {f(kc, '{:.3f}')} ms | {f(sc, '{:.3f}')} ms | "
                  f"{f(sc / kc if kc and sc else None, '{:.2f}')} |")
        # CPU per call at a rate both passed (the same load).
        common = sorted({r["rate"] for r in by["kamailio"] if r["pass"]} & {r["rate"] for r in by["switchyard"] if r["pass"] and r.get("kind", "step") == "step"})
        if common:
            rr = common[-1]
            k2 = next(r for r in by["kamailio"] if r["pass"] and r["rate"] == rr)
            s2 = next(r for r in by["switchyard"] if r["pass"] and r["rate"] == rr and r.get("kind", "step") == "step")
            kc2, sc2 = k2.get("cpu_ms_per_call"), s2.get("cpu_ms_per_call")
            md.append(f"| CPU per call at {rr:,}/s (both passed) | {f(kc2, '{:.3f}')} ms | {f(sc2, '{:.3f}')} ms | "
                      f"{f(sc2 / kc2 if kc2 and sc2 else None, '{:.2f}')} |")
            km, sm = k2.get("rt_mean_ms"), s2.get("rt_mean_ms")
            md.append(f"| set-up mean at {rr:,}/s | {f(km, '{:.2f}')} ms | {f(sm, '{:.2f}')} ms | "
                      f"{f(sm / km if km and sm else None, '{:.2f}')} |")
            md.append(f"| set-up p95 at {rr:,}/s | {f(k2.get('rt_p95_ms'))} ms | {f(s2.get('rt_p95_ms'))} ms | |")
        km, sm = kb.get("rt_mean_ms"), sb.get("rt_mean_ms")
        md.append(f"| set-up mean at its highest rate | {f(km, '{:.2f}')} ms | {f(sm, '{:.2f}')} ms | "
                  f"{f(sm / km if km and sm else None, '{:.2f}')} |")
        md.append(f"| memory at its highest rate | {f(kb.get('mem_peak_kb', 0) / 1024, '{:,.0f}')} MB PSS | "
                  f"{f(sb.get('mem_peak_kb', 0) / 1024, '{:,.0f}')} MB RSS | |")
    else:
        md.append("No ratio: " + ("Kamailio passed no step. " if not kb else "") + ("Switchyard passed no step." if not sb else ""))
    md.append("")
    md.extend(goals(kb, sb, by.get("switchyard", []), extra.get("switchyard", {})))
    text = "\n".join(md) + "\n"
    with open(os.path.join(run, "summary.md"), "w") as fh:
        fh.write(text)
    print(text)


def switch_extras(rows, ex, b):
    out = []
    half = [r for r in rows if r.get("kind") == "half"]
    if half:
        h = half[-1]
        out.append(f"Set-up latency at half the peak ({h['rate']:,} calls/s): mean {f(h.get('rt_mean_ms'), '{:.2f}')} ms, "
                   f"p50 {f(h.get('rt_p50_ms'))} ms, p95 {f(h.get('rt_p95_ms'))} ms, p99 {f(h.get('rt_p99_ms'))} ms"
                   + ("" if h["pass"] else " (that step FAILED: " + "; ".join(h["reasons"]) + ")"))
    if b and b.get("kb_per_call") is not None:
        out.append(f"Memory per call in progress at {b['rate']:,}/s: (peak RSS {b['rss_peak_kb'] / 1024:,.1f} MB - "
                   f"RSS before the call steps {ex.get('calls_idle_rss_kb', 0) / 1024:,.1f} MB) / "
                   f"{b['max_current']:,} concurrent calls = **{b['kb_per_call']:.1f} KB** "
                   f"(at the moment of most concurrent calls: {f(b.get('kb_per_call_at_max'), '{:.1f}')} KB). "
                   "The peak includes finished transactions the switch keeps for up to 32 s.")
    reg = ex.get("register")
    if reg:
        if reg.get("per_user_kb") is not None:
            out.append(f"Registered users: {reg.get('succeeded', 0):,} of {reg['users']:,} REGISTERs (with digest) "
                       f"succeeded, {reg.get('failed', 0):,} failed, at {reg.get('rate')}/s; RSS {reg['rss_before_kb'] / 1024:,.1f} MB "
                       f"before, {reg['rss_after_kb'] / 1024:,.1f} MB {reg.get('after_wait_s', '?')} s after "
                       f"({reg.get('rss_right_after_kb', 0) / 1024:,.1f} MB right after) = **{reg['per_user_kb']:.2f} KB per "
                       "registered user**.")
        else:
            out.append(f"Registration test: {reg}")
    if ex.get("rss_before_calls_kb") is not None:
        out.append(f"Memory back after the calls? RSS before the first call step {ex['rss_before_calls_kb'] / 1024:,.1f} MB; "
                   f"15 s after the last step {f(ex.get('rss_after15_kb', 0) / 1024, '{:,.1f}')} MB; "
                   f"35 s after {f(ex.get('rss_after35_kb', 0) / 1024, '{:,.1f}')} MB; "
                   f"peak during the call steps {max((r.get('rss_peak_kb') or 0) for r in rows) / 1024:,.1f} MB.")
    if ex.get("idle_rss_kb") is not None:
        out.append(f"RSS right after start (config with {ex.get('users', '?'):,} users): {ex['idle_rss_kb'] / 1024:,.1f} MB.")
    return out


def goals(kb, sb, srows, ex):
    out = ["## Goals (issue) against this run", ""]
    def line(ok, text):
        out.append(f"- [{'x' if ok else ' '}] {text}")
    if sb:
        line(kb is not None and sb["rate"] >= kb["rate"] and sb["rate"] >= 2000,
             f"rate >= Kamailio's in the same run and >= 2,000/s: switchyard {sb['rate']:,}/s, "
             f"kamailio {f(kb and kb['rate'], '{:,}')}/s")
        c = sb.get("cpu_ms_per_call")
        line(c is not None and c < 0.2, f"CPU per call < 0.2 ms: {f(c, '{:.3f}')} ms at {sb['rate']:,}/s")
    else:
        line(False, "rate >= Kamailio's and >= 2,000/s: switchyard passed no step")
        line(False, "CPU per call < 0.2 ms: not measured")
    half = [r for r in srows if r.get("kind") == "half"]
    if half:
        h = half[-1]
        p95 = h.get("rt_p95_ms")
        m = h.get("rt_mean_ms")
        line(h["pass"] and m is not None and m < 2,
             f"set-up < 2 ms at half the peak ({h['rate']:,}/s): mean {f(m, '{:.2f}')} ms "
             f"(p95 {f(p95)} ms, in SIPp clock ticks)")
    else:
        line(False, "set-up < 2 ms at half the peak: not measured")
    reg = ex.get("register") or {}
    pu = reg.get("per_user_kb")
    line(pu is not None and pu <= 2.0, f"<= 2 KB per registered user: {f(pu, '{:.2f}')} KB")
    pc = sb.get("kb_per_call") if sb else None
    line(pc is not None and pc <= 20.0, f"<= 20 KB per call in progress: {f(pc, '{:.1f}')} KB")
    b, a = ex.get("rss_before_calls_kb"), ex.get("rss_after35_kb")
    if b and a:
        grow = a - b
        line(grow <= max(1024, 0.05 * b), f"memory back to its level before the calls: before {b / 1024:,.1f} MB, "
             f"35 s after the last step {a / 1024:,.1f} MB ({grow / 1024:+,.1f} MB; counted as back within "
             "max(1 MB, 5 %))")
    else:
        line(False, "memory back to its level before the run: not measured")
    out.append("")
    return out


def main():
    if len(sys.argv) < 2:
        print(__doc__)
        sys.exit(2)
    cmd, args = sys.argv[1], sys.argv[2:]
    {"snap": cmd_snap, "sample": cmd_sample, "step": cmd_step, "sippstat": cmd_sippstat,
     "report": cmd_report}[cmd](args)


if __name__ == "__main__":
    main()
