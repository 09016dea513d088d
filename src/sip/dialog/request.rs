//! Requests within a dialog (RFC 3261 §12.2.1.1) and the ACK for a 2xx
//! (§13.2.2.4), written with [`Writer`] into `Bytes`.

use std::fmt;

use bytes::Bytes;

use crate::sip::build::Writer;
use crate::sip::header::HeaderName;
use crate::sip::message::Method;
use crate::sip::transport::Transport;

use super::{Destination, Dialog, MAX_CSEQ, Party, is_target_refresh};

/// Max-Forwards on every request we originate (§8.1.1.6).
const MAX_FORWARDS: u8 = 70;

/// Our Via for one request. The branch must be new for each transaction and
/// start with the magic cookie; `rport` is always asked for (RFC 3581).
#[derive(Clone, Copy, Debug)]
pub struct LocalVia<'a> {
    /// The transport the request leaves on.
    pub transport: Transport,
    /// Our sent-by, `host[:port]`.
    pub sent_by: &'a str,
    /// The transaction branch.
    pub branch: &'a str,
}

/// A request ready for a client transaction.
#[derive(Clone, Debug)]
pub struct OutRequest {
    /// The serialized request.
    pub bytes: Bytes,
    /// Where it goes next.
    pub dest: Destination,
    /// The CSeq number it carries, for matching its responses.
    pub cseq: u32,
}

impl Dialog {
    /// Builds a request within the dialog (§12.2.1.1). Each one but ACK and
    /// CANCEL takes the next local CSeq number. ACK for a 2xx goes through
    /// [`Dialog::ack`] and CANCEL is built from the INVITE by the transaction
    /// layer (§9.1); given either, this reuses the current number.
    ///
    /// `extra` headers are written as given after the ones the dialog owns
    /// (Via, Max-Forwards, Route, From, To, Call-ID, CSeq, Contact), which must
    /// not be repeated there.
    pub fn request(
        &mut self,
        method: Method,
        via: LocalVia<'_>,
        extra: &[(&str, &str)],
        content_type: Option<&str>,
        body: &[u8],
    ) -> OutRequest {
        let cseq = if matches!(method, Method::Ack | Method::Cancel) {
            self.local_seq
        } else {
            // 2^31 requests in one dialog cannot happen within any call's life;
            // staying in range keeps the output parseable if it ever did.
            self.local_seq = self.local_seq.saturating_add(1).min(MAX_CSEQ - 1);
            self.local_seq
        };
        if method == Method::Invite {
            self.last_invite_seq = Some(cseq);
        }
        self.write(&method, cseq, via, extra, content_type, body)
    }

    /// Builds the ACK for a 2xx to our INVITE (§13.2.2.4): the INVITE's CSeq
    /// number with method ACK, routed like any request in the dialog, in a
    /// transaction of its own, so `via.branch` must be a new one. A late offer's
    /// answer goes in `body`; credentials the INVITE carried go in `extra`.
    pub fn ack(
        &self,
        invite_seq: u32,
        via: LocalVia<'_>,
        extra: &[(&str, &str)],
        content_type: Option<&str>,
        body: &[u8],
    ) -> OutRequest {
        self.write(&Method::Ack, invite_seq, via, extra, content_type, body)
    }

    fn write(
        &self,
        method: &Method,
        cseq: u32,
        via: LocalVia<'_>,
        extra: &[(&str, &str)],
        content_type: Option<&str>,
        body: &[u8],
    ) -> OutRequest {
        let routing = self.routing();
        let mut w = Writer::request(method, &routing.request_uri);
        w.header(
            HeaderName::Via,
            format_args!("SIP/2.0/{} {};branch={};rport", via.transport, via.sent_by, via.branch),
        )
        .header(HeaderName::MaxForwards, MAX_FORWARDS);
        for r in &routing.routes {
            w.header(HeaderName::Route, r);
        }
        w.header(HeaderName::From, Tagged(&self.local, &self.local_tag))
            .header(HeaderName::To, Tagged(&self.remote, &self.remote_tag))
            .header(HeaderName::CallId, &self.call_id)
            .header(HeaderName::CSeq, format_args!("{cseq} {method}"));
        if is_target_refresh(method) && !self.our_contact.is_empty() {
            w.header(HeaderName::Contact, AngleUri(&self.our_contact));
        }
        for (name, value) in extra {
            w.header_named(name, value);
        }
        OutRequest { bytes: w.finish(content_type, body), dest: self.destination(), cseq }
    }
}

/// A From or To value. The URI is always bracketed: bare, its own parameters
/// would read as header parameters (§20.10).
struct Tagged<'a>(&'a Party, &'a str);

impl fmt::Display for Tagged<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(d) = &self.0.display {
            write!(f, "{d} ")?;
        }
        write!(f, "<{}>", self.0.uri)?;
        // An RFC 2543 peer sent no tag; echoing an empty one would not parse.
        if !self.1.is_empty() {
            write!(f, ";tag={}", self.1)?;
        }
        Ok(())
    }
}

/// Our Contact as given: a name-addr stays as it is, a bare URI gets brackets.
struct AngleUri<'a>(&'a str);

