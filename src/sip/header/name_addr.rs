//! `name-addr` / `addr-spec` values: From, To, Contact, Route, Record-Route,
//! Refer-To (RFC 3261 §20 and §25.1).

use crate::sip::grammar::{is_token, param, params_ok, quoted_end, skip_ws, trim_str};
use crate::sip::uri::Uri;

/// A display name, URI and header parameters, borrowed from the message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct NameAddr<'a> {
    /// Display name as written (quotes kept), if any.
    pub display: Option<&'a str>,
    /// The URI text (inside the angle brackets when there were any).
    pub uri: &'a str,
    /// Header parameters including the leading `;`, or "".
    pub params: &'a str,
    /// Whether the URI was enclosed in `<>`.
    pub angle: bool,
}

impl<'a> NameAddr<'a> {
    /// Parses and validates one value. Returns `None` when it breaks the grammar.
    pub fn parse(s: &'a str) -> Option<NameAddr<'a>> {
        let s = trim_str(s);
        let b = s.as_bytes();
        if b.is_empty() {
            return None;
        }
        let mut i = 0;
        let mut display = None;
        let lt = if b[0] == b'"' {
            let end = quoted_end(b, 0)?;
            display = Some(&s[..end]);
            i = skip_ws(b, end);
            if b.get(i) != Some(&b'<') {
                return None;
            }
            Some(i)
        } else {
            // Either `tokens <uri>` or a bare addr-spec. A '<' decides.
            match s.find('<') {
                Some(lt) => {
                    let d = trim_str(&s[..lt]);
                    // display-name = *(token LWS): each word must be a token.
                    if !d.split([' ', '\t']).filter(|w| !w.is_empty()).all(|w| w.bytes().all(is_token)) {
                        return None;
                    }
                    if !d.is_empty() {
                        display = Some(d);
                    }
                    Some(lt)
                }
                None => None,
            }
        };
        match lt {
            Some(lt) => {
                let gt = lt + s[lt..].find('>')?;
                let uri = &s[lt + 1..gt];
                Uri::parse(uri).ok()?;
                let params = trim_str(&s[gt + 1..]);
                if !params_ok(params.as_bytes()) {
                    return None;
                }
                Some(NameAddr { display, uri, params, angle: true })
            }
            None => {
                // addr-spec: the URI ends at the first ';' (those are header
                // parameters), and may not carry '?' headers or ','.
                let (uri, params) = match s.find(';') {
                    Some(p) => (&s[..p], &s[p..]),
                    None => (s, ""),
                };
                if uri.contains(['?', ',', '"']) {
                    return None;
                }
                let uri = trim_str(uri);
                Uri::parse(uri).ok()?;
                if !params_ok(params.as_bytes()) {
                    return None;
                }
                let _ = i;
                Some(NameAddr { display, uri, params, angle: false })
            }
        }
    }

    /// The parsed URI. Validated at construction, so this cannot fail for a value
    /// made by [`NameAddr::parse`]; `None` only for hand-built values.
    pub fn uri(&self) -> Option<Uri<'a>> {
        Uri::parse(self.uri).ok()
    }

    /// A header parameter such as `tag`, `expires`, `q`.
    pub fn param(&self, name: &str) -> Option<Option<&'a str>> {
        param(self.params, name)
    }

    /// The `tag` parameter (From/To).
    pub fn tag(&self) -> Option<&'a str> {
        self.param("tag").flatten()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn forms() {
        let n = NameAddr::parse("\"Alice \\\"A\\\"\" <sip:alice@a.example;lr>;tag=9").unwrap();
        assert_eq!(n.display, Some("\"Alice \\\"A\\\"\""));
        assert_eq!(n.uri, "sip:alice@a.example;lr");
        assert_eq!(n.tag(), Some("9"));
        let n = NameAddr::parse("sip:bob@b.example;tag=1").unwrap();
        assert_eq!(n.uri, "sip:bob@b.example");
        assert_eq!(n.tag(), Some("1"));
        assert!(!n.angle);
        let n = NameAddr::parse("Bob Smith <sip:bob@b.example>").unwrap();
        assert_eq!(n.display, Some("Bob Smith"));
        assert!(NameAddr::parse("isbn:2983792873").is_some());
        assert!(NameAddr::parse("<http://www.example.com>;tag=3").is_some());
    }

    #[test]
    fn torture_rejects() {
        assert!(NameAddr::parse("\"Mr. J. User <sip:j.user@example.com>").is_none());
        assert!(NameAddr::parse("\"Watson, Thomas\" < sip:t.watson@example.org >").is_none());
        assert!(NameAddr::parse("Bell, Alexander <sip:a.g.bell@example.com>;tag=43").is_none());
        assert!(NameAddr::parse("sip:user@example.com?Route=%3Csip:sip.example.com%3E").is_none());
        assert!(NameAddr::parse("\"Joe\" <sip:joe@example.org>;;;;").is_none());
        assert!(NameAddr::parse("<sip:a@b").is_none());
    }
}
