//! Call scenarios against the sans-IO engine, in virtual time: each test feeds
//! datagrams from pretend peers and asserts on the exact messages the switch
//! sends back (RFC 3261 §9, §12-§17, §22; RFC 6026).

#[path = "core-support/mod.rs"]
mod support;

use std::time::Duration;

use support::*;
use switchyard::sip::HeaderName as H;
use switchyard::sip::auth::Credentials;
use switchyard::store::StoreOp;

const B_TAG: &str = "btag-1";

/// A carrier call to `dialled`: returns A's INVITE and the INVITE the switch
/// sent to `expect_at`, after checking A got 100 Trying.
fn trunk_call(net: &mut Net, dialled: &str, expect_at: &str) -> (Msg, Sent) {
    let inv = invite(CARRIER, "+15550100", dialled);
    net.send(CARRIER, &inv.render());
    let out = net.take();
    let trying = out.one_to(CARRIER);
    assert!(trying.is_resp(100), "A should get 100 Trying first: {out:?}");
    assert!(trying.msg.to_tag().is_none(), "100 Trying carries no To tag");
    let b = out.one_to(expect_at).clone();
    assert!(b.is_req("INVITE"), "{out:?}");
    (inv, b)
}

/// Takes a trunk call to the answered and ACKed state. Returns A's INVITE,
/// A's dialog, B's INVITE and B's dialog.
fn connected_call(net: &mut Net) -> (Msg, Dlg, Sent, Dlg) {
    let (inv, b_inv) = trunk_call(net, "9000", OUT2);
    let ok = reply(&b_inv, 200, "OK", B_TAG, OUT2).sdp(SDP_B);
    net.send(OUT2, &ok.render());
    let out = net.take();
    let a_ok = out.resp(CARRIER, 200).clone();
    let a_dlg = Dlg::uac(&inv, &a_ok, CARRIER);
    net.send(CARRIER, &a_dlg.ack(1).render());
    let out = net.take();
    assert!(out.req(OUT2, "ACK").cseq() == "1 ACK");
    let b_dlg = Dlg::uas(&b_inv, &ok, OUT2);
    (inv, a_dlg, b_inv, b_dlg)
}

// ------------------------------------------------------------------ 1

#[test]
fn basic_trunk_call_is_relayed_and_writes_a_cdr() {
    let mut net = Net::standard();
    let (inv, b) = trunk_call(&mut net, "9000", OUT2);

    // The B leg is a new dialog: own Call-ID, From tag, CSeq; Max-Forwards - 1;
    // SDP untouched; our Via (rport) and our Contact.
    assert_eq!(b.msg.request_uri_str(), "sip:9000@127.0.0.3:5080");
    assert_ne!(b.msg.call_id(), inv.get("Call-ID").unwrap());
    let a_from_tag = tag_of(inv.get("From").unwrap()).unwrap();
    let b_from_tag = b.msg.from_tag().expect("From tag on B INVITE").to_owned();
    assert_ne!(b_from_tag, a_from_tag);
    assert!(b.msg.to_tag().is_none());
    assert_eq!(b.cseq(), "1 INVITE");
    assert_eq!(b.msg.max_forwards(), Some(69));
    assert_eq!(b.body(), SDP_A);
    assert_eq!(b.h(H::ContentType), "application/sdp");
    assert_eq!(b.msg.via_count(), 1, "a B2BUA starts a fresh Via stack: {b:?}");
    let via = b.msg.top_via().unwrap();
    assert_eq!((via.transport, via.host, via.port), ("UDP", "127.0.0.1", Some(5060)));
    assert!(via.rport().is_some(), "our Via asks for rport: {b:?}");
    assert!(via.is_rfc3261());
    assert_eq!(b.h(H::Contact), SWITCH_CONTACT);
    assert_eq!(net.engine.active_calls(), 1);

    // 180 with SDP (early media) -> A gets 180 with A's To tag and B's SDP.
    let ringing = reply(&b, 180, "Ringing", B_TAG, OUT2).sdp(SDP_B);
    net.send(OUT2, &ringing.render());
    let out = net.take();
    let a180 = out.one_to(CARRIER);
    assert!(a180.is_resp(180), "{out:?}");
    let a_to_tag = a180.msg.to_tag().expect("A's To tag on 180").to_owned();
    assert_ne!(a_to_tag, B_TAG, "A's dialog has its own To tag");
    assert_eq!(a180.msg.call_id(), inv.get("Call-ID").unwrap());
    assert_eq!(a180.cseq(), "1 INVITE");
    assert_eq!(a180.msg.from_tag(), Some(a_from_tag.as_str()));
    assert_eq!(a180.body(), SDP_B);
    assert_eq!(a180.branch(), inv.branch(), "response Via is A's Via");

    // 200 with SDP -> A gets 200 with the same SDP and the switch's Contact.
    let ok = reply(&b, 200, "OK", B_TAG, OUT2).sdp(SDP_B);
    net.send(OUT2, &ok.render());
    let out = net.take();
    let a_ok = out.one_to(CARRIER).clone();
    assert!(a_ok.is_resp(200), "{out:?}");
    assert_eq!(a_ok.msg.to_tag(), Some(a_to_tag.as_str()), "same To tag as the 180");
    assert_eq!(a_ok.body(), SDP_B);
    assert_eq!(a_ok.h(H::Contact), SWITCH_CONTACT);
    // B's ACK waits for A's (the ACK may carry a late answer).
    out.none_to(OUT2);
    net.advance_ms(100);
    net.take().none_to(OUT2);

    // A's ACK -> B's ACK: CSeq 1 ACK, B's To tag, a new branch.
    let a_dlg = Dlg::uac(&inv, &a_ok, CARRIER);
    net.send(CARRIER, &a_dlg.ack(1).render());
    let out = net.take();
    let b_ack = out.one_to(OUT2);
    assert!(b_ack.is_req("ACK"), "{out:?}");
    assert_eq!(b_ack.cseq(), "1 ACK");
    assert_eq!(b_ack.msg.to_tag(), Some(B_TAG));
    assert_eq!(b_ack.msg.from_tag(), Some(b_from_tag.as_str()));
    assert_eq!(b_ack.msg.call_id(), b.msg.call_id());
    assert_ne!(b_ack.branch(), b.branch(), "the ACK for a 2xx is its own transaction");
    assert_eq!(b_ack.msg.request_uri_str(), "sip:b@127.0.0.3:5080", "ACK goes to B's Contact");
    out.none_to(CARRIER);

    // A hangs up.
    let mut a_dlg = a_dlg;
    net.send(CARRIER, &a_dlg.request("BYE").render());
    let out = net.take();
    let bye_ok = out.one_to(CARRIER);
    assert!(bye_ok.is_resp(200), "{out:?}");
    assert_eq!(bye_ok.cseq(), "2 BYE");
    let b_bye = out.one_to(OUT2).clone();
    assert!(b_bye.is_req("BYE"), "{out:?}");
    assert_eq!(b_bye.cseq(), "2 BYE");
    assert_eq!(b_bye.msg.to_tag(), Some(B_TAG));
    assert_eq!(b_bye.msg.call_id(), b.msg.call_id());
    assert!(out.cdrs().is_empty(), "the CDR waits for B's answer to the BYE");

    net.send(OUT2, &reply(&b_bye, 200, "OK", B_TAG, OUT2).render());
    let out = net.take();
    out.nothing();
    let cdr = out.cdr();
    assert_eq!(cdr.status, 200);
    assert_eq!(cdr.cause, "normal");
    assert_eq!(cdr.hangup_by, "caller");
    assert!(cdr.answer_ms.is_some());
    assert_eq!(cdr.a_call_id, inv.get("Call-ID").unwrap());
    assert_eq!(cdr.b_call_id, b.msg.call_id());
    assert_eq!(cdr.callee, "9000");
    assert_eq!(cdr.destination, "trunk:out2");
    assert_eq!(net.engine.active_calls(), 0);
    assert_eq!(net.engine.stats().cdrs, 1);
}

