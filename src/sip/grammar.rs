//! Character classes and small scanners from the RFC 3261 §25 ABNF.
//!
//! Everything here works on bytes and returns positions, never panics, and never
//! allocates: the parser calls these on every header of every message.

/// `token` characters: alphanumerics and `-.!%*_+`'~`.
#[inline]
pub(crate) fn is_token(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'.' | b'!' | b'%' | b'*' | b'_' | b'+' | b'`' | b'\'' | b'~')
}

/// `unreserved` = alphanum / mark.
#[inline]
pub(crate) fn is_unreserved(b: u8) -> bool {
    b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'!' | b'~' | b'*' | b'\'' | b'(' | b')')
}

/// Characters allowed unescaped in the user part of a SIP URI (unreserved and
/// user-unreserved); `%` starts an escape that is checked separately.
#[inline]
pub(crate) fn is_user_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'&' | b'=' | b'+' | b'$' | b',' | b';' | b'?' | b'/' | b'%')
}

/// Characters of `paramchar` (uri-parameter names and values).
#[inline]
pub(crate) fn is_param_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b':' | b'&' | b'+' | b'$' | b'%')
}

/// Characters of `hnv-unreserved` / `unreserved` / escaped in URI headers.
#[inline]
pub(crate) fn is_hdr_char(b: u8) -> bool {
    is_unreserved(b) || matches!(b, b'[' | b']' | b'/' | b'?' | b':' | b'+' | b'$' | b'%')
}

/// True when every token char in `s` is valid and it is non-empty.
pub(crate) fn is_token_str(s: &[u8]) -> bool {
    !s.is_empty() && s.iter().all(|&b| is_token(b))
}

/// Checks that every `%` in `s` is followed by two hex digits.
pub(crate) fn escapes_ok(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'%' {
            if i + 2 >= s.len() {
                return false;
            }
            if !(s[i + 1].is_ascii_hexdigit() && s[i + 2].is_ascii_hexdigit()) {
                return false;
            }
            i += 3;
        } else {
            i += 1;
        }
    }
    true
}

/// Linear white space after unfolding is just SP and HTAB.
#[inline]
pub(crate) fn is_ws(b: u8) -> bool {
    b == b' ' || b == b'\t'
}

/// Trims SP/HTAB on both ends.
pub(crate) fn trim(s: &[u8]) -> &[u8] {
    let mut a = 0;
    let mut b = s.len();
    while a < b && is_ws(s[a]) {
        a += 1;
    }
    while b > a && is_ws(s[b - 1]) {
        b -= 1;
    }
    &s[a..b]
}

/// Trims SP/HTAB on both ends of a str.
pub(crate) fn trim_str(s: &str) -> &str {
    s.trim_matches(|c| c == ' ' || c == '\t')
}

/// Skips white space from `i`; returns the first non-WS position.
#[inline]
pub(crate) fn skip_ws(s: &[u8], mut i: usize) -> usize {
    while i < s.len() && is_ws(s[i]) {
        i += 1;
    }
    i
}

/// Given `s[i] == '"'`, returns the index just past the closing quote, honouring
/// `\` escapes, or `None` if the string never closes.
pub(crate) fn quoted_end(s: &[u8], i: usize) -> Option<usize> {
    debug_assert_eq!(s.get(i), Some(&b'"'));
    let mut j = i + 1;
    while j < s.len() {
        match s[j] {
            b'\\' => j += 2,
            b'"' => return Some(j + 1),
            // quoted-string forbids CR/LF and other controls except HTAB
            b'\r' | b'\n' => return None,
            _ => j += 1,
        }
    }
    None
}

/// Splits a header value at top-level commas (outside quotes and angle brackets),
/// yielding trimmed, non-empty elements. Returns `None` on unbalanced quotes or
/// brackets, or an empty element (`a,,b`).
pub(crate) fn split_commas(s: &[u8], mut f: impl FnMut(usize, usize) -> bool) -> Option<()> {
    let mut start = 0;
    let mut i = 0;
    let mut angle = false;
    while i < s.len() {
        match s[i] {
            b'"' => {
                i = quoted_end(s, i)?;
                continue;
            }
            b'<' if !angle => angle = true,
            b'>' if angle => angle = false,
            b',' if !angle => {
                let (a, b) = trimmed_range(s, start, i);
                if a == b || !f(a, b) {
                    return None;
                }
                start = i + 1;
            }
            _ => {}
        }
        i += 1;
    }
    if angle {
        return None;
    }
    let (a, b) = trimmed_range(s, start, s.len());
    if a == b || !f(a, b) {
        return None;
    }
    Some(())
}

fn trimmed_range(s: &[u8], mut a: usize, mut b: usize) -> (usize, usize) {
    while a < b && is_ws(s[a]) {
        a += 1;
    }
    while b > a && is_ws(s[b - 1]) {
        b -= 1;
    }
    (a, b)
}

