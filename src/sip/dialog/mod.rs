//! Dialogs (RFC 3261 §12) for one leg of the B2BUA, plus session-timer
//! bookkeeping (RFC 4028).
//!
//! A [`Dialog`] holds what §12 says a dialog is: Call-ID, both tags, both URIs,
//! both sequence numbers, the remote target, the route set and the secure flag.
//! It turns intents ("send a BYE") into bytes with the right Request-URI, Route,
//! From/To and CSeq, checks incoming in-dialog requests, and tracks re-INVITE
//! glare. It never reads a clock or touches a socket: what to send comes out as
//! [`OutRequest`] values and the caller hands them to a client transaction.
//!
//! Covered:
//! - §12.1.1 / §12.1.2: creating a dialog as UAS ([`Dialog::uas`]) and as UAC
//!   ([`Dialog::uac`]), early or confirmed; §13.2.2.4 recomputing the route set
//!   from the 2xx that confirms an early dialog.
//! - §12.2.1.1: requests within a dialog, loose and strict routing; §13.2.2.4 the
//!   ACK for a 2xx ([`Dialog::ack`]).
//! - §12.2.1.2 / §12.2.2: target refresh in both directions, CSeq ordering,
//!   481/408 ending the dialog.
//! - §14.1 / §14.2: re-INVITE glare (491 and the retry delay) and overlapping
//!   INVITEs (500).
//! - RFC 4028: Session-Expires / Min-SE parsing, the 422 check, and the
//!   refresh and expiry deadlines ([`session_timer`]).
//!
//! Out of scope, left to the caller:
//! - Forking: each 1xx/2xx with a new To tag makes its own [`Dialog::uac`]; the
//!   caller keeps the set and decides which to keep.
//! - PRACK / 100rel (RFC 3262) and UPDATE glare (RFC 3311 §5.2).
//! - CANCEL, built by the transaction layer from the INVITE it cancels (§9.1).
//! - Resolving the next hop (RFC 3263): [`Destination`] gives host, port and
//!   transport as facts, nothing is looked up here.
//! - Subscriptions and other dialog usages (RFC 5057): one INVITE usage per dialog.

mod glare;
mod request;
mod route_set;
pub mod session_timer;

pub use glare::{InviteInProgress, glare_retry_delay};
pub use request::{LocalVia, OutRequest};
pub use route_set::Destination;

use super::header::{HeaderName, NameAddr};
use super::message::{Defect, Message, Method};
use super::transport::{Peer, Transport};
use super::uri::Scheme;

/// The life of a dialog (RFC 3261 §12, §12.3, §15):
///
/// ```text
///   1xx with To tag            2xx
///  ---------------> Early ------------> Confirmed
///                     |                    |
///                     | 3xx-6xx final      | BYE, or 481/408 to a
///                     | 481/408            | request in the dialog
///                     v                    v
///                  Terminated <------------+
///
///   2xx with no 1xx before it goes straight to Confirmed.
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DialogState {
    /// Created by a provisional response; the INVITE is still pending.
    Early,
    /// Created or confirmed by a 2xx.
    Confirmed,
    /// Over; every further request in it gets 481.
    Terminated,
}

/// Which side of the dialog-creating INVITE we were.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Role {
    /// We sent the INVITE (and so generated the Call-ID, §14.1).
    Uac,
    /// We answered it.
    Uas,
}

/// The dialog identifier (§12): Call-ID and both tags, from our point of view.
/// Tags are compared as written: we generated the local one, and the remote one
/// only ever comes back to us as the peer wrote it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct DialogId {
    /// The Call-ID.
    pub call_id: String,
    /// Our tag.
    pub local_tag: String,
    /// The peer's tag; empty for an RFC 2543 peer that sent none (§12.1.1).
    pub remote_tag: String,
}

impl DialogId {
    /// The dialog an incoming request belongs to: our tag is in To, the peer's in
    /// From. `None` when To has no tag, i.e. the request is not in a dialog.
    pub fn of_request(req: &Message) -> Option<DialogId> {
        Some(DialogId {
            call_id: req.call_id().to_owned(),
            local_tag: req.to_tag()?.to_owned(),
            remote_tag: req.from_tag().unwrap_or("").to_owned(),
        })
    }

