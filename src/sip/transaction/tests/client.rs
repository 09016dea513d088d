//! Client transactions: Timers A, B, D, E, F, K, M, the ACK for a non-2xx
//! final, and response matching.

use super::*;
use crate::sip::header::HeaderName;
use crate::sip::message::CSeq;

#[test]
fn timer_a_doubles_until_timer_b() {
    let mut h = Harness::new(TimerConfig::default());
    let id = h.send_request(request("INVITE", "z9hG4bKa", Transport::Udp), udp());
    h.run();
    let sends = h.times(is_method("INVITE"));
    // T1, 2·T1, 4·T1... after the first send: 6 retransmissions, 7 sends in
    // all, the last at 31.5 s, before Timer B at 64·T1 = 32 s.
    assert_eq!(sends, schedule(&[0, 500, 1000, 2000, 4000, 8000, 16000]));
    assert_eq!(sends.len(), 7);
    assert!(h.sent.iter().all(|(_, t)| t.dest == udp()));
    assert_eq!(h.timeouts(), vec![(ms(32_000), TxEvent::Timeout(id))]);
    assert_eq!(h.terminated(id), Some(ms(32_000)));
    h.assert_empty();
}

#[test]
fn no_timer_a_over_tcp() {
    let mut h = Harness::new(TimerConfig::default());
    let id = h.send_request(request("INVITE", "z9hG4bKt", Transport::Tcp), tcp());
    h.run();
    assert_eq!(h.times(is_method("INVITE")), vec![ms(0)]);
    assert_eq!(h.sent[0].1.dest.conn, Some(ConnId(7)));
    assert_eq!(
        h.timeouts(),
        vec![(ms(32_000), TxEvent::Timeout(id))],
        "Timer B runs on every transport"
    );
    h.assert_empty();
}

#[test]
fn provisional_stops_timer_a_and_timer_b() {
    let mut h = Harness::new(TimerConfig::default());
    let req = request("INVITE", "z9hG4bKp", Transport::Udp);
    let id = h.send_request(req.clone(), udp());
    h.run_until(ms(700));
    assert!(
        matches!(h.on_response(answer(&req, 180), udp()), ClientInput::Response(got, _) if got == id)
    );
    assert_eq!(
        h.tx.state(id),
        Some(TxState::ClientInvite(ClientInviteState::Proceeding))
    );
    assert_eq!(
        h.tx.poll_timeout(),
        None,
        "Proceeding waits on the TU, not on a timer"
    );
    assert_eq!(h.times(is_method("INVITE")), vec![ms(0), ms(500)]);
    assert!(matches!(
        h.on_response(answer(&req, 183), udp()),
        ClientInput::Response(..)
    ));
}

#[test]
fn ack_for_486_follows_17_1_1_3() {
    let mut h = Harness::new(TimerConfig::default());
    let req = request("INVITE", "z9hG4bKack", Transport::Udp);
    let id = h.send_request(req.clone(), udp());
    h.take_sent();
    h.run_until(ms(100));
    let r = h.on_response(answer(&req, 486), udp());
    assert!(matches!(r, ClientInput::Response(got, ref m) if got == id && m.status() == Some(486)));
    let sent = h.take_sent();
    assert_eq!(sent.len(), 1, "the transaction ACKs the 486 itself");
    let ack = &sent[0];
    assert_eq!(ack.method(), &Method::Ack);
    assert_eq!(
        ack.request_uri_str(),
        "sip:bob@b.example",
        "Request-URI of the INVITE"
    );
    assert_eq!(
        ack.values(HeaderName::Via),
        vec!["SIP/2.0/UDP 10.0.0.1:5060;branch=z9hG4bKack;rport"],
        "top Via only"
    );
    assert_eq!(ack.call_id(), "call-1@a.example");
    assert_eq!(
        ack.header(HeaderName::From),
        Some("\"Alice\" <sip:alice@a.example>;tag=fa")
    );
    assert_eq!(
        ack.header(HeaderName::To),
        Some("<sip:bob@b.example>;tag=tb"),
        "To of the response, with its tag"
    );
    assert_eq!(
        ack.cseq(),
        Some(&CSeq {
            seq: 42,
            method: Method::Ack
        })
    );
    assert_eq!(
        ack.header_lines(HeaderName::Route).collect::<Vec<_>>(),
        vec!["<sip:p1.example;lr>", "<sip:p2.example;lr>"]
    );
    assert_eq!(ack.max_forwards(), Some(70));
    assert_eq!(ack.header(HeaderName::ContentLength), Some("0"));
    assert!(ack.body().is_empty());
    assert_eq!(ack.header(HeaderName::Contact), None);
    assert_eq!(
        h.tx.state(id),
        Some(TxState::ClientInvite(ClientInviteState::Completed))
    );

    // Each retransmitted final gets the same ACK again, and goes no further.
    for _ in 0..2 {
        assert!(matches!(
            h.on_response(answer(&req, 486), udp()),
            ClientInput::Absorbed
        ));
        let again = h.take_sent();
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].as_bytes(), ack.as_bytes());
    }
    // Timer D: 32 s on UDP.
    h.run();
    assert_eq!(h.terminated(id), Some(ms(32_100)));
    assert!(h.timeouts().is_empty());
    assert!(
        h.times(is_method("INVITE")).is_empty(),
        "no retransmission after the final"
    );
    h.assert_empty();
}

