//! SIP and SIPS URIs (RFC 3261 §19.1), parsed as borrowed views.
//!
//! Other schemes (`tel:`, `isbn:`, novel ones) are kept opaque: a B2BUA only
//! needs to know it cannot route them (416), never to take them apart.

use std::fmt;
use std::net::Ipv6Addr;

use super::grammar::{escapes_ok, is_param_char, is_hdr_char, is_unreserved, is_user_char, param};

/// The URI scheme.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Scheme {
    /// `sip:`
    Sip,
    /// `sips:` (TLS all the way).
    Sips,
    /// `tel:` (RFC 3966), opaque here.
    Tel,
    /// Anything else, opaque.
    Other,
}

/// What was wrong with a URI.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum UriError {
    /// No `scheme:` prefix.
    #[error("URI has no scheme")]
    NoScheme,
    /// The host part is empty or not a hostname or IP literal.
    #[error("URI host is malformed")]
    BadHost,
    /// The port is not a number in 1..=65535.
    #[error("URI port is malformed")]
    BadPort,
    /// The user or password contains characters that must be escaped.
    #[error("URI user part has illegal characters")]
    BadUser,
    /// A URI parameter is malformed.
    #[error("URI parameter is malformed")]
    BadParam,
    /// The `?headers` part is malformed.
    #[error("URI headers are malformed")]
    BadHeaders,
    /// White space or a control character inside the URI.
    #[error("URI contains white space or control characters")]
    Whitespace,
}

/// A parsed URI borrowing the message text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Uri<'a> {
    /// The scheme.
    pub scheme: Scheme,
    /// The whole URI text.
    pub raw: &'a str,
    /// User part, still escaped (`sip:` only).
    pub user: Option<&'a str>,
    /// Password (deprecated, kept so it round-trips).
    pub password: Option<&'a str>,
    /// Host: a hostname, an IPv4 address or a bracketed IPv6 reference.
    pub host: &'a str,
    /// Explicit port.
    pub port: Option<u16>,
    /// `;a=b;c` parameters, including the leading `;`, or "".
    pub params: &'a str,
    /// `?h=v&...` headers without the `?`.
    pub headers: Option<&'a str>,
}

impl<'a> Uri<'a> {
    /// Parses a URI. For `sip:`/`sips:` the full grammar is checked; other
    /// schemes only need a valid scheme and no white space.
    pub fn parse(s: &'a str) -> Result<Uri<'a>, UriError> {
        let b = s.as_bytes();
        if b.iter().any(|&c| c <= b' ' || c == 0x7f) {
            return Err(UriError::Whitespace);
        }
        let colon = s.find(':').ok_or(UriError::NoScheme)?;
        let scheme_s = &s[..colon];
        let sb = scheme_s.as_bytes();
        if sb.is_empty()
            || !sb[0].is_ascii_alphabetic()
            || !sb.iter().all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
        {
            return Err(UriError::NoScheme);
        }
        let scheme = if scheme_s.eq_ignore_ascii_case("sip") {
            Scheme::Sip
        } else if scheme_s.eq_ignore_ascii_case("sips") {
            Scheme::Sips
        } else if scheme_s.eq_ignore_ascii_case("tel") {
            Scheme::Tel
        } else {
            Scheme::Other
        };
        let rest = &s[colon + 1..];
        if !matches!(scheme, Scheme::Sip | Scheme::Sips) {
            if rest.is_empty() || rest.contains(['<', '>', '"']) {
                return Err(UriError::NoScheme);
            }
            return Ok(Uri { scheme, raw: s, user: None, password: None, host: "", port: None, params: "", headers: None });
        }
        // The user part may contain '?' and ';' (user-unreserved) while headers
        // may not contain an unescaped '@', so the last '@' ends the userinfo.
        let (userinfo, after_at) = match rest.rfind('@') {
            Some(at) => (Some(&rest[..at]), &rest[at + 1..]),
            None => (None, rest),
        };
        let (hostport_params, headers) = match after_at.find('?') {
            Some(q) => (&after_at[..q], Some(&after_at[q + 1..])),
            None => (after_at, None),
        };
        if let Some(h) = headers {
            let hb = h.as_bytes();
            if !hb.iter().all(|&c| is_hdr_char(c) || c == b'=' || c == b'&') || !escapes_ok(hb) {
                return Err(UriError::BadHeaders);
            }
        }
        let (user, password) = match userinfo {
            Some(ui) => {
                let (u, p) = match ui.find(':') {
                    Some(c) => (&ui[..c], Some(&ui[c + 1..])),
                    None => (ui, None),
                };
                let ub = u.as_bytes();
                if ub.is_empty() || !ub.iter().all(|&c| is_user_char(c)) || !escapes_ok(ub) {
                    return Err(UriError::BadUser);
                }
                if let Some(p) = p {
                    let pb = p.as_bytes();
                    if !pb.iter().all(|&c| is_unreserved(c) || matches!(c, b'&' | b'=' | b'+' | b'$' | b',' | b'%'))
                        || !escapes_ok(pb)
                    {
                        return Err(UriError::BadUser);
                    }
                }
                (Some(u), p)
            }
            None => (None, None),
        };
        let (hostport, params) = match hostport_params.find(';') {
            Some(p) => (&hostport_params[..p], &hostport_params[p..]),
            None => (hostport_params, ""),
        };
        let (host, port) = split_host_port(hostport)?;
        if !uri_params_ok(params.as_bytes()) {
            return Err(UriError::BadParam);
        }
        Ok(Uri { scheme, raw: s, user, password, host, port, params, headers })
    }

    /// Looks up a URI parameter (case-insensitive name).
    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        param(self.params, name)
    }

