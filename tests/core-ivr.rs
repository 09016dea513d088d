//! The IVR in the sans-IO engine, in virtual time: the switch answers the caller itself,
//! drives the media plane (prompts, tones, recording), takes keys from it, and goes on to a
//! bridge after the menu: B gets the switch's own offer, B's 200 is ACKed by the switch and
//! never reaches A again. Menus time out, `read` fills a variable, webhooks set variables
//! and give actions, and a recording is stored and linked from the CDR.

#[path = "core-support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use support::*;
use switchyard::dialplan::Plan;
use switchyard::dialplan::audio::PromptAudio;
use switchyard::media::endpoint::{RecordEnd, Source};
use switchyard::media::{MediaCommand, MediaEvent, MediaId, MediaSide};
use switchyard::sip::HeaderName as H;
use switchyard::store::StoreOp;

const B_TAG: &str = "btag-ivr";

const PLAN: &str = r#"
context carrier {
  from trunk in
  ext 7000 {
    answer
    menu main prompt=demo-welcome timeout=3s retries=1 invalid=demo-welcome {
      1 => goto 7001
      2 => bridge trunk:out2/8001 timeout=10s
      timeout => goto 7002
    }
    hangup
  }
  ext 7001 {
    read ACCOUNT max=4 terminator=# timeout=2s
    webhook http://127.0.0.1:9/balance timeout=1s {
      hangup busy
    }
    bridge trunk:out2/${AGENT}
    hangup
  }
  ext 7002 {
    record file=msg-${CALLER} max=5s silence=1s beep=no
    hangup
  }
  ext 7003 {
    answer
    tone dial
    goto 7003
  }
  ext 9000 {
    bridge trunk:out2/9000
    hangup
  }
  ext 8005 {
    bridge trunk:out3/8005 timeout=20s
    hangup
  }
}
"#;

fn net() -> Net {
    assert!(CONFIG.contains("anchor = false\n"), "CONFIG changed: adapt core-ivr.rs");
    let cfg = CONFIG.split("[[routes]]").next().unwrap_or_default().replacen(
        "anchor = false\n",
        "anchor = true\nport_min = 30000\nport_max = 30099\n",
        1,
    );
    let mut net = Net::new(&cfg);
    let mut plan = Plan::from_texts(&[("t.dialplan".to_owned(), PLAN.to_owned())], None).unwrap_or_else(|e| panic!("{e}"));
    plan.audio = PromptAudio::embedded();
    net.engine.set_plan(Some(Arc::new(plan)));
    net
}

fn sdp(user: &str, ip: &str, port: u16) -> String {
    format!(
        "v=0\r\no={user} 7 1 IN IP4 {ip}\r\ns=-\r\nc=IN IP4 {ip}\r\nt=0 0\r\nm=audio {port} RTP/AVP 0 101\r\na=rtpmap:101 telephone-event/8000\r\na=fmtp:101 0-16\r\na=sendrecv\r\n"
    )
}

/// A call from the carrier to `to`, answered by the switch and ACKed: A's dialog, the media
/// id, and the media commands so far.
fn answered(net: &mut Net, to: &str) -> (Dlg, MediaId, Vec<MediaCommand>) {
    let inv = invite(CARRIER, "+15550100", to).remove("Content-Type");
    let mut inv = inv;
    inv.body.clear();
    let inv = inv.sdp(&sdp("a", "10.1.1.1", 40000));
    net.send(CARRIER, &inv.render());
    let out = net.take();
    assert_eq!(out.codes_to(CARRIER), [100, 200], "{out:?}");
    let ok = out.resp(CARRIER, 200).clone();
    assert_eq!(ok.h(H::ContentType), "application/sdp");
    assert!(ok.body().contains("c=IN IP4 127.0.0.1"), "{}", ok.body());
    out.none_to(OUT2);
    let a = Dlg::uac(&inv, &ok, CARRIER);
    net.send(CARRIER, &a.ack(1).render());
    let media = net.take_media();
    let id = media
        .iter()
        .find_map(|c| if let MediaCommand::Open { id, .. } = c { Some(*id) } else { None })
        .expect("media opened");
    assert!(
        media.iter().any(|c| matches!(c, MediaCommand::Update { side: MediaSide::A, .. })),
        "A's leg negotiated: {media:?}"
    );
    (a, id, media)
}

