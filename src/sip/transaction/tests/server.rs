//! Server transactions: Timers G, H, I, J, L, retransmission handling, ACK and
//! CANCEL matching, and the RFC 2543 fallback.

use super::*;

#[test]
fn invite_retransmission_gets_the_latest_response() {
    let mut h = Harness::new(TimerConfig::default());
    let inv = request("INVITE", "z9hG4bKr", Transport::Udp);
    let id = h.new_server(msg(&inv), udp());
    assert!(matches!(
        h.on_request(msg(&inv), udp()),
        ServerInput::Absorbed
    ));
    assert!(
        h.sent.is_empty(),
        "nothing to re-send before the TU answers"
    );
    h.respond(id, 180);
    assert!(matches!(
        h.on_request(msg(&inv), udp()),
        ServerInput::Absorbed
    ));
    assert_eq!(h.times(is_status(180)).len(), 2);
    h.respond(id, 183);
    assert!(matches!(
        h.on_request(msg(&inv), udp()),
        ServerInput::Absorbed
    ));
    assert_eq!(
        h.times(is_status(183)).len(),
        2,
        "the latest provisional is re-sent"
    );
    h.respond(id, 486);
    assert!(matches!(
        h.on_request(msg(&inv), udp()),
        ServerInput::Absorbed
    ));
    assert_eq!(h.times(is_status(486)).len(), 2);
    assert_eq!(h.times(is_status(180)).len(), 2);
}

#[test]
fn timer_g_caps_at_t2_and_timer_h_reports_a_missing_ack() {
    let mut h = Harness::new(TimerConfig::default());
    let id = h.new_server(msg(&request("INVITE", "z9hG4bKg", Transport::Udp)), udp());
    h.respond(id, 486);
    assert_eq!(
        h.tx.server_request(id).map(|_| ()),
        None,
        "the request is dropped after the final"
    );
    assert_eq!(h.tx.server_peer(id), Some(udp()));
    h.run();
    assert_eq!(
        h.times(is_status(486)),
        schedule(&[0, 500, 1000, 2000, 4000, 4000, 4000, 4000, 4000, 4000, 4000])
    );
    assert_eq!(h.timeouts(), vec![(ms(32_000), TxEvent::AckTimeout(id))]);
    assert_eq!(h.terminated(id), Some(ms(32_000)));
    h.assert_empty();
}

#[test]
fn ack_for_a_failure_is_absorbed_then_timer_i() {
    let mut h = Harness::new(TimerConfig::default());
    let inv = request("INVITE", "z9hG4bKi", Transport::Udp);
    let id = h.new_server(msg(&inv), udp());
    h.respond(id, 486);
    h.run_until(ms(1000));
    assert!(matches!(
        h.on_request(ack_for(&inv, "tb"), udp()),
        ServerInput::Absorbed
    ));
    assert_eq!(
        h.tx.state(id),
        Some(TxState::ServerInvite(ServerInviteState::Confirmed))
    );
    h.run_until(ms(3000));
    assert!(
        matches!(
            h.on_request(ack_for(&inv, "tb"), udp()),
            ServerInput::Absorbed
        ),
        "ACK retransmission"
    );
    assert!(matches!(
        h.on_request(msg(&inv), udp()),
        ServerInput::Absorbed
    ));
    h.run();
    assert_eq!(
        h.times(is_status(486)),
        vec![ms(0), ms(500)],
        "Timer G stops at the ACK"
    );
    assert!(h.timeouts().is_empty());
    assert_eq!(h.terminated(id), Some(ms(6_000)), "Timer I = T4");
    h.assert_empty();
}

#[test]
fn reliable_transport_has_no_timer_g_and_zero_timer_i() {
    let mut h = Harness::new(TimerConfig::default());
    let inv = request("INVITE", "z9hG4bKtcp", Transport::Tcp);
    let id = h.new_server(msg(&inv), tcp());
    h.respond(id, 603);
    h.run_until(ms(10_000));
    assert_eq!(h.times(is_status(603)), vec![ms(0)]);
    assert!(
        h.sent.iter().all(|(_, t)| t.dest == tcp()),
        "responses go back over the request's connection"
    );
    assert!(matches!(
        h.on_request(ack_for(&inv, "tb"), tcp()),
        ServerInput::Absorbed
    ));
    assert_eq!(h.terminated(id), Some(ms(10_000)));
    // Without the ACK, Timer H still applies.
    let inv2 = request("INVITE", "z9hG4bKtcp2", Transport::Tcp);
    let id2 = h.new_server(msg(&inv2), tcp());
    h.respond(id2, 603);
    h.run();
    assert_eq!(h.timeouts(), vec![(ms(42_000), TxEvent::AckTimeout(id2))]);
    h.assert_empty();
}