    /// The dialog a response to one of our requests belongs to: our tag is in
    /// From, the peer's in To. `None` when To has no tag (a 100, or a peer that
    /// cannot make dialogs).
    pub fn of_response(resp: &Message) -> Option<DialogId> {
        Some(DialogId {
            call_id: resp.call_id().to_owned(),
            local_tag: resp.from_tag()?.to_owned(),
            remote_tag: resp.to_tag()?.to_owned(),
        })
    }
}

/// What the peer did that a dialog cannot accept. [`DialogError::status`] maps
/// each to the response owed when a request caused it; a response that causes
/// one is dropped (or the dialog torn down) by the caller.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DialogError {
    /// The message lacks or duplicates a mandatory header.
    #[error("message is defective: {0}")]
    Defective(Defect),
    /// A dialog-creating request, a 2xx, or a target refresh lacks Contact.
    #[error("no Contact where the dialog needs a remote target")]
    MissingContact,
    /// Contact is `*`, lists several URIs, or is not a SIP/SIPS URI (§8.1.1.8).
    #[error("Contact is not exactly one SIP or SIPS URI")]
    BadContact,
    /// A response meant to make a dialog has no To tag.
    #[error("response has no To tag")]
    MissingToTag,
    /// The response cannot create a dialog (100, or a final non-2xx).
    #[error("a {status} response creates no dialog")]
    NoDialogInResponse {
        /// Its status code.
        status: u16,
    },
    /// Call-ID or tags do not name this dialog.
    #[error("message does not belong to this dialog")]
    UnknownDialog,
    /// The dialog is over.
    #[error("dialog is terminated")]
    DialogTerminated,
    /// The request's CSeq is below one the peer already used (§12.2.2).
    #[error("CSeq {got} is below the highest seen, {highest}")]
    CSeqOutOfOrder {
        /// The request's CSeq number.
        got: u32,
        /// The highest the peer used before.
        highest: u32,
    },
    /// A re-INVITE arrived while ours is pending: glare (§14.2).
    #[error("re-INVITE while ours is pending")]
    RequestPending,
    /// A second re-INVITE arrived before we answered the first (§14.2); the 500
    /// carries Retry-After of 0 to 10 seconds.
    #[error("re-INVITE while the previous one is unanswered")]
    OverlappingInvite,
}

impl DialogError {
    /// The status code owed to a request refused for this reason.
    pub fn status(&self) -> u16 {
        match self {
            DialogError::Defective(_)
            | DialogError::MissingContact
            | DialogError::BadContact
            | DialogError::MissingToTag
            | DialogError::NoDialogInResponse { .. } => 400,
            DialogError::UnknownDialog | DialogError::DialogTerminated => 481,
            DialogError::CSeqOutOfOrder { .. } | DialogError::OverlappingInvite => 500,
            DialogError::RequestPending => 491,
        }
    }
}

/// A display name and URI: the From or To of requests we send, minus the tag.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Party {
    display: Option<String>,
    uri: String,
}

impl Party {
    fn of(n: &NameAddr<'_>) -> Party {
        Party { display: n.display.map(str::to_owned), uri: n.uri.to_owned() }
    }
}

/// One leg's dialog state (RFC 3261 §12).
///
/// Order of calls: create with [`Dialog::uas`] or [`Dialog::uac`]; then feed
/// every in-dialog request to [`Dialog::on_request`] before answering it, every
/// response to our requests to [`Dialog::update_from_response`], and, as UAS,
/// the final answer to the INVITE to [`Dialog::on_final_response_sent`]. Build
/// requests with [`Dialog::request`] and [`Dialog::ack`]; send them to
/// [`OutRequest::dest`]. Call [`Dialog::set_peer`] whenever a message on the
/// dialog arrives so the NAT fallback stays current.
#[derive(Clone, Debug)]
pub struct Dialog {
    role: Role,
    state: DialogState,
    call_id: String,
    local_tag: String,
    remote_tag: String,
    local: Party,
    remote: Party,
    /// Last CSeq number we used; the next request uses one more (§12.2.1.1).
    local_seq: u32,
    /// Highest CSeq number the peer used; `None` until it sends a request.
    remote_seq: Option<u32>,
    /// CSeq of our latest INVITE, which the 2xx ACK repeats (§13.2.2.4).
    last_invite_seq: Option<u32>,
    remote_target: String,
    route_set: Vec<String>,
    secure: bool,
    our_contact: String,
    peer: Peer,
    local_reinvite: bool,
    remote_reinvite: bool,
}