fn plays(cmds: &[MediaCommand]) -> Vec<(u32, Source)> {
    cmds.iter()
        .filter_map(|c| {
            if let MediaCommand::Play { seq, source, .. } = c {
                Some((*seq, source.clone()))
            } else {
                None
            }
        })
        .collect()
}

fn key(net: &mut Net, id: MediaId, digit: char) {
    net.engine.handle_media_event(
        net.now,
        MediaEvent::Dtmf {
            id,
            from: MediaSide::A,
            digit,
            duration_ms: 120,
        },
    );
    net.advance(Duration::ZERO);
}

#[test]
fn menu_key_bridges_after_the_ivr_and_b_answer_is_acked_by_the_switch() {
    let mut net = net();
    let (mut a, id, media) = answered(&mut net, "7000");
    let p = plays(&media);
    assert!(
        matches!(p.as_slice(), [(_, Source::Clips { clips, looped: false })] if clips.len() == 1),
        "{p:?}"
    );
    // Barge-in: the key stops the prompt and chooses.
    key(&mut net, id, '2');
    let out = net.take();
    let b_inv = out.req(OUT2, "INVITE").clone();
    assert!(
        b_inv.msg.request_uri_str().starts_with("sip:8001@"),
        "{}",
        b_inv.msg.request_uri_str()
    );
    assert!(
        b_inv.body().contains("c=IN IP4 127.0.0.1") && b_inv.body().contains("m=audio 30002 "),
        "the switch's own offer: {}",
        b_inv.body()
    );
    let p = plays(&net.take_media());
    assert!(
        matches!(p.last(), Some((_, Source::Tone { duration: None, .. }))),
        "ringback while B rings: {p:?}"
    );
    net.send(OUT2, &reply(&b_inv, 180, "Ringing", B_TAG, OUT2).render());
    net.take().none_to(CARRIER);
    let ok = reply(&b_inv, 200, "OK", B_TAG, OUT2).sdp(&sdp("b", "10.2.2.2", 50000));
    net.send(OUT2, &ok.render());
    let out = net.take();
    assert!(out.one_to(OUT2).is_req("ACK"), "{out:?}");
    out.none_to(CARRIER);
    let media = net.take_media();
    assert!(
        media.iter().any(|c| matches!(c, MediaCommand::Update { side: MediaSide::B, .. })),
        "{media:?}"
    );
    // Either side's BYE now reaches the other.
    net.send(CARRIER, &a.request("BYE").render());
    let out = net.take();
    let bye = out.req(OUT2, "BYE").clone();
    net.send(OUT2, &reply(&bye, 200, "OK", B_TAG, OUT2).render());
    let out = net.take();
    let cdr = out.cdr();
    assert_eq!(
        (cdr.status, cdr.destination.as_str(), cdr.hangup_by.as_str()),
        (200, "trunk:out2", "caller")
    );
}

#[test]
fn menu_times_out_after_its_retries_and_takes_the_timeout_branch_to_a_recording() {
    let mut net = net();
    let (mut a, id, media) = answered(&mut net, "7000");
    let (seq, _) = plays(&media)[0].clone();
    net.engine.handle_media_event(net.now, MediaEvent::Played { id, seq });
    net.advance(Duration::from_millis(2900));
    assert!(plays(&net.take_media()).is_empty(), "still waiting for a key");
    net.advance(Duration::from_millis(200));
    let (seq, _) = plays(&net.take_media()).pop().expect("the retry plays the prompt again");
    net.engine.handle_media_event(net.now, MediaEvent::Played { id, seq });
    net.advance(Duration::from_secs(3));
    let cmds = net.take_media();
    let rec = cmds.iter().find_map(|c| {
        if let MediaCommand::Record { seq, max, silence, .. } = c {
            Some((*seq, *max, *silence))
        } else {
            None
        }
    });
    let (rseq, max, silence) = rec.unwrap_or_else(|| panic!("timeout branch records: {cmds:?}"));
    assert_eq!((max, silence), (Duration::from_secs(5), Some(Duration::from_secs(1))));
    let pcm: Vec<i16> = (0..16000).map(|i| ((i as f64 * 0.2).sin() * 9000.0) as i16).collect();
    net.engine.handle_media_event(
        net.now,
        MediaEvent::Recorded {
            id,
            seq: rseq,
            pcm: pcm.clone(),
            rate: 8000,
            by: RecordEnd::Silence,
        },
    );
    net.advance(Duration::ZERO);
    let out = net.take();
    let bye = out.req(CARRIER, "BYE").clone();
    let rec = out
        .store
        .iter()
        .find_map(|op| if let StoreOp::Recording(r) = op { Some(r.clone()) } else { None })
        .expect("recording stored");
    assert!(rec.path.ends_with("recordings/msg-+15550100.wav"), "{}", rec.path.display());
    assert_eq!((rec.kind.as_str(), rec.pcm.len(), rec.rate), ("record", 16000, 8000));
    net.send(CARRIER, &reply(&bye, 200, "OK", &a.local, CARRIER).render());
    let out = net.take();
    assert_eq!(out.cdr().id, rec.cdr_id, "linked from the call's CDR");
    assert_eq!(out.cdr().destination, "ivr");
    let _ = &mut a;
}

