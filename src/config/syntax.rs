//! Small pieces of SIP and TOML syntax the configuration checks against: user parts, host
//! names, `host:port`, and byte offsets turned into line numbers.

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use super::model::DEFAULT_SIP_PORT;

/// 1-based line of a byte offset; offsets past the end count as the last line.
pub(super) fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|&&b| b == b'\n')
        .count()
        + 1
}

/// RFC 3261 `user`: unreserved and user-unreserved characters (escapes are not accepted).
pub(super) fn is_user_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || "-_.!~*'()&=+$,;?/".contains(c)
}

/// An IP literal as it may appear as a host: bare, or IPv6 in brackets.
pub(super) fn ip_host(s: &str) -> Option<IpAddr> {
    s.parse::<IpAddr>().ok().or_else(|| {
        let inner = s.strip_prefix('[')?.strip_suffix(']')?;
        inner.parse::<Ipv6Addr>().ok().map(IpAddr::V6)
    })
}

pub(super) fn is_hostname(s: &str) -> bool {
    let s = s.strip_suffix('.').unwrap_or(s);
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.len() <= 63
            && !l.starts_with('-')
            && !l.ends_with('-')
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
    };
    // An all-digit last label is a mistyped IPv4 address, never a real name.
    let numeric_tld = s
        .rsplit('.')
        .next()
        .is_some_and(|l| l.bytes().all(|b| b.is_ascii_digit()));
    !s.is_empty() && s.len() <= 253 && s.split('.').all(label_ok) && !numeric_tld
}

/// `host:port`, `host`, `ip`, `[v6]`, `[v6]:port`; the port defaults to 5060 and is never 0.
pub(super) fn parse_proxy(s: &str) -> Option<(String, u16)> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return (addr.port() != 0).then(|| (addr.ip().to_string(), addr.port()));
    }
    if let Some(ip) = ip_host(s) {
        return Some((ip.to_string(), DEFAULT_SIP_PORT));
    }
    if is_hostname(s) {
        return Some((s.to_owned(), DEFAULT_SIP_PORT));
    }
    let (host, port) = s.rsplit_once(':')?;
    let port = port
        .bytes()
        .all(|b| b.is_ascii_digit())
        .then(|| port.parse::<u16>().ok())
        .flatten()
        .filter(|&p| p != 0)?;
    is_hostname(host).then(|| (host.to_owned(), port))
}
