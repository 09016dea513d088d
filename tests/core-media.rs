//! Media anchoring against the sans-IO engine, in virtual time: the SDP the
//! switch writes towards each leg (RFC 3264 offer/answer, its own address and
//! ports), the commands it hands the media plane, and what it does with the
//! media plane's events. SDP bodies are parsed and checked on the model.

#[path = "core-support/mod.rs"]
mod support;

use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

use support::*;
use switchyard::media::{LegParams, LegQuality, MediaCommand, MediaEvent, MediaId, MediaSide};
use switchyard::sdp::{self, Direction, MediaDescription, SessionDescription};
use switchyard::sip::HeaderName as H;
use switchyard::store::StoreOp;
use switchyard_codecs::CodecKind;

const B_TAG: &str = "btag-media";
/// The switch's media address: the IP of its first UDP listener.
const SWITCH_IP: &str = "127.0.0.1";
/// A's and B's media addresses, distinct from the switch's so that a relayed
/// c= line cannot pass for a rewritten one.
const A_IP: &str = "10.1.1.1";
const B_IP: &str = "10.2.2.2";

fn anchored_with(port_min: u16, port_max: u16) -> Net {
    assert!(CONFIG.contains("anchor = false\n"), "CONFIG changed: adapt core-media.rs");
    let media = format!("anchor = true\nport_min = {port_min}\nport_max = {port_max}\n");
    Net::new(&CONFIG.replacen("anchor = false\n", &media, 1))
}

/// 25 blocks of four ports: 30000, 30004, ... 30096.
fn anchored() -> Net {
    anchored_with(30000, 30099)
}

/// An SDP from a pretend endpoint; telephone-event is mapped when PT 101 is listed.
fn sdp_from(user: &str, version: u32, ip: &str, port: u16, pts: &str, dir: &str) -> String {
    let mut s = format!("v=0\r\no={user} 7 {version} IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP {pts}\r\n");
    if pts.split(' ').any(|p| p == "101") {
        s.push_str("a=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\n");
    }
    s.push_str(&format!("a={dir}\r\n"));
    s
}

fn a_sdp(version: u32, pts: &str, dir: &str) -> String {
    sdp_from("a", version, A_IP, 40000, pts, dir)
}

fn b_sdp(version: u32, pts: &str, dir: &str) -> String {
    sdp_from("b", version, B_IP, 50000, pts, dir)
}

fn parsed(s: &Sent) -> SessionDescription {
    assert_eq!(s.h(H::ContentType), "application/sdp", "{s:?}");
    sdp::parse(s.msg.body()).unwrap_or_else(|e| panic!("the switch sent SDP that does not parse ({e}): {s:?}"))
}

fn audio(d: &SessionDescription) -> &MediaDescription {
    assert_eq!(d.media.len(), 1, "{d:?}");
    &d.media[0]
}

/// (PT, encoding, clock rate) of every format of the m-line, in order.
fn formats(m: &MediaDescription) -> Vec<(u8, String, u32)> {
    m.codecs().into_iter().map(|c| (c.pt, c.name, c.clock_rate)).collect()
}

/// Audio codecs (not events, not CN) of the m-line, in order.
fn kinds(m: &MediaDescription) -> Vec<(u8, CodecKind)> {
    m.codecs().iter().filter_map(|c| c.kind().map(|k| (c.pt, k))).collect()
}

/// Checks that `d` is the switch's own SDP on `port` and returns its version.
fn assert_switch_sdp(d: &SessionDescription, port: u16) -> u64 {
    let ip: IpAddr = SWITCH_IP.parse().unwrap();
    assert_eq!(d.connection.as_ref().map(|c| c.addr), Some(ip), "c= {d:?}");
    assert_eq!((d.origin.username.as_str(), d.origin.address.as_str()), ("switchyard", SWITCH_IP), "o= {d:?}");
    assert_eq!(audio(d).port, port, "{d:?}");
    assert!(audio(d).connection.is_none(), "no media-level c= of someone else: {d:?}");
    d.origin.session_version
}

/// What the switch should tell the media plane about a leg sending from `remote`.
fn leg(remote: &str, codec: CodecKind, pt: u8, te: Option<u8>, send: bool, recv: bool) -> LegParams {
    let remote: SocketAddr = remote.parse().unwrap();
    LegParams {
        remote: Some(remote),
        remote_rtcp: Some(SocketAddr::new(remote.ip(), remote.port() + 1)),
        rtcp_mux: false,
        codec,
        pt,
        ptime_ms: 20,
        telephone_event: te,
        comfort_noise: None,
        send,
        recv,
    }
}

