//! RFC 4028 in the core: Session-Expires below Min-SE gets 422, a larger one
//! is lowered on the outgoing leg, and a call whose endpoints stop refreshing
//! is ended by the switch when the session expires (virtual time).

#[path = "core-support/mod.rs"]
mod support;

use std::time::Duration;

use support::*;
use switchyard::sip::HeaderName as H;

const B_TAG: &str = "btag-st";

#[test]
fn session_expires_below_min_se_gets_422_with_min_se() {
    let mut net = Net::standard();
    let inv = invite(CARRIER, "+15550100", "9000").h("Supported", "timer").h("Session-Expires", "60");
    net.send(CARRIER, &inv.render());
    let out = net.take();
    let r = out.resp(CARRIER, 422);
    assert_eq!(r.h(H::MinSe), "90");
    out.none_to(OUT2);
}

#[test]
fn large_session_expires_is_lowered_on_the_b_leg() {
    let mut net = Net::standard();
    let inv = invite(CARRIER, "+15550100", "9000").h("Supported", "timer").h("Session-Expires", "7200;refresher=uac");
    net.send(CARRIER, &inv.render());
    let out = net.take();
    let b = out.one_to(OUT2);
    assert!(b.is_req("INVITE"));
    assert_eq!(b.h(H::SessionExpires), "1800;refresher=uac");
    assert_eq!(b.h(H::MinSe), "90");
}

#[test]
fn unrefreshed_session_is_ended_by_the_switch() {
    let mut net = Net::standard();
    let inv = invite(CARRIER, "+15550100", "9000").h("Supported", "timer").h("Session-Expires", "120;refresher=uac");
    net.send(CARRIER, &inv.render());
    let b_inv = net.take().one_to(OUT2).clone();
    let ok = reply(&b_inv, 200, "OK", B_TAG, OUT2).sdp(SDP_B).h("Session-Expires", "120;refresher=uac").h("Require", "timer");
    net.send(OUT2, &ok.render());
    let out = net.take();
    let a_ok = out.resp(CARRIER, 200).clone();
    assert_eq!(a_ok.h(H::SessionExpires), "120;refresher=uac", "the 2xx passes Session-Expires through");
    let a_dlg = Dlg::uac(&inv, &a_ok, CARRIER);
    net.send(CARRIER, &a_dlg.ack(1).render());
    net.take();

    // A refresh (UPDATE) half-way keeps the call up past the first deadline.
    net.advance(Duration::from_secs(60));
    assert!(net.take().new_requests_to(CARRIER).is_empty());
    let mut a_dlg = a_dlg;
    let upd = a_dlg.request("UPDATE").h("Session-Expires", "120;refresher=uac");
    net.send(CARRIER, &upd.render());
    let out = net.take();
    let b_upd = out.req(OUT2, "UPDATE").clone();
    net.send(OUT2, &reply(&b_upd, 200, "OK", B_TAG, OUT2).h("Session-Expires", "120;refresher=uac").render());
    assert!(net.take().resp(CARRIER, 200).is_resp(200));
    net.advance(Duration::from_secs(100));
    let out = net.take();
    assert!(out.new_requests_to(CARRIER).is_empty(), "refreshed 100 s ago: still up: {out:?}");

    // Then silence: one interval (120 s) after the refresh at 60 s, the switch
    // hangs up both legs.
    net.advance(Duration::from_millis(19_900));
    assert!(net.take().new_requests_to(CARRIER).is_empty(), "not before 180 s");
    net.advance(Duration::from_millis(200));
    let out = net.take();
    assert!(out.to(CARRIER).iter().any(|s| s.is_req("BYE")), "{out:?}");
    assert!(out.to(OUT2).iter().any(|s| s.is_req("BYE")), "{out:?}");
}
