//! The B2BUA routed by a dialplan, in virtual time: number rewriting, hunts with failover
//! and ring timeouts, what the plan does after a failed bridge, refusals, and a reload
//! while a call is in progress (that call finishes on its plan, new calls use the new one).

#[path = "core-support/mod.rs"]
mod support;

use std::sync::Arc;
use std::time::Duration;

use support::*;
use switchyard::dialplan::Plan;

/// The standard test configuration without its `[[routes]]`: routing is the plan's.
fn net_with(plan: &str) -> Net {
    let cfg = CONFIG.split("[[routes]]").next().unwrap_or_default().to_owned();
    let mut net = Net::new(&cfg);
    net.engine.set_plan(Some(Arc::new(parse(plan))));
    net
}

fn parse(text: &str) -> Plan {
    Plan::from_texts(&[("t.dialplan".to_owned(), text.to_owned())], None).unwrap_or_else(|e| panic!("{e}"))
}

const PLAN: &str = r#"
context carrier {
  from trunk in
  ext _00X. {
    bridge trunk:out2/+${EXTEN:2} trunk:out3/+${EXTEN:2} timeout=5s
    hangup busy
  }
  ext _0X. {
    bridge trunk:out2/+86${EXTEN:1}
    hangup
  }
  ext 7000 {
    answer
    playback welcome
  }
}
context phones {
  from user 1001
  ext _X. {
    bridge user:${EXTEN}
    hangup
  }
}
"#;

fn a_call(net: &mut Net, dialled: &str) -> Msg {
    let inv = invite(CARRIER, "+15550100", dialled);
    net.send(CARRIER, &inv.render());
    inv
}

#[test]
fn plan_rewrites_the_number_and_hunts_on_503() {
    let mut net = net_with(PLAN);
    a_call(&mut net, "00442079460000");
    let out = net.take();
    assert!(out.one_to(CARRIER).is_resp(100), "{out:?}");
    let b = out.one_to(OUT2).clone();
    assert_eq!(b.msg.request_uri_str(), "sip:+442079460000@127.0.0.3:5080");
    net.send(OUT2, &reply(&b, 503, "Service Unavailable", "t1", OUT2).render());
    let out = net.take();
    let b2 = out.one_to(OUT3).clone();
    assert_eq!(b2.msg.request_uri_str(), "sip:+442079460000@127.0.0.4:5080");
    out.none_to(CARRIER);
    // The last trunk fails too: the plan's next line decides what the caller hears.
    net.send(OUT3, &reply(&b2, 503, "Service Unavailable", "t2", OUT3).render());
    let out = net.take();
    assert_eq!(out.codes_to(CARRIER), [486], "{out:?}");
    assert_eq!((out.cdr().status, out.cdr().destination.as_str()), (486, "trunk:out2"));
}

#[test]
fn a_leg_that_rings_too_long_is_cancelled_and_the_hunt_moves_on() {
    let mut net = net_with(PLAN);
    a_call(&mut net, "0014155550100");
    let b = net.take().one_to(OUT2).clone();
    net.send(OUT2, &reply(&b, 180, "Ringing", "t1", OUT2).render());
    net.take();
    net.advance(Duration::from_millis(4900));
    net.take().none_to(OUT2);
    net.advance(Duration::from_millis(200));
    let out = net.take();
    let cancel = out.one_to(OUT2);
    assert!(cancel.is_req("CANCEL"), "{out:?}");
    net.send(OUT2, &reply(cancel, 200, "OK", "t1", OUT2).render());
    net.send(OUT2, &reply(&b, 487, "Request Terminated", "t1", OUT2).render());
    let out = net.take();
    let b2 = out.new_requests_to(OUT3);
    assert_eq!(b2.len(), 1, "{out:?}");
    assert!(b2[0].is_req("INVITE"));
    out.none_to(CARRIER);
}

#[test]
fn plain_hangup_keeps_the_callees_answer() {
    let mut net = net_with(PLAN);
    a_call(&mut net, "01088886666");
    let b = net.take().one_to(OUT2).clone();
    assert_eq!(b.msg.request_uri_str(), "sip:+861088886666@127.0.0.3:5080");
    net.send(OUT2, &reply(&b, 486, "Busy Here", "t1", OUT2).render());
    let out = net.take();
    assert_eq!(out.codes_to(CARRIER), [486], "busy stays busy: {out:?}");
}

#[test]
fn refusals_from_the_plan() {
    let mut net = net_with(PLAN);
    a_call(&mut net, "12345");
    assert_eq!(net.take().codes_to(CARRIER), [100, 404]);
    // An IVR action with media not anchored (this configuration): the switch cannot be the
    // caller's endpoint, and says so.
    a_call(&mut net, "7000");
    assert_eq!(net.take().codes_to(CARRIER), [100, 501]);
    // From a trunk no context takes calls from.
    let cfg = CONFIG.split("[[routes]]").next().unwrap_or_default().to_owned();
    let mut net = Net::new(&cfg);
    net.engine
        .set_plan(Some(Arc::new(parse("context x {\n from user\n ext 1 {\n hangup\n }\n}\n"))));
    a_call(&mut net, "12345");
    assert_eq!(net.take().codes_to(CARRIER), [100, 403]);
}

#[test]
fn a_call_in_progress_finishes_on_its_plan_after_a_reload() {
    let mut net = net_with(PLAN);
    a_call(&mut net, "00442079460000");
    let b = net.take().one_to(OUT2).clone();
    // The new plan sends everything to `out` and says 603 when that fails.
    net.engine.set_plan(Some(Arc::new(parse(
        "context carrier {\n from trunk in\n ext _X. {\n bridge trunk:out/${EXTEN}\n hangup rejected\n }\n}\n",
    ))));
    // The first call hunts on as its plan said: out3, then busy.
    net.send(OUT2, &reply(&b, 503, "Service Unavailable", "t1", OUT2).render());
    let b2 = net.take().one_to(OUT3).clone();
    net.send(OUT3, &reply(&b2, 503, "Service Unavailable", "t2", OUT3).render());
    assert_eq!(net.take().codes_to(CARRIER), [486]);
    // A new call uses the new plan.
    a_call(&mut net, "00442079460000");
    let out = net.take();
    let b3 = out.one_to(OUT).clone();
    assert_eq!(b3.msg.request_uri_str(), "sip:00442079460000@127.0.0.2:5080");
}