fn updates(cmds: &[MediaCommand]) -> Vec<(MediaSide, LegParams)> {
    cmds.iter()
        .filter_map(|c| match c {
            MediaCommand::Update { side, params, .. } => Some((*side, params.clone())),
            _ => None,
        })
        .collect()
}

fn opens(cmds: &[MediaCommand]) -> Vec<(MediaId, [u16; 2])> {
    cmds.iter()
        .filter_map(|c| match c {
            MediaCommand::Open { id, addr, ports } => {
                assert_eq!(addr.to_string(), SWITCH_IP);
                Some((*id, *ports))
            }
            _ => None,
        })
        .collect()
}

fn closes(cmds: &[MediaCommand]) -> Vec<(MediaId, String)> {
    cmds.iter()
        .filter_map(|c| match c {
            MediaCommand::Close { id, cdr_id } => Some((*id, cdr_id.clone())),
            _ => None,
        })
        .collect()
}

/// A carrier call to 9000 (trunk out2) with `body` as A's SDP (None: no
/// body); returns A's INVITE and the switch's INVITE to B.
fn place(net: &mut Net, body: Option<&str>) -> (Msg, Sent) {
    let mut inv = invite(CARRIER, "+15550100", "9000").remove("Content-Type");
    inv.body.clear();
    if let Some(b) = body {
        inv = inv.sdp(b);
    }
    net.send(CARRIER, &inv.render());
    let out = net.take();
    assert_eq!(out.codes_to(CARRIER), vec![100], "{out:?}");
    (inv, out.req(OUT2, "INVITE").clone())
}

/// An established call: both dialogs, and A's 200.
struct Up {
    a: Dlg,
    b: Dlg,
    b_inv: Sent,
    a_ok: Sent,
    id: MediaId,
}

/// Places a call with `a_body`, B answers with `b_body`, A ACKs; media
/// commands up to here are drained.
fn up(net: &mut Net, a_body: &str, b_body: &str) -> Up {
    let (inv, b_inv) = place(net, Some(a_body));
    let ok = reply(&b_inv, 200, "OK", B_TAG, OUT2).sdp(b_body);
    net.send(OUT2, &ok.render());
    let a_ok = net.take().resp(CARRIER, 200).clone();
    let a = Dlg::uac(&inv, &a_ok, CARRIER);
    net.send(CARRIER, &a.ack(1).render());
    assert!(net.take().one_to(OUT2).is_req("ACK"));
    let id = opens(&net.take_media())[0].0;
    Up { a, b: Dlg::uas(&b_inv, &ok, OUT2), b_inv, a_ok, id }
}

/// A hangs up, B answers the BYE; returns what that produced.
fn hang_up(net: &mut Net, a: &mut Dlg) -> Out {
    net.send(CARRIER, &a.request("BYE").render());
    let out = net.take();
    assert!(out.resp(CARRIER, 200).cseq().ends_with("BYE"));
    let b_bye = out.req(OUT2, "BYE").clone();
    net.send(OUT2, &reply(&b_bye, 200, "OK", B_TAG, OUT2).render());
    net.take()
}

fn reinvite(net: &mut Net, a: &mut Dlg, body: &str) -> Out {
    let re = a.request("INVITE").h("Contact", format!("<sip:+15550100@{CARRIER}>")).sdp(body);
    net.send(CARRIER, &re.render());
    net.take()
}

// ------------------------------------------------------------------ 1

#[test]
fn offer_to_b_is_the_switchs_own_with_a_codecs_first() {
    let mut net = anchored();
    let (_inv, b_inv) = place(&mut net, Some(&a_sdp(1, "0 8 101", "sendrecv")));
    let d = parsed(&b_inv);
    assert_eq!(assert_switch_sdp(&d, 30002), 1);
    let m = audio(&d);
    assert_eq!(m.direction, Some(Direction::SendRecv));
    // A's formats first on A's payload types, then G.722 and opus on PTs A
    // did not use, then events for opus' clock and CN.
    let f = formats(m);
    assert_eq!(&f[..3], &[(0, "PCMU".into(), 8000), (8, "PCMA".into(), 8000), (101, "telephone-event".into(), 8000)]);
    assert_eq!(kinds(m), vec![(0, CodecKind::Pcmu), (8, CodecKind::Pcma), (9, CodecKind::G722), (96, CodecKind::Opus)]);
    let mut pts: Vec<u8> = m.payload_types().collect();
    let n = pts.len();
    pts.sort_unstable();
    pts.dedup();
    assert_eq!(pts.len(), n, "payload types clash: {f:?}");
    assert_eq!(m.fmtp(101), Some("0-16"), "A's telephone-event kept with its events");
    let cmds = net.take_media();
    assert_eq!(opens(&cmds).len(), 1, "{cmds:?}");
    assert_eq!(opens(&cmds)[0].1, [30000, 30002]);
    assert_eq!(cmds.len(), 1, "nothing negotiated yet: {cmds:?}");
    assert_eq!(net.engine.table_sizes().media_ports, 1);
}

