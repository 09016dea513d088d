//! Shared harness for the media peer tests (`tests/media-sipp.rs`, `tests/media-baresip.rs`,
//! `tests/media-dtmf.rs`): a tshark capture of the RTP around the switch, RTP read back from
//! it (tshark's RTP dissector), G.711 decoding, RFC 4733 event payloads, audio alignment by
//! cross-correlation, and headless baresip phones with codec choice and `snd_path`
//! recording.
//!
//! Everything runs on 127.0.0.1; the switch, SIPp and baresip come from `tests/common`.
//! Audio files are made with espeak-ng and sox, which the tests `require`.

#![allow(dead_code)]

use std::fs::{self, File};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::common::{self, HOST, baresip_command, read_lossy, require, run_with_timeout, tail, wait_until};

// ------------------------------------------------------------------------------------------
// Capture
// ------------------------------------------------------------------------------------------

/// A running `tshark -i lo` writing a pcap file.
pub struct Capture {
    child: Option<Child>,
    /// The pcap file being written.
    pub file: PathBuf,
    log: PathBuf,
}

impl Capture {
    /// Starts capturing UDP on the loopback interface with the BPF `filter` into
    /// `dir/<name>.pcap`, and waits until tshark says it is capturing.
    pub fn start(dir: &Path, name: &str, filter: &str) -> Capture {
        require("tshark");
        let file = dir.join(format!("{name}.pcap"));
        let log = dir.join(format!("{name}.tshark.log"));
        let out = File::create(&log).expect("tshark log");
        let child = Command::new("tshark")
            .args(["-i", "lo", "-n", "-q", "-F", "pcap", "-f", filter, "-w"])
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::from(out.try_clone().unwrap()))
            .stderr(Stdio::from(out))
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start tshark: {e}"));
        let mut cap = Capture {
            child: Some(child),
            file,
            log,
        };
        let ok = wait_until(Duration::from_secs(15), || read_lossy(&cap.log).contains("Capturing on"));
        if !ok {
            let text = read_lossy(&cap.log);
            cap.kill();
            panic!("tshark did not start capturing within 15 s:\n{}", tail(&text, 20));
        }
        // dumpcap prints the line as it opens the interface; give it a moment to run.
        std::thread::sleep(Duration::from_millis(500));
        cap
    }

    /// Stops the capture (SIGINT, so that the file is complete) and returns the pcap path.
    pub fn stop(mut self) -> PathBuf {
        // Let the last packets in flight reach the file.
        std::thread::sleep(Duration::from_millis(500));
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on our own unreaped child.
            unsafe {
                libc::kill(c.id() as libc::pid_t, libc::SIGINT);
            }
            if !wait_until(Duration::from_secs(10), || c.try_wait().ok().flatten().is_some()) {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
        self.file.clone()
    }

    fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

impl Drop for Capture {
    fn drop(&mut self) {
        self.kill();
    }
}

/// One RTP packet read back from a capture.
#[derive(Debug, Clone)]
pub struct Rtp {
    /// Seconds since the capture's first packet.
    pub time: f64,
    /// UDP source port.
    pub src: u16,
    /// UDP destination port.
    pub dst: u16,
    /// Payload type.
    pub pt: u8,
    /// Marker bit.
    pub marker: bool,
    /// Sequence number.
    pub seq: u16,
    /// RTP timestamp.
    pub ts: u32,
    /// SSRC.
    pub ssrc: u32,
    /// Payload bytes (for RFC 4733 packets rebuilt from tshark's event fields when the
    /// rtpevent dissector took the payload).
    pub payload: Vec<u8>,
}

/// Every RTP packet in `pcap` on the UDP `ports` (each decoded as RTP with tshark's
/// `-d udp.port==P,rtp`; RTCP on the odd ports is left out because only even ports are
/// given). Packets are in capture order.
pub fn read_rtp(pcap: &Path, ports: &[u16]) -> Vec<Rtp> {
    require("tshark");
    let mut cmd = Command::new("tshark");
    cmd.arg("-r").arg(pcap).args(["-n", "-Y", "rtp"]);
    for p in ports {
        cmd.args(["-d", &format!("udp.port=={p},rtp")]);
    }
    cmd.args(["-T", "fields", "-E", "separator=/t", "-E", "occurrence=f"]);
    for f in [
        "frame.time_relative",
        "udp.srcport",
        "udp.dstport",
        "rtp.p_type",
        "rtp.marker",
        "rtp.seq",
        "rtp.timestamp",
        "rtp.ssrc",
        "rtp.payload",
        "rtpevent.event_id",
        "rtpevent.end_of_event",
        "rtpevent.volume",
        "rtpevent.duration",
    ] {
        cmd.args(["-e", f]);
    }
    let (status, out) = run_with_timeout(&mut cmd, Duration::from_secs(60));
    assert!(
        status.is_some_and(|s| s.success()),
        "tshark could not read {}: {}",
        pcap.display(),
        tail(&out, 10)
    );
    out.lines().filter_map(parse_rtp_line).collect()
}

fn parse_rtp_line(line: &str) -> Option<Rtp> {
    let f: Vec<&str> = line.split('\t').collect();
    if f.len() < 9 {
        return None;
    }
    let num = |s: &str| -> Option<u64> {
        let s = s.trim();
        if let Some(h) = s.strip_prefix("0x") {
            u64::from_str_radix(h, 16).ok()
        } else {
            s.parse().ok()
        }
    };
    let flag = |s: &str| matches!(s.trim(), "1" | "True" | "true");
    let mut payload = hex_bytes(f[8]);
    // The rtpevent dissector takes PT 101 (its default) and leaves no rtp.payload: rebuild
    // the RFC 4733 payload (event, E/R/volume, duration) from its fields.
    if payload.is_empty() && f.len() >= 13 && !f[9].trim().is_empty() {
        let event = num(f[9])? as u8;
        let end = flag(f[10]);
        let volume = num(f[11]).unwrap_or(0) as u8 & 0x3f;
        let duration = num(f[12]).unwrap_or(0) as u16;
        payload = vec![event, if end { 0x80 } else { 0 } | volume, (duration >> 8) as u8, duration as u8];
    }
    Some(Rtp {
        time: f[0].trim().parse().ok()?,
        src: num(f[1])? as u16,
        dst: num(f[2])? as u16,
        pt: num(f[3])? as u8,
        marker: flag(f[4]),
        seq: num(f[5])? as u16,
        ts: num(f[6])? as u32,
        ssrc: num(f[7])? as u32,
        payload,
    })
}

fn hex_bytes(s: &str) -> Vec<u8> {
    let h: Vec<u8> = s
        .bytes()
        .filter(|b| b.is_ascii_hexdigit())
        .map(|b| (b as char).to_digit(16).unwrap_or(0) as u8)
        .collect();
    h.chunks_exact(2).map(|c| (c[0] << 4) | c[1]).collect()
}

/// Packets from `src` (any port when None) to `dst` (any when None).
pub fn flow(pkts: &[Rtp], src: Option<u16>, dst: Option<u16>) -> Vec<&Rtp> {
    pkts.iter()
        .filter(|p| src.is_none_or(|s| p.src == s) && dst.is_none_or(|d| p.dst == d))
        .collect()
}

/// How many of `pkts` have payload type `pt`.
pub fn count_pt(pkts: &[&Rtp], pt: u8) -> usize {
    pkts.iter().filter(|p| p.pt == pt).count()
}

/// Payload types seen in `pkts`, with counts, for messages.
pub fn pt_histogram(pkts: &[&Rtp]) -> Vec<(u8, usize)> {
    let mut h: Vec<(u8, usize)> = Vec::new();
    for p in pkts {
        match h.iter_mut().find(|(pt, _)| *pt == p.pt) {
            Some((_, n)) => *n += 1,
            None => h.push((p.pt, 1)),
        }
    }
    h.sort_unstable();
    h
}

/// `a` and `b` agree within `tolerance` (a fraction of the larger).
pub fn within(a: usize, b: usize, tolerance: f64) -> bool {
    let max = a.max(b) as f64;
    (a as f64 - b as f64).abs() <= max * tolerance
}

// ------------------------------------------------------------------------------------------
// RFC 4733
// ------------------------------------------------------------------------------------------

/// One telephone-event as a receiver sees it: all packets sharing an RTP timestamp.
#[derive(Debug, Clone, PartialEq)]
pub struct Event {
    /// Event code (0-9 digits, 10 `*`, 11 `#`, 12-15 A-D).
    pub code: u8,
    /// The RTP timestamp of its start.
    pub ts: u32,
    /// Packets carrying it.
    pub packets: usize,
    /// An end packet (E bit) was seen.
    pub ended: bool,
    /// Largest duration field, in timestamp units.
    pub duration: u16,
    /// The first packet had the marker bit.
    pub marker: bool,
}

/// The events carried by `pkts` with payload type `pt`, in order of first appearance.
pub fn events(pkts: &[&Rtp], pt: u8) -> Vec<Event> {
    let mut out: Vec<Event> = Vec::new();
    for p in pkts.iter().filter(|p| p.pt == pt && p.payload.len() >= 4) {
        let (code, end, dur) = (
            p.payload[0],
            p.payload[1] & 0x80 != 0,
            u16::from_be_bytes([p.payload[2], p.payload[3]]),
        );
        match out.iter_mut().find(|e| e.ts == p.ts && e.code == code) {
            Some(e) => {
                e.packets += 1;
                e.ended |= end;
                e.duration = e.duration.max(dur);
            }
            None => out.push(Event {
                code,
                ts: p.ts,
                packets: 1,
                ended: end,
                duration: dur,
                marker: p.marker,
            }),
        }
    }
    out
}

/// The digit an RFC 4733 event code stands for.
pub fn event_digit(code: u8) -> char {
    match code {
        0..=9 => char::from(b'0' + code),
        10 => '*',
        11 => '#',
        12..=15 => char::from(b'A' + code - 12),
        _ => '?',
    }
}

// ------------------------------------------------------------------------------------------
// Audio
// ------------------------------------------------------------------------------------------

/// G.711 mu-law byte to linear (16-bit range).
pub fn ulaw_to_linear(b: u8) -> i16 {
    let u = !b;
    let exp = (u >> 4) & 7;
    let mant = i32::from(u & 0x0f);
    let mag = (((mant << 3) + 0x84) << exp) - 0x84;
    if u & 0x80 != 0 { -mag as i16 } else { mag as i16 }
}

/// G.711 A-law byte to linear (16-bit range).
pub fn alaw_to_linear(b: u8) -> i16 {
    let a = b ^ 0x55;
    let exp = (a >> 4) & 7;
    let mant = i32::from(a & 0x0f);
    let mag = if exp == 0 {
        (mant << 4) + 8
    } else {
        ((mant << 4) + 0x108) << (exp - 1)
    };
    if a & 0x80 != 0 { mag as i16 } else { -mag as i16 }
}

/// The G.711 stream of payload type `pt` in `pkts`, laid out on its RTP timestamps (one
/// SSRC: the first packet's), gaps left silent. Returns the samples and how many were
/// actually received.
pub fn g711_timeline(pkts: &[&Rtp], pt: u8) -> (Vec<f32>, usize) {
    let decode: fn(u8) -> i16 = match pt {
        0 => ulaw_to_linear,
        8 => alaw_to_linear,
        _ => panic!("not a G.711 payload type: {pt}"),
    };
    let audio: Vec<&&Rtp> = pkts.iter().filter(|p| p.pt == pt).collect();
    let Some(first) = audio.first() else {
        return (Vec::new(), 0);
    };
    let ssrc = first.ssrc;
    let ts0 = audio
        .iter()
        .filter(|p| p.ssrc == ssrc)
        .map(|p| p.ts.wrapping_sub(first.ts) as i32)
        .min()
        .unwrap_or(0);
    let base = first.ts.wrapping_add(ts0 as u32);
    let mut out: Vec<f32> = Vec::new();
    let mut got = 0;
    for p in audio.iter().filter(|p| p.ssrc == ssrc) {
        let off = p.ts.wrapping_sub(base) as usize;
        if off > 8000 * 600 {
            continue; // not plausible within one test call
        }
        if out.len() < off + p.payload.len() {
            out.resize(off + p.payload.len(), 0.0);
        }
        for (i, &b) in p.payload.iter().enumerate() {
            out[off + i] = f32::from(decode(b));
        }
        got += p.payload.len();
    }
    (out, got)
}

/// Where `signal` best matches `reference`, and how well.
#[derive(Debug, Clone, Copy)]
pub struct Alignment {
    /// `signal[i + lag]` lines up with `reference[i]` (samples).
    pub lag: i64,
    /// Normalized correlation over the overlap at that lag (1.0 = identical up to gain).
    pub corr: f64,
    /// Energy of the signal over that of the reference on the overlap, in dB.
    pub gain_db: f64,
}

/// Finds the lag in `-max_lag..=max_lag` that maximizes the normalized correlation of
/// `signal` against `reference`: a coarse search on 4x decimated envelopes-free averages,
/// refined at full rate around the best coarse lag.
pub fn align(reference: &[f32], signal: &[f32], max_lag: usize) -> Alignment {
    let dec = |x: &[f32]| -> Vec<f32> { x.chunks(4).map(|c| c.iter().sum::<f32>() / c.len() as f32).collect() };
    let (r4, s4) = (dec(reference), dec(signal));
    let coarse = (max_lag / 4) as i64;
    let mut best = (0i64, f64::MIN);
    for lag in -coarse..=coarse {
        let c = ncc(&r4, &s4, lag).0;
        if c > best.1 {
            best = (lag, c);
        }
    }
    let mut fine = (best.0 * 4, f64::MIN, 0.0);
    for lag in best.0 * 4 - 8..=best.0 * 4 + 8 {
        if lag.unsigned_abs() as usize > max_lag {
            continue;
        }
        let (c, g) = ncc(reference, signal, lag);
        if c > fine.1 {
            fine = (lag, c, g);
        }
    }
    Alignment {
        lag: fine.0,
        corr: fine.1,
        gain_db: fine.2,
    }
}

/// Normalized correlation of `r[i]` with `s[i + lag]` over their overlap, and the energy
/// ratio s/r in dB.
fn ncc(r: &[f32], s: &[f32], lag: i64) -> (f64, f64) {
    let (mut xy, mut xx, mut yy) = (0f64, 0f64, 0f64);
    let start = if lag < 0 { (-lag) as usize } else { 0 };
    for (i, &x) in r.iter().enumerate().skip(start) {
        let j = i as i64 + lag;
        if j < 0 {
            continue;
        }
        let Some(&y) = s.get(j as usize) else { break };
        xy += f64::from(x) * f64::from(y);
        xx += f64::from(x) * f64::from(x);
        yy += f64::from(y) * f64::from(y);
    }
    if xx <= 0.0 || yy <= 0.0 {
        return (0.0, f64::NEG_INFINITY);
    }
    (xy / (xx * yy).sqrt(), 10.0 * (yy / xx).log10())
}

/// One window of a segmental comparison.
#[derive(Debug, Clone, Copy)]
pub struct Segment {
    /// Start of the window in the reference, seconds.
    pub t: f64,
    /// Best local lag (samples), as in [`Alignment::lag`].
    pub lag: i64,
    /// Normalized correlation at that lag.
    pub corr: f64,
    /// Energy of the reference window (weight).
    pub energy: f64,
}

/// Compares `signal` with `reference` window by window (`window` samples of the reference
/// that hold speech, louder than -45 dBFS), each at its own best lag within `search`
/// samples of `global_lag`. A jitter buffer that stretches or squeezes time moves the
/// local lag; the audio itself shows in the local correlation. Where the correlation at
/// the previous window's lag is within 0.02 of the best, the previous lag is kept, so
/// that voiced speech (periodic) does not make the lag hop by a pitch period.
pub fn segments(reference: &[f32], signal: &[f32], global_lag: i64, window: usize, search: i64) -> Vec<Segment> {
    let mut out: Vec<Segment> = Vec::new();
    let mut start = 0usize;
    while start + window <= reference.len() {
        let r = &reference[start..start + window];
        if rms_dbfs(r) < -45.0 {
            start += window;
            continue;
        }
        let at = |lag: i64| -> Option<f64> {
            let j = start as i64 + lag;
            if j < 0 || j as usize + window > signal.len() {
                return None;
            }
            let s = &signal[j as usize..j as usize + window];
            let (mut xy, mut xx, mut yy) = (0f64, 0f64, 0f64);
            for (&x, &y) in r.iter().zip(s) {
                xy += f64::from(x) * f64::from(y);
                xx += f64::from(x) * f64::from(x);
                yy += f64::from(y) * f64::from(y);
            }
            (xx > 0.0 && yy > 0.0).then(|| xy / (xx * yy).sqrt())
        };
        let mut best: Option<(i64, f64)> = None;
        for lag in global_lag - search..=global_lag + search {
            if let Some(c) = at(lag) {
                if best.is_none_or(|(_, b)| c > b) {
                    best = Some((lag, c));
                }
            }
        }
        if let Some((mut lag, mut corr)) = best {
            if let Some(prev) = out.last() {
                if let Some(c) = at(prev.lag) {
                    if c >= corr - 0.02 {
                        (lag, corr) = (prev.lag, c);
                    }
                }
            }
            let energy = r.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
            out.push(Segment {
                t: start as f64 / 8000.0,
                lag,
                corr,
                energy,
            });
        }
        start += window;
    }
    out
}

/// Energy-weighted mean of the windows' correlations.
pub fn segmental_corr(segs: &[Segment]) -> f64 {
    let w: f64 = segs.iter().map(|s| s.energy).sum();
    if w <= 0.0 {
        return 0.0;
    }
    segs.iter().map(|s| s.corr * s.energy).sum::<f64>() / w
}

/// How much time was taken out of (`squeezed_ms`) and put into (`stretched_ms`) the
/// signal between windows that both match well (correlation ≥ 0.7), at 8 kHz.
pub fn time_warp(segs: &[Segment]) -> (f64, f64) {
    let good: Vec<&Segment> = segs.iter().filter(|s| s.corr >= 0.7).collect();
    let (mut squeezed, mut stretched) = (0i64, 0i64);
    for w in good.windows(2) {
        let d = w[1].lag - w[0].lag;
        if d < 0 {
            squeezed -= d;
        } else {
            stretched += d;
        }
    }
    (squeezed as f64 / 8.0, stretched as f64 / 8.0)
}

/// Writes mono 16-bit PCM as a WAV file (the switch's own writer: the files are test input).
pub fn write_wav(path: &Path, rate: u32, samples: &[i16]) {
    switchyard::media::wav::write(path, samples, rate).expect("write wav");
}

/// The audio of the `pt` packets in `pkts` (one stream, in the order sent), decoded with
/// the codec crate's decoder for `kind`, laid out on the RTP timestamps (gaps silent), and
/// brought to 8 kHz mono by sox through `dir/<name>.wav`. What a switch put on the wire,
/// before any receiver's own playout buffer touched it.
pub fn wire_audio_8k(pkts: &[&Rtp], pt: u8, kind: switchyard_codecs::CodecKind, dir: &Path, name: &str) -> Vec<f32> {
    let mut dec = switchyard_codecs::codec::decoder(kind).expect("decoder");
    let (rate, clock) = (kind.sample_rate(), kind.rtp_clock_rate());
    let audio: Vec<&&Rtp> = pkts.iter().filter(|p| p.pt == pt).collect();
    let Some(first) = audio.first() else {
        return Vec::new();
    };
    let (ssrc, ts0) = (first.ssrc, first.ts);
    let mut out: Vec<i16> = Vec::new();
    let mut pcm = vec![0i16; rate as usize / 10 * 2];
    for p in audio.iter().filter(|p| p.ssrc == ssrc) {
        let off = u64::from(p.ts.wrapping_sub(ts0)) * u64::from(rate) / u64::from(clock);
        if off > u64::from(rate) * 600 {
            continue; // before the first packet (reordered) or implausibly late
        }
        let Ok(n) = dec.decode(&p.payload, &mut pcm) else {
            continue;
        };
        let off = off as usize;
        if out.len() < off + n {
            out.resize(off + n, 0);
        }
        out[off..off + n].copy_from_slice(&pcm[..n]);
    }
    let path = dir.join(format!("{name}.wav"));
    write_wav(&path, rate, &out);
    wav_8k_mono(&path)
}

/// Reads any WAV sox understands as 8 kHz mono samples (sox resamples and mixes down).
pub fn wav_8k_mono(path: &Path) -> Vec<f32> {
    require("sox");
    let raw = path.with_extension("8k.raw");
    let (status, out) = run_with_timeout(
        Command::new("sox")
            .arg(path)
            .args(["-r", "8000", "-c", "1", "-b", "16", "-e", "signed-integer", "-t", "raw"])
            .arg(&raw),
        Duration::from_secs(30),
    );
    assert!(
        status.is_some_and(|s| s.success()),
        "sox could not convert {}: {out}",
        path.display()
    );
    let bytes = fs::read(&raw).expect("sox output");
    bytes.chunks_exact(2).map(|c| f32::from(i16::from_le_bytes([c[0], c[1]]))).collect()
}

/// RMS level of `x` in dBFS (16-bit full scale).
pub fn rms_dbfs(x: &[f32]) -> f64 {
    if x.is_empty() {
        return f64::NEG_INFINITY;
    }
    let e: f64 = x.iter().map(|&v| f64::from(v) * f64::from(v)).sum::<f64>() / x.len() as f64;
    10.0 * (e / (32768.0f64 * 32768.0)).log10()
}

/// Runs sox with `args`, failing the test with its output on error.
pub fn sox(args: &[&str]) {
    require("sox");
    let (status, out) = run_with_timeout(Command::new("sox").args(args), Duration::from_secs(60));
    assert!(status.is_some_and(|s| s.success()), "sox {args:?} failed: {out}");
}

/// Speaks `text` with espeak-ng into `path` at `rate` Hz and `channels`, after `lead`
/// seconds of silence and padded with silence to `total` seconds (the speech must fit).
pub fn speech_wav(path: &Path, text: &str, rate: u32, channels: u32, lead: f64, total: f64) {
    require("espeak-ng");
    let raw = path.with_extension("espeak.wav");
    let (status, out) = run_with_timeout(
        Command::new("espeak-ng").args(["-v", "en-us", "-w"]).arg(&raw).arg(text),
        Duration::from_secs(60),
    );
    assert!(status.is_some_and(|s| s.success()), "espeak-ng failed: {out}");
    let (raw, path) = (raw.display().to_string(), path.display().to_string());
    let (rate, channels, lead_s, total_s) = (rate.to_string(), channels.to_string(), lead.to_string(), total.to_string());
    sox(&[
        &raw,
        "-r",
        &rate,
        "-c",
        &channels,
        "-b",
        "16",
        "-e",
        "signed-integer",
        &path,
        "pad",
        &lead_s,
        &total_s,
        "trim",
        "0",
        &total_s,
    ]);
}

/// The DTMF frequency pair of a digit (ITU-T Q.23).
pub fn dtmf_freqs(digit: char) -> (u32, u32) {
    let rows = [697, 770, 852, 941];
    let cols = [1209, 1336, 1477, 1633];
    let (r, c) = match digit {
        '1' => (0, 0),
        '2' => (0, 1),
        '3' => (0, 2),
        'A' => (0, 3),
        '4' => (1, 0),
        '5' => (1, 1),
        '6' => (1, 2),
        'B' => (1, 3),
        '7' => (2, 0),
        '8' => (2, 1),
        '9' => (2, 2),
        'C' => (2, 3),
        '*' => (3, 0),
        '0' => (3, 1),
        '#' => (3, 2),
        'D' => (3, 3),
        _ => panic!("no DTMF digit {digit:?}"),
    };
    (rows[r], cols[c])
}

/// Writes an 8 kHz mu-law WAV (what SIPp's `rtp_stream` plays as PCMU): `lead` s of
/// silence, then per digit a `tone_ms` tone pair (the pair peaking at `level_dbfs`) and a
/// `gap_ms` gap, then `trail` s of silence. Made of sox `synth` pieces.
pub fn dtmf_ulaw_wav(path: &Path, digits: &str, tone_ms: u32, gap_ms: u32, level_dbfs: f64, lead: f64, trail: f64) {
    let dir = path.parent().expect("file in a directory");
    let mut parts: Vec<String> = Vec::new();
    let silence = |name: &str, secs: f64| -> String {
        let p = dir.join(name).display().to_string();
        sox(&[
            "-n",
            "-r",
            "8000",
            "-c",
            "1",
            "-b",
            "16",
            "-e",
            "signed-integer",
            &p,
            "trim",
            "0",
            &secs.to_string(),
        ]);
        p
    };
    parts.push(silence("dtmf-lead.wav", lead));
    for (i, d) in digits.chars().enumerate() {
        let (lo, hi) = dtmf_freqs(d);
        let p = dir.join(format!("dtmf-{i}.wav")).display().to_string();
        // The two sines (one per channel) summed into one, normalised so that the pair
        // peaks at `level_dbfs`.
        sox(&[
            "-n",
            "-r",
            "8000",
            "-b",
            "16",
            "-e",
            "signed-integer",
            &p,
            "synth",
            &format!("{}", f64::from(tone_ms) / 1000.0),
            "sine",
            &lo.to_string(),
            "sine",
            &hi.to_string(),
            "remix",
            "1,2",
            "gain",
            "-n",
            &format!("{level_dbfs}"),
        ]);
        parts.push(p);
        parts.push(silence(&format!("dtmf-gap-{i}.wav"), f64::from(gap_ms) / 1000.0));
    }
    parts.push(silence("dtmf-trail.wav", trail));
    let mut args: Vec<String> = parts;
    let out = path.display().to_string();
    args.extend(
        ["-r", "8000", "-c", "1", "-e", "u-law", "-b", "8", &out]
            .iter()
            .map(|s| s.to_string()),
    );
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    sox(&refs);
}

/// Power of frequency `f` in `x` (8 kHz), scaled so that a sine's power equals its
/// energy over the frame (Goertzel).
fn goertzel(x: &[f32], f: f64) -> f64 {
    let w = std::f64::consts::TAU * f / 8000.0;
    let coeff = 2.0 * w.cos();
    let (mut s1, mut s2) = (0f64, 0f64);
    for &v in x {
        let s0 = f64::from(v) + coeff * s1 - s2;
        s2 = s1;
        s1 = s0;
    }
    let p = s1 * s1 + s2 * s2 - coeff * s1 * s2;
    2.0 * p / x.len() as f64
}

/// How many 20 ms frames of `signal` (8 kHz) carry `digit`'s DTMF pair: both of its
/// frequencies well above the other six, together at least half the frame's energy, and
/// the frame louder than -40 dBFS.
pub fn tone_frames(signal: &[f32], digit: char) -> usize {
    let (lo, hi) = dtmf_freqs(digit);
    let rows = [697u32, 770, 852, 941];
    let cols = [1209u32, 1336, 1477, 1633];
    signal
        .chunks_exact(160)
        .filter(|frame| {
            if rms_dbfs(frame) < -40.0 {
                return false;
            }
            let energy: f64 = frame.iter().map(|&v| f64::from(v) * f64::from(v)).sum();
            let (pl, ph) = (goertzel(frame, f64::from(lo)), goertzel(frame, f64::from(hi)));
            let others = rows
                .iter()
                .chain(cols.iter())
                .filter(|&&f| f != lo && f != hi)
                .map(|&f| goertzel(frame, f64::from(f)))
                .fold(0f64, f64::max);
            pl > 10.0 * others && ph > 10.0 * others && pl + ph >= 0.5 * energy
        })
        .count()
}

// ------------------------------------------------------------------------------------------
// baresip
// ------------------------------------------------------------------------------------------

/// Fails the test unless baresip and the modules the media tests load are installed.
pub fn require_baresip() {
    require("baresip");
    for m in ["ctrl_tcp", "aufile", "aubridge", "sndfile", "g711", "g722", "opus"] {
        let p = format!("/usr/lib/baresip/modules/{m}.so");
        assert!(
            Path::new(&p).is_file(),
            "baresip module {p} missing: run `scripts/setup.sh` (baresip-core)"
        );
    }
}

/// Ports of one phone: SIP (TLS takes the next one too), ctrl_tcp, and ten RTP ports.
#[derive(Debug, Clone, Copy)]
pub struct PhonePorts {
    /// SIP on UDP/TCP.
    pub sip: u16,
    /// ctrl_tcp.
    pub ctrl: u16,
    /// First of 10 RTP ports.
    pub rtp: u16,
}

/// A headless baresip registered to the switch as `user`.
pub struct Phone {
    /// The user it registers as.
    pub user: String,
    /// Its ports.
    pub ports: PhonePorts,
    /// `snd_path`: `dump-<time>-enc.wav` (what it sent, before encoding) and
    /// `dump-<time>-dec.wav` (what it received, after decoding), at the codec's rate.
    pub rec: PathBuf,
    out: PathBuf,
    child: Option<Child>,
}

impl Phone {
    /// Writes a configuration under `dir/<user>` and starts baresip: codec `codec` (in
    /// full, e.g. `opus/48000/2`), microphone `wav` (which must have the codec's rate and
    /// channels: baresip's aufile does not convert), recordings under `<user>/rec`.
    pub fn start(dir: &Path, switch: u16, user: &str, password: &str, ports: PhonePorts, codec: &str, wav: &Path) -> Phone {
        let home = dir.join(user);
        let rec = home.join("rec");
        fs::create_dir_all(&rec).unwrap();
        let config = format!(
            "poll_method\t\tepoll\n\
             sip_listen\t\t{HOST}:{sip}\n\
             net_interface\t\t{HOST}\n\
             call_local_timeout\t30\n\
             call_max_calls\t\t4\n\
             audio_player\t\taubridge,play{user}\n\
             audio_source\t\taufile,{wav}\n\
             audio_alert\t\taubridge,alert{user}\n\
             rtp_ports\t\t{rtp}-{rtp_end}\n\
             snd_path\t\t{rec}\n\
             module_path\t\t/usr/lib/baresip/modules\n\
             module\t\t\tg711.so\n\
             module\t\t\tg722.so\n\
             module\t\t\topus.so\n\
             module\t\t\taufile.so\n\
             module\t\t\taubridge.so\n\
             module\t\t\tsndfile.so\n\
             module_tmp\t\tuuid.so\n\
             module_tmp\t\taccount.so\n\
             module_app\t\tmenu.so\n\
             module_app\t\tctrl_tcp.so\n\
             ctrl_tcp_listen\t\t{HOST}:{ctrl}\n",
            sip = ports.sip,
            ctrl = ports.ctrl,
            rtp = ports.rtp,
            rtp_end = ports.rtp + 9,
            wav = wav.display(),
            rec = rec.display(),
        );
        fs::write(home.join("config"), config).unwrap();
        fs::write(
            home.join("accounts"),
            format!("<sip:{user}@{HOST}:{switch}>;auth_pass={password};regint=60;answermode=auto;audio_codecs={codec}\n"),
        )
        .unwrap();
        fs::write(home.join("contacts"), "").unwrap();
        let out = dir.join(format!("baresip-{user}.log"));
        let f = File::create(&out).unwrap();
        let child = Command::new("baresip")
            .arg("-f")
            .arg(&home)
            .current_dir(&home)
            .stdin(Stdio::null())
            .stdout(Stdio::from(f.try_clone().unwrap()))
            .stderr(Stdio::from(f))
            .spawn()
            .expect("start baresip");
        Phone {
            user: user.to_owned(),
            ports,
            rec,
            out,
            child: Some(child),
        }
    }

    /// Its console output so far.
    pub fn output(&self) -> String {
        common::strip_ansi(&read_lossy(&self.out))
    }

    /// Sends a ctrl_tcp command; panics with the phone's output when it cannot.
    pub fn cmd(&self, command: &str, params: Option<&str>) -> String {
        baresip_command(self.ports.ctrl, command, params, Duration::from_secs(3))
            .unwrap_or_else(|e| panic!("baresip {} ctrl_tcp {command}: {e}\n{}", self.user, tail(&self.output(), 30)))
    }

    /// Active calls according to `listcalls`.
    pub fn active_calls(&self) -> Option<usize> {
        let r = baresip_command(self.ports.ctrl, "listcalls", None, Duration::from_secs(2)).ok()?;
        let i = r.find("Active calls (")? + "Active calls (".len();
        r[i..].split(')').next()?.parse().ok()
    }

    /// The call was established.
    pub fn established(&self) -> bool {
        self.output().contains("Call established")
    }

    /// The call ended.
    pub fn call_closed(&self) -> bool {
        self.output().contains("terminated (duration")
    }

    /// The recording `dump-*-<kind>.wav` (`enc`: sent, `dec`: received), the newest.
    pub fn recording(&self, kind: &str) -> Option<PathBuf> {
        let suffix = format!("-{kind}.wav");
        let mut files: Vec<PathBuf> = fs::read_dir(&self.rec)
            .ok()?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|p| {
                p.file_name()
                    .and_then(|n| n.to_str())
                    .is_some_and(|n| n.starts_with("dump-") && n.ends_with(&suffix))
            })
            .collect();
        files.sort();
        files.pop()
    }

    /// Stops baresip (SIGTERM, then SIGKILL), so that its recordings are complete.
    pub fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            // SAFETY: kill(2) on our own unreaped child.
            unsafe {
                libc::kill(c.id() as libc::pid_t, libc::SIGTERM);
            }
            if !wait_until(Duration::from_secs(3), || c.try_wait().ok().flatten().is_some()) {
                let _ = c.kill();
                let _ = c.wait();
            }
        }
    }

    /// The end of its output, for failure messages.
    pub fn diag(&self) -> String {
        format!(
            "--- baresip {} output (last 30 lines) ---\n{}",
            self.user,
            tail(&self.output().replace("    [", "\n["), 30)
        )
    }
}

impl Drop for Phone {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The switch logged a registration of `user`.
pub fn registered(sw: &common::Switch, user: &str) -> bool {
    let key = format!("user={user}");
    sw.log()
        .lines()
        .any(|l| l.contains(" registered") && !l.contains("trunk registered") && l.contains(&key))
}