#[test]
fn timer_d_is_zero_over_tcp() {
    let mut h = Harness::new(TimerConfig::default());
    let req = request("INVITE", "z9hG4bKtd", Transport::Tcp);
    let id = h.send_request(req.clone(), tcp());
    assert!(matches!(
        h.on_response(answer(&req, 503), tcp()),
        ClientInput::Response(..)
    ));
    assert_eq!(h.times(is_method("ACK")), vec![ms(0)]);
    assert_eq!(h.terminated(id), Some(ms(0)));
    assert!(matches!(
        h.on_response(answer(&req, 503), tcp()),
        ClientInput::Stray(_)
    ));
    h.assert_empty();
}

#[test]
fn ack_follows_the_connection_the_response_came_on() {
    let mut h = Harness::new(TimerConfig::default());
    let req = request("INVITE", "z9hG4bKconn", Transport::Tcp);
    let dest = Peer {
        conn: None,
        ..tcp()
    };
    h.send_request(req.clone(), dest);
    h.on_response(
        answer(&req, 486),
        Peer {
            conn: Some(ConnId(9)),
            ..tcp()
        },
    );
    let (_, ack) = h.sent.last().expect("ACK sent");
    assert_eq!(ack.dest.conn, Some(ConnId(9)));
}

#[test]
fn accepted_passes_2xx_up_until_timer_m() {
    let mut h = Harness::new(TimerConfig::default());
    let req = request("INVITE", "z9hG4bKm", Transport::Udp);
    let id = h.send_request(req.clone(), udp());
    h.run_until(ms(100));
    h.on_response(answer(&req, 180), udp());
    h.run_until(ms(200));
    assert!(
        matches!(h.on_response(answer(&req, 200), udp()), ClientInput::Response(got, _) if got == id)
    );
    assert_eq!(
        h.tx.state(id),
        Some(TxState::ClientInvite(ClientInviteState::Accepted))
    );
    h.run_until(ms(1000));
    // A retransmission, and a 2xx from another fork, both go to the TU, which
    // ACKs them; the transaction sends nothing.
    assert!(
        matches!(h.on_response(answer(&req, 200), udp()), ClientInput::Response(got, _) if got == id)
    );
    let fork = msg(&String::from_utf8(answer(&req, 200).as_bytes().to_vec())
        .unwrap()
        .replace("tag=tb", "tag=fork2")
        .into_bytes());
    assert!(matches!(h.on_response(fork, udp()), ClientInput::Response(got, _) if got == id));
    assert!(matches!(
        h.on_response(answer(&req, 180), udp()),
        ClientInput::Absorbed
    ));
    assert_eq!(
        h.times(|_| true),
        vec![ms(0)],
        "no ACK and no retransmission from the transaction"
    );
    h.run();
    assert_eq!(h.terminated(id), Some(ms(32_200)));
    assert!(h.timeouts().is_empty());
    // After Timer M the 2xx matches nothing: the TU re-ACKs it from its dialog.
    assert!(matches!(
        h.on_response(answer(&req, 200), udp()),
        ClientInput::Stray(_)
    ));
    h.assert_empty();
}

#[test]
fn timer_e_doubles_up_to_t2_then_timer_f() {
    let mut h = Harness::new(TimerConfig::default());
    let id = h.send_request(request("OPTIONS", "z9hG4bKe", Transport::Udp), udp());
    h.run();
    assert_eq!(
        h.times(is_method("OPTIONS")),
        schedule(&[0, 500, 1000, 2000, 4000, 4000, 4000, 4000, 4000, 4000, 4000]),
        "0.5, 1, 2, then capped at T2 = 4 s"
    );
    assert_eq!(h.timeouts(), vec![(ms(32_000), TxEvent::Timeout(id))]);
    h.assert_empty();
}

