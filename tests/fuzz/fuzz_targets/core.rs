//! The whole core (transaction layer, registrar, calls) driven by arbitrary
//! datagrams from a few peers and arbitrary jumps of virtual time. Inputs are
//! built around a valid INVITE/REGISTER skeleton so the fuzzer reaches deep
//! states, not just the parser.
#![no_main]

use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant, SystemTime};

use libfuzzer_sys::fuzz_target;
use switchyard::config;
use switchyard::engine::{Engine, LocalAddrs};
use switchyard::sip::transport::{Peer, Transport};

static START: OnceLock<(Instant, SystemTime)> = OnceLock::new();

const SEEDS: [&str; 4] = [
    "INVITE sip:1002@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{n};rport\r\nFrom: <sip:x@127.0.0.1>;tag={n}\r\nTo: <sip:1002@127.0.0.1>\r\nCall-ID: c{n}\r\nCSeq: {n} INVITE\r\nContact: <sip:x@127.0.0.1:5070>\r\nMax-Forwards: 70\r\nContent-Length: 0\r\n\r\n",
    "REGISTER sip:127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{n}\r\nFrom: <sip:1001@127.0.0.1>;tag={n}\r\nTo: <sip:1001@127.0.0.1>\r\nCall-ID: r{n}\r\nCSeq: {n} REGISTER\r\nContact: <sip:1001@127.0.0.1:5070>\r\nContent-Length: 0\r\n\r\n",
    "SIP/2.0 {n} X\r\nVia: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bK{n}\r\nFrom: <sip:a@b>;tag={n}\r\nTo: <sip:c@d>;tag=q\r\nCall-ID: c{n}\r\nCSeq: 1 INVITE\r\nContact: <sip:u@127.0.0.1:5070>\r\nContent-Length: 0\r\n\r\n",
    "BYE sip:x@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{n}\r\nFrom: <sip:a@b>;tag={n}\r\nTo: <sip:c@d>;tag={n}\r\nCall-ID: c{n}\r\nCSeq: {n} BYE\r\nContent-Length: 0\r\n\r\n",
];

fuzz_target!(|data: &[u8]| {
    let (t0, w0) = *START.get_or_init(|| (Instant::now(), SystemTime::now()));
    let cfg = Arc::new(config::embedded_default());
    let mut trunks = HashMap::new();
    for t in &cfg.trunks {
        trunks.insert(t.name.clone(), ([127, 0, 0, 1], t.port).into());
    }
    let Ok(mut core) = Engine::new(cfg.clone(), LocalAddrs::from_config(&cfg), t0, w0, Vec::new(), trunks) else { return };
    let mut now = t0;
    let mut i = 0;
    while i + 2 <= data.len() {
        let (op, arg) = (data[i], data[i + 1]);
        i += 2;
        let peer = Peer { transport: if op & 0x40 != 0 { Transport::Tcp } else { Transport::Udp }, addr: ([127, 0, 0, 1], 5070 + u16::from(arg % 4)).into(), conn: None };
        match op % 4 {
            0 => now += Duration::from_millis(u64::from(arg) * 64),
            1 => {
                // A seed message with a small number substituted and some bytes flipped.
                let mut m = SEEDS[usize::from(arg % 4)].replace("{n}", &(arg / 4).to_string()).into_bytes();
                let flips = data.get(i).copied().unwrap_or(0) % 4;
                for k in 0..usize::from(flips) {
                    if let (Some(&p), Some(&v)) = (data.get(i + 1 + 2 * k), data.get(i + 2 + 2 * k)) {
                        let at = usize::from(p) % m.len();
                        m[at] = v;
                    }
                }
                i += 1 + 2 * usize::from(flips);
                core.handle_input(now, peer, &m);
            }
            2 => {
                let len = usize::from(arg).min(data.len() - i);
                core.handle_input(now, peer, &data[i..i + len]);
                i += len;
            }
            _ => {
                if let Some(t) = core.poll_timeout() {
                    now = now.max(t);
                }
                core.handle_timeout(now);
            }
        }
        while core.poll_transmit().is_some() {}
        while core.poll_store().is_some() {}
    }
    // Let every timer run out: the core must wind down without panicking.
    for _ in 0..64 {
        let Some(t) = core.poll_timeout() else { break };
        now = now.max(t) + Duration::from_millis(1);
        core.handle_timeout(now);
        while core.poll_transmit().is_some() {}
        while core.poll_store().is_some() {}
    }
});