#[test]
fn accepted_absorbs_invite_retransmissions_and_passes_acks_up() {
    let mut h = Harness::new(TimerConfig::default());
    let inv = request("INVITE", "z9hG4bKl", Transport::Udp);
    let id = h.new_server(msg(&inv), udp());
    h.respond(id, 180);
    h.respond(id, 200);
    assert_eq!(
        h.tx.state(id),
        Some(TxState::ServerInvite(ServerInviteState::Accepted))
    );
    h.run_until(ms(500));
    assert!(matches!(
        h.on_request(msg(&inv), udp()),
        ServerInput::Absorbed
    ));
    assert_eq!(
        h.times(is_status(200)),
        vec![ms(0)],
        "RFC 6026: the 2xx is not re-sent by the transaction"
    );
    // The TU's own 2xx retransmission goes out through the transaction.
    let ok = answer_bytes(&msg(&inv), 200);
    h.tx.send_response(h.now, id, ok)
        .expect("2xx retransmission accepted in Accepted");
    h.drain();
    assert_eq!(h.times(is_status(200)), vec![ms(0), ms(500)]);
    assert_eq!(
        h.tx.send_response(h.now, id, answer_bytes(&msg(&inv), 486)),
        Err(TransactionError::AlreadyFinal)
    );
    // The ACK for a 2xx has a branch of its own: it matches nothing and goes up.
    let ack = ack_for(&request("INVITE", "z9hG4bKack2xx", Transport::Udp), "tb");
    assert!(matches!(h.on_request(ack, udp()), ServerInput::Ack(_)));
    // One that reuses the INVITE's branch matches, and still goes up.
    assert!(matches!(
        h.on_request(ack_for(&inv, "tb"), udp()),
        ServerInput::Ack(_)
    ));
    h.run();
    assert_eq!(h.terminated(id), Some(ms(32_000)), "Timer L = 64·T1");
    assert!(h.timeouts().is_empty());
    h.assert_empty();
}

#[test]
fn non_invite_retransmissions_and_timer_j() {
    let mut h = Harness::new(TimerConfig::default());
    let req = request("REGISTER", "z9hG4bKj", Transport::Udp);
    let id = h.new_server(msg(&req), udp());
    assert!(matches!(
        h.on_request(msg(&req), udp()),
        ServerInput::Absorbed
    ));
    assert!(h.sent.is_empty(), "Trying re-sends nothing");
    h.respond(id, 100);
    assert_eq!(
        h.tx.state(id),
        Some(TxState::ServerNonInvite(ServerNonInviteState::Proceeding))
    );
    assert!(matches!(
        h.on_request(msg(&req), udp()),
        ServerInput::Absorbed
    ));
    assert_eq!(h.times(is_status(100)).len(), 2);
    h.run_until(ms(1000));
    h.respond(id, 200);
    assert!(matches!(
        h.on_request(msg(&req), udp()),
        ServerInput::Absorbed
    ));
    assert_eq!(h.times(is_status(200)), vec![ms(1000), ms(1000)]);
    assert_eq!(h.tx.server_request(id).map(|_| ()), None);
    h.run();
    assert_eq!(h.terminated(id), Some(ms(33_000)), "Timer J = 64·T1 on UDP");
    h.assert_empty();

    let req = request("OPTIONS", "z9hG4bKj2", Transport::Tcp);
    let id = h.new_server(msg(&req), tcp());
    h.respond(id, 200);
    assert_eq!(h.terminated(id), Some(ms(33_000)), "Timer J = 0 on TCP");
    h.assert_empty();
}

