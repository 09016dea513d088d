//! Typed views of the headers the switch acts on. Each view borrows the message
//! text; the parser has already checked the grammar, so views are cheap re-scans.

pub mod name_addr;
pub mod via;

pub use name_addr::NameAddr;
pub use via::{MAGIC_COOKIE, Via};

use std::fmt;

/// Header names the switch knows, with compact forms folded in (RFC 3261 §7.3.3).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
#[allow(missing_docs)]
pub enum HeaderName {
    Accept,
    Allow,
    Authorization,
    CallId,
    Contact,
    ContentEncoding,
    ContentLength,
    ContentType,
    CSeq,
    Date,
    Event,
    Expires,
    From,
    MaxForwards,
    MinExpires,
    MinSe,
    PAssertedIdentity,
    Privacy,
    ProxyAuthenticate,
    ProxyAuthorization,
    ProxyRequire,
    RecordRoute,
    ReferTo,
    Require,
    RetryAfter,
    Route,
    Server,
    SessionExpires,
    Subject,
    Supported,
    To,
    Unsupported,
    UserAgent,
    Via,
    WwwAuthenticate,
    /// Anything else; the name is in the message text.
    Other,
}

impl HeaderName {
    /// Classifies a header name (case-insensitive, compact forms accepted).
    pub fn from_bytes(n: &[u8]) -> HeaderName {
        use HeaderName::*;
        if n.len() == 1 {
            return match n[0].to_ascii_lowercase() {
                b'i' => CallId,
                b'm' => Contact,
                b'e' => ContentEncoding,
                b'l' => ContentLength,
                b'c' => ContentType,
                b'f' => From,
                b's' => Subject,
                b'k' => Supported,
                b't' => To,
                b'v' => Via,
                b'o' => Event,
                b'r' => ReferTo,
                b'x' => SessionExpires,
                _ => Other,
            };
        }
        // Dispatch on length first: most names are rejected by one compare.
        let eq = |s: &str| n.eq_ignore_ascii_case(s.as_bytes());
        match n.len() {
            2 if eq("To") => To,
            3 if eq("Via") => Via,
            4 if eq("From") => From,
            4 if eq("CSeq") => CSeq,
            4 if eq("Date") => Date,
            5 if eq("Route") => Route,
            5 if eq("Allow") => Allow,
            5 if eq("Event") => Event,
            6 if eq("Accept") => Accept,
            6 if eq("Server") => Server,
            6 if eq("MIN-SE") => MinSe,
            7 if eq("Call-ID") => CallId,
            7 if eq("Contact") => Contact,
            7 if eq("Expires") => Expires,
            7 if eq("Require") => Require,
            7 if eq("Subject") => Subject,
            7 if eq("Privacy") => Privacy,
            8 if eq("Refer-To") => ReferTo,
            9 if eq("Supported") => Supported,
            10 if eq("User-Agent") => UserAgent,
            11 if eq("Retry-After") => RetryAfter,
            11 if eq("Unsupported") => Unsupported,
            11 if eq("Min-Expires") => MinExpires,
            12 if eq("Max-Forwards") => MaxForwards,
            12 if eq("Content-Type") => ContentType,
            12 if eq("Record-Route") => RecordRoute,
            13 if eq("Authorization") => Authorization,
            13 if eq("Proxy-Require") => ProxyRequire,
            14 if eq("Content-Length") => ContentLength,
            15 if eq("Session-Expires") => SessionExpires,
            16 if eq("Content-Encoding") => ContentEncoding,
            16 if eq("WWW-Authenticate") => WwwAuthenticate,
            18 if eq("Proxy-Authenticate") => ProxyAuthenticate,
            19 if eq("Proxy-Authorization") => ProxyAuthorization,
            19 if eq("P-Asserted-Identity") => PAssertedIdentity,
            _ => Other,
        }
    }

    /// Canonical spelling, as the switch writes it.
    pub fn as_str(self) -> &'static str {
        use HeaderName::*;
        match self {
            Accept => "Accept",
            Allow => "Allow",
            Authorization => "Authorization",
            CallId => "Call-ID",
            Contact => "Contact",
            ContentEncoding => "Content-Encoding",
            ContentLength => "Content-Length",
            ContentType => "Content-Type",
            CSeq => "CSeq",
            Date => "Date",
            Event => "Event",
            Expires => "Expires",
            From => "From",
            MaxForwards => "Max-Forwards",
            MinExpires => "Min-Expires",
            MinSe => "Min-SE",
            PAssertedIdentity => "P-Asserted-Identity",
            Privacy => "Privacy",
            ProxyAuthenticate => "Proxy-Authenticate",
            ProxyAuthorization => "Proxy-Authorization",
            ProxyRequire => "Proxy-Require",
            RecordRoute => "Record-Route",
            ReferTo => "Refer-To",
            Require => "Require",
            RetryAfter => "Retry-After",
            Route => "Route",
            Server => "Server",
            SessionExpires => "Session-Expires",
            Subject => "Subject",
            Supported => "Supported",
            To => "To",
            Unsupported => "Unsupported",
            UserAgent => "User-Agent",
            Via => "Via",
            WwwAuthenticate => "WWW-Authenticate",
            Other => "",
        }
    }

    /// Headers that may appear once only (RFC 3261 §7.3.1): a second copy makes
    /// the message ambiguous.
    pub fn is_single(self) -> bool {
        use HeaderName::*;
        matches!(self, CallId | CSeq | From | To | MaxForwards | ContentLength | ContentType | Expires)
    }
}

impl fmt::Display for HeaderName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for n in [
            HeaderName::Via,
            HeaderName::CallId,
            HeaderName::WwwAuthenticate,
            HeaderName::ProxyAuthorization,
            HeaderName::PAssertedIdentity,
            HeaderName::MinSe,
        ] {
            assert_eq!(HeaderName::from_bytes(n.as_str().as_bytes()), n);
            assert_eq!(HeaderName::from_bytes(n.as_str().to_ascii_uppercase().as_bytes()), n);
        }
        assert_eq!(HeaderName::from_bytes(b"v"), HeaderName::Via);
        assert_eq!(HeaderName::from_bytes(b"L"), HeaderName::ContentLength);
        assert_eq!(HeaderName::from_bytes(b"X-Foo"), HeaderName::Other);
    }
}