// ------------------------------------------------------------------ 2

#[test]
fn same_codec_answer_gives_a_relay_and_the_switchs_answer_to_a() {
    let mut net = anchored();
    let (_inv, b_inv) = place(&mut net, Some(&a_sdp(1, "0 8 101", "sendrecv")));
    let id = opens(&net.take_media())[0].0;
    net.send(OUT2, &reply(&b_inv, 200, "OK", B_TAG, OUT2).sdp(&b_sdp(1, "0 101", "sendrecv")).render());
    let out = net.take();
    let d = parsed(out.resp(CARRIER, 200));
    assert_eq!(assert_switch_sdp(&d, 30000), 1);
    let m = audio(&d);
    assert_eq!(formats(m), vec![(0, "PCMU".into(), 8000), (101, "telephone-event".into(), 8000)]);
    assert_eq!(m.direction, Some(Direction::SendRecv));
    let cmds = net.take_media();
    assert!(cmds.iter().all(|c| matches!(c, MediaCommand::Update { id: i, .. } if *i == id)), "{cmds:?}");
    assert_eq!(
        updates(&cmds),
        vec![
            (MediaSide::B, leg("10.2.2.2:50000", CodecKind::Pcmu, 0, Some(101), true, true)),
            (MediaSide::A, leg("10.1.1.1:40000", CodecKind::Pcmu, 0, Some(101), true, true)),
        ]
    );
}

// ------------------------------------------------------------------ 3

#[test]
fn different_codec_answer_keeps_a_on_its_codec_and_transcodes() {
    let mut net = anchored();
    let (_inv, b_inv) = place(&mut net, Some(&a_sdp(1, "0", "sendrecv")));
    let offer = parsed(&b_inv);
    assert!(kinds(audio(&offer)).contains(&(9, CodecKind::G722)), "G.722 appended for B: {offer:?}");
    net.take_media();
    net.send(OUT2, &reply(&b_inv, 200, "OK", B_TAG, OUT2).sdp(&b_sdp(1, "9", "sendrecv")).render());
    let d = parsed(net.take().resp(CARRIER, 200));
    assert_switch_sdp(&d, 30000);
    assert_eq!(formats(audio(&d)), vec![(0, "PCMU".into(), 8000)]);
    assert_eq!(
        updates(&net.take_media()),
        vec![
            (MediaSide::B, leg("10.2.2.2:50000", CodecKind::G722, 9, None, true, true)),
            (MediaSide::A, leg("10.1.1.1:40000", CodecKind::Pcmu, 0, None, true, true)),
        ]
    );
}

#[test]
fn answer_with_a_codec_never_offered_fails_the_call_with_488() {
    let mut net = anchored();
    let (_inv, b_inv) = place(&mut net, Some(&a_sdp(1, "0 8", "sendrecv")));
    let id = opens(&net.take_media())[0].0;
    // GSM (PT 3) was not in the switch's offer: RFC 3264 §6 forbids it.
    net.send(OUT2, &reply(&b_inv, 200, "OK", B_TAG, OUT2).sdp(&b_sdp(1, "3", "sendrecv")).render());
    let out = net.take();
    assert_eq!(out.codes_to(CARRIER), vec![488], "{out:?}");
    assert_eq!(out.new_requests_to(OUT2).iter().map(|m| m.msg.method().as_str().to_owned()).collect::<Vec<_>>(), vec!["ACK", "BYE"]);
    let cdr = out.cdr();
    assert_eq!(cdr.status, 488);
    assert!(updates(&net.media).is_empty());
    assert_eq!(closes(&net.take_media()), vec![(id, cdr.id.clone())]);
    assert_eq!(net.engine.table_sizes().media_ports, 0);
}

// ------------------------------------------------------------------ 4

/// A's INVITE is refused by the switch itself: `code` to A, no B leg, a CDR,
/// no media bound, no port kept.
fn assert_refused(body: &str, code: u16, cause: &str) {
    let mut net = anchored();
    let inv = invite(CARRIER, "+15550100", "9000").sdp(body);
    net.send(CARRIER, &inv.render());
    let out = net.take();
    assert_eq!(out.codes_to(CARRIER), vec![100, code], "{out:?}");
    out.none_to(OUT2);
    let cdr = out.cdr();
    assert_eq!((cdr.status, cdr.cause.as_str(), cdr.b_call_id.as_str()), (code, cause, ""));
    assert!(net.take_media().is_empty());
    assert_eq!(net.engine.table_sizes().media_ports, 0);
    assert_eq!(net.engine.active_calls(), 0);
}