// ------------------------------------------------------------------ 2

#[test]
fn bye_from_callee_is_relayed_to_caller() {
    let mut net = Net::standard();
    let (inv, a_dlg, b_inv, mut b_dlg) = connected_call(&mut net);
    net.send(OUT2, &b_dlg.request("BYE").render());
    let out = net.take();
    let ok = out.one_to(OUT2);
    assert!(ok.is_resp(200), "{out:?}");
    assert_eq!(ok.cseq(), "101 BYE");
    let a_bye = out.one_to(CARRIER).clone();
    assert!(a_bye.is_req("BYE"), "{out:?}");
    assert_eq!(a_bye.msg.call_id(), inv.get("Call-ID").unwrap());
    // In A's dialog the switch is the UAS: From carries A's To tag, To A's From.
    assert_eq!(a_bye.msg.from_tag(), tag_of(&a_dlg.remote).as_deref());
    assert_eq!(a_bye.msg.to_tag(), tag_of(&a_dlg.local).as_deref());
    assert_eq!(a_bye.msg.request_uri_str(), format!("sip:+15550100@{CARRIER}"), "BYE goes to A's Contact");
    assert_eq!(a_bye.msg.cseq().unwrap().method.as_str(), "BYE");

    net.send(CARRIER, &reply(&a_bye, 200, "OK", "x", CARRIER).render());
    let out = net.take();
    out.nothing();
    let cdr = out.cdr();
    assert_eq!((cdr.status, cdr.cause.as_str(), cdr.hangup_by.as_str()), (200, "normal", "callee"));
    assert_eq!(cdr.b_call_id, b_inv.msg.call_id());
    assert_eq!(net.engine.active_calls(), 0);
}

// ------------------------------------------------------------------ 3

#[test]
fn cancel_after_ringing() {
    let mut net = Net::standard();
    let (inv, b) = trunk_call(&mut net, "9000", OUT2);
    net.send(OUT2, &reply(&b, 180, "Ringing", B_TAG, OUT2).render());
    let a180 = net.take().one_to(CARRIER).clone();
    assert!(a180.is_resp(180));

    net.send(CARRIER, &cancel(&inv).render());
    let out = net.take();
    let to_a = out.to(CARRIER);
    assert_eq!(out.codes_to(CARRIER), vec![200, 487], "{out:?}");
    assert_eq!(to_a[0].cseq(), "1 CANCEL");
    assert_eq!(to_a[1].cseq(), "1 INVITE");
    assert_eq!(to_a[1].msg.to_tag(), a180.msg.to_tag(), "the 487 keeps the To tag of the 180");
    let b_cancel = out.one_to(OUT2).clone();
    assert!(b_cancel.is_req("CANCEL"), "{out:?}");
    assert_eq!(b_cancel.branch(), b.branch(), "CANCEL has the INVITE's branch");
    assert_eq!(b_cancel.cseq(), "1 CANCEL");
    assert_eq!(b_cancel.msg.call_id(), b.msg.call_id());
    assert_eq!(b_cancel.msg.request_uri_str(), b.msg.request_uri_str());
    assert_eq!(b_cancel.h(H::From), b.h(H::From));
    assert!(b_cancel.msg.to_tag().is_none(), "CANCEL's To is the INVITE's To");

    // A acknowledges its 487 (absorbed by the transaction layer).
    net.send(CARRIER, &ack_non2xx(&inv, to_a[1]).render());
    net.take().nothing();

    net.send(OUT2, &reply(&b_cancel, 200, "OK", B_TAG, OUT2).render());
    net.take().nothing();
    net.send(OUT2, &reply(&b, 487, "Request Terminated", B_TAG, OUT2).render());
    let out = net.take();
    let ack = out.one_to(OUT2);
    assert!(ack.is_req("ACK"), "{out:?}");
    assert_eq!(ack.cseq(), "1 ACK");
    assert_eq!(ack.branch(), b.branch(), "the ACK for a non-2xx is part of the INVITE transaction");
    assert_eq!(ack.msg.to_tag(), Some(B_TAG));
    let cdr = out.cdr();
    assert_eq!((cdr.status, cdr.cause.as_str(), cdr.hangup_by.as_str()), (487, "cancelled", "caller"));
    assert_eq!(net.engine.active_calls(), 0);
}

