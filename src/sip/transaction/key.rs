//! Transaction matching keys (RFC 3261 §17.1.3 and §17.2.3).
//!
//! A server key is either the RFC 3261 triple (branch, sent-by, method) or, for
//! requests whose branch lacks the magic cookie (RFC 2543 elements), the
//! fallback built from Request-URI, To tag, From tag, Call-ID, CSeq number,
//! method and top Via. ACK is keyed as INVITE so that the ACK for a non-2xx
//! final lands on its INVITE transaction; CANCEL keeps its own method and so
//! its own transaction. A client key is (branch, CSeq method).
//!
//! Each key holds its text in one allocation.

use crate::sip::header::HeaderName;
use crate::sip::message::{Message, Method};

/// Separates the fields of a key; a line feed cannot occur inside a header
/// value once the parser has unfolded it, so fields cannot run into each other.
const SEP: char = '\n';

/// Which server transaction a request belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ServerKey {
    /// Keeps the two matching rules apart even if their texts coincided.
    legacy: bool,
    text: Box<str>,
    method: Method,
}

/// The method a request is matched under: an ACK belongs to its INVITE.
fn match_method(m: &Method) -> Method {
    match m {
        Method::Ack => Method::Invite,
        other => other.clone(),
    }
}

impl ServerKey {
    /// The key of the transaction `req` belongs to (its own, or for an ACK its
    /// INVITE's).
    pub(crate) fn of_request(req: &Message) -> ServerKey {
        ServerKey::build(req, match_method(req.method()), ToTag::AsSent)
    }

    /// The key of the INVITE transaction a CANCEL refers to (§9.2): the same
    /// key with method INVITE.
    pub(crate) fn cancel_target(cancel: &Message) -> ServerKey {
        ServerKey::build(cancel, Method::Invite, ToTag::AsSent)
    }

    /// For an RFC 2543 ACK: the key of an initial INVITE, whose To carried no
    /// tag while the ACK carries the tag of the response (§17.2.3). `None` for
    /// RFC 3261 requests, which never need it.
    pub(crate) fn legacy_ack_untagged(ack: &Message) -> Option<ServerKey> {
        let key = ServerKey::build(ack, Method::Invite, ToTag::Without);
        key.legacy.then_some(key)
    }

    /// True for the RFC 2543 fallback form.
    pub(crate) fn is_legacy(&self) -> bool {
        self.legacy
    }

    fn build(req: &Message, method: Method, to: ToTag) -> ServerKey {
        let via = req.top_via();
        if let Some((v, branch)) = via
            .and_then(|v| v.branch().map(|b| (v, b)))
            .filter(|(v, _)| v.is_rfc3261())
        {
            let mut text = String::with_capacity(branch.len() + v.host.len() + 7);
            text.push_str(branch);
            text.push(SEP);
            // Host names compare case-insensitively; the branch does not.
            text.extend(v.host.chars().map(|c| c.to_ascii_lowercase()));
            if let Some(p) = v.port {
                text.push(':');
                text.push_str(&p.to_string());
            }
            return ServerKey {
                legacy: false,
                text: text.into(),
                method,
            };
        }
        // §17.2.3 fallback. The raw top Via value stands in for "top Via
        // matches": retransmissions repeat it byte for byte.
        let top_via = req.values(HeaderName::Via).first().copied().unwrap_or("");
        let to_tag = match to {
            ToTag::AsSent => req.to_tag().unwrap_or(""),
            ToTag::Without => "",
        };
        let parts = [
            req.request_uri_str(),
            to_tag,
            req.from_tag().unwrap_or(""),
            req.call_id(),
            top_via,
        ];
        let mut text = String::with_capacity(parts.iter().map(|p| p.len() + 1).sum::<usize>() + 10);
        for p in parts {
            text.push_str(p);
            text.push(SEP);
        }
        text.push_str(&req.cseq_seq().to_string());
        ServerKey {
            legacy: true,
            text: text.into(),
            method,
        }
    }
}

/// Whether a fallback key takes the request's To tag.
#[derive(Clone, Copy)]
enum ToTag {
    AsSent,
    Without,
}