#[test]
fn offer_without_any_audio_stream_gets_488() {
    assert_refused(&a_sdp(1, "0", "sendrecv").replace("m=audio 40000", "m=video 40000"), 488, "bad-sdp");
}

#[test]
fn offer_without_a_codec_the_switch_carries_gets_488() {
    assert_refused(&a_sdp(1, "3", "sendrecv"), 488, "bad-sdp");
}

#[test]
fn unreadable_sdp_gets_400() {
    assert_refused("this is not SDP\r\nat all\r\n", 400, "bad-sdp");
}

// ------------------------------------------------------------------ 5

#[test]
fn late_offer_b_offers_in_200_a_answers_in_ack() {
    let mut net = anchored();
    let (inv, b_inv) = place(&mut net, None);
    assert!(b_inv.msg.body().is_empty(), "no offer to invent for B: {b_inv:?}");
    assert!(b_inv.msg.header(H::ContentType).is_none());
    assert_eq!(opens(&net.take_media())[0].1, [30000, 30002]);

    net.send(OUT2, &reply(&b_inv, 200, "OK", B_TAG, OUT2).sdp(&b_sdp(1, "0 8 101", "sendrecv")).render());
    let a_ok = net.take().resp(CARRIER, 200).clone();
    let offer = parsed(&a_ok);
    assert_switch_sdp(&offer, 30000);
    assert_eq!(&kinds(audio(&offer))[..2], &[(0, CodecKind::Pcmu), (8, CodecKind::Pcma)], "B's codecs first");
    assert!(net.take_media().is_empty(), "nothing negotiated before the answer");

    let a = Dlg::uac(&inv, &a_ok, CARRIER);
    net.send(CARRIER, &a.ack(1).sdp(&a_sdp(1, "8 101", "sendrecv")).render());
    let out = net.take();
    let ack = out.req(OUT2, "ACK");
    let d = parsed(ack);
    assert_switch_sdp(&d, 30002);
    assert_eq!(formats(audio(&d)), vec![(8, "PCMA".into(), 8000), (101, "telephone-event".into(), 8000)]);
    assert_eq!(
        updates(&net.take_media()),
        vec![
            (MediaSide::A, leg("10.1.1.1:40000", CodecKind::Pcma, 8, Some(101), true, true)),
            (MediaSide::B, leg("10.2.2.2:50000", CodecKind::Pcma, 8, Some(101), true, true)),
        ]
    );
}

// ------------------------------------------------------------------ 6

#[test]
fn early_answer_and_final_answer_are_identical() {
    let mut net = anchored();
    let (_inv, b_inv) = place(&mut net, Some(&a_sdp(1, "0 8 101", "sendrecv")));
    net.take_media();
    let b = b_sdp(1, "8 101", "sendrecv");
    net.send(OUT2, &reply(&b_inv, 183, "Session Progress", B_TAG, OUT2).sdp(&b).render());
    let early = net.take().resp(CARRIER, 183).clone();
    let first = updates(&net.take_media());
    assert_eq!(first.len(), 2, "{first:?}");
    net.send(OUT2, &reply(&b_inv, 200, "OK", B_TAG, OUT2).sdp(&b).render());
    let ok = net.take().resp(CARRIER, 200).clone();
    // RFC 3264 §8: the same answer twice is one SDP, with one o= version.
    assert_eq!(parsed(&early), parsed(&ok));
    assert_eq!(early.msg.body(), ok.msg.body());
    assert_switch_sdp(&parsed(&ok), 30000);
    assert_eq!(kinds(audio(&parsed(&ok))), vec![(8, CodecKind::Pcma)]);
    assert!(net.take_media().is_empty(), "nothing changed for the media plane");
}

// ------------------------------------------------------------------ 7

/// A re-INVITE from A with direction `a_dir`, answered by B with `b_dir`:
/// returns the switch's SDP to B and to A.
fn direction_change(net: &mut Net, call: &mut Up, version: u32, a_dir: &str, b_dir: &str) -> (SessionDescription, SessionDescription) {
    let out = reinvite(net, &mut call.a, &a_sdp(version, "0 8 101", a_dir));
    let b_re = out.req(OUT2, "INVITE").clone();
    let to_b = parsed(&b_re);
    net.send(OUT2, &reply(&b_re, 200, "OK", B_TAG, OUT2).sdp(&b_sdp(version, "0 101", b_dir)).render());
    let to_a = parsed(net.take().resp(CARRIER, 200));
    net.send(CARRIER, &call.a.ack(call.a.cseq).render());
    assert!(net.take().req(OUT2, "ACK").msg.body().is_empty());
    (to_b, to_a)
}

