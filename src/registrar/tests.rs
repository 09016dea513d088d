use super::*;
use crate::sip::parse;

fn policy() -> Policy {
    Policy { min_expires: 60, max_expires: 3600, default_expires: 600, max_contacts: 3 }
}

fn register(call_id: &str, cseq: u32, contacts: &[&str], expires: Option<u32>) -> Message {
    let mut s = format!(
        "REGISTER sip:switchyard.local SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:5070;branch=z9hG4bK{cseq}\r\nFrom: <sip:1001@switchyard.local>;tag=a\r\nTo: <sip:1001@switchyard.local>\r\nCall-ID: {call_id}\r\nCSeq: {cseq} REGISTER\r\n"
    );
    for c in contacts {
        s.push_str(&format!("Contact: {c}\r\n"));
    }
    if let Some(e) = expires {
        s.push_str(&format!("Expires: {e}\r\n"));
    }
    s.push_str("Content-Length: 0\r\n\r\n");
    parse(s.as_bytes()).unwrap()
}

fn src() -> SocketAddr {
    "127.0.0.1:5070".parse().unwrap()
}

#[test]
fn registers_refreshes_and_removes() {
    let mut r = Registrar::new(policy(), vec![], 1000);
    let mut ops = vec![];
    let g = r.register("1001", &register("c1", 1, &["<sip:1001@127.0.0.1:5070>"], None), src(), Transport::Udp, 1000, &mut ops).unwrap();
    assert_eq!(g, vec![Granted { contact: "sip:1001@127.0.0.1:5070".into(), expires: 600 }]);
    assert!(matches!(ops[0], StoreOp::SaveBinding(_)));
    // Two contacts, one with its own expires and q.
    let g = r
        .register("1001", &register("c1", 2, &["<sip:1001@127.0.0.1:5070>;expires=120", "<sip:1001@10.0.0.2>;q=0.5"], Some(3000)), src(), Transport::Udp, 1010, &mut ops)
        .unwrap();
    assert_eq!(g.len(), 2);
    assert_eq!(g[0].expires, 120);
    assert_eq!(g[1].expires, 3000);
    let l = r.lookup("1001", 1010);
    assert_eq!(l[0].contact, "sip:1001@127.0.0.1:5070");
    assert_eq!(l[1].q, 500);
    // Expiry 0 removes one.
    let g = r.register("1001", &register("c1", 3, &["<sip:1001@10.0.0.2>"], Some(0)), src(), Transport::Udp, 1020, &mut ops).unwrap();
    assert_eq!(g.len(), 1);
    assert_eq!(r.len(), 1);
    // `*` removes all.
    ops.clear();
    let g = r.register("1001", &register("c1", 4, &["*"], Some(0)), src(), Transport::Udp, 1030, &mut ops).unwrap();
    assert!(g.is_empty());
    assert!(r.is_empty());
    assert_eq!(ops, vec![StoreOp::RemoveAll { aor: "1001".into() }]);
}

#[test]
fn refusals() {
    let mut r = Registrar::new(policy(), vec![], 1000);
    let mut ops = vec![];
    let e = r.register("1001", &register("c1", 1, &["<sip:a@h>"], Some(30)), src(), Transport::Udp, 1000, &mut ops).unwrap_err();
    assert_eq!(e, Refusal::TooBrief { min: 60 });
    assert_eq!(e.status(), 423);
    let e = r.register("1001", &register("c1", 1, &["*"], Some(60)), src(), Transport::Udp, 1000, &mut ops).unwrap_err();
    assert_eq!(e, Refusal::BadStar);
    r.register("1001", &register("c1", 5, &["<sip:a@h>"], None), src(), Transport::Udp, 1000, &mut ops).unwrap();
    let e = r.register("1001", &register("c1", 5, &["<sip:a@h>"], None), src(), Transport::Udp, 1000, &mut ops).unwrap_err();
    assert_eq!(e, Refusal::OutOfOrder);
    let e = r
        .register("1001", &register("c2", 1, &["<sip:b@h>", "<sip:c@h>", "<sip:d@h>"], None), src(), Transport::Udp, 1000, &mut ops)
        .unwrap_err();
    assert_eq!(e, Refusal::TooManyContacts);
    assert_eq!(r.len(), 1, "a refused REGISTER changes nothing");
    let e = r.register("1001", &register("c2", 1, &["<tel:+123>"], None), src(), Transport::Udp, 1000, &mut ops).unwrap_err();
    assert_eq!(e, Refusal::BadContact);
    // Overlong expiry is shortened to the maximum.
    let g = r.register("1001", &register("c3", 1, &["<sip:z@h>"], Some(99999)), src(), Transport::Udp, 1000, &mut ops).unwrap();
    assert!(g.iter().any(|g| g.contact == "sip:z@h" && g.expires == 3600));
}

#[test]
fn expiry_and_restore() {
    let mut r = Registrar::new(policy(), vec![], 1000);
    let mut ops = vec![];
    r.register("1001", &register("c1", 1, &["<sip:a@h>"], Some(60)), src(), Transport::Udp, 1000, &mut ops).unwrap();
    assert_eq!(r.next_expiry(), Some(1060));
    ops.clear();
    r.expire(1059, &mut ops);
    assert_eq!(r.len(), 1);
    r.expire(1060, &mut ops);
    assert!(r.is_empty());
    assert_eq!(ops, vec![StoreOp::RemoveBinding { aor: "1001".into(), contact: "sip:a@h".into() }]);
    let b = Binding {
        aor: "1002".into(),
        contact: "sip:b@h".into(),
        expires_at: 2000,
        q: 1000,
        call_id: "x".into(),
        cseq: 1,
        transport: Transport::Tcp,
        source: src(),
        user_agent: String::new(),
    };
    let mut gone = b.clone();
    gone.expires_at = 10;
    let r = Registrar::new(policy(), vec![b, gone], 1500);
    assert_eq!(r.len(), 1);
    assert_eq!(r.lookup("1002", 1500).len(), 1);
    assert!(r.lookup("1002", 2000).is_empty());
}

#[test]
fn q_values() {
    assert_eq!(parse_q("0.5"), Some(500));
    assert_eq!(parse_q("1"), Some(1000));
    assert_eq!(parse_q("1.000"), Some(1000));
    assert_eq!(parse_q("1.5"), None);
    assert_eq!(parse_q("0.1234"), None);
}