#[test]
fn read_then_webhook_sets_variables_and_its_actions_run() {
    let mut net = net();
    let (_a, id, _) = answered(&mut net, "7000");
    key(&mut net, id, '1');
    for d in ['1', '2', '3', '#'] {
        key(&mut net, id, d);
    }
    let hook = net.engine.poll_webhook().expect("webhook request");
    assert_eq!(hook.url, "http://127.0.0.1:9/balance");
    assert_eq!(hook.timeout, Duration::from_secs(1));
    let body: serde_json::Value = serde_json::from_slice(&hook.body).expect("json");
    assert_eq!(body["vars"]["ACCOUNT"], "123");
    assert_eq!(body["caller"], "+15550100");
    assert_eq!(body["answered"], true);
    let reply_body = br#"{"set": {"AGENT": "8123"}, "actions": ["set GREETING=vip", "tone beep duration=200ms"]}"#;
    net.engine.handle_webhook_reply(net.now, hook.id, Ok(reply_body.to_vec()));
    net.advance(Duration::ZERO);
    let p = plays(&net.take_media());
    let (seq, src) = p.last().cloned().expect("the reply's tone plays");
    assert!(
        matches!(src, Source::Tone { duration: Some(d), .. } if d == Duration::from_millis(200)),
        "{src:?}"
    );
    net.engine.handle_media_event(net.now, MediaEvent::Played { id, seq });
    net.advance(Duration::ZERO);
    // Then the line after the webhook, with the variable the reply set.
    let out = net.take();
    let b_inv = out.req(OUT2, "INVITE");
    assert!(
        b_inv.msg.request_uri_str().starts_with("sip:8123@"),
        "{}",
        b_inv.msg.request_uri_str()
    );
}

