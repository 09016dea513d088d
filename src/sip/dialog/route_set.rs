//! The route set (RFC 3261 §12.1.1, §12.1.2) and what it decides for each
//! request: Request-URI, Route lines and next hop (§12.2.1.1, §8.1.2).

use std::fmt::{self, Write as _};

use crate::sip::header::{HeaderName, NameAddr};
use crate::sip::message::Message;
use crate::sip::transport::{Peer, Transport};
use crate::sip::uri::{Scheme, Uri};

use super::Dialog;

/// Where a request in the dialog goes next, as facts for the caller to resolve
/// (RFC 3263 lookups, connection reuse): nothing here touches DNS.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Destination {
    /// Host of the first route, or of the remote target when there is no route
    /// set; `maddr` wins when present. IPv6 addresses come without brackets.
    pub host: String,
    /// Explicit port, if the URI has one; otherwise RFC 3263 decides.
    pub port: Option<u16>,
    /// From `transport=`, or TLS for a SIPS URI or a secure dialog; `None`
    /// leaves the choice to RFC 3263.
    pub transport: Option<Transport>,
    /// Where the peer's latest message came from: for a peer behind NAT whose
    /// Contact holds a private address, the only place that reaches it.
    pub last_peer: Peer,
}

/// Record-Route values as the route set: in order for a UAS, reversed for a
/// UAC (§12.1.1, §12.1.2). The parser checked each value is an angle-bracketed
/// name-addr; values whose URI is not SIP cannot be routed to and are dropped.
pub(super) fn from_record_route(m: &Message, reverse: bool) -> Vec<String> {
    let mut routes: Vec<String> = m
        .values(HeaderName::RecordRoute)
        .into_iter()
        .filter(|v| NameAddr::parse(v).and_then(|n| n.uri()).is_some_and(|u| u.is_sip()))
        .map(str::to_owned)
        .collect();
    if reverse {
        routes.reverse();
    }
    routes
}

/// Request-URI and Route lines for one request (§12.2.1.1).
pub(super) struct Routing<'a> {
    pub(super) request_uri: String,
    pub(super) routes: Vec<RouteLine<'a>>,
}

/// One Route value: a route-set entry as received, or the remote target that
/// strict routing appends.
pub(super) enum RouteLine<'a> {
    Entry(&'a str),
    Target(&'a str),
}

impl fmt::Display for RouteLine<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RouteLine::Entry(v) => f.write_str(v),
            RouteLine::Target(uri) => write!(f, "<{uri}>"),
        }
    }
}

impl Dialog {
    /// Applies §12.2.1.1: with no route set, or a loose first route, the
    /// Request-URI is the remote target and the route set goes in Route as is.
    /// A strict first route (no `lr`) becomes the Request-URI, and Route carries
    /// the rest plus the remote target, so the strict router can restore it.
    pub(super) fn routing(&self) -> Routing<'_> {
        let first = self.route_set.first().and_then(|r| NameAddr::parse(r).map(|n| n.uri));
        match first.filter(|uri| Uri::parse(uri).is_ok_and(|u| !u.is_loose_route())) {
            Some(strict) => {
                let mut routes: Vec<RouteLine<'_>> = self.route_set[1..].iter().map(|r| RouteLine::Entry(r)).collect();
                routes.push(RouteLine::Target(&self.remote_target));
                Routing { request_uri: request_uri_form(strict), routes }
            }
            None => Routing {
                request_uri: request_uri_form(&self.remote_target),
                routes: self.route_set.iter().map(|r| RouteLine::Entry(r)).collect(),
            },
        }
    }

    /// The next hop for requests in this dialog: the first route if there is a
    /// route set (loose or strict alike, §8.1.2), else the remote target.
    pub fn destination(&self) -> Destination {
        let next = match self.route_set.first() {
            Some(r) => NameAddr::parse(r).map(|n| n.uri),
            None => Some(self.remote_target.as_str()),
        };
        let Some(uri) = next.and_then(|n| Uri::parse(n).ok()) else {
            // Both strings were validated when stored; should that ever fail, the
            // address the peer last used is still a working answer.
            return Destination {
                host: self.peer.addr.ip().to_string(),
                port: Some(self.peer.addr.port()),
                transport: Some(self.peer.transport),
                last_peer: self.peer,
            };
        };
        let host = match uri.param("maddr").flatten() {
            Some(m) => m.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(m),
            None => uri.host_bare(),
        };
        let transport = if uri.scheme == Scheme::Sips || self.secure {
            Some(Transport::Tls)
        } else {
            uri.transport().and_then(Transport::from_name)
        };
        Destination { host: host.to_owned(), port: uri.port, transport, last_peer: self.peer }
    }
}