impl Dialog {
    /// Creates the dialog for an INVITE we answer (§12.1.1): it starts Early and
    /// is confirmed when our 2xx goes out ([`Dialog::on_final_response_sent`]).
    /// `local_tag` is the To tag our responses carry; `our_contact` goes in the
    /// Contact of our requests and must be the one our responses carry.
    pub fn uas(req: &Message, local_tag: &str, our_contact: &str, peer: Peer) -> Result<Dialog, DialogError> {
        check_defect(req)?;
        let (from, to) = from_to(req)?;
        let remote_target = single_contact(req)?.ok_or(DialogError::MissingContact)?;
        Ok(Dialog {
            role: Role::Uas,
            state: DialogState::Early,
            call_id: req.call_id().to_owned(),
            local_tag: local_tag.to_owned(),
            // §12.1.1: a missing From tag is a null tag, not an error.
            remote_tag: from.tag().unwrap_or("").to_owned(),
            local: Party::of(&to),
            remote: Party::of(&from),
            local_seq: 0,
            remote_seq: Some(req.cseq_seq()),
            last_invite_seq: None,
            remote_target,
            route_set: route_set::from_record_route(req, false),
            secure: is_secure(req, peer),
            our_contact: our_contact.to_owned(),
            peer,
            local_reinvite: false,
            remote_reinvite: false,
        })
    }

    /// Creates the dialog from the INVITE we sent (parsed back from our bytes)
    /// and a 1xx with a To tag or a 2xx we received for it (§12.1.2). A forked
    /// INVITE gives one dialog per To tag; keeping them apart is the caller's job.
    pub fn uac(req: &Message, resp: &Message, peer: Peer) -> Result<Dialog, DialogError> {
        check_defect(req)?;
        check_defect(resp)?;
        let status = resp.status().unwrap_or(0);
        let state = match status {
            101..=199 => DialogState::Early,
            200..=299 => DialogState::Confirmed,
            _ => return Err(DialogError::NoDialogInResponse { status }),
        };
        if resp.call_id() != req.call_id() || resp.from_tag() != req.from_tag() {
            return Err(DialogError::UnknownDialog);
        }
        let remote_tag = resp.to_tag().ok_or(DialogError::MissingToTag)?.to_owned();
        let (from, to) = from_to(req)?;
        let local_tag = from.tag().ok_or(DialogError::Defective(Defect::Missing(HeaderName::From)))?.to_owned();
        let remote_target = match single_contact(resp)? {
            Some(c) => c,
            // Some gateways send 18x without Contact. The dialog is only early and
            // the 2xx must carry one, so the Request-URI stands in until then.
            None if state == DialogState::Early => req.request_uri_str().to_owned(),
            None => return Err(DialogError::MissingContact),
        };
        // Kept as written, parameters and all, since requests repeat it verbatim.
        let our_contact = req.values(HeaderName::Contact).first().map_or_else(String::new, |c| (*c).to_owned());
        Ok(Dialog {
            role: Role::Uac,
            state,
            call_id: req.call_id().to_owned(),
            local_tag,
            remote_tag,
            local: Party::of(&from),
            remote: Party::of(&to),
            local_seq: req.cseq_seq(),
            remote_seq: None,
            last_invite_seq: Some(req.cseq_seq()),
            remote_target,
            route_set: route_set::from_record_route(resp, true),
            secure: is_secure(req, peer),
            our_contact,
            peer,
            local_reinvite: false,
            remote_reinvite: false,
        })
    }

