//! `trunks.max_calls`: a full outbound trunk is skipped in the hunt (the call
//! goes to the fallback, or gets 503 when every trunk is full); a full inbound
//! trunk gets 503 with Retry-After; channels come back when calls end.

#[path = "core-support/mod.rs"]
mod support;

use support::*;

const B_TAG: &str = "btag-cap";

fn net_with(max_out2: u32, max_in: u32) -> Net {
    let cfg = CONFIG
        .replace("name = \"out2\"\nproxy = \"127.0.0.3:5080\"", &format!("name = \"out2\"\nproxy = \"127.0.0.3:5080\"\nmax_calls = {max_out2}"))
        .replace("name = \"in\"\nproxy = \"127.0.0.1:5061\"", &format!("name = \"in\"\nproxy = \"127.0.0.1:5061\"\nmax_calls = {max_in}"));
    assert!(cfg.contains("max_calls = "), "the test config changed shape");
    Net::new(&cfg)
}

/// Places a call from the carrier and returns (A's INVITE, where B's INVITE went).
fn place(net: &mut Net) -> (Msg, Option<Sent>, Vec<u16>) {
    let inv = invite(CARRIER, "+15550100", "9000");
    net.send(CARRIER, &inv.render());
    let out = net.take();
    let b = out.to(OUT2).into_iter().chain(out.to(OUT3)).find(|s| s.is_req("INVITE")).cloned();
    (inv, b, out.codes_to(CARRIER))
}

#[test]
fn a_full_trunk_is_skipped_and_freed_when_the_call_ends() {
    let mut net = net_with(1, 10);
    let (_a1, b1, _) = place(&mut net);
    let b1 = b1.expect("first call placed");
    assert_eq!(b1.to.to_string(), OUT2, "first call uses out2");
    let (_a2, b2, _) = place(&mut net);
    assert_eq!(b2.expect("second call placed").to.to_string(), OUT3, "out2 is full: the hunt skips to out3");

    // The first call fails at the callee: its channel on out2 is given back.
    net.send(OUT2, &reply(&b1, 486, "Busy Here", B_TAG, OUT2).render());
    net.take();
    let (_a3, b3, _) = place(&mut net);
    assert_eq!(b3.expect("third call placed").to.to_string(), OUT2, "out2 has room again");
}

#[test]
fn every_trunk_full_gives_503() {
    let cfg = CONFIG.replace("fallback = [\"out3\"]", "fallback = []").replace(
        "name = \"out2\"\nproxy = \"127.0.0.3:5080\"",
        "name = \"out2\"\nproxy = \"127.0.0.3:5080\"\nmax_calls = 1",
    );
    let mut net = Net::new(&cfg);
    let (_a1, b1, _) = place(&mut net);
    assert!(b1.is_some());
    let (_a2, b2, codes) = place(&mut net);
    assert!(b2.is_none());
    assert_eq!(codes, vec![100, 503]);
}

#[test]
fn a_full_inbound_trunk_gets_503_with_retry_after() {
    let mut net = net_with(10, 1);
    let (_a1, b1, _) = place(&mut net);
    assert!(b1.is_some());
    let inv = invite(CARRIER, "+15550100", "9000");
    net.send(CARRIER, &inv.render());
    let out = net.take();
    let r = out.resp(CARRIER, 503);
    assert!(r.msg.header(switchyard::sip::HeaderName::RetryAfter).is_some(), "{r:?}");
    out.none_to(OUT2);
}