/// Which client transaction a response belongs to.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct ClientKey {
    branch: Box<str>,
    method: Method,
}

impl ClientKey {
    /// The key of a request about to be sent; `None` without a branch.
    pub(crate) fn of_request(req: &Message) -> Option<ClientKey> {
        let branch = req.top_via()?.branch()?;
        Some(ClientKey {
            branch: branch.into(),
            method: req.method().clone(),
        })
    }

    /// The key a response matches (§17.1.3: top Via branch and CSeq method).
    pub(crate) fn of_response(resp: &Message) -> Option<ClientKey> {
        let branch = resp.top_via()?.branch()?;
        let method = resp.cseq()?.method.clone();
        Some(ClientKey {
            branch: branch.into(),
            method,
        })
    }

    /// The same branch under another method (a CANCEL's INVITE).
    pub(crate) fn with_method(&self, method: Method) -> ClientKey {
        ClientKey {
            branch: self.branch.clone(),
            method,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::parse;

    fn req(method: &str, via: &str, to: &str) -> Message {
        let s = format!(
            "{method} sip:b@h SIP/2.0\r\nVia: {via}\r\nFrom: <sip:a@h>;tag=f\r\nTo: {to}\r\nCall-ID: c\r\nCSeq: 7 {method}\r\nMax-Forwards: 70\r\n\r\n"
        );
        parse(s.as_bytes()).unwrap()
    }

    #[test]
    fn ack_and_cancel_keys() {
        let via = "SIP/2.0/UDP Host.Example:5060;branch=z9hG4bKx";
        let inv = ServerKey::of_request(&req("INVITE", via, "<sip:b@h>"));
        let ack = ServerKey::of_request(&req(
            "ACK",
            "SIP/2.0/UDP host.example:5060;branch=z9hG4bKx",
            "<sip:b@h>;tag=t",
        ));
        let cancel = req("CANCEL", via, "<sip:b@h>");
        assert_eq!(
            inv, ack,
            "ACK matches its INVITE; host case does not matter"
        );
        assert_ne!(
            inv,
            ServerKey::of_request(&cancel),
            "CANCEL is its own transaction"
        );
        assert_eq!(inv, ServerKey::cancel_target(&cancel));
        assert_ne!(
            inv,
            ServerKey::of_request(&req(
                "INVITE",
                "SIP/2.0/UDP host.example:5061;branch=z9hG4bKx",
                "<sip:b@h>"
            ))
        );
        assert_ne!(
            inv,
            ServerKey::of_request(&req(
                "INVITE",
                "SIP/2.0/UDP host.example:5060;branch=z9hG4bKX",
                "<sip:b@h>"
            ))
        );
        assert!(!inv.is_legacy());
        assert!(ServerKey::legacy_ack_untagged(&req("ACK", via, "<sip:b@h>;tag=t")).is_none());
    }

    #[test]
    fn legacy_keys() {
        let via = "SIP/2.0/UDP h:5060;branch=1234";
        let inv = ServerKey::of_request(&req("INVITE", via, "<sip:b@h>"));
        assert!(inv.is_legacy());
        let ack = req("ACK", via, "<sip:b@h>;tag=t");
        assert_ne!(
            inv,
            ServerKey::of_request(&ack),
            "the ACK carries the response's To tag"
        );
        assert_eq!(Some(inv.clone()), ServerKey::legacy_ack_untagged(&ack));
        assert_ne!(
            inv,
            ServerKey::of_request(&req("INVITE", "SIP/2.0/UDP h:5060", "<sip:b@h>"))
        );
        let no_branch = ServerKey::of_request(&req("OPTIONS", "SIP/2.0/UDP h", "<sip:b@h>"));
        assert!(no_branch.is_legacy());
    }

    #[test]
    fn client_keys() {
        let r = req("INVITE", "SIP/2.0/UDP h;branch=z9hG4bKc", "<sip:b@h>");
        let k = ClientKey::of_request(&r).unwrap();
        assert_eq!(k.method, Method::Invite);
        assert_ne!(k, k.with_method(Method::Cancel));
        assert!(ClientKey::of_request(&req("INVITE", "SIP/2.0/UDP h", "<sip:b@h>")).is_none());
    }
}
