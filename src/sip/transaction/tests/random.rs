//! Random sequences of requests, responses, answers, garbage and time jumps,
//! from fixed seeds: the layer never panics, every transmit and event refers to
//! something real, and once every transaction has been answered and every timer
//! has run, the layer is empty.

use super::*;

const METHODS: [&str; 5] = ["INVITE", "OPTIONS", "BYE", "REGISTER", "INFO"];
const CODES: [u16; 8] = [100, 180, 183, 200, 202, 486, 487, 503];

fn transport(rng: &mut fastrand::Rng) -> (Transport, Peer) {
    if rng.bool() {
        (Transport::Udp, udp())
    } else {
        (Transport::Tcp, tcp())
    }
}

fn branch(rng: &mut fastrand::Rng, n: usize) -> String {
    // One in eight is an RFC 2543 branch, to exercise the fallback key.
    if rng.u8(..8) == 0 {
        format!("legacy{n}")
    } else {
        format!("z9hG4bK{n}")
    }
}

/// How often each outcome came up, to show the sequences reach every path.
#[derive(Debug, Default)]
struct Seen {
    new: usize,
    absorbed: usize,
    acks: usize,
    responses: usize,
    client_absorbed: usize,
    strays: usize,
    timeouts: usize,
    ack_timeouts: usize,
    peak: usize,
}

impl Seen {
    fn server(&mut self, r: &ServerInput) {
        match r {
            ServerInput::New(..) => self.new += 1,
            ServerInput::Absorbed => self.absorbed += 1,
            ServerInput::Ack(_) => self.acks += 1,
        }
    }

    fn client(&mut self, r: &ClientInput) {
        match r {
            ClientInput::Response(..) => self.responses += 1,
            ClientInput::Absorbed => self.client_absorbed += 1,
            ClientInput::Stray(_) => self.strays += 1,
        }
    }
}

fn run_seed(seed: u64, seen: &mut Seen) {
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut h = Harness::new(TimerConfig::default());
    // What we sent (client side) and what the far end sent us (server side).
    let mut sent: Vec<(Bytes, Peer)> = Vec::new();
    let mut received: Vec<(Bytes, Peer)> = Vec::new();
    let mut servers: Vec<ServerTxId> = Vec::new();

    for n in 0..4000 {
        match rng.u8(..10) {
            0 => {
                let (t, peer) = transport(&mut rng);
                let method = if rng.u8(..6) == 0 && !sent.is_empty() {
                    // A CANCEL on the branch of something sent earlier.
                    let (prev, _) = &sent[rng.usize(..sent.len())];
                    let b = msg(prev)
                        .top_via()
                        .and_then(|v| v.branch())
                        .unwrap_or("x")
                        .to_owned();
                    let req = request("CANCEL", &b, t);
                    if h.tx.send_request(h.now, req.clone(), peer).is_ok() {
                        sent.push((req, peer));
                    }
                    continue;
                } else {
                    METHODS[rng.usize(..METHODS.len())]
                };
                let req = request(method, &format!("z9hG4bKc{n}"), t);
                h.send_request(req.clone(), peer);
                sent.push((req, peer));
            }
            1 | 2 if !sent.is_empty() => {
                let (req, peer) = sent[rng.usize(..sent.len())].clone();
                let code = CODES[rng.usize(..CODES.len())];
                let r = h.on_response(answer(&req, code), peer);
                seen.client(&r);
            }
            3 => {
                let (t, peer) = transport(&mut rng);
                let req = request(METHODS[rng.usize(..METHODS.len())], &branch(&mut rng, n), t);
                let r = h.on_request(msg(&req), peer);
                seen.server(&r);
                if let ServerInput::New(id, _) = r {
                    servers.push(id);
                }
                received.push((req, peer));
            }
            4 if !received.is_empty() => {
                // A retransmission, an ACK or a CANCEL for something received.
                let (req, peer) = received[rng.usize(..received.len())].clone();
                let m = match rng.u8(..3) {
                    0 => msg(&req),
                    1 => ack_for(&req, if rng.bool() { "tb" } else { "zz" }),
                    _ => {
                        let b = msg(&req)
                            .top_via()
                            .and_then(|v| v.branch())
                            .unwrap_or("x")
                            .to_owned();
                        msg(&request("CANCEL", &b, Transport::Udp))
                    }
                };
                if let Some(target) = h.tx.cancel_target(&m) {
                    assert!(matches!(h.tx.state(target), Some(TxState::ServerInvite(_))));
                }
                let r = h.on_request(m, peer);
                seen.server(&r);
                if let ServerInput::New(id, _) = r {
                    servers.push(id);
                }
            }
            5 | 6 if !servers.is_empty() => {
                let id = servers[rng.usize(..servers.len())];
                let code = CODES[rng.usize(..CODES.len())];
                if let Some(req) = h.tx.server_request(id).cloned() {
                    let _ = h.tx.send_response(h.now, id, answer_bytes(&req, code));
                } else {
                    // Answers after the final must be refused, never panic.
                    let bytes = Bytes::from_static(b"SIP/2.0 200 OK\r\nContent-Length: 0\r\n\r\n");
                    let _ = h.tx.send_response(h.now, id, bytes);
                }
                h.drain();
            }
            7 => {
                let len = rng.usize(..64);
                let junk: Vec<u8> = (0..len).map(|_| rng.u8(..)).collect();
                assert!(h.tx.send_request(h.now, Bytes::from(junk), udp()).is_err());
            }
            8 => {
                let jump = ms(rng.u64(..3000));
                let to = h.elapsed() + jump;
                h.run_until(to);
            }
            _ => {
                h.step();
            }
        }
        seen.peak = seen.peak.max(h.tx.len());
    }

    // Wind down: the far end answers everything still open with a final, the
    // TU answers every server transaction, then all timers run out.
    for (req, peer) in &sent {
        let _ = h.on_response(answer(req, 486), *peer);
    }
    for &id in &servers {
        if let Some(req) = h.tx.server_request(id).cloned() {
            h.tx.send_response(h.now, id, answer_bytes(&req, 404))
                .expect("open transaction takes a final");
        }
    }
    h.drain();
    h.run();
    h.assert_empty();
    assert!(
        h.tx.heap.len() == 0,
        "stale heap entries left: {}",
        h.tx.heap.len()
    );

    // Every Timeout names a client transaction, every AckTimeout a server one,
    // and each transaction terminates once.
    let mut ended = std::collections::HashSet::new();
    for (_, e) in &h.events {
        match e {
            TxEvent::Terminated(id) => assert!(ended.insert(*id), "{id:?} terminated twice"),
            TxEvent::Timeout(_) => seen.timeouts += 1,
            TxEvent::AckTimeout(_) => seen.ack_timeouts += 1,
        }
    }
}

#[test]
fn random_sequences_end_empty() {
    let mut seen = Seen::default();
    for seed in [1, 2, 3, 0x5eed, 0xdead_beef] {
        run_seed(seed, &mut seen);
    }
    let Seen {
        new,
        absorbed,
        acks,
        responses,
        client_absorbed,
        strays,
        timeouts,
        ack_timeouts,
        peak,
    } = seen;
    for (what, n) in [
        ("new server transactions", new),
        ("absorbed requests", absorbed),
        ("ACKs passed up", acks),
        ("responses passed up", responses),
        ("absorbed responses", client_absorbed),
        ("stray responses", strays),
        ("Timer B/F timeouts", timeouts),
        ("Timer H timeouts", ack_timeouts),
    ] {
        assert!(n > 0, "no {what}: {seen:?}");
    }
    assert!(peak > 50, "too few live transactions at once: {peak}");
}