impl fmt::Display for AngleUri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.0.contains('<') { f.write_str(self.0) } else { write!(f, "<{}>", self.0) }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{INVITE_OUT, ok_out, peer, uac, uas};
    use super::*;
    use crate::sip::message::Message;
    use crate::sip::parse;

    fn via(branch: &str) -> LocalVia<'_> {
        LocalVia { transport: Transport::Udp, sent_by: "192.0.2.10:5060", branch }
    }

    fn sent(r: &OutRequest) -> Message {
        parse(&r.bytes).expect("our own request parses")
    }

    #[test]
    fn uas_bye_is_loose_routed_with_tags_swapped() {
        let mut d = uas();
        d.on_final_response_sent(200);
        let m = sent(&d.request(Method::Bye, via("z9hG4bKbye1"), &[("Reason", "Q.850;cause=16")], None, b""));
        assert_eq!(*m.method(), Method::Bye);
        assert_eq!(m.request_uri_str(), "sip:alice@198.51.100.1:5060");
        assert_eq!(m.values(HeaderName::Route), ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]);
        assert_eq!(m.from().unwrap().uri, "sip:bob@biloxi.example.com");
        assert_eq!(m.from_tag(), Some("B1"));
        assert_eq!(m.to().unwrap().display, Some("\"Alice\""));
        assert_eq!(m.to_tag(), Some("a1"));
        assert_eq!(m.call_id(), "c1@198.51.100.1");
        assert_eq!(m.cseq_seq(), 1);
        assert_eq!(m.max_forwards(), Some(70));
        assert_eq!(m.header_other("Reason"), Some("Q.850;cause=16"));
        assert!(m.header(HeaderName::Contact).is_none());
        let v = m.top_via().unwrap();
        assert_eq!((v.transport, v.host, v.port), ("UDP", "192.0.2.10", Some(5060)));
        assert_eq!(v.branch(), Some("z9hG4bKbye1"));
        assert_eq!(v.rport(), Some(None));
        assert_eq!(m.defect(), None);
    }

    #[test]
    fn cseq_increments_and_reinvite_carries_contact_and_body() {
        let mut d = uac();
        let info = d.request(Method::Info, via("z9hG4bKi"), &[], None, b"");
        assert_eq!((info.cseq, sent(&info).cseq_seq()), (21, 21));
        let sdp = b"v=0\r\no=- 1 2 IN IP4 192.0.2.10\r\n";
        let re = d.request(Method::Invite, via("z9hG4bKre"), &[], Some("application/sdp"), sdp);
        let m = sent(&re);
        assert_eq!(m.cseq_seq(), 22);
        assert_eq!(d.last_invite_seq(), Some(22));
        assert_eq!(m.contacts()[0].uri, "sip:sw@192.0.2.10:5060");
        assert_eq!(m.body(), sdp);
        assert_eq!(m.content_type(), Some("application/sdp"));
        assert_eq!(m.from_tag(), Some("L1"));
        assert_eq!(m.to_tag(), Some("R1"));
        assert_eq!(m.request_uri_str(), "sip:carol@203.0.113.5:5080;transport=tcp");
        assert_eq!(re.dest.host, "p1.example.com");
        let upd = d.request(Method::Update, via("z9hG4bKu"), &[], None, b"");
        assert_eq!(sent(&upd).cseq_seq(), 23);
        assert!(sent(&upd).header(HeaderName::Contact).is_some());
    }

    #[test]
    fn ack_for_2xx_keeps_invite_cseq_with_a_new_branch() {
        let mut d = uac();
        let re = d.request(Method::Invite, via("z9hG4bKre1"), &[], None, b"");
        let seq = d.last_invite_seq().unwrap();
        let ack = d.ack(seq, via("z9hG4bKack1"), &[], None, b"");
        let (re, ack) = (sent(&re), sent(&ack));
        assert_eq!(*ack.method(), Method::Ack);
        assert_eq!(ack.cseq().unwrap().seq, re.cseq_seq());
        assert_eq!(ack.cseq().unwrap().method, Method::Ack);
        assert_ne!(ack.top_via().unwrap().branch(), re.top_via().unwrap().branch());
        assert_eq!(ack.request_uri_str(), re.request_uri_str());
        assert_eq!(ack.values(HeaderName::Route), re.values(HeaderName::Route));
        assert!(ack.header(HeaderName::Contact).is_none());
        // The ACK used no new number: the next request follows the INVITE.
        assert_eq!(d.request(Method::Bye, via("z9hG4bKb"), &[], None, b"").cseq, seq + 1);
    }

    #[test]
    fn strict_route_request_on_the_wire() {
        let req = parse(INVITE_OUT.as_bytes()).unwrap();
        let rr = "Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com>\r\n";
        let mut d = Dialog::uac(&req, &ok_out(rr, "200 OK"), peer()).unwrap();
        let m = sent(&d.request(Method::Bye, via("z9hG4bKs"), &[], None, b""));
        assert_eq!(m.request_uri_str(), "sip:p1.example.com");
        assert_eq!(
            m.values(HeaderName::Route),
            ["<sip:p2.example.com;lr>", "<sip:carol@203.0.113.5:5080;transport=tcp>"]
        );
    }

    #[test]
    fn untagged_rfc2543_peer_gets_an_untagged_to() {
        let s = super::super::tests::INVITE_IN.replace(";tag=a1", "");
        let req = parse(s.as_bytes()).unwrap();
        let mut d = Dialog::uas(&req, "B1", "sip:sw@192.0.2.10", peer()).unwrap();
        assert_eq!(d.remote_tag(), "");
        let m = sent(&d.request(Method::Invite, via("z9hG4bKn"), &[], None, b""));
        assert_eq!(m.to_tag(), None);
        assert_eq!(m.header(HeaderName::Contact), Some("<sip:sw@192.0.2.10>"));
    }
}