    /// Applies a response to one of our requests in this dialog: a 2xx to the
    /// INVITE confirms an early dialog and recomputes its route set (§13.2.2.4);
    /// a 2xx to a target refresh replaces the remote target (§12.2.1.2); a final
    /// non-2xx to the INVITE ends an early dialog; 481 or 408 end any dialog
    /// (§12.2.1.2); a final answer to our BYE ends it unless it is a
    /// challenge. On error nothing changes.
    pub fn update_from_response(&mut self, resp: &Message) -> Result<(), DialogError> {
        check_defect(resp)?;
        if resp.call_id() != self.call_id
            || resp.from_tag() != Some(self.local_tag.as_str())
            || resp.to_tag().unwrap_or("") != self.remote_tag
        {
            return Err(DialogError::UnknownDialog);
        }
        let status = resp.status().unwrap_or(0);
        if self.state == DialogState::Terminated || status < 200 {
            return Ok(());
        }
        let method = resp.method();
        // A challenged BYE is retried with credentials; any other answer ends it.
        let bye_done = *method == Method::Bye && status != 401 && status != 407;
        if status == 481 || status == 408 || bye_done {
            self.state = DialogState::Terminated;
            return Ok(());
        }
        if status >= 300 {
            if *method == Method::Invite && self.state == DialogState::Early {
                self.state = DialogState::Terminated;
            }
            return Ok(());
        }
        let contact = single_contact(resp)?;
        if *method == Method::Invite && self.state == DialogState::Early {
            self.remote_target = contact.ok_or(DialogError::MissingContact)?;
            self.route_set = route_set::from_record_route(resp, true);
            self.state = DialogState::Confirmed;
        } else if let Some(c) = contact.filter(|_| is_target_refresh(method)) {
            self.remote_target = c;
        }
        Ok(())
    }

    /// As UAS: our final response to the dialog-creating INVITE went out. A 2xx
    /// confirms the dialog; anything from 300 up ends it while it is early.
    pub fn on_final_response_sent(&mut self, status: u16) {
        match (self.state, status) {
            (DialogState::Early, 200..=299) => self.state = DialogState::Confirmed,
            (DialogState::Early, 300..) => self.state = DialogState::Terminated,
            _ => {}
        }
    }

    /// Checks an incoming request that names this dialog (§12.2.2) and applies
    /// it: CSeq ordering (ACK and CANCEL exempt, as they repeat the INVITE's
    /// number), re-INVITE glare and overlap (§14.2), target refresh, and BYE
    /// ending the dialog. On error nothing changes and [`DialogError::status`]
    /// is the answer.
    pub fn on_request(&mut self, req: &Message) -> Result<(), DialogError> {
        check_defect(req)?;
        if req.call_id() != self.call_id
            || req.to_tag() != Some(self.local_tag.as_str())
            || req.from_tag().unwrap_or("") != self.remote_tag
        {
            return Err(DialogError::UnknownDialog);
        }
        let method = req.method();
        let exempt = matches!(method, Method::Ack | Method::Cancel);
        if self.state == DialogState::Terminated && !exempt {
            return Err(DialogError::DialogTerminated);
        }
        let seq = req.cseq_seq();
        if let Some(highest) = self.remote_seq.filter(|&h| !exempt && seq < h) {
            return Err(DialogError::CSeqOutOfOrder { got: seq, highest });
        }
        if *method == Method::Invite {
            if self.local_reinvite {
                return Err(DialogError::RequestPending);
            }
            if self.remote_reinvite {
                return Err(DialogError::OverlappingInvite);
            }
        }
        let contact = if is_target_refresh(method) { single_contact(req)? } else { None };
        if !exempt {
            self.remote_seq = Some(seq);
        }
        if let Some(c) = contact {
            self.remote_target = c;
        }
        if *method == Method::Bye {
            self.state = DialogState::Terminated;
        }
        Ok(())
    }

    /// Ends the dialog without a message saying so: our BYE timed out, the
    /// media died, or the other leg went away.
    pub fn terminate(&mut self) {
        self.state = DialogState::Terminated;
    }

    /// The dialog identifier.
    pub fn id(&self) -> DialogId {
        DialogId {
            call_id: self.call_id.clone(),
            local_tag: self.local_tag.clone(),
            remote_tag: self.remote_tag.clone(),
        }
    }

    /// Records where the peer's latest message came from: the fallback next hop
    /// for a peer behind NAT whose Contact is unreachable.
    pub fn set_peer(&mut self, peer: Peer) {
        self.peer = peer;
    }

    /// Sets the last CSeq number used, so the next request uses `last_used + 1`.
    /// A UAS dialog starts at 0; a B2BUA may prefer a random start.
    pub fn set_local_seq(&mut self, last_used: u32) {
        self.local_seq = last_used.min(MAX_CSEQ - 1);
    }