#[test]
fn hold_and_resume_from_a() {
    let mut net = anchored();
    let mut call = up(&mut net, &a_sdp(1, "0 8 101", "sendrecv"), &b_sdp(1, "0 101", "sendrecv"));
    let v_b = parsed(&call.b_inv).origin.session_version;
    let v_a = parsed(&call.a_ok).origin.session_version;

    let (to_b, to_a) = direction_change(&mut net, &mut call, 2, "sendonly", "recvonly");
    assert_eq!(assert_switch_sdp(&to_b, 30002), v_b + 1);
    assert_eq!(audio(&to_b).direction, Some(Direction::SendOnly));
    assert_eq!(assert_switch_sdp(&to_a, 30000), v_a + 1);
    assert_eq!(audio(&to_a).direction, Some(Direction::RecvOnly));
    assert_eq!(
        updates(&net.take_media()),
        vec![
            (MediaSide::B, leg("10.2.2.2:50000", CodecKind::Pcmu, 0, Some(101), true, false)),
            (MediaSide::A, leg("10.1.1.1:40000", CodecKind::Pcmu, 0, Some(101), false, true)),
        ]
    );

    let (to_b, to_a) = direction_change(&mut net, &mut call, 3, "sendrecv", "sendrecv");
    assert_eq!(assert_switch_sdp(&to_b, 30002), v_b + 2);
    assert_eq!(audio(&to_b).direction, Some(Direction::SendRecv));
    assert_eq!(assert_switch_sdp(&to_a, 30000), v_a + 2);
    assert_eq!(audio(&to_a).direction, Some(Direction::SendRecv));
    assert_eq!(
        updates(&net.take_media()),
        vec![
            (MediaSide::B, leg("10.2.2.2:50000", CodecKind::Pcmu, 0, Some(101), true, true)),
            (MediaSide::A, leg("10.1.1.1:40000", CodecKind::Pcmu, 0, Some(101), true, true)),
        ]
    );
    let out = hang_up(&mut net, &mut call.a);
    assert_eq!(out.cdr().status, 200);
}

#[test]
fn hold_from_b_is_offered_to_a_by_the_switch() {
    let mut net = anchored();
    let mut call = up(&mut net, &a_sdp(1, "0 8 101", "sendrecv"), &b_sdp(1, "0 101", "sendrecv"));
    let v_b = parsed(&call.b_inv).origin.session_version;
    let v_a = parsed(&call.a_ok).origin.session_version;
    let re = call.b.request("INVITE").h("Contact", format!("<sip:b@{OUT2}>")).sdp(&b_sdp(2, "0 101", "sendonly"));
    net.send(OUT2, &re.render());
    let a_re = net.take().req(CARRIER, "INVITE").clone();
    let to_a = parsed(&a_re);
    assert_eq!(assert_switch_sdp(&to_a, 30000), v_a + 1);
    assert_eq!(audio(&to_a).direction, Some(Direction::SendOnly));
    net.send(CARRIER, &reply(&a_re, 200, "OK", "x", CARRIER).sdp(&a_sdp(2, "0 101", "recvonly")).render());
    let to_b = parsed(net.take().resp(OUT2, 200));
    assert_eq!(assert_switch_sdp(&to_b, 30002), v_b + 1);
    assert_eq!(audio(&to_b).direction, Some(Direction::RecvOnly));
    assert_eq!(formats(audio(&to_b)), vec![(0, "PCMU".into(), 8000), (101, "telephone-event".into(), 8000)]);
    assert_eq!(
        updates(&net.take_media()),
        vec![
            (MediaSide::A, leg("10.1.1.1:40000", CodecKind::Pcmu, 0, Some(101), true, false)),
            (MediaSide::B, leg("10.2.2.2:50000", CodecKind::Pcmu, 0, Some(101), false, true)),
        ]
    );
    net.send(OUT2, &call.b.ack(call.b.cseq).render());
    assert!(net.take().req(CARRIER, "ACK").msg.body().is_empty());
}

#[test]
fn hold_with_the_unspecified_address_stops_sending_to_a() {
    let mut net = anchored();
    let mut call = up(&mut net, &a_sdp(1, "0 8 101", "sendrecv"), &b_sdp(1, "0 101", "sendrecv"));
    // RFC 3264 §8.4 (RFC 2543 style): c=0.0.0.0 asks the switch not to send.
    let out = reinvite(&mut net, &mut call.a, &sdp_from("a", 2, "0.0.0.0", 40000, "0 8 101", "sendrecv"));
    let b_re = out.req(OUT2, "INVITE").clone();
    let to_b = parsed(&b_re);
    assert_switch_sdp(&to_b, 30002);
    assert_eq!(audio(&to_b).direction, Some(Direction::SendOnly), "the hold is passed on to B");
    net.send(OUT2, &reply(&b_re, 200, "OK", B_TAG, OUT2).sdp(&b_sdp(2, "0 101", "recvonly")).render());
    let to_a = parsed(net.take().resp(CARRIER, 200));
    assert_switch_sdp(&to_a, 30000);
    assert_eq!(audio(&to_a).direction, Some(Direction::RecvOnly));
    let held_a = LegParams { remote: None, remote_rtcp: None, ..leg("10.1.1.1:40000", CodecKind::Pcmu, 0, Some(101), false, true) };
    assert_eq!(
        updates(&net.take_media()),
        vec![(MediaSide::B, leg("10.2.2.2:50000", CodecKind::Pcmu, 0, Some(101), true, false)), (MediaSide::A, held_a)]
    );
}