#[test]
fn a_failed_or_invalid_webhook_runs_its_failure_block() {
    for reply in [
        Err("connection refused".to_owned()),
        Ok(b"not json".to_vec()),
        Ok(br#"{"actions": ["goto nowhere-at-all"]}"#.to_vec()),
        // `$1` is a capture: a reply may not set it, as `set` may not.
        Ok(br#"{"set": {"1": "x"}}"#.to_vec()),
    ] {
        let mut net = net();
        let (_a, id, _) = answered(&mut net, "7000");
        key(&mut net, id, '1');
        key(&mut net, id, '#');
        let hook = net.engine.poll_webhook().expect("webhook request");
        net.engine.handle_webhook_reply(net.now, hook.id, reply.clone());
        net.advance(Duration::ZERO);
        let out = net.take();
        // `hangup busy` after the switch answered: a BYE, and the CDR says busy.
        let bye = out.req(CARRIER, "BYE").clone();
        net.send(CARRIER, &reply_to_bye(&bye));
        assert_eq!(net.take().cdr().cause, "busy", "{reply:?}");
    }
}

fn reply_to_bye(bye: &Sent) -> String {
    let tag = bye.msg.from().and_then(|f| f.tag().map(str::to_owned)).unwrap_or_default();
    let _ = tag;
    let to_tag = bye.msg.to_tag().unwrap_or_default().to_owned();
    reply(bye, 200, "OK", &to_tag, CARRIER).render()
}

#[test]
fn caller_hanging_up_during_a_recording_keeps_the_audio() {
    let mut net = net();
    let (mut a, id, cmds) = answered(&mut net, "7002");
    let rseq = cmds
        .iter()
        .find_map(|c| {
            if let MediaCommand::Record { seq, .. } = c {
                Some(*seq)
            } else {
                None
            }
        })
        .expect("recording");
    net.send(CARRIER, &a.request("BYE").render());
    let out = net.take();
    assert!(out.resp(CARRIER, 200).cseq().ends_with("BYE"));
    let cmds = net.take_media();
    let stop = cmds.iter().position(|c| matches!(c, MediaCommand::StopRecord { .. }));
    let close = cmds.iter().position(|c| matches!(c, MediaCommand::Close { .. }));
    assert!(matches!((stop, close), (Some(s), Some(c)) if s < c), "stop before close: {cmds:?}");
    // The audio arrives after the call is gone and is still stored.
    net.engine.handle_media_event(
        net.now,
        MediaEvent::Recorded {
            id,
            seq: rseq,
            pcm: vec![1000; 8000],
            rate: 8000,
            by: RecordEnd::Stopped,
        },
    );
    net.advance(Duration::ZERO);
    let out = net.take();
    assert!(
        out.store
            .iter()
            .any(|op| matches!(op, StoreOp::Recording(r) if r.pcm.len() == 8000)),
        "{:?}",
        out.store.len()
    );
}

/// A call from the carrier to 9000, which the plan bridges straight to OUT2, answered and
/// ACKed: (A's dialog, B's dialog).
fn bridged_to_9000(net: &mut Net) -> (Dlg, Dlg) {
    let mut inv = invite(CARRIER, "+15550100", "9000").remove("Content-Type");
    inv.body.clear();
    let inv = inv.sdp(&sdp("a", "10.1.1.1", 40000));
    net.send(CARRIER, &inv.render());
    let b_inv = net.take().req(OUT2, "INVITE").clone();
    let ok = reply(&b_inv, 200, "OK", B_TAG, OUT2).sdp(&sdp("b", "10.2.2.2", 50000));
    net.send(OUT2, &ok.render());
    let a_ok = net.take().resp(CARRIER, 200).clone();
    let a = Dlg::uac(&inv, &a_ok, CARRIER);
    net.send(CARRIER, &a.ack(1).render());
    assert!(net.take().one_to(OUT2).is_req("ACK"));
    net.take_media();
    (a, Dlg::uas(&b_inv, &ok, OUT2))
}

#[test]
fn refer_from_the_called_party_moves_the_caller_to_the_new_number() {
    let mut net = net();
    let (mut a, mut b) = bridged_to_9000(&mut net);
    // The agent transfers the caller to 8005.
    let refer = b
        .request("REFER")
        .h("Refer-To", "<sip:8005@127.0.0.1>")
        .h("Referred-By", "<sip:9000@127.0.0.3>");
    net.send(OUT2, &refer.render());
    let out = net.take();
    assert!(out.resp(OUT2, 202).cseq().ends_with("REFER"), "{out:?}");
    let notify = out.req(OUT2, "NOTIFY");
    assert_eq!(notify.h(H::ContentType), "message/sipfrag;version=2.0");
    assert!(notify.body().starts_with("SIP/2.0 200"), "{}", notify.body());
    assert!(notify.text().contains("Event: refer"), "{}", notify.text());
    let our_bye = out.req(OUT2, "BYE").clone();
    let t_inv = out.req(OUT3, "INVITE").clone();
    assert!(
        t_inv.msg.request_uri_str().starts_with("sip:8005@"),
        "{}",
        t_inv.msg.request_uri_str()
    );
    assert!(
        t_inv.body().contains("c=IN IP4 127.0.0.1") && t_inv.body().contains("RTP/AVP 0 "),
        "A's codec offered first: {}",
        t_inv.body()
    );
    out.none_to(CARRIER);
    let media = net.take_media();
    assert!(
        media.iter().any(|c| matches!(c, MediaCommand::Detach { side: MediaSide::B, .. })),
        "{media:?}"
    );
    assert!(
        matches!(plays(&media).last(), Some((_, Source::Tone { duration: None, .. }))),
        "ringback for the caller: {media:?}"
    );
    net.send(OUT2, &reply(&our_bye, 200, "OK", B_TAG, OUT2).render());
    // The transferor hangs up as well (the BYEs cross): its dialog ends, the call does not.
    net.send(OUT2, &b.request("BYE").render());
    let out = net.take();
    assert!(out.resp(OUT2, 200).cseq().ends_with("BYE"));
    out.none_to(CARRIER);
    let t_ok = reply(&t_inv, 200, "OK", "t3", OUT3).sdp(&sdp("t", "10.3.3.3", 52000));
    net.send(OUT3, &t_ok.render());
    let out = net.take();
    assert!(out.one_to(OUT3).is_req("ACK"), "{out:?}");
    out.none_to(CARRIER);
    assert!(
        net.take_media()
            .iter()
            .any(|c| matches!(c, MediaCommand::Update { side: MediaSide::B, .. }))
    );
    net.send(CARRIER, &a.request("BYE").render());
    let out = net.take();
    let bye = out.req(OUT3, "BYE").clone();
    net.send(OUT3, &reply(&bye, 200, "OK", "t3", OUT3).render());
    let out = net.take();
    assert_eq!((out.cdr().status, out.cdr().destination.as_str()), (200, "trunk:out3"));
}

#[test]
fn refer_to_a_number_the_plan_does_not_know_is_refused_and_the_call_stays() {
    let mut net = net();
    let (_a, mut b) = bridged_to_9000(&mut net);
    net.send(OUT2, &b.request("REFER").h("Refer-To", "<sip:5555@127.0.0.1>").render());
    let out = net.take();
    assert!(out.resp(OUT2, 404).cseq().ends_with("REFER"), "{out:?}");
    out.none_to(CARRIER);
    net.send(
        OUT2,
        &b.request("REFER")
            .h("Refer-To", "<sip:8005@127.0.0.1?Replaces=abc%3Bto-tag%3Dx>")
            .render(),
    );
    assert!(net.take().resp(OUT2, 501).cseq().ends_with("REFER"));
}

#[test]
fn dtmf_in_sip_info_drives_the_menu_and_a_reinvite_is_answered_by_the_switch() {
    let mut net = net();
    let (mut a, _id, _) = answered(&mut net, "7000");
    let re = a
        .request("INVITE")
        .h("Contact", format!("<sip:+15550100@{CARRIER}>"))
        .sdp(&sdp("a", "10.1.1.1", 40000).replace("o=a 7 1", "o=a 7 2"));
    net.send(CARRIER, &re.render());
    let out = net.take();
    let ok = out.resp(CARRIER, 200);
    assert!(ok.body().contains("c=IN IP4 127.0.0.1"), "{}", ok.body());
    let mut info = a.request("INFO").h("Content-Type", "application/dtmf-relay");
    info.body = "Signal=2\r\nDuration=160\r\n".to_owned();
    net.send(CARRIER, &info.render());
    let out = net.take();
    assert!(out.resp(CARRIER, 200).cseq().ends_with("INFO"));
    assert!(out.req(OUT2, "INVITE").msg.request_uri_str().starts_with("sip:8001@"), "{out:?}");
}

#[test]
fn a_plan_looping_through_media_actions_is_ended_not_the_switch() {
    let mut net = net();
    let mut inv = invite(CARRIER, "+15550100", "7003").remove("Content-Type");
    inv.body.clear();
    let inv = inv.sdp(&sdp("a", "10.1.1.1", 40000));
    net.send(CARRIER, &inv.render());
    let out = net.take();
    assert_eq!(out.codes_to(CARRIER), [100, 200], "{out:?}");
    // Not before the caller's ACK (RFC 3261 §15.1.1).
    assert!(out.new_requests_to(CARRIER).is_empty(), "{out:?}");
    let a = Dlg::uac(&inv, out.resp(CARRIER, 200), CARRIER);
    net.send(CARRIER, &a.ack(1).render());
    let out = net.take();
    let bye = out.req(CARRIER, "BYE").clone();
    net.send(CARRIER, &reply_to_bye(&bye));
    assert_eq!(net.take().cdr().cause, "failed");
}