#[test]
fn cancel_before_any_provisional_is_held_until_one_arrives() {
    let mut net = Net::standard();
    let (inv, b) = trunk_call(&mut net, "9000", OUT2);
    net.send(CARRIER, &cancel(&inv).render());
    let out = net.take();
    assert_eq!(out.codes_to(CARRIER), vec![200, 487], "{out:?}");
    // RFC 3261 §9.1: no CANCEL before a provisional response.
    assert!(out.to(OUT2).iter().all(|m| !m.is_req("CANCEL")), "CANCEL sent before any provisional: {out:?}");
    net.advance_ms(200);
    assert!(net.take().to(OUT2).iter().all(|m| !m.is_req("CANCEL")));

    net.send(OUT2, &reply(&b, 100, "Trying", B_TAG, OUT2).render());
    let out = net.take();
    let c = out.req(OUT2, "CANCEL");
    assert_eq!(c.branch(), b.branch());
    assert_eq!(c.cseq(), "1 CANCEL");
    out.none_to(CARRIER);

    net.send(OUT2, &reply(c, 200, "OK", B_TAG, OUT2).render());
    net.send(OUT2, &reply(&b, 487, "Request Terminated", B_TAG, OUT2).render());
    let out = net.take();
    assert!(out.one_to(OUT2).is_req("ACK"));
    out.none_to(CARRIER);
    assert_eq!(out.cdr().cause, "cancelled");
    assert_eq!(net.engine.active_calls(), 0);
}

// ------------------------------------------------------------------ 4

#[test]
fn busy_callee() {
    let mut net = Net::standard();
    let (_inv, b) = trunk_call(&mut net, "9000", OUT2);
    net.send(OUT2, &reply(&b, 486, "Busy Here", B_TAG, OUT2).render());
    let out = net.take();
    let busy = out.one_to(CARRIER);
    assert!(busy.is_resp(486), "{out:?}");
    assert!(busy.msg.to_tag().is_some());
    let ack = out.one_to(OUT2);
    assert!(ack.is_req("ACK") && ack.branch() == b.branch(), "{out:?}");
    let cdr = out.cdr();
    assert_eq!((cdr.status, cdr.cause.as_str()), (486, "busy"));
    assert_eq!(net.engine.active_calls(), 0);
}

#[test]
fn refusals_without_a_b_leg() {
    let mut net = Net::standard();
    // No route.
    let inv = invite(CARRIER, "+15550100", "7777");
    net.send(CARRIER, &inv.render());
    let out = net.take();
    assert_eq!(out.codes_to(CARRIER).last(), Some(&404), "{out:?}");
    assert_eq!(out.cdr().cause, "unknown-number");
    assert_eq!(out.msgs.len(), out.to(CARRIER).len(), "nothing else sent: {out:?}");

    // A configured user with no registration.
    let inv = invite(CARRIER, "+15550100", "1002");
    net.send(CARRIER, &inv.render());
    let out = net.take();
    assert_eq!(out.codes_to(CARRIER).last(), Some(&480), "{out:?}");
    assert_eq!(out.msgs.len(), out.to(CARRIER).len(), "{out:?}");

    // Max-Forwards: 0.
    let inv = invite(CARRIER, "+15550100", "9000").set("Max-Forwards", "0");
    net.send(CARRIER, &inv.render());
    let out = net.take();
    assert_eq!(out.codes_to(CARRIER), vec![483], "{out:?}");
    out.none_to(OUT2);
    assert_eq!(net.engine.active_calls(), 0);
}

#[test]
fn draining_refuses_new_calls_with_retry_after() {
    let mut net = Net::standard();
    net.engine.begin_drain(net.now);
    let inv = invite(CARRIER, "+15550100", "9000");
    net.send(CARRIER, &inv.render());
    let out = net.take();
    let r = out.one_to(CARRIER);
    assert!(r.is_resp(503), "{out:?}");
    assert_eq!(r.h(H::RetryAfter), "5");
    out.none_to(OUT2);
}

#[test]
fn call_limit_refuses_with_retry_after() {
    let cfg = CONFIG.replace("[[users]]\nname = \"1001\"", "[limits]\nmax_calls = 1\nretry_after_s = 7\n\n[[users]]\nname = \"1001\"");
    let mut net = Net::new(&cfg);
    let (_inv, _b) = trunk_call(&mut net, "9000", OUT2);
    let inv2 = invite(CARRIER, "+15550101", "9001");
    net.send(CARRIER, &inv2.render());
    let out = net.take();
    let r = out.one_to(CARRIER);
    assert!(r.is_resp(503), "{out:?}");
    assert_eq!(r.h(H::RetryAfter), "7");
    out.none_to(OUT2);
    assert_eq!(net.engine.active_calls(), 1);
}

// ------------------------------------------------------------------ 5

#[test]
fn failover_on_503() {
    let mut net = Net::standard();
    let (_inv, b) = trunk_call(&mut net, "9000", OUT2);
    net.send(OUT2, &reply(&b, 503, "Service Unavailable", "t503", OUT2).render());
    let out = net.take();
    assert!(out.one_to(OUT2).is_req("ACK"), "503 is acknowledged: {out:?}");
    out.none_to(CARRIER);
    let b2 = out.one_to(OUT3).clone();
    assert!(b2.is_req("INVITE"), "{out:?}");
    assert_eq!(b2.msg.request_uri_str(), "sip:9000@127.0.0.4:5080");
    assert_eq!(b2.cseq(), "1 INVITE");
    assert_ne!(b2.msg.call_id(), b.msg.call_id());
    assert_eq!(b2.body(), SDP_A);

    net.send(OUT3, &reply(&b2, 200, "OK", B_TAG, OUT3).sdp(SDP_B).render());
    let out = net.take();
    let ok = out.one_to(CARRIER);
    assert!(ok.is_resp(200), "{out:?}");
    assert_eq!(ok.body(), SDP_B);
    assert_eq!(net.engine.active_calls(), 1);
}