#[test]
fn offerless_reinvite_offer_in_200_answer_in_ack() {
    let mut net = anchored();
    let mut call = up(&mut net, &a_sdp(1, "0 8 101", "sendrecv"), &b_sdp(1, "0 101", "sendrecv"));
    let v_b = parsed(&call.b_inv).origin.session_version;
    let v_a = parsed(&call.a_ok).origin.session_version;
    let re = call.a.request("INVITE").h("Contact", format!("<sip:+15550100@{CARRIER}>"));
    net.send(CARRIER, &re.render());
    let b_re = net.take().req(OUT2, "INVITE").clone();
    assert!(b_re.msg.body().is_empty(), "{b_re:?}");
    net.send(OUT2, &reply(&b_re, 200, "OK", B_TAG, OUT2).sdp(&b_sdp(2, "0 8 101", "sendrecv")).render());
    let to_a = parsed(net.take().resp(CARRIER, 200));
    assert_eq!(assert_switch_sdp(&to_a, 30000), v_a + 1);
    assert_eq!(&kinds(audio(&to_a))[..2], &[(0, CodecKind::Pcmu), (8, CodecKind::Pcma)]);
    assert!(net.take_media().is_empty(), "nothing negotiated before the answer");
    net.send(CARRIER, &call.a.ack(call.a.cseq).sdp(&a_sdp(2, "8 101", "sendrecv")).render());
    let to_b = parsed(net.take().req(OUT2, "ACK"));
    assert_eq!(assert_switch_sdp(&to_b, 30002), v_b + 1);
    assert_eq!(formats(audio(&to_b)), vec![(8, "PCMA".into(), 8000), (101, "telephone-event".into(), 8000)]);
    assert_eq!(
        updates(&net.take_media()),
        vec![
            (MediaSide::A, leg("10.1.1.1:40000", CodecKind::Pcma, 8, Some(101), true, true)),
            (MediaSide::B, leg("10.2.2.2:50000", CodecKind::Pcma, 8, Some(101), true, true)),
        ]
    );
}

#[test]
fn unchanged_reoffer_keeps_the_version() {
    let mut net = anchored();
    let mut call = up(&mut net, &a_sdp(1, "0 8 101", "sendrecv"), &b_sdp(1, "0 101", "sendrecv"));
    let v_b = parsed(&call.b_inv).origin.session_version;
    let v_a = parsed(&call.a_ok).origin.session_version;
    // A session refresh with the same SDP (RFC 4028): nothing changed, so
    // the switch's SDPs keep their versions (RFC 3264 §8).
    let (to_b, to_a) = direction_change(&mut net, &mut call, 1, "sendrecv", "sendrecv");
    assert_eq!(to_b, parsed(&call.b_inv));
    assert_eq!((to_b.origin.session_version, to_a.origin.session_version), (v_b, v_a));
    assert!(net.take_media().is_empty());
}

// ------------------------------------------------------------------ 8

/// A re-INVITE the switch refuses with `code`; the call stays up.
fn assert_reinvite_refused(body: &str, code: u16) {
    let mut net = anchored();
    let mut call = up(&mut net, &a_sdp(1, "0 8 101", "sendrecv"), &b_sdp(1, "0 101", "sendrecv"));
    let out = reinvite(&mut net, &mut call.a, body);
    assert_eq!(out.codes_to(CARRIER).last(), Some(&code), "{out:?}");
    assert!(out.to(OUT2).is_empty(), "nothing relayed to B: {out:?}");
    assert!(net.take_media().is_empty());
    assert_eq!(net.engine.active_calls(), 1);

    // The old session goes on: a later re-INVITE is relayed and the BYE works.
    let out = reinvite(&mut net, &mut call.a, &a_sdp(3, "0 8 101", "sendrecv"));
    let b_re = out.req(OUT2, "INVITE").clone();
    net.send(OUT2, &reply(&b_re, 200, "OK", B_TAG, OUT2).sdp(&b_sdp(2, "0 101", "sendrecv")).render());
    assert_switch_sdp(&parsed(net.take().resp(CARRIER, 200)), 30000);
    net.send(CARRIER, &call.a.ack(call.a.cseq).render());
    net.take().req(OUT2, "ACK");
    let out = hang_up(&mut net, &mut call.a);
    assert_eq!((out.cdr().status, out.cdr().cause.as_str()), (200, "normal"));
    assert_eq!(closes(&net.take_media()), vec![(call.id, out.cdr().id.clone())]);
}