/// Parses a decimal integer of at most `max` value, digits only.
pub(crate) fn parse_u32(s: &[u8], max: u64) -> Option<u32> {
    if s.is_empty() || s.len() > 20 {
        return None;
    }
    let mut v: u64 = 0;
    for &b in s {
        if !b.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add(u64::from(b - b'0'))?;
        if v > max {
            return None;
        }
    }
    u32::try_from(v).ok()
}

/// Validates a `;name[=value]` generic-param list (header parameters) starting at
/// `s[0] == ';'` or empty. Values are tokens, quoted strings, or hosts (which
/// covers IPv6 references such as `received=[::1]`).
pub(crate) fn params_ok(s: &[u8]) -> bool {
    let mut i = 0;
    while i < s.len() {
        if s[i] != b';' {
            return false;
        }
        i = skip_ws(s, i + 1);
        let n0 = i;
        while i < s.len() && is_token(s[i]) {
            i += 1;
        }
        if i == n0 {
            return false;
        }
        i = skip_ws(s, i);
        if i < s.len() && s[i] == b'=' {
            i = skip_ws(s, i + 1);
            if i < s.len() && s[i] == b'"' {
                match quoted_end(s, i) {
                    Some(j) => i = j,
                    None => return false,
                }
            } else {
                let v0 = i;
                while i < s.len() && (is_token(s[i]) || matches!(s[i], b'[' | b']' | b':')) {
                    i += 1;
                }
                if i == v0 {
                    return false;
                }
            }
            i = skip_ws(s, i);
        }
    }
    true
}

/// Looks up parameter `name` in a `;a=b;c` list (header or URI parameters).
/// Returns `Some(None)` for a flag parameter, `Some(Some(v))` with quotes removed
/// for a valued one.
pub(crate) fn param<'a>(s: &'a str, name: &str) -> Option<Option<&'a str>> {
    for p in ParamIter::new(s) {
        if p.0.eq_ignore_ascii_case(name) {
            return Some(p.1);
        }
    }
    None
}

/// Iterates `;name[=value]` pairs, trimming white space and stripping quotes.
/// Tolerant: it is used on already-validated text.
pub(crate) struct ParamIter<'a> {
    rest: &'a str,
}

impl<'a> ParamIter<'a> {
    pub(crate) fn new(s: &'a str) -> Self {
        Self { rest: s }
    }
}

impl<'a> Iterator for ParamIter<'a> {
    type Item = (&'a str, Option<&'a str>);
    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let s = self.rest.trim_start_matches([' ', '\t']);
            let s = s.strip_prefix(';')?;
            // find end of this param: next ';' outside quotes
            let b = s.as_bytes();
            let mut i = 0;
            while i < b.len() && b[i] != b';' {
                if b[i] == b'"' {
                    i = quoted_end(b, i).unwrap_or(b.len());
                    continue;
                }
                i += 1;
            }
            let (item, rest) = s.split_at(i);
            self.rest = rest;
            let (name, value) = match item.find('=') {
                Some(eq) => {
                    let v = trim_str(&item[eq + 1..]);
                    let v = v.strip_prefix('"').and_then(|v| v.strip_suffix('"')).unwrap_or(v);
                    (trim_str(&item[..eq]), Some(v))
                }
                None => (trim_str(item), None),
            };
            if name.is_empty() {
                continue;
            }
            return Some((name, value));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes() {
        assert!(escapes_ok(b"a%20b"));
        assert!(!escapes_ok(b"a%2"));
        assert!(!escapes_ok(b"a%"));
        assert!(!escapes_ok(b"%zz"));
    }

    #[test]
    fn params() {
        assert!(params_ok(b";branch=z9hG4bK1;rport;received=[::1]"));
        assert!(params_ok(b";a=\"x;y\""));
        assert!(!params_ok(b";;"));
        assert!(!params_ok(b";a="));
        assert!(!params_ok(b";a=\"x"));
        assert_eq!(param(";tag=abc;lr", "TAG"), Some(Some("abc")));
        assert_eq!(param(";tag=abc;lr", "lr"), Some(None));
        assert_eq!(param(";q=\"a;b\"", "q"), Some(Some("a;b")));
    }

    #[test]
    fn commas() {
        let s = b"<sip:a,b@x>, \"x,y\" <sip:c@d>;p=1 ,sip:e@f";
        let mut parts = vec![];
        split_commas(s, |a, b| {
            parts.push(String::from_utf8_lossy(&s[a..b]).into_owned());
            true
        })
        .unwrap();
        assert_eq!(parts, vec!["<sip:a,b@x>", "\"x,y\" <sip:c@d>;p=1", "sip:e@f"]);
        assert!(split_commas(b"a,,b", |_, _| true).is_none());
        assert!(split_commas(b"\"a", |_, _| true).is_none());
    }

    #[test]
    fn numbers() {
        assert_eq!(parse_u32(b"0068", 255), Some(68));
        assert_eq!(parse_u32(b"256", 255), None);
        assert_eq!(parse_u32(b"-1", 255), None);
        assert_eq!(parse_u32(b"36893488147419103232", u64::from(u32::MAX)), None);
    }
}
