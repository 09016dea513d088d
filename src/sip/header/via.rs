//! The Via header (RFC 3261 §20.42, §18.2.1; RFC 3581 rport).

use crate::sip::grammar::{is_token, is_ws, param, params_ok, skip_ws, trim_str};
use crate::sip::uri::split_host_port;

/// RFC 3261 §8.1.1.7: branches that start with this were made by an RFC 3261
/// element and are unique on their own.
pub const MAGIC_COOKIE: &str = "z9hG4bK";

/// One Via value, borrowed from the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Via<'a> {
    /// `UDP`, `TCP`, `TLS`, `SCTP`, `WS`, or an extension token.
    pub transport: &'a str,
    /// sent-by host.
    pub host: &'a str,
    /// sent-by port.
    pub port: Option<u16>,
    /// `;branch=...;received=...` including the leading `;`, or "".
    pub params: &'a str,
}

impl<'a> Via<'a> {
    /// Parses one via-parm. LWS is allowed around the slashes of sent-protocol,
    /// as RFC 4475 §3.1.1.1 exercises. Only SIP/2.0 is accepted.
    pub fn parse(s: &'a str) -> Option<Via<'a>> {
        let s = trim_str(s);
        let b = s.as_bytes();
        let mut i = 0;
        let mut parts: [&str; 3] = [""; 3];
        for (k, part) in parts.iter_mut().enumerate() {
            i = skip_ws(b, i);
            let t0 = i;
            while i < b.len() && is_token(b[i]) {
                i += 1;
            }
            if i == t0 {
                return None;
            }
            *part = &s[t0..i];
            if k < 2 {
                i = skip_ws(b, i);
                if b.get(i) != Some(&b'/') {
                    return None;
                }
                i += 1;
            }
        }
        if !parts[0].eq_ignore_ascii_case("SIP") || parts[1] != "2.0" {
            return None;
        }
        // sent-by needs at least one LWS before it.
        if !b.get(i).is_some_and(|&c| is_ws(c)) {
            return None;
        }
        i = skip_ws(b, i);
        let h0 = i;
        while i < b.len() && b[i] != b';' && !is_ws(b[i]) {
            i += 1;
        }
        let (host, port) = split_host_port(&s[h0..i]).ok()?;
        let params = trim_str(&s[i..]);
        if !params_ok(params.as_bytes()) {
            return None;
        }
        Some(Via { transport: parts[2], host, port, params })
    }

    /// The branch parameter.
    pub fn branch(&self) -> Option<&'a str> {
        self.param("branch").flatten()
    }

    /// Any parameter by name.
    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        param(self.params, name)
    }

    /// `rport` as sent: `None` absent, `Some(None)` requested, `Some(Some(p))` filled in.
    pub fn rport(&self) -> Option<Option<&'a str>> {
        self.param("rport")
    }

    /// `received` parameter.
    pub fn received(&self) -> Option<&'a str> {
        self.param("received").flatten()
    }

    /// The sent-by host without IPv6 brackets.
    pub fn host_bare(&self) -> &'a str {
        self.host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(self.host)
    }

    /// True when the branch carries the RFC 3261 magic cookie.
    pub fn is_rfc3261(&self) -> bool {
        self.branch().is_some_and(|b| b.starts_with(MAGIC_COOKIE))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses() {
        let v = Via::parse("SIP/2.0/UDP 192.0.2.1:5060;branch=z9hG4bK77;rport").unwrap();
        assert_eq!(v.transport, "UDP");
        assert_eq!(v.host, "192.0.2.1");
        assert_eq!(v.port, Some(5060));
        assert_eq!(v.branch(), Some("z9hG4bK77"));
        assert_eq!(v.rport(), Some(None));
        assert!(v.is_rfc3261());
        let v = Via::parse("SIP  /   2.0  /UDP    192.0.2.2;branch=390skdjuw").unwrap();
        assert_eq!(v.host, "192.0.2.2");
        assert!(!v.is_rfc3261());
        let v = Via::parse("SIP/2.0/TCP [2001:db8::9:1];branch=z9hG4bKas3-111").unwrap();
        assert_eq!(v.host, "[2001:db8::9:1]");
    }

    #[test]
    fn rejects() {
        assert!(Via::parse("SIP/2.0/UDP 192.0.2.15;;,;,,").is_none());
        assert!(Via::parse("SIP/7.0/UDP c.example.com;branch=z9hG4bKkdjuw").is_none());
        assert!(Via::parse("SIP/2.0/UDP").is_none());
        assert!(Via::parse("SIP/2.0/UDP a:b").is_none());
    }
}