    /// Replaces our Contact (the local address changed).
    pub fn set_our_contact(&mut self, contact: &str) {
        contact.clone_into(&mut self.our_contact);
    }

    /// Our side of the dialog-creating INVITE.
    pub fn role(&self) -> Role {
        self.role
    }

    /// Current state.
    pub fn state(&self) -> DialogState {
        self.state
    }

    /// The Call-ID.
    pub fn call_id(&self) -> &str {
        &self.call_id
    }

    /// Our tag.
    pub fn local_tag(&self) -> &str {
        &self.local_tag
    }

    /// The peer's tag ("" for an RFC 2543 peer).
    pub fn remote_tag(&self) -> &str {
        &self.remote_tag
    }

    /// The URI in the From of our requests.
    pub fn local_uri(&self) -> &str {
        &self.local.uri
    }

    /// The URI in the To of our requests.
    pub fn remote_uri(&self) -> &str {
        &self.remote.uri
    }

    /// The last CSeq number we used.
    pub fn local_seq(&self) -> u32 {
        self.local_seq
    }

    /// The highest CSeq number the peer used, once it has sent a request.
    pub fn remote_seq(&self) -> Option<u32> {
        self.remote_seq
    }

    /// CSeq number of our latest INVITE: what the ACK for its 2xx carries.
    pub fn last_invite_seq(&self) -> Option<u32> {
        self.last_invite_seq
    }

    /// The peer's Contact URI.
    pub fn remote_target(&self) -> &str {
        &self.remote_target
    }

    /// The route set, first hop first, each a name-addr as received.
    pub fn route_set(&self) -> &[String] {
        &self.route_set
    }

    /// The §12.1.1 secure flag: SIPS Request-URI over TLS.
    pub fn is_secure(&self) -> bool {
        self.secure
    }

    /// The Contact our requests carry.
    pub fn our_contact(&self) -> &str {
        &self.our_contact
    }

    /// Where the peer's latest message came from.
    pub fn peer(&self) -> Peer {
        self.peer
    }

    /// True when we generated the Call-ID, which decides the §14.1 retry delay.
    pub fn owns_call_id(&self) -> bool {
        self.role == Role::Uac
    }
}

/// CSeq numbers must stay below 2^31 (§8.1.1.5).
const MAX_CSEQ: u32 = 1 << 31;

fn check_defect(m: &Message) -> Result<(), DialogError> {
    match m.defect() {
        Some(d) => Err(DialogError::Defective(d.clone())),
        None => Ok(()),
    }
}

/// From and To of a request; the parser validated both, so `None` only means
/// the header is missing, which `check_defect` already ruled out.
fn from_to(m: &Message) -> Result<(NameAddr<'_>, NameAddr<'_>), DialogError> {
    let from = m.from().ok_or(DialogError::Defective(Defect::Missing(HeaderName::From)))?;
    let to = m.to().ok_or(DialogError::Defective(Defect::Missing(HeaderName::To)))?;
    Ok((from, to))
}

/// The one SIP/SIPS Contact URI of a message, `None` when there is no Contact.
fn single_contact(m: &Message) -> Result<Option<String>, DialogError> {
    if m.header(HeaderName::Contact).is_none() {
        return Ok(None);
    }
    if m.is_contact_star() {
        return Err(DialogError::BadContact);
    }
    let contacts = m.contacts();
    let [c] = contacts.as_slice() else {
        return Err(DialogError::BadContact);
    };
    match c.uri() {
        Some(u) if u.is_sip() => Ok(Some(c.uri.to_owned())),
        _ => Err(DialogError::BadContact),
    }
}

/// §12.1.1 / §12.1.2: secure when the Request-URI is SIPS and the request
/// travelled over TLS.
fn is_secure(req: &Message, peer: Peer) -> bool {
    peer.transport == Transport::Tls && req.request_uri().is_some_and(|u| u.scheme == Scheme::Sips)
}