/// A URI as it may stand in a Request-URI (§19.1.1 table 1): without the
/// `method` parameter and without `?headers`, both of which a Contact or
/// Record-Route URI may carry.
fn request_uri_form(uri: &str) -> String {
    let Ok(u) = Uri::parse(uri) else {
        return uri.to_owned();
    };
    if u.headers.is_none() && u.param("method").is_none() {
        return uri.to_owned();
    }
    let headers_len = u.headers.map_or(0, |h| h.len() + 1);
    let base = &uri[..uri.len() - headers_len - u.params.len()];
    let mut out = String::with_capacity(uri.len());
    out.push_str(base);
    for p in u.params.split(';').filter(|p| !p.is_empty()) {
        let name = p.split('=').next().unwrap_or(p);
        if !name.eq_ignore_ascii_case("method") {
            let _ = write!(out, ";{p}");
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::tests::{INVITE_OUT, ok_out, peer, uac, uas};
    use super::*;
    use crate::sip::parse;

    #[test]
    fn strips_what_a_request_uri_may_not_carry() {
        assert_eq!(request_uri_form("sip:a@h:5060;transport=tcp"), "sip:a@h:5060;transport=tcp");
        assert_eq!(request_uri_form("sip:a@h;method=INVITE;lr?subject=x"), "sip:a@h;lr");
        assert_eq!(request_uri_form("sip:a@h?x=y"), "sip:a@h");
    }

    #[test]
    fn loose_routing_goes_to_the_first_route() {
        let d = uac();
        let r = d.routing();
        assert_eq!(r.request_uri, "sip:carol@203.0.113.5:5080;transport=tcp");
        let lines: Vec<String> = r.routes.iter().map(ToString::to_string).collect();
        assert_eq!(lines, ["<sip:p1.example.com;lr>", "<sip:p2.example.com;lr>"]);
        let dest = d.destination();
        assert_eq!(dest.host, "p1.example.com");
        assert_eq!(dest.port, None);
        assert_eq!(dest.transport, None);
        assert_eq!(dest.last_peer, peer());
    }

    #[test]
    fn strict_routing_puts_the_target_last() {
        let req = parse(INVITE_OUT.as_bytes()).unwrap();
        let rr = "Record-Route: <sip:p2.example.com>\r\nRecord-Route: <sip:p1.example.com:5070;transport=tcp>\r\n";
        let d = Dialog::uac(&req, &ok_out(rr, "200 OK"), peer()).unwrap();
        let r = d.routing();
        assert_eq!(r.request_uri, "sip:p1.example.com:5070;transport=tcp");
        let lines: Vec<String> = r.routes.iter().map(ToString::to_string).collect();
        assert_eq!(lines, ["<sip:p2.example.com>", "<sip:carol@203.0.113.5:5080;transport=tcp>"]);
        let dest = d.destination();
        assert_eq!(
            (dest.host.as_str(), dest.port, dest.transport),
            ("p1.example.com", Some(5070), Some(Transport::Tcp))
        );
    }

    #[test]
    fn without_routes_the_target_is_the_next_hop() {
        let req = parse(INVITE_OUT.as_bytes()).unwrap();
        let d = Dialog::uac(&req, &ok_out("", "200 OK"), peer()).unwrap();
        assert!(d.route_set().is_empty());
        let dest = d.destination();
        assert_eq!((dest.host.as_str(), dest.port, dest.transport), ("203.0.113.5", Some(5080), Some(Transport::Tcp)));
        assert_eq!(uas().destination().host, "p2.example.com");
    }

    #[test]
    fn sips_and_maddr() {
        let req = parse(INVITE_OUT.as_bytes()).unwrap();
        let rr = "Record-Route: <sips:edge.example.com;maddr=[2001:db8::1];lr>\r\n";
        let d = Dialog::uac(&req, &ok_out(rr, "200 OK"), peer()).unwrap();
        let dest = d.destination();
        assert_eq!((dest.host.as_str(), dest.transport), ("2001:db8::1", Some(Transport::Tls)));
    }
}