#[test]
fn reinvite_without_audio_gets_488_and_the_call_stays_up() {
    assert_reinvite_refused(&a_sdp(2, "0", "sendrecv").replace("m=audio 40000", "m=video 40000"), 488);
}

#[test]
fn reinvite_with_unreadable_sdp_gets_400_and_the_call_stays_up() {
    assert_reinvite_refused("v=0\r\nnonsense\r\n", 400);
}

#[test]
fn reinvite_without_a_codec_the_switch_carries_gets_488() {
    assert_reinvite_refused(&a_sdp(2, "3", "sendrecv"), 488);
}

// ------------------------------------------------------------------ 9

#[test]
fn call_end_closes_media_once_and_gives_the_ports_back() {
    let mut net = anchored();
    let mut call = up(&mut net, &a_sdp(1, "0 8 101", "sendrecv"), &b_sdp(1, "0 101", "sendrecv"));
    assert_eq!(net.engine.table_sizes().media_ports, 1);
    let out = hang_up(&mut net, &mut call.a);
    let cmds = net.take_media();
    assert_eq!(cmds, vec![MediaCommand::Close { id: call.id, cdr_id: out.cdr().id.clone() }]);
    assert_eq!(net.engine.table_sizes().media_ports, 0);
    net.advance(Duration::from_secs(40));
    assert!(net.take_media().is_empty(), "closed once");
    let _ = call.b;
}

#[test]
fn cancelled_call_closes_media() {
    let mut net = anchored();
    let (inv, b_inv) = place(&mut net, Some(&a_sdp(1, "0", "sendrecv")));
    let id = opens(&net.take_media())[0].0;
    net.send(OUT2, &reply(&b_inv, 180, "Ringing", B_TAG, OUT2).render());
    net.take();
    net.send(CARRIER, &cancel(&inv).render());
    let b_cancel = net.take().req(OUT2, "CANCEL").clone();
    net.send(OUT2, &reply(&b_cancel, 200, "OK", B_TAG, OUT2).render());
    net.send(OUT2, &reply(&b_inv, 487, "Request Terminated", B_TAG, OUT2).render());
    let out = net.take();
    assert_eq!(out.cdr().status, 487);
    assert_eq!(closes(&net.take_media()), vec![(id, out.cdr().id.clone())]);
    assert_eq!(net.engine.table_sizes().media_ports, 0);
}

#[test]
fn fifty_sequential_calls_reuse_the_25_blocks() {
    let mut net = anchored();
    for n in 0..50u16 {
        let (inv, b_inv) = place(&mut net, Some(&a_sdp(1, "0 8 101", "sendrecv")));
        let cmds = net.take_media();
        let o = opens(&cmds);
        assert_eq!(o.len(), 1, "call {n}: {cmds:?}");
        // Least recently freed first: the blocks go round in order.
        let p = 30000 + 4 * (n % 25);
        assert_eq!(o[0].1, [p, p + 2], "call {n}");
        assert_eq!(audio(&parsed(&b_inv)).port, p + 2);
        net.send(OUT2, &reply(&b_inv, 200, "OK", B_TAG, OUT2).sdp(&b_sdp(1, "0 101", "sendrecv")).render());
        let a_ok = net.take().resp(CARRIER, 200).clone();
        assert_eq!(audio(&parsed(&a_ok)).port, p);
        let mut a = Dlg::uac(&inv, &a_ok, CARRIER);
        net.send(CARRIER, &a.ack(1).render());
        net.take();
        let out = hang_up(&mut net, &mut a);
        let c = closes(&net.take_media());
        assert_eq!(c, vec![(o[0].0, out.cdr().id.clone())], "call {n}");
        assert_eq!(net.engine.table_sizes().media_ports, 0, "call {n}");
    }
}

// ------------------------------------------------------------------ 10