/// Requests that may change the remote target: INVITE and UPDATE (RFC 3261
/// §12.2, RFC 3311), and SUBSCRIBE, NOTIFY, REFER (RFC 6665, RFC 3515).
fn is_target_refresh(m: &Method) -> bool {
    matches!(m, Method::Invite | Method::Update | Method::Subscribe | Method::Notify | Method::Refer)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::sip::parse;
    use std::net::SocketAddr;

    pub(crate) fn peer() -> Peer {
        let addr: SocketAddr = "198.51.100.1:5060".parse().expect("literal address");
        Peer::udp(addr)
    }

    /// An INVITE that came through two record-routing proxies, p1 then p2.
    pub(crate) const INVITE_IN: &str = "INVITE sip:bob@192.0.2.4 SIP/2.0\r\n\
Via: SIP/2.0/UDP p2.example.com;branch=z9hG4bKp2\r\n\
Via: SIP/2.0/UDP p1.example.com;branch=z9hG4bKp1\r\n\
Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKa1;rport\r\n\
Max-Forwards: 68\r\n\
Record-Route: <sip:p2.example.com;lr>\r\n\
Record-Route: <sip:p1.example.com;lr>\r\n\
From: \"Alice\" <sip:alice@atlanta.example.com>;tag=a1\r\n\
To: <sip:bob@biloxi.example.com>\r\n\
Call-ID: c1@198.51.100.1\r\n\
CSeq: 314 INVITE\r\n\
Contact: <sip:alice@198.51.100.1:5060>\r\n\
Content-Length: 0\r\n\r\n";

    /// The INVITE we sent, as parsed back from our bytes.
    pub(crate) const INVITE_OUT: &str = "INVITE sip:carol@chicago.example.com SIP/2.0\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKo1;rport\r\n\
Max-Forwards: 70\r\n\
From: <sip:sw@192.0.2.10>;tag=L1\r\n\
To: \"Carol\" <sip:carol@chicago.example.com>\r\n\
Call-ID: out1@192.0.2.10\r\n\
CSeq: 20 INVITE\r\n\
Contact: <sip:sw@192.0.2.10:5060>\r\n\
Content-Length: 0\r\n\r\n";

    /// A 200 for `INVITE_OUT` through p1 (near us) and p2 (near Carol).
    pub(crate) fn ok_out(rr: &str, status_line: &str) -> Message {
        let s = format!(
            "SIP/2.0 {status_line}\r\n\
Via: SIP/2.0/UDP 192.0.2.10:5060;branch=z9hG4bKo1;rport=5060\r\n\
{rr}\
From: <sip:sw@192.0.2.10>;tag=L1\r\n\
To: \"Carol\" <sip:carol@chicago.example.com>;tag=R1\r\n\
Call-ID: out1@192.0.2.10\r\n\
CSeq: 20 INVITE\r\n\
Contact: <sip:carol@203.0.113.5:5080;transport=tcp>\r\n\
Content-Length: 0\r\n\r\n"
        );
        parse(s.as_bytes()).expect("test response parses")
    }

    pub(crate) const RR_LOOSE: &str = "Record-Route: <sip:p2.example.com;lr>, <sip:p1.example.com;lr>\r\n";

    pub(crate) fn uas() -> Dialog {
        let req = parse(INVITE_IN.as_bytes()).expect("test INVITE parses");
        Dialog::uas(&req, "B1", "<sip:sw@192.0.2.10:5060>", peer()).expect("dialog")
    }

    pub(crate) fn uac() -> Dialog {
        let req = parse(INVITE_OUT.as_bytes()).expect("test INVITE parses");
        Dialog::uac(&req, &ok_out(RR_LOOSE, "200 OK"), peer()).expect("dialog")
    }

    /// An in-dialog request from Alice to our UAS leg.
    pub(crate) fn from_alice(method: &str, cseq: u32, extra: &str) -> Message {
        let s = format!(
            "{method} sip:sw@192.0.2.10:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP p2.example.com;branch=z9hG4bKx{cseq}\r\n\
Max-Forwards: 69\r\n\
From: \"Alice\" <sip:alice@atlanta.example.com>;tag=a1\r\n\
To: <sip:bob@biloxi.example.com>;tag=B1\r\n\
Call-ID: c1@198.51.100.1\r\n\
CSeq: {cseq} {method}\r\n\
{extra}\
Content-Length: 0\r\n\r\n"
        );
        parse(s.as_bytes()).expect("test request parses")
    }

    #[test]
    fn uas_takes_record_route_in_order() {
        let d = uas();
        assert_eq!(d.role(), Role::Uas);
        assert_eq!(d.state(), DialogState::Early);
        assert_eq!(d.route_set(), ["<sip:p2.example.com;lr>", "<sip:p1.example.com;lr>"]);
        assert_eq!(d.remote_target(), "sip:alice@198.51.100.1:5060");
        assert_eq!(d.remote_seq(), Some(314));
        assert_eq!(d.local_seq(), 0);
        assert_eq!(d.local_uri(), "sip:bob@biloxi.example.com");
        assert_eq!(d.remote_uri(), "sip:alice@atlanta.example.com");
        assert_eq!(
            d.id(),
            DialogId { call_id: "c1@198.51.100.1".into(), local_tag: "B1".into(), remote_tag: "a1".into() }
        );
        assert!(!d.is_secure());
        assert!(!d.owns_call_id());
    }

    #[test]
    fn uas_needs_one_sip_contact() {
        let no_contact = INVITE_IN.replace("Contact: <sip:alice@198.51.100.1:5060>\r\n", "");
        let req = parse(no_contact.as_bytes()).unwrap();
        let e = Dialog::uas(&req, "B1", "<sip:sw@h>", peer()).unwrap_err();
        assert_eq!(e, DialogError::MissingContact);
        assert_eq!(e.status(), 400);
        for bad in ["Contact: *\r\n", "Contact: <tel:+15551234>\r\n", "Contact: <sip:a@h>, <sip:b@h>\r\n"] {
            let s = INVITE_IN.replace("Contact: <sip:alice@198.51.100.1:5060>\r\n", bad);
            let req = parse(s.as_bytes()).unwrap();
            assert_eq!(Dialog::uas(&req, "B1", "<sip:sw@h>", peer()).unwrap_err(), DialogError::BadContact, "{bad}");
        }
    }

    #[test]
    fn uas_confirms_on_2xx_and_dies_on_failure() {
        let mut d = uas();
        d.on_final_response_sent(200);
        assert_eq!(d.state(), DialogState::Confirmed);
        let mut d = uas();
        d.on_final_response_sent(486);
        assert_eq!(d.state(), DialogState::Terminated);
    }

    #[test]
    fn uac_reverses_record_route() {
        let d = uac();
        assert_eq!(d.role(), Role::Uac);
        assert_eq!(d.state(), DialogState::Confirmed);
        assert_eq!(d.route_set(), ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]);
        assert_eq!(d.remote_target(), "sip:carol@203.0.113.5:5080;transport=tcp");
        assert_eq!(d.local_seq(), 20);
        assert_eq!(d.last_invite_seq(), Some(20));
        assert_eq!(d.remote_seq(), None);
        assert_eq!(d.local_tag(), "L1");
        assert_eq!(d.remote_tag(), "R1");
        assert_eq!(d.remote_uri(), "sip:carol@chicago.example.com");
        assert_eq!(d.our_contact(), "<sip:sw@192.0.2.10:5060>");
        assert!(d.owns_call_id());
    }

    #[test]
    fn uac_refuses_what_makes_no_dialog() {
        let req = parse(INVITE_OUT.as_bytes()).unwrap();
        let e = Dialog::uac(&req, &ok_out("", "486 Busy Here"), peer()).unwrap_err();
        assert_eq!(e, DialogError::NoDialogInResponse { status: 486 });
        let untagged = INVITE_OUT.replace("INVITE sip:carol@chicago.example.com SIP/2.0", "SIP/2.0 180 Ringing");
        let untagged = parse(untagged.as_bytes()).unwrap();
        assert_eq!(Dialog::uac(&req, &untagged, peer()).unwrap_err(), DialogError::MissingToTag);
    }

    #[test]
    fn early_uac_dialog_is_confirmed_by_2xx_with_its_own_route_set() {
        let req = parse(INVITE_OUT.as_bytes()).unwrap();
        let ringing = ok_out("Record-Route: <sip:p2.example.com;lr>\r\n", "180 Ringing");
        let mut d = Dialog::uac(&req, &ringing, peer()).unwrap();
        assert_eq!(d.state(), DialogState::Early);
        assert_eq!(d.route_set(), ["<sip:p2.example.com;lr>"]);
        d.update_from_response(&ok_out(RR_LOOSE, "200 OK")).unwrap();
        assert_eq!(d.state(), DialogState::Confirmed);
        assert_eq!(d.route_set(), ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]);

        let mut d = Dialog::uac(&req, &ringing, peer()).unwrap();
        d.update_from_response(&ok_out("", "603 Decline")).unwrap();
        assert_eq!(d.state(), DialogState::Terminated);
    }

    #[test]
    fn response_from_another_fork_is_not_ours() {
        let mut d = uac();
        let other = ok_out(RR_LOOSE, "200 OK").as_bytes().to_vec();
        let other = String::from_utf8(other).unwrap().replace("tag=R1", "tag=R2");
        let other = parse(other.as_bytes()).unwrap();
        assert_eq!(d.update_from_response(&other), Err(DialogError::UnknownDialog));
        assert_eq!(DialogId::of_response(&other).unwrap().remote_tag, "R2");
    }

    #[test]
    fn cseq_out_of_order_is_500_and_ack_is_exempt() {
        let mut d = uas();
        d.on_final_response_sent(200);
        d.on_request(&from_alice("INFO", 316, "")).unwrap();
        assert_eq!(d.remote_seq(), Some(316));
        let e = d.on_request(&from_alice("INFO", 315, "")).unwrap_err();
        assert_eq!(e, DialogError::CSeqOutOfOrder { got: 315, highest: 316 });
        assert_eq!(e.status(), 500);
        assert_eq!(d.remote_seq(), Some(316));
        d.on_request(&from_alice("ACK", 314, "")).unwrap();
        assert_eq!(d.remote_seq(), Some(316));
    }

    #[test]
    fn reinvite_refreshes_target() {
        let mut d = uas();
        d.on_final_response_sent(200);
        let re = from_alice("INVITE", 315, "Contact: <sip:alice@198.51.100.99:5062>\r\n");
        assert_eq!(DialogId::of_request(&re), Some(d.id()));
        d.on_request(&re).unwrap();
        assert_eq!(d.remote_target(), "sip:alice@198.51.100.99:5062");
        // INFO is no target refresh: its Contact, if any, changes nothing.
        d.on_request(&from_alice("INFO", 316, "Contact: <sip:alice@198.51.100.7>\r\n")).unwrap();
        assert_eq!(d.remote_target(), "sip:alice@198.51.100.99:5062");
    }

    #[test]
    fn uac_target_refresh_from_2xx_to_reinvite() {
        let mut d = uac();
        let s = String::from_utf8(ok_out(RR_LOOSE, "200 OK").as_bytes().to_vec())
            .unwrap()
            .replace("CSeq: 20 INVITE", "CSeq: 21 INVITE")
            .replace("203.0.113.5:5080;transport=tcp", "203.0.113.6");
        d.update_from_response(&parse(s.as_bytes()).unwrap()).unwrap();
        assert_eq!(d.remote_target(), "sip:carol@203.0.113.6");
        // The route set is fixed once confirmed (§12.2.1.2).
        assert_eq!(d.route_set(), ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]);
    }

    #[test]
    fn bye_and_481_end_the_dialog() {
        let mut d = uas();
        d.on_final_response_sent(200);
        d.on_request(&from_alice("BYE", 315, "")).unwrap();
        assert_eq!(d.state(), DialogState::Terminated);
        let e = d.on_request(&from_alice("INFO", 316, "")).unwrap_err();
        assert_eq!(e.status(), 481);

        let mut d = uac();
        let s = String::from_utf8(ok_out("", "481 Call/Transaction Does Not Exist").as_bytes().to_vec())
            .unwrap()
            .replace("CSeq: 20 INVITE", "CSeq: 21 INFO");
        d.update_from_response(&parse(s.as_bytes()).unwrap()).unwrap();
        assert_eq!(d.state(), DialogState::Terminated);
    }

    #[test]
    fn request_for_another_dialog_is_481() {
        let mut d = uas();
        let s = String::from_utf8(from_alice("INFO", 316, "").as_bytes().to_vec()).unwrap().replace("tag=B1", "tag=B9");
        let e = d.on_request(&parse(s.as_bytes()).unwrap()).unwrap_err();
        assert_eq!(e, DialogError::UnknownDialog);
        assert_eq!(e.status(), 481);
        let initial = parse(INVITE_IN.as_bytes()).unwrap();
        assert_eq!(DialogId::of_request(&initial), None);
    }
}