#[test]
fn failover_on_timer_b() {
    let mut net = Net::standard();
    let (_inv, b) = trunk_call(&mut net, "9000", OUT2);
    let t0 = net.elapsed();
    net.advance(Duration::from_secs(31));
    let out = net.take();
    // Timer A retransmissions at T1, 2T1, 4T1, ... (RFC 3261 §17.1.1.2).
    let times: Vec<Duration> = out.to(OUT2).iter().map(|m| m.at - t0).collect();
    assert!(out.to(OUT2).iter().all(|m| m.is_req("INVITE") && m.branch() == b.branch()));
    let ms = |v: &[u64]| v.iter().map(|&x| Duration::from_millis(x)).collect::<Vec<_>>();
    assert_eq!(times, ms(&[500, 1500, 3500, 7500, 15500, 31500][..5]), "{out:?}");
    out.none_to(OUT3);
    net.advance(Duration::from_secs(1));
    let out = net.take();
    let b2 = out.one_to(OUT3);
    assert!(b2.is_req("INVITE"), "{out:?}");
    assert_eq!(b2.at - t0, Duration::from_secs(32), "Timer B is 64*T1");
    out.none_to(CARRIER);
}

// ------------------------------------------------------------------ 6

#[test]
fn outbound_trunk_auth() {
    let mut net = Net::standard();
    let (_inv, b) = trunk_call(&mut net, "8123", OUT);
    let chal = reply(&b, 407, "Proxy Authentication Required", "t407", OUT)
        .h("Proxy-Authenticate", r#"Digest realm="carrier.example", nonce="n0nce-1", qop="auth", algorithm=MD5, opaque="op""#);
    net.send(OUT, &chal.render());
    let out = net.take();
    out.none_to(CARRIER);
    let to_b = out.to(OUT);
    assert_eq!(to_b.len(), 2, "ACK for the 407, then the INVITE with credentials: {out:?}");
    assert!(to_b[0].is_req("ACK") && to_b[0].branch() == b.branch() && to_b[0].cseq() == "1 ACK");
    let b2 = to_b[1].clone();
    assert!(b2.is_req("INVITE"));
    assert_eq!(b2.cseq(), "2 INVITE");
    assert_eq!(b2.msg.call_id(), b.msg.call_id());
    assert_eq!(b2.msg.from_tag(), b.msg.from_tag());
    assert_ne!(b2.branch(), b.branch());
    assert!(b2.msg.to_tag().is_none());
    assert_eq!(b2.body(), SDP_A);
    let creds = Credentials::parse(b2.h(H::ProxyAuthorization)).expect("Proxy-Authorization parses");
    assert_eq!(creds.username, "sy-out");
    assert_eq!(creds.realm, "carrier.example");
    assert_eq!(creds.nonce, "n0nce-1");
    assert_eq!(creds.uri, b2.msg.request_uri_str());
    assert_eq!(creds.opaque.as_deref(), Some("op"));
    assert_eq!(creds.nc, Some(1));
    assert!(digest_is_right(&creds, "INVITE", "trunk-secret"), "wrong digest: {creds:?}");
    assert!(!digest_is_right(&creds, "INVITE", "other"));

    net.send(OUT, &reply(&b2, 200, "OK", B_TAG, OUT).sdp(SDP_B).render());
    let out = net.take();
    assert!(out.one_to(CARRIER).is_resp(200), "{out:?}");
    assert_eq!(net.engine.active_calls(), 1);
}

// ------------------------------------------------------------------ 7

#[test]
fn reinvite_hold_is_relayed() {
    let mut net = Net::standard();
    let (_inv, mut a_dlg, b_inv, _b_dlg) = connected_call(&mut net);
    let reinv = a_dlg.request("INVITE").h("Contact", format!("<sip:+15550100@{CARRIER}>")).sdp(SDP_HOLD);
    assert_eq!(reinv.cseq_num(), 2);
    net.send(CARRIER, &reinv.render());
    let out = net.take();
    let b_re = out.req(OUT2, "INVITE").clone();
    assert_eq!(b_re.cseq(), "2 INVITE");
    assert_eq!(b_re.msg.call_id(), b_inv.msg.call_id());
    assert_eq!(b_re.msg.from_tag(), b_inv.msg.from_tag());
    assert_eq!(b_re.msg.to_tag(), Some(B_TAG));
    assert_eq!(b_re.body(), SDP_HOLD);
    assert_eq!(b_re.msg.request_uri_str(), "sip:b@127.0.0.3:5080");
    assert!(out.to(CARRIER).iter().all(|m| m.msg.status().is_some_and(|c| c < 200)), "{out:?}");

    let b_ok = reply(&b_re, 200, "OK", B_TAG, OUT2).sdp(SDP_B);
    net.send(OUT2, &b_ok.render());
    let out = net.take();
    let a_ok = out.resp(CARRIER, 200);
    assert_eq!(a_ok.cseq(), "2 INVITE");
    assert_eq!(a_ok.body(), SDP_B);
    assert_eq!(a_ok.msg.to_tag(), tag_of(&a_dlg.remote).as_deref());
    assert!(out.to(OUT2).iter().all(|m| !m.is_req("ACK")), "B's ACK waits for A's: {out:?}");

    net.send(CARRIER, &a_dlg.ack(2).render());
    let out = net.take();
    let ack = out.one_to(OUT2);
    assert!(ack.is_req("ACK"), "{out:?}");
    assert_eq!(ack.cseq(), "2 ACK");
    assert_eq!(ack.msg.to_tag(), Some(B_TAG));
    assert_ne!(ack.branch(), b_re.branch());
}

#[test]
fn reinvite_glare_gets_491() {
    let mut net = Net::standard();
    let (_inv, mut a_dlg, _b_inv, mut b_dlg) = connected_call(&mut net);
    net.send(CARRIER, &a_dlg.request("INVITE").sdp(SDP_HOLD).render());
    let out = net.take();
    let b_re = out.req(OUT2, "INVITE").clone();
    let from_b = b_dlg.request("INVITE").h("Contact", format!("<sip:b@{OUT2}>")).sdp(SDP_B);
    net.send(OUT2, &from_b.render());
    let out = net.take();
    let r = out.resp(OUT2, 491);
    assert_eq!(r.cseq(), "101 INVITE");
    out.none_to(CARRIER);
    let _ = b_re;
}

// ------------------------------------------------------------------ 8

#[test]
fn two_hundred_to_caller_is_retransmitted_until_ack() {
    let mut net = Net::standard();
    let (inv, b) = trunk_call(&mut net, "9000", OUT2);
    net.send(OUT2, &reply(&b, 200, "OK", B_TAG, OUT2).sdp(SDP_B).render());
    let out = net.take();
    let first = out.resp(CARRIER, 200).clone();
    let t0 = first.at;
    net.advance(Duration::from_millis(7600));
    let out = net.take();
    let re: Vec<Duration> = out.to(CARRIER).iter().map(|m| m.at - t0).collect();
    assert!(out.to(CARRIER).iter().all(|m| m.is_resp(200) && m.msg.as_bytes() == first.msg.as_bytes()), "{out:?}");
    let ms = |v: &[u64]| v.iter().map(|&x| Duration::from_millis(x)).collect::<Vec<_>>();
    assert_eq!(re, ms(&[500, 1500, 3500, 7500]), "T1, 2T1, 4T1 ... apart: {out:?}");
    // capped at T2 = 4 s
    net.advance(Duration::from_millis(4000));
    let out = net.take();
    assert_eq!(out.to(CARRIER).iter().map(|m| m.at - t0).collect::<Vec<_>>(), ms(&[11500]));
    out.none_to(OUT2);

    let a_dlg = Dlg::uac(&inv, &first, CARRIER);
    net.send(CARRIER, &a_dlg.ack(1).render());
    assert!(net.take().one_to(OUT2).is_req("ACK"));
    net.advance(Duration::from_secs(30));
    let out = net.take();
    out.none_to(CARRIER);
    assert_eq!(net.engine.active_calls(), 1);
}

#[test]
fn no_ack_ends_the_call_after_64_t1() {
    let mut net = Net::standard();
    let (_inv, b) = trunk_call(&mut net, "9000", OUT2);
    net.send(OUT2, &reply(&b, 200, "OK", B_TAG, OUT2).sdp(SDP_B).render());
    let t0 = net.take().resp(CARRIER, 200).at;
    net.advance(Duration::from_millis(31_900));
    let out = net.take();
    assert!(out.to(CARRIER).iter().all(|m| m.is_resp(200)), "{out:?}");
    out.none_to(OUT2);
    net.advance(Duration::from_millis(100));
    let out = net.take();
    let a_bye = out.req(CARRIER, "BYE").clone();
    assert_eq!(a_bye.at - t0, Duration::from_secs(32));
    let to_b = out.to(OUT2);
    assert_eq!(to_b.len(), 2, "ACK then BYE to B: {out:?}");
    assert!(to_b[0].is_req("ACK") && to_b[0].cseq() == "1 ACK");
    assert!(to_b[1].is_req("BYE"));
    let b_bye = to_b[1].clone();
    net.send(CARRIER, &reply(&a_bye, 200, "OK", "x", CARRIER).render());
    net.send(OUT2, &reply(&b_bye, 200, "OK", B_TAG, OUT2).render());
    let out = net.take();
    let cdr = out.cdr();
    assert_eq!((cdr.status, cdr.cause.as_str(), cdr.hangup_by.as_str()), (200, "no-ack", "switch"));
    assert_eq!(net.engine.active_calls(), 0);
}

// ------------------------------------------------------------------ 9, 10

const PHONE_1001: &str = "127.0.0.1:5062";
const PHONE_1002A: &str = "127.0.0.21:5060";
const PHONE_1002B: &str = "127.0.0.22:5060";

/// Registers `user` from `src` (401 then 200); returns the 200.
fn do_register(net: &mut Net, src: &str, user: &str, password: &str) -> Sent {
    let reg = register(src, user, &uniq("reg-"), 1);
    net.send(src, &reg.render());
    let out = net.take();
    let chal = out.resp(src, 401).clone();
    net.send(src, &answer_challenge(&reg, &chal.msg, user, password).render());
    let out = net.take();
    out.resp(src, 200).clone()
}

/// An INVITE from 1001 answered through its 407; returns the authenticated INVITE.
fn authed_invite(net: &mut Net, to_user: &str) -> Msg {
    let inv = invite(PHONE_1001, "1001", to_user);
    net.send(PHONE_1001, &inv.render());
    let out = net.take();
    let chal = out.resp(PHONE_1001, 407).clone();
    net.send(PHONE_1001, &ack_non2xx(&inv, &chal).render());
    let inv2 = answer_challenge(&inv, &chal.msg, "1001", "pw-1001");
    net.send(PHONE_1001, &inv2.render());
    inv2
}

#[test]
fn parallel_fork_cancels_the_loser_and_hangs_up_a_late_answer() {
    let mut net = Net::standard();
    do_register(&mut net, PHONE_1002A, "1002", "pw-1002");
    do_register(&mut net, PHONE_1002B, "1002", "pw-1002");
    assert_eq!(net.engine.bindings(), 2);
    net.take();

    let _inv = authed_invite(&mut net, "1002");
    let out = net.take();
    assert_eq!(out.codes_to(PHONE_1001), vec![100], "{out:?}");
    let ba = out.req(PHONE_1002A, "INVITE").clone();
    let bb = out.req(PHONE_1002B, "INVITE").clone();
    assert_eq!(ba.msg.request_uri_str(), format!("sip:1002@{PHONE_1002A}"));
    assert_eq!(bb.msg.request_uri_str(), format!("sip:1002@{PHONE_1002B}"));
    assert_ne!(ba.msg.call_id(), bb.msg.call_id());
    assert!(ba.msg.header(H::ProxyAuthorization).is_none(), "credentials never leak to the callee");

    net.send(PHONE_1002A, &reply(&ba, 180, "Ringing", "ta", PHONE_1002A).render());
    net.send(PHONE_1002B, &reply(&bb, 180, "Ringing", "tb", PHONE_1002B).render());
    let out = net.take();
    assert_eq!(out.codes_to(PHONE_1001), vec![180, 180], "{out:?}");

    net.send(PHONE_1002A, &reply(&ba, 200, "OK", "ta", PHONE_1002A).sdp(SDP_B).render());
    let out = net.take();
    assert_eq!(out.codes_to(PHONE_1001), vec![200], "{out:?}");
    out.none_to(PHONE_1002A);
    let c = out.one_to(PHONE_1002B).clone();
    assert!(c.is_req("CANCEL"), "{out:?}");
    assert_eq!(c.branch(), bb.branch());

    // B answers anyway (the 200 crossed the CANCEL): ACK it and BYE it.
    net.send(PHONE_1002B, &reply(&c, 200, "OK", "tb", PHONE_1002B).render());
    net.send(PHONE_1002B, &reply(&bb, 200, "OK", "tb", PHONE_1002B).sdp(SDP_B).render());
    let out = net.take();
    let to_b = out.to(PHONE_1002B);
    assert_eq!(to_b.len(), 2, "{out:?}");
    assert!(to_b[0].is_req("ACK") && to_b[0].cseq() == "1 ACK" && to_b[0].msg.to_tag() == Some("tb"));
    assert!(to_b[1].is_req("BYE") && to_b[1].msg.to_tag() == Some("tb") && to_b[1].msg.call_id() == bb.msg.call_id());
    out.none_to(PHONE_1001);
    out.none_to(PHONE_1002A);
}

#[test]
fn invite_from_a_user_is_challenged_with_md5_then_sha256() {
    let mut net = Net::standard();
    let inv = invite(PHONE_1001, "1001", "9000");
    net.send(PHONE_1001, &inv.render());
    let out = net.take();
    let chal = out.one_to(PHONE_1001).clone();
    assert!(chal.is_resp(407), "{out:?}");
    out.none_to(OUT2);
    let chs: Vec<&str> = chal.msg.header_lines(H::ProxyAuthenticate).collect();
    assert_eq!(chs.len(), 2, "{chal:?}");
    let c0 = switchyard::sip::auth::Challenge::parse(chs[0]).unwrap();
    let c1 = switchyard::sip::auth::Challenge::parse(chs[1]).unwrap();
    assert_eq!(c0.algorithm.as_str(), "MD5");
    assert_eq!(c1.algorithm.as_str(), "SHA-256");
    assert_eq!(c0.realm, "switchyard.test");
    assert!(c0.qop_auth && c1.qop_auth);
    net.send(PHONE_1001, &ack_non2xx(&inv, &chal).render());
    net.take().nothing();

    let good = answer_challenge_alg(&inv, &chal.msg, "1001", "pw-1001", "SHA-256");
    net.send(PHONE_1001, &good.render());
    let out = net.take();
    assert_eq!(out.codes_to(PHONE_1001), vec![100], "{out:?}");
    let b = out.req(OUT2, "INVITE");
    assert!(b.h(H::From).contains("sip:1001@"), "{b:?}");
    assert!(b.msg.header(H::ProxyAuthorization).is_none());
}

#[test]
fn invite_with_wrong_password_gets_403() {
    let mut net = Net::standard();
    let inv = invite(PHONE_1001, "1001", "9000");
    net.send(PHONE_1001, &inv.render());
    let chal = net.take().resp(PHONE_1001, 407).clone();
    let bad = answer_challenge(&inv, &chal.msg, "1001", "wrong");
    net.send(PHONE_1001, &bad.render());
    let out = net.take();
    assert_eq!(out.codes_to(PHONE_1001), vec![403], "{out:?}");
    out.none_to(OUT2);
    assert_eq!(net.engine.active_calls(), 0);
}

#[test]
fn register_flow() {
    let mut net = Net::standard();
    let call_id = uniq("reg-");
    let reg = register(PHONE_1001, "1001", &call_id, 1);
    net.send(PHONE_1001, &reg.render());
    let out = net.take();
    let chal = out.one_to(PHONE_1001).clone();
    assert!(chal.is_resp(401), "{out:?}");
    assert_eq!(chal.msg.header_lines(H::WwwAuthenticate).count(), 2);
    assert!(out.store.is_empty());

    let reg2 = answer_challenge(&reg, &chal.msg, "1001", "pw-1001");
    net.send(PHONE_1001, &reg2.render());
    let out = net.take();
    let ok = out.one_to(PHONE_1001);
    assert!(ok.is_resp(200), "{out:?}");
    assert_eq!(ok.h(H::Contact), format!("<sip:1001@{PHONE_1001}>;expires=600"));
    assert!(ok.msg.header(H::Date).is_some());
    match &out.store[..] {
        [StoreOp::SaveBinding(b)] => {
            assert_eq!(b.aor, "1001");
            assert_eq!(b.contact, format!("sip:1001@{PHONE_1001}"));
            assert_eq!(b.source, addr(PHONE_1001));
        }
        other => panic!("expected one SaveBinding, got {other:?}"),
    }
    assert_eq!(net.engine.bindings(), 1);

    // Replaying the same Authorization (same nonce and nc) in a new transaction.
    let replay = next_tx(&reg2).set("CSeq", reg2.get("CSeq").unwrap());
    let replay = replay.clone().set("CSeq", format!("{} REGISTER", reg2.cseq_num() + 1));
    net.send(PHONE_1001, &replay.render());
    let out = net.take();
    let r = out.one_to(PHONE_1001);
    assert!(r.is_resp(401), "a replayed nonce count must not authenticate: {out:?}");
    let stale = switchyard::sip::auth::Challenge::parse(r.msg.header(H::WwwAuthenticate).unwrap()).unwrap();
    assert!(stale.stale, "replay of a right digest is answered stale=true: {r:?}");
    assert!(out.store.is_empty());

    // Expires 30 < min 60: 423 with Min-Expires.
    let chal = r.clone();
    let brief = answer_challenge(&replay.clone().set("Expires", "30"), &chal.msg, "1001", "pw-1001");
    net.send(PHONE_1001, &brief.render());
    let out = net.take();
    let r = out.one_to(PHONE_1001);
    assert!(r.is_resp(423), "{out:?}");
    assert_eq!(r.h(H::MinExpires), "60");

    // Contact: * with Expires: 0 removes every binding.
    let star = next_tx(&brief).set("Contact", "*").set("Expires", "0");
    net.send(PHONE_1001, &star.render());
    let chal = net.take().resp(PHONE_1001, 401).clone();
    let star = answer_challenge(&star, &chal.msg, "1001", "pw-1001");
    net.send(PHONE_1001, &star.render());
    let out = net.take();
    let ok = out.one_to(PHONE_1001);
    assert!(ok.is_resp(200), "{out:?}");
    assert!(ok.msg.header(H::Contact).is_none(), "no bindings left: {ok:?}");
    assert!(
        out.store.iter().any(|op| matches!(op, StoreOp::RemoveAll { aor } if aor == "1001")
            || matches!(op, StoreOp::RemoveBinding { aor, .. } if aor == "1001")),
        "{:?}",
        out.store
    );
    assert_eq!(net.engine.bindings(), 0);
}

#[test]
fn register_for_another_user_is_forbidden() {
    let mut net = Net::standard();
    let reg = register(PHONE_1001, "1002", &uniq("reg-"), 1);
    net.send(PHONE_1001, &reg.render());
    let chal = net.take().resp(PHONE_1001, 401).clone();
    let reg2 = answer_challenge(&reg, &chal.msg, "1001", "pw-1001");
    net.send(PHONE_1001, &reg2.render());
    let out = net.take();
    assert_eq!(out.codes_to(PHONE_1001), vec![403], "{out:?}");
    assert!(out.store.is_empty());
    assert_eq!(net.engine.bindings(), 0);
}

// ------------------------------------------------------------------ 11

const REG_TRUNK: &str = "127.0.0.5:5080";

fn reg_config() -> String {
    format!(
        "{CONFIG}\n[[trunks]]\nname = \"reg\"\nproxy = \"{REG_TRUNK}\"\nusername = \"acct\"\npassword = \"reg-secret\"\nregister = true\nregister_retry_min_s = 5\nregister_retry_max_s = 60\n"
    )
}

#[test]
fn trunk_registration_refresh_and_backoff() {
    let mut net = Net::new(&reg_config());
    let out = net.take();
    let r1 = out.one_to(REG_TRUNK).clone();
    assert!(r1.is_req("REGISTER"), "{out:?}");
    assert_eq!(r1.msg.request_uri_str(), "sip:127.0.0.5:5080");
    assert_eq!(r1.cseq(), "1 REGISTER");
    assert!(r1.h(H::To).contains("sip:acct@127.0.0.5"));
    assert!(r1.msg.header(H::Authorization).is_none());
    assert_eq!(r1.h(H::Expires), "300");

    let chal = reply(&r1, 401, "Unauthorized", "rt", REG_TRUNK)
        .h("WWW-Authenticate", r#"Digest realm="carrier", nonce="rn-1", qop="auth", algorithm=MD5"#);
    net.send(REG_TRUNK, &chal.render());
    let out = net.take();
    let r2 = out.one_to(REG_TRUNK).clone();
    assert!(r2.is_req("REGISTER"), "{out:?}");
    assert_eq!(r2.cseq(), "2 REGISTER");
    assert_eq!(r2.msg.call_id(), r1.msg.call_id());
    assert_ne!(r2.branch(), r1.branch());
    let creds = Credentials::parse(r2.h(H::Authorization)).expect("Authorization");
    assert_eq!(creds.username, "acct");
    assert_eq!(creds.uri, "sip:127.0.0.5:5080");
    assert!(digest_is_right(&creds, "REGISTER", "reg-secret"));

    let ok = reply(&r2, 200, "OK", "rt", REG_TRUNK).set("Contact", "<sip:acct@127.0.0.1:5060>;expires=60");
    net.send(REG_TRUNK, &ok.render());
    let t_ok = net.elapsed();
    net.take().nothing();
    net.advance(Duration::from_secs(47));
    net.take().none_to(REG_TRUNK);
    net.advance(Duration::from_secs(2));
    let out = net.take();
    let new = out.new_requests_to(REG_TRUNK);
    assert_eq!(new.len(), 1, "{out:?}");
    let r3 = new[0].clone();
    assert!(r3.is_req("REGISTER"));
    assert_eq!(r3.at - t_ok, Duration::from_secs(48), "refresh at 80 % of 60 s");
    assert_eq!(r3.msg.call_id(), r1.msg.call_id());

    // Carrier fails: retry after register_retry_min_s, then doubling.
    net.send(REG_TRUNK, &reply(&r3, 503, "Service Unavailable", "rt", REG_TRUNK).render());
    let t_fail = net.elapsed();
    net.take().nothing();
    net.advance(Duration::from_secs(6));
    let out = net.take();
    let new = out.new_requests_to(REG_TRUNK);
    assert_eq!(new.len(), 1, "{out:?}");
    let r4 = new[0].clone();
    assert_eq!(r4.at - t_fail, Duration::from_secs(5));
    net.send(REG_TRUNK, &reply(&r4, 503, "Service Unavailable", "rt", REG_TRUNK).render());
    let t_fail = net.elapsed();
    net.advance(Duration::from_secs(11));
    let out = net.take();
    let new = out.new_requests_to(REG_TRUNK);
    assert_eq!(new.len(), 1, "{out:?}");
    assert_eq!(new[0].at - t_fail, Duration::from_secs(10), "back-off doubles");
    let r5 = new[0].clone();
    net.send(REG_TRUNK, &reply(&r5, 503, "Service Unavailable", "rt", REG_TRUNK).render());
    let t_fail = net.elapsed();
    net.advance(Duration::from_secs(21));
    let new_at: Vec<Duration> = net.take().new_requests_to(REG_TRUNK).iter().map(|m| m.at - t_fail).collect();
    assert_eq!(new_at, vec![Duration::from_secs(20)]);
}

/// A refresh that reuses the carrier's nonce must count up nc (RFC 7616
/// §3.4: nc counts the requests sent with that nonce); a server with replay
/// protection, this switch's own registrar included, refuses a repeated nc.
#[test]
fn trunk_registration_refresh_does_not_replay_the_nonce_count() {
    let mut net = Net::new(&reg_config());
    let r1 = net.take().one_to(REG_TRUNK).clone();
    let chal = reply(&r1, 401, "Unauthorized", "rt", REG_TRUNK)
        .h("WWW-Authenticate", r#"Digest realm="carrier", nonce="rn-1", qop="auth", algorithm=MD5"#);
    net.send(REG_TRUNK, &chal.render());
    let r2 = net.take().one_to(REG_TRUNK).clone();
    let c2 = Credentials::parse(r2.h(H::Authorization)).unwrap();
    net.send(REG_TRUNK, &reply(&r2, 200, "OK", "rt", REG_TRUNK).set("Contact", "<sip:acct@127.0.0.1:5060>;expires=60").render());
    net.advance(Duration::from_secs(48));
    let out = net.take();
    let r3 = out.new_requests_to(REG_TRUNK)[0].clone();
    if let Some(a) = r3.msg.header(H::Authorization) {
        let c3 = Credentials::parse(a).unwrap();
        if c3.nonce == c2.nonce {
            assert!(
                c3.nc > c2.nc,
                "refresh reuses nonce {} with nc {:?} again (first use had nc {:?}):\n{}",
                c3.nonce,
                c3.nc,
                c2.nc,
                r3.text()
            );
        }
    }
}

// ------------------------------------------------------------------ 12

#[test]
fn garbage_gets_no_answer() {
    let mut net = Net::standard();
    net.send_bytes(CARRIER, b"\x00\x01\x02 hello \xff\xfe");
    net.send_bytes(CARRIER, b"");
    net.send_bytes(CARRIER, b"\r\n\r\n");
    net.take().nothing();
    assert!(net.engine.stats().malformed >= 1);
}

#[test]
fn bad_via_gets_400() {
    let mut net = Net::standard();
    let inv = invite(CARRIER, "+15550100", "9000").set("Via", "SIP/2.0/UDP ;;branch");
    net.send(CARRIER, &inv.render());
    let out = net.take_raw();
    out.none_to(OUT2);
    // The Via is copied verbatim into the 400 (RFC 3261 §8.2.6.2), so the
    // answer need not parse: check its status line.
    let all: Vec<String> = out.msgs.iter().map(|m| m.text()).chain(out.unparsed.iter().map(|(_, t)| t.clone())).collect();
    assert_eq!(all.len(), 1, "{all:?}");
    assert!(all[0].starts_with("SIP/2.0 400 "), "{all:?}");
    assert_eq!(out.unparsed.iter().map(|(a, _)| *a).chain(out.msgs.iter().map(|m| m.to)).next(), Some(addr(CARRIER)));
    assert_eq!(net.engine.active_calls(), 0);
}

#[test]
fn responses_are_never_answered() {
    let mut net = Net::standard();
    let stray = Msg::response(200, "OK")
        .h("Via", format!("SIP/2.0/UDP 127.0.0.1:5060;branch={}", branch()))
        .h("From", "<sip:x@h>;tag=1")
        .h("To", "<sip:y@h>;tag=2")
        .h("Call-ID", "nobody")
        .h("CSeq", "1 OPTIONS");
    net.send(CARRIER, &stray.render());
    let bad = "SIP/2.0 200 OK\r\nVia: garbage\r\nContent-Length: 0\r\n\r\n";
    net.send(CARRIER, bad);
    let bad2 = "SIP/2.0 99999 Huge\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\nFrom: <sip:a@h>;tag=1\r\nTo: <sip:b@h>\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\nContent-Length: 0\r\n\r\n";
    net.send(CARRIER, bad2);
    net.take().nothing();
}

// ------------------------------------------------------------------ leaks

/// After calls end and the RFC 3261 timers run out (64·T1), the core holds
/// nothing for them: no call, no Call-ID, no transaction, no timer.
#[test]
fn nothing_is_kept_after_calls_end() {
    let mut net = Net::standard();
    for _ in 0..50 {
        let (_inv, mut a_dlg, _b_inv, _b_dlg) = connected_call(&mut net);
        net.send(CARRIER, &a_dlg.request("BYE").render());
        let out = net.take();
        let b_bye = out.req(OUT2, "BYE").clone();
        net.send(OUT2, &reply(&b_bye, 200, "OK", B_TAG, OUT2).render());
        net.take();
    }
    assert_eq!(net.engine.active_calls(), 0);
    let busy = net.engine.table_sizes();
    assert!(busy.transactions > 0, "transactions linger for 64·T1 by design: {busy:?}");
    net.advance(Duration::from_secs(40));
    let sizes = net.engine.table_sizes();
    assert_eq!(
        sizes,
        switchyard::engine::TableSizes::default(),
        "40 s after the last call everything is gone (was {busy:?})"
    );
}

/// Every answer the switch makes itself carries a To tag (RFC 3261 §8.2.6.2)
/// and its Server header, OPTIONS included.
#[test]
fn options_answer_has_a_to_tag_and_capabilities() {
    let mut net = Net::standard();
    let opt = Msg::request("OPTIONS", "sip:127.0.0.1:5060")
        .h("Via", format!("SIP/2.0/UDP {CARRIER};branch={}", branch()))
        .h("Max-Forwards", "70")
        .h("From", format!("<sip:probe@127.0.0.1>;tag={}", uniq("o")))
        .h("To", "<sip:127.0.0.1:5060>")
        .h("Call-ID", uniq("opt-"))
        .h("CSeq", "1 OPTIONS");
    net.send(CARRIER, &opt.render());
    let out = net.take();
    let ok = out.resp(CARRIER, 200);
    assert!(ok.msg.to_tag().is_some(), "{ok:?}");
    assert!(ok.h(H::Allow).contains("INVITE"), "{ok:?}");
    assert!(ok.msg.header(H::Server).is_some(), "{ok:?}");
}