    /// True when the URI has the `lr` parameter (loose routing, RFC 3261 §16.12).
    pub fn is_loose_route(&self) -> bool {
        self.param("lr").is_some()
    }

    /// `transport=` parameter, lower-cased comparison left to the caller.
    pub fn transport(&self) -> Option<&'a str> {
        self.param("transport").flatten()
    }

    /// True for `sip:` and `sips:`.
    pub fn is_sip(&self) -> bool {
        matches!(self.scheme, Scheme::Sip | Scheme::Sips)
    }

    /// The host without IPv6 brackets.
    pub fn host_bare(&self) -> &'a str {
        self.host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(self.host)
    }
}

impl fmt::Display for Uri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.raw)
    }
}

fn uri_params_ok(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        if s[i] != b';' {
            return false;
        }
        i += 1;
        let n0 = i;
        while i < s.len() && is_param_char(s[i]) {
            i += 1;
        }
        if i == n0 {
            return false;
        }
        if i < s.len() && s[i] == b'=' {
            i += 1;
            let v0 = i;
            while i < s.len() && is_param_char(s[i]) {
                i += 1;
            }
            if i == v0 {
                return false;
            }
        }
    }
    escapes_ok(s)
}

/// Splits `host[:port]`, validating both. Also used for Via sent-by.
pub(crate) fn split_host_port(s: &str) -> Result<(&str, Option<u16>), UriError> {
    let (host, port) = if s.starts_with('[') {
        let close = s.find(']').ok_or(UriError::BadHost)?;
        let host = &s[..=close];
        let rest = &s[close + 1..];
        if rest.is_empty() {
            (host, None)
        } else {
            (host, Some(rest.strip_prefix(':').ok_or(UriError::BadPort)?))
        }
    } else {
        match s.rfind(':') {
            Some(c) => (&s[..c], Some(&s[c + 1..])),
            None => (s, None),
        }
    };
    if !host_ok(host) {
        return Err(UriError::BadHost);
    }
    let port = match port {
        Some(p) => {
            let pb = p.as_bytes();
            if pb.is_empty() || pb.len() > 5 || !pb.iter().all(u8::is_ascii_digit) {
                return Err(UriError::BadPort);
            }
            let v: u32 = p.parse().map_err(|_| UriError::BadPort)?;
            Some(u16::try_from(v).map_err(|_| UriError::BadPort)?)
        }
        None => None,
    };
    Ok((host, port))
}

/// A hostname (RFC 3261 `hostname`), IPv4 address, or `[IPv6]` reference.
pub(crate) fn host_ok(h: &str) -> bool {
    if let Some(inner) = h.strip_prefix('[') {
        return inner.strip_suffix(']').is_some_and(|v6| v6.parse::<Ipv6Addr>().is_ok());
    }
    let b = h.as_bytes();
    if b.is_empty() || b.len() > 255 {
        return false;
    }
    // hostname labels: alphanum, '-' inside; a trailing dot is allowed.
    let body = h.strip_suffix('.').unwrap_or(h);
    !body.is_empty()
        && body.split('.').all(|l| {
            let lb = l.as_bytes();
            !lb.is_empty()
                && lb.iter().all(|&c| c.is_ascii_alphanumeric() || c == b'-')
                && lb[0] != b'-'
                && lb[lb.len() - 1] != b'-'
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sip_uri() {
        let u = Uri::parse("sip:alice:pw@example.com:5070;transport=tcp;lr?subject=x").unwrap();
        assert_eq!(u.scheme, Scheme::Sip);
        assert_eq!(u.user, Some("alice"));
        assert_eq!(u.password, Some("pw"));
        assert_eq!(u.host, "example.com");
        assert_eq!(u.port, Some(5070));
        assert_eq!(u.transport(), Some("tcp"));
        assert!(u.is_loose_route());
        assert_eq!(u.headers, Some("subject=x"));
    }

    #[test]
    fn ipv6_and_escapes() {
        let u = Uri::parse("sip:%61lice@[2001:db8::10]:5060").unwrap();
        assert_eq!(u.host, "[2001:db8::10]");
        assert_eq!(u.host_bare(), "2001:db8::10");
        assert_eq!(u.port, Some(5060));
        let u = Uri::parse("sip:user;par=u%40example.net@example.com").unwrap();
        assert_eq!(u.user, Some("user;par=u%40example.net"));
        assert!(Uri::parse("sip:[2001:db8::10").is_err());
        assert!(Uri::parse("sip:a%zz@b").is_err());
        assert!(Uri::parse("sip:a@b:99999").is_err());
        assert!(Uri::parse("sip:a@b c").is_err());
        assert!(Uri::parse("sip:a@b;;").is_err());
    }

    #[test]
    fn other_schemes() {
        let u = Uri::parse("tel:+358-555-1234567;postd=pp22").unwrap();
        assert_eq!(u.scheme, Scheme::Tel);
        let u = Uri::parse("soap.beep://192.0.2.103:3002").unwrap();
        assert_eq!(u.scheme, Scheme::Other);
        assert!(Uri::parse("nocolon").is_err());
        assert!(Uri::parse("1x:abc").is_err());
    }
}