#[test]
fn timer_e_fires_every_t2_in_proceeding() {
    let mut h = Harness::new(TimerConfig::default());
    let req = request("BYE", "z9hG4bKe2", Transport::Udp);
    let id = h.send_request(req.clone(), udp());
    h.run_until(ms(100));
    assert!(matches!(
        h.on_response(answer(&req, 100), udp()),
        ClientInput::Response(..)
    ));
    h.run_until(ms(20_000));
    // The deadline armed in Trying stands; every later one is T2 apart.
    assert_eq!(
        h.times(is_method("BYE")),
        schedule(&[0, 500, 4000, 4000, 4000, 4000])
    );
    assert!(matches!(
        h.on_response(answer(&req, 200), udp()),
        ClientInput::Response(..)
    ));
    assert_eq!(
        h.tx.state(id),
        Some(TxState::ClientNonInvite(ClientNonInviteState::Completed))
    );
    assert!(matches!(
        h.on_response(answer(&req, 200), udp()),
        ClientInput::Absorbed
    ));
    h.run();
    // Timer K = T4 = 5 s on UDP.
    assert_eq!(h.terminated(id), Some(ms(25_000)));
    assert_eq!(
        h.times(is_method("BYE")).len(),
        6,
        "nothing sent after the final"
    );
    h.assert_empty();
}

#[test]
fn timer_k_is_zero_and_no_timer_e_over_tcp() {
    let mut h = Harness::new(TimerConfig::default());
    let req = request("OPTIONS", "z9hG4bKk", Transport::Tcp);
    let id = h.send_request(req.clone(), tcp());
    h.run_until(ms(10_000));
    assert_eq!(h.times(is_method("OPTIONS")), vec![ms(0)]);
    assert!(matches!(
        h.on_response(answer(&req, 200), tcp()),
        ClientInput::Response(..)
    ));
    assert_eq!(h.terminated(id), Some(ms(10_000)));
    // And Timer F still bounds a TCP request nobody answers.
    let other = h.send_request(request("OPTIONS", "z9hG4bKk2", Transport::Tcp), tcp());
    h.run();
    assert_eq!(h.timeouts(), vec![(ms(42_000), TxEvent::Timeout(other))]);
    h.assert_empty();
}

#[test]
fn stray_responses() {
    let mut h = Harness::new(TimerConfig::default());
    let req = request("INVITE", "z9hG4bKs", Transport::Udp);
    h.send_request(req.clone(), udp());
    let other = request("INVITE", "z9hG4bKother", Transport::Udp);
    assert!(matches!(
        h.on_response(answer(&other, 200), udp()),
        ClientInput::Stray(_)
    ));
    // Same branch, other method: a response to a CANCEL nobody sent.
    let cancel = request("CANCEL", "z9hG4bKs", Transport::Udp);
    assert!(matches!(
        h.on_response(answer(&cancel, 200), udp()),
        ClientInput::Stray(_)
    ));
    assert_eq!(h.tx.len(), 1);
}

#[test]
fn cancel_bounds_an_invite_in_proceeding() {
    let mut h = Harness::new(TimerConfig::default());
    let inv = request("INVITE", "z9hG4bKc", Transport::Udp);
    let id = h.send_request(inv.clone(), udp());
    h.run_until(ms(100));
    h.on_response(answer(&inv, 180), udp());
    h.run_until(ms(10_000));
    let cancel = request("CANCEL", "z9hG4bKc", Transport::Udp);
    let cid = h.send_request(cancel.clone(), udp());
    assert_ne!(cid, id);
    h.run_until(ms(10_100));
    assert!(
        matches!(h.on_response(answer(&cancel, 200), udp()), ClientInput::Response(got, _) if got == cid)
    );
    // The callee never sends its 487: RFC 3261 §9.1 gives up 64·T1 after the CANCEL.
    h.run();
    assert_eq!(h.timeouts(), vec![(ms(42_000), TxEvent::Timeout(id))]);
    assert_eq!(h.terminated(cid), Some(ms(15_100)));
    h.assert_empty();
}

#[test]
fn configured_timers_are_honoured() {
    let cfg = TimerConfig::default()
        .with_t1(ms(100))
        .with_t2(ms(400))
        .with_t4(ms(1000));
    let mut h = Harness::new(cfg);
    let inv = h.send_request(request("INVITE", "z9hG4bKc1", Transport::Udp), udp());
    let opt_req = request("OPTIONS", "z9hG4bKc2", Transport::Udp);
    let opt = h.send_request(opt_req.clone(), udp());
    h.run_until(ms(2_000));
    assert!(matches!(
        h.on_response(answer(&opt_req, 200), udp()),
        ClientInput::Response(..)
    ));
    h.run();
    assert_eq!(
        h.times(is_method("INVITE")),
        schedule(&[0, 100, 200, 400, 800, 1600, 3200])
    );
    assert_eq!(
        h.times(is_method("OPTIONS")),
        schedule(&[0, 100, 200, 400, 400, 400, 400]),
        "capped at T2 = 400 ms"
    );
    assert_eq!(
        h.timeouts(),
        vec![(ms(6_400), TxEvent::Timeout(inv))],
        "Timer B = 64·T1"
    );
    assert_eq!(h.terminated(opt), Some(ms(3_000)), "Timer K = T4");
    h.assert_empty();
}