#[test]
fn cancel_finds_its_invite() {
    let mut h = Harness::new(TimerConfig::default());
    let inv = request("INVITE", "z9hG4bKcx", Transport::Udp);
    let inv_id = h.new_server(msg(&inv), udp());
    let cancel = msg(&request("CANCEL", "z9hG4bKcx", Transport::Udp));
    let cancel_id = match h.on_request(cancel.clone(), udp()) {
        ServerInput::New(id, _) => id,
        other => panic!("CANCEL is a transaction of its own, got {other:?}"),
    };
    assert_ne!(cancel_id, inv_id);
    assert_eq!(h.tx.cancel_target(&cancel), Some(inv_id));
    assert_eq!(
        h.tx.cancel_target(&msg(&request("CANCEL", "z9hG4bKelse", Transport::Udp))),
        None
    );
    let moved = String::from_utf8(request("CANCEL", "z9hG4bKcx", Transport::Udp).to_vec())
        .unwrap()
        .replace("10.0.0.1:5060", "10.0.0.2:5060");
    assert_eq!(
        h.tx.cancel_target(&msg(moved.as_bytes())),
        None,
        "sent-by is part of the match"
    );
    // A CANCEL's retransmission is absorbed by the CANCEL transaction.
    h.respond(cancel_id, 200);
    assert!(matches!(h.on_request(cancel, udp()), ServerInput::Absorbed));
    assert_eq!(h.times(is_status(200)).len(), 2);
    // No INVITE behind an OPTIONS.
    h.new_server(
        msg(&request("OPTIONS", "z9hG4bKopt", Transport::Udp)),
        udp(),
    );
    assert_eq!(
        h.tx.cancel_target(&msg(&request("CANCEL", "z9hG4bKopt", Transport::Udp))),
        None
    );
}

#[test]
fn rfc_2543_requests_match_on_the_fallback_key() {
    let mut h = Harness::new(TimerConfig::default());
    let inv = request("INVITE", "8jd83hs", Transport::Udp);
    let id = h.new_server(msg(&inv), udp());
    assert!(matches!(
        h.on_request(msg(&inv), udp()),
        ServerInput::Absorbed
    ));
    let other_from = String::from_utf8(inv.to_vec())
        .unwrap()
        .replace("tag=fa", "tag=fz");
    assert!(
        matches!(
            h.on_request(msg(other_from.as_bytes()), udp()),
            ServerInput::New(..)
        ),
        "From tag is part of the key"
    );
    let cancel = msg(&request("CANCEL", "8jd83hs", Transport::Udp));
    assert_eq!(h.tx.cancel_target(&cancel), Some(id));

    h.respond(id, 486);
    // The ACK carries our To tag, which the INVITE's key could not contain.
    assert!(
        matches!(
            h.on_request(ack_for(&inv, "wrong"), udp()),
            ServerInput::Ack(_)
        ),
        "not our response's tag"
    );
    assert_eq!(
        h.tx.state(id),
        Some(TxState::ServerInvite(ServerInviteState::Completed))
    );
    assert!(matches!(
        h.on_request(ack_for(&inv, "tb"), udp()),
        ServerInput::Absorbed
    ));
    assert_eq!(
        h.tx.state(id),
        Some(TxState::ServerInvite(ServerInviteState::Confirmed))
    );

    // A request with no branch at all uses the same fallback.
    let bare = String::from_utf8(request("OPTIONS", "x", Transport::Udp).to_vec())
        .unwrap()
        .replace(";branch=x", "");
    let oid = h.new_server(msg(bare.as_bytes()), udp());
    h.respond(oid, 200);
    assert!(matches!(
        h.on_request(msg(bare.as_bytes()), udp()),
        ServerInput::Absorbed
    ));
    assert_eq!(h.times(is_status(200)).len(), 2);
}

#[test]
fn stray_acks_go_up() {
    let mut h = Harness::new(TimerConfig::default());
    let ack = ack_for(&request("INVITE", "z9hG4bKnone", Transport::Udp), "tb");
    assert!(matches!(h.on_request(ack, udp()), ServerInput::Ack(_)));
    assert!(h.tx.is_empty(), "an ACK never creates a transaction");
    // An ACK before any final response is absorbed by the INVITE transaction.
    let inv = request("INVITE", "z9hG4bKearly", Transport::Udp);
    h.new_server(msg(&inv), udp());
    assert!(matches!(
        h.on_request(ack_for(&inv, "tb"), udp()),
        ServerInput::Absorbed
    ));
}

#[test]
fn responses_go_to_the_source_of_the_request() {
    let mut h = Harness::new(TimerConfig::default());
    let natted = Peer::udp("203.0.113.5:40000".parse().unwrap());
    let id = h.new_server(
        msg(&request("OPTIONS", "z9hG4bKnat", Transport::Udp)),
        natted,
    );
    assert_eq!(h.tx.server_peer(id), Some(natted));
    h.respond(id, 200);
    assert_eq!(h.sent[0].1.dest, natted);
}