#[test]
fn media_timeout_hangs_up_both_legs() {
    let mut net = anchored();
    let call = up(&mut net, &a_sdp(1, "0 8 101", "sendrecv"), &b_sdp(1, "0 101", "sendrecv"));
    net.engine.handle_media_event(net.now, MediaEvent::Timeout { id: call.id });
    net.advance(Duration::ZERO);
    let out = net.take();
    let a_bye = out.req(CARRIER, "BYE").clone();
    let b_bye = out.req(OUT2, "BYE").clone();
    assert_eq!(a_bye.msg.call_id(), call.a.call_id);
    assert_eq!(b_bye.msg.call_id(), call.b_inv.msg.call_id());
    assert!(out.cdrs().is_empty(), "the CDR waits for both BYEs' answers");
    net.send(CARRIER, &reply(&a_bye, 200, "OK", "x", CARRIER).render());
    net.send(OUT2, &reply(&b_bye, 200, "OK", B_TAG, OUT2).render());
    let out = net.take();
    let cdr = out.cdr();
    assert_eq!((cdr.status, cdr.cause.as_str(), cdr.hangup_by.as_str()), (200, "media-timeout", "switch"));
    assert_eq!(closes(&net.take_media()), vec![(call.id, cdr.id.clone())]);
    assert_eq!(net.engine.table_sizes().media_ports, 0);
    let _ = call.b;
}

#[test]
fn media_closed_writes_the_quality_of_the_cdr() {
    let mut net = anchored();
    let q = |packets: u64, lost: u64| LegQuality { packets, lost, jitter_ms: 3.5, rtt_ms: Some(42.0), mos: 4.1 };
    let quality = [q(1500, 3), q(1498, 0)];
    net.engine.handle_media_event(net.now, MediaEvent::Closed { cdr_id: "cdr-77".into(), quality });
    net.advance(Duration::ZERO);
    let out = net.take();
    out.nothing();
    assert_eq!(out.store, vec![StoreOp::CdrQuality { id: "cdr-77".into(), quality }]);
}

#[test]
fn ports_that_cannot_be_bound_fail_the_call_with_503() {
    let mut net = anchored();
    let (_inv, b_inv) = place(&mut net, Some(&a_sdp(1, "0", "sendrecv")));
    let id = opens(&net.take_media())[0].0;
    net.send(OUT2, &reply(&b_inv, 180, "Ringing", B_TAG, OUT2).render());
    assert_eq!(net.take().codes_to(CARRIER), vec![180]);
    net.engine.handle_media_event(net.now, MediaEvent::BindFailed { id });
    net.advance(Duration::ZERO);
    let out = net.take();
    assert_eq!(out.codes_to(CARRIER), vec![503], "{out:?}");
    let b_cancel = out.req(OUT2, "CANCEL").clone();
    net.send(OUT2, &reply(&b_cancel, 200, "OK", B_TAG, OUT2).render());
    net.send(OUT2, &reply(&b_inv, 487, "Request Terminated", B_TAG, OUT2).render());
    let out = net.take();
    let cdr = out.cdr();
    assert_eq!((cdr.status, cdr.cause.as_str(), cdr.hangup_by.as_str()), (503, "media-ports", "switch"));
    assert_eq!(closes(&net.take_media()), vec![(id, cdr.id.clone())]);
    assert_eq!(net.engine.table_sizes().media_ports, 0);
}

#[test]
fn media_events_for_unknown_sessions_are_ignored() {
    let mut net = anchored();
    net.engine.handle_media_event(net.now, MediaEvent::Timeout { id: MediaId(999) });
    net.engine.handle_media_event(net.now, MediaEvent::BindFailed { id: MediaId(999) });
    net.advance(Duration::ZERO);
    net.take().nothing();
    assert!(net.take_media().is_empty());
}

// ------------------------------------------------------------------ 11

#[test]
fn third_call_on_two_blocks_gets_503_no_media_ports() {
    let mut net = anchored_with(30000, 30007);
    let mut calls: Vec<Up> =
        (0..2).map(|_| up(&mut net, &a_sdp(1, "0", "sendrecv"), &b_sdp(1, "0", "sendrecv"))).collect();
    assert_eq!(net.engine.table_sizes().media_ports, 2);

    let inv = invite(CARRIER, "+15550100", "9000").sdp(&a_sdp(1, "0", "sendrecv"));
    net.send(CARRIER, &inv.render());
    let out = net.take();
    assert_eq!(out.codes_to(CARRIER), vec![100, 503], "{out:?}");
    assert_eq!(out.resp(CARRIER, 503).msg.reason(), "No Media Ports");
    out.none_to(OUT2);
    let cdr = out.cdr();
    assert_eq!((cdr.status, cdr.cause.as_str()), (503, "media-ports"));
    assert!(net.take_media().is_empty());
    assert_eq!(net.engine.active_calls(), 2);

    // One call ends: its block serves the next call.
    let mut first = calls.remove(0);
    hang_up(&mut net, &mut first.a);
    net.take_media();
    let (_inv, _b_inv) = place(&mut net, Some(&a_sdp(1, "0", "sendrecv")));
    assert_eq!(opens(&net.take_media())[0].1, [30000, 30002]);
    assert_eq!(net.engine.table_sizes().media_ports, 2);
}

