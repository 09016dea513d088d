//! Digest header parsing, formatting and response computation.
//!
//! Parses one challenge (`WWW-Authenticate` / `Proxy-Authenticate`) or one set
//! of credentials (`Authorization` / `Proxy-Authorization`) per header value,
//! as RFC 3261 §25.1 allows exactly one per header field. Everything here is
//! pure: no clock, no randomness, no I/O.

use std::borrow::Cow;
use std::fmt::{self, Write as _};
use std::str::FromStr;

use md5::Md5;
use sha2::{Digest, Sha256};

/// Longest header value we parse. Real Digest headers are a few hundred
/// bytes; the bound keeps a hostile peer from making us scan megabytes.
pub const MAX_HEADER_LEN: usize = 4096;

/// Assigns a parsed parameter to the matching slot, rejecting duplicates.
/// Names not listed (domain, userhash, charset, extensions) are ignored.
macro_rules! match_param {
    ($name:expr, $value:expr, { $($key:literal => $slot:ident),* $(,)? }) => {
        $(
            if $name.eq_ignore_ascii_case($key) {
                if $slot.is_some() {
                    return Err(DigestError::DuplicateParam($key));
                }
                $slot = Some($value);
            } else
        )* {}
    };
}

/// What was wrong with a Digest header received from a peer.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DigestError {
    /// The header value is longer than [`MAX_HEADER_LEN`].
    #[error("header value longer than {MAX_HEADER_LEN} bytes")]
    TooLong,
    /// The scheme is not `Digest` (e.g. `Basic`, or an empty value).
    #[error("authentication scheme is not Digest")]
    NotDigest,
    /// A parameter name is empty or contains non-token characters.
    #[error("malformed parameter name")]
    BadParamName,
    /// A parameter name is not followed by `=`.
    #[error("parameter without '='")]
    MissingEquals,
    /// A parameter has `=` but no value.
    #[error("parameter with an empty value")]
    EmptyValue,
    /// A quoted-string is not closed before the end of the header.
    #[error("unterminated quoted string")]
    UnterminatedQuote,
    /// A backslash escapes something a quoted-pair may not contain.
    #[error("invalid backslash escape")]
    BadEscape,
    /// A control character (CR, LF, NUL, ...) appears in a value.
    #[error("control character in header value")]
    ControlChar,
    /// Something other than `,` follows a parameter value.
    #[error("expected ',' between parameters")]
    ExpectedComma,
    /// The same parameter appears twice.
    #[error("duplicate parameter {0}")]
    DuplicateParam(&'static str),
    /// A parameter required in this context is absent.
    #[error("missing parameter {0}")]
    MissingParam(&'static str),
    /// `nc` is not exactly 8 hex digits.
    #[error("nc is not 8 hex digits")]
    BadNonceCount,
    /// `algorithm` names something other than MD5, SHA-256 or their -sess forms.
    #[error("unsupported digest algorithm")]
    UnsupportedAlgorithm,
    /// `qop` in credentials is neither `auth` nor `auth-int`.
    #[error("unsupported qop")]
    UnsupportedQop,
}

/// Digest hash algorithm (RFC 7616 §3.3). `-sess` variants derive a
/// per-session HA1 from the nonces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Algorithm {
    /// `MD5`, the default when `algorithm` is absent (RFC 2617, RFC 3261).
    #[default]
    Md5,
    /// `MD5-sess`.
    Md5Sess,
    /// `SHA-256` (RFC 7616, RFC 8760).
    Sha256,
    /// `SHA-256-sess`.
    Sha256Sess,
}

impl Algorithm {
    /// The token used on the wire, e.g. `SHA-256`.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Md5 => "MD5",
            Algorithm::Md5Sess => "MD5-sess",
            Algorithm::Sha256 => "SHA-256",
            Algorithm::Sha256Sess => "SHA-256-sess",
        }
    }

    /// Whether this is a `-sess` variant.
    pub fn is_session(self) -> bool {
        matches!(self, Algorithm::Md5Sess | Algorithm::Sha256Sess)
    }

    /// Whether the underlying hash is SHA-256 (else MD5). An HA1 is only
    /// usable with algorithms sharing its hash.
    pub fn is_sha256(self) -> bool {
        matches!(self, Algorithm::Sha256 | Algorithm::Sha256Sess)
    }

    /// Length of this algorithm's lowercase hex digest.
    pub fn hex_len(self) -> usize {
        if self.is_sha256() { 64 } else { 32 }
    }
}

impl FromStr for Algorithm {
    type Err = DigestError;
    fn from_str(s: &str) -> Result<Self, DigestError> {
        [
            Algorithm::Md5,
            Algorithm::Md5Sess,
            Algorithm::Sha256,
            Algorithm::Sha256Sess,
        ]
        .into_iter()
        .find(|a| a.as_str().eq_ignore_ascii_case(s))
        .ok_or(DigestError::UnsupportedAlgorithm)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Quality of protection chosen by a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Qop {
    /// `auth`: the only qop Switchyard computes.
    Auth,
    /// `auth-int`: parsed so it can be refused cleanly; not computed.
    AuthInt,
}

impl Qop {
    /// The token used on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Qop::Auth => "auth",
            Qop::AuthInt => "auth-int",
        }
    }
}

/// A server's challenge, from `WWW-Authenticate` or `Proxy-Authenticate`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Challenge {
    /// Protection space; also an input to HA1.
    pub realm: String,
    /// Server nonce.
    pub nonce: String,
    /// Opaque blob the client must echo back.
    pub opaque: Option<String>,
    /// Hash algorithm; MD5 when the header omits it.
    pub algorithm: Algorithm,
    /// The server offered `qop=auth`.
    pub qop_auth: bool,
    /// The previous attempt had a good digest but an expired nonce: retry
    /// silently without asking the user again.
    pub stale: bool,
}

/// A client's answer, from `Authorization` or `Proxy-Authorization`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Credentials {
    /// User name, as used in HA1.
    pub username: String,
    /// Realm copied from the challenge.
    pub realm: String,
    /// Server nonce copied from the challenge.
    pub nonce: String,
    /// The digest-uri; should equal the Request-URI (checking that is the caller's job).
    pub uri: String,
    /// The request digest, lowercase hex.
    pub response: String,
    /// Hash algorithm; MD5 when the header omits it.
    pub algorithm: Algorithm,
    /// `None` for RFC 2069-style answers.
    pub qop: Option<Qop>,
    /// Nonce count; present whenever `qop` is.
    pub nc: Option<u32>,
    /// Client nonce; present whenever `qop` is.
    pub cnonce: Option<String>,
    /// Opaque value echoed from the challenge.
    pub opaque: Option<String>,
}

impl Challenge {
    /// Parses a `WWW-Authenticate` / `Proxy-Authenticate` header value.
    pub fn parse(value: &str) -> Result<Self, DigestError> {
        let (mut realm, mut nonce, mut opaque, mut algorithm, mut qop, mut stale) =
            (None, None, None, None, None, None);
        for param in Params::new(value)? {
            let (name, v) = param?;
            match_param!(name, v, {
                "realm" => realm,
                "nonce" => nonce,
                "opaque" => opaque,
                "algorithm" => algorithm,
                "qop" => qop,
                "stale" => stale,
            });
        }
        let algorithm = match algorithm {
            Some(a) => a.parse()?,
            None => Algorithm::Md5,
        };
        Ok(Challenge {
            realm: realm
                .ok_or(DigestError::MissingParam("realm"))?
                .into_owned(),
            nonce: nonce
                .ok_or(DigestError::MissingParam("nonce"))?
                .into_owned(),
            opaque: opaque.map(Cow::into_owned),
            algorithm,
            // Servers send a list ("auth,auth-int"); we only care about auth.
            qop_auth: qop.is_some_and(|q: Cow<'_, str>| {
                q.split(',')
                    .any(|t| t.trim_matches(is_lws_char).eq_ignore_ascii_case("auth"))
            }),
            stale: stale.is_some_and(|s| s.eq_ignore_ascii_case("true")),
        })
    }

    /// Formats the challenge as a header value, e.g.
    /// `Digest realm="switchyard", nonce="…", opaque="…", algorithm=SHA-256, qop="auth"`.
    pub fn to_header_value(&self) -> String {
        let mut out = String::with_capacity(96 + self.realm.len() + self.nonce.len());
        out.push_str("Digest realm=");
        push_quoted(&mut out, &self.realm);
        out.push_str(", nonce=");
        push_quoted(&mut out, &self.nonce);
        if let Some(opaque) = &self.opaque {
            out.push_str(", opaque=");
            push_quoted(&mut out, opaque);
        }
        out.push_str(", algorithm=");
        out.push_str(self.algorithm.as_str());
        if self.qop_auth {
            out.push_str(", qop=\"auth\"");
        }
        if self.stale {
            out.push_str(", stale=true");
        }
        out
    }
}

impl Credentials {
    /// Parses an `Authorization` / `Proxy-Authorization` header value.
    pub fn parse(value: &str) -> Result<Self, DigestError> {
        let (mut username, mut realm, mut nonce, mut uri, mut response) =
            (None, None, None, None, None);
        let (mut algorithm, mut qop, mut nc, mut cnonce, mut opaque) =
            (None, None, None, None, None);
        for param in Params::new(value)? {
            let (name, v) = param?;
            match_param!(name, v, {
                "username" => username,
                "realm" => realm,
                "nonce" => nonce,
                "uri" => uri,
                "response" => response,
                "algorithm" => algorithm,
                "qop" => qop,
                "nc" => nc,
                "cnonce" => cnonce,
                "opaque" => opaque,
            });
        }
        let qop = match qop {
            None => None,
            Some(q) if q.eq_ignore_ascii_case("auth") => Some(Qop::Auth),
            Some(q) if q.eq_ignore_ascii_case("auth-int") => Some(Qop::AuthInt),
            Some(_) => return Err(DigestError::UnsupportedQop),
        };
        let nc = nc.map(|n| parse_nc(&n)).transpose()?;
        if qop.is_some() {
            // RFC 7616 §3.4: both MUST accompany qop; without them the
            // response cannot even be computed.
            if nc.is_none() {
                return Err(DigestError::MissingParam("nc"));
            }
            if cnonce.is_none() {
                return Err(DigestError::MissingParam("cnonce"));
            }
        }
        Ok(Credentials {
            username: username
                .ok_or(DigestError::MissingParam("username"))?
                .into_owned(),
            realm: realm
                .ok_or(DigestError::MissingParam("realm"))?
                .into_owned(),
            nonce: nonce
                .ok_or(DigestError::MissingParam("nonce"))?
                .into_owned(),
            uri: uri.ok_or(DigestError::MissingParam("uri"))?.into_owned(),
            response: response
                .ok_or(DigestError::MissingParam("response"))?
                .into_owned(),
            algorithm: match algorithm {
                Some(a) => a.parse()?,
                None => Algorithm::Md5,
            },
            qop,
            nc,
            cnonce: cnonce.map(Cow::into_owned),
            opaque: opaque.map(Cow::into_owned),
        })
    }

    /// Formats the credentials as a header value (Switchyard as a client,
    /// answering a carrier's challenge).
    pub fn to_header_value(&self) -> String {
        let mut out = String::with_capacity(
            160 + self.username.len() + self.realm.len() + self.nonce.len() + self.uri.len(),
        );
        out.push_str("Digest username=");
        push_quoted(&mut out, &self.username);
        out.push_str(", realm=");
        push_quoted(&mut out, &self.realm);
        out.push_str(", nonce=");
        push_quoted(&mut out, &self.nonce);
        out.push_str(", uri=");
        push_quoted(&mut out, &self.uri);
        out.push_str(", response=");
        push_quoted(&mut out, &self.response);
        out.push_str(", algorithm=");
        out.push_str(self.algorithm.as_str());
        if let Some(cnonce) = &self.cnonce {
            out.push_str(", cnonce=");
            push_quoted(&mut out, cnonce);
        }
        if let Some(opaque) = &self.opaque {
            out.push_str(", opaque=");
            push_quoted(&mut out, opaque);
        }
        if let Some(qop) = self.qop {
            out.push_str(", qop=");
            out.push_str(qop.as_str());
        }
        if let Some(nc) = self.nc {
            // Writing to a String cannot fail.
            let _ = write!(out, ", nc={nc:08x}");
        }
        out
    }
}

fn parse_nc(s: &str) -> Result<u32, DigestError> {
    // from_str_radix alone would accept a leading '+'.
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(DigestError::BadNonceCount);
    }
    u32::from_str_radix(s, 16).map_err(|_| DigestError::BadNonceCount)
}

/// The HA1 of RFC 7616 §3.4.2 without the `-sess` step:
/// `H(username ":" realm ":" password)`, lowercase hex, using `alg`'s hash.
/// [`response`] applies the `-sess` step itself, so a stored HA1 serves
/// both the plain and the `-sess` variant.
pub fn ha1(alg: Algorithm, username: &str, realm: &str, password: &str) -> String {
    hash_hex(alg, &[username, realm, password])
}

/// The `qop=auth` inputs to [`response`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct QopAuth<'a> {
    /// Client nonce.
    pub cnonce: &'a str,
    /// Nonce count.
    pub nc: u32,
}

/// The request digest of RFC 7616 §3.4.1, lowercase hex.
///
/// With `qop`: `H(HA1:nonce:nc:cnonce:auth:HA2)`; without (RFC 2069):
/// `H(HA1:nonce:HA2)`; `HA2 = H(method:uri)`. For `-sess` algorithms HA1 is
/// first replaced by `H(ha1:nonce:cnonce)`; `-sess` without qop has no
/// cnonce, so an empty one is used (the verifier refuses that combination).
pub fn response(
    alg: Algorithm,
    ha1: &str,
    nonce: &str,
    qop: Option<QopAuth<'_>>,
    method: &str,
    uri: &str,
) -> String {
    let session_ha1;
    let ha1 = if alg.is_session() {
        session_ha1 = hash_hex(alg, &[ha1, nonce, qop.map_or("", |q| q.cnonce)]);
        session_ha1.as_str()
    } else {
        ha1
    };
    let ha2 = hash_hex(alg, &[method, uri]);
    match qop {
        Some(q) => {
            // 8 lowercase hex digits, as on the wire.
            let nc = hex(&q.nc.to_be_bytes());
            hash_hex(alg, &[ha1, nonce, &nc, q.cnonce, Qop::Auth.as_str(), &ha2])
        }
        None => hash_hex(alg, &[ha1, nonce, &ha2]),
    }
}

/// Answers `challenge` as a client: `qop=auth` when offered, else RFC 2069
/// style. `cnonce` should be fresh and random (see `nonce::client_nonce`);
/// `nc` starts at 1 and increases with each reuse of the same nonce.
pub fn answer(
    challenge: &Challenge,
    method: &str,
    uri: &str,
    username: &str,
    password: &str,
    cnonce: &str,
    nc: u32,
) -> Credentials {
    let alg = challenge.algorithm;
    let qop = challenge.qop_auth.then_some(QopAuth { cnonce, nc });
    let ha1 = ha1(alg, username, &challenge.realm, password);
    Credentials {
        username: username.to_owned(),
        realm: challenge.realm.clone(),
        nonce: challenge.nonce.clone(),
        uri: uri.to_owned(),
        response: response(alg, &ha1, &challenge.nonce, qop, method, uri),
        algorithm: alg,
        qop: qop.map(|_| Qop::Auth),
        nc: qop.map(|q| q.nc),
        cnonce: qop.map(|q| q.cnonce.to_owned()),
        opaque: challenge.opaque.clone(),
    }
}

/// Picks the challenge a client should answer among several (RFC 8760 §2.4:
/// the strongest supported one): SHA-256 over MD5, first wins on ties.
pub fn preferred_challenge(challenges: &[Challenge]) -> Option<&Challenge> {
    challenges.iter().reduce(|best, c| {
        if c.algorithm.is_sha256() && !best.algorithm.is_sha256() {
            c
        } else {
            best
        }
    })
}

/// Compares a computed digest with one received from a peer without
/// data-dependent early exit, so response timing leaks nothing about how
/// many leading characters matched. Case-insensitive on the peer's side
/// because some clients send uppercase hex.
pub(crate) fn digest_eq(expected: &str, received: &str) -> bool {
    let (a, b) = (expected.as_bytes(), received.as_bytes());
    // The length is public (fixed by the algorithm), so exiting on it leaks nothing.
    if a.len() != b.len() {
        return false;
    }
    let diff = a
        .iter()
        .zip(b)
        .fold(0u8, |acc, (x, y)| acc | (x ^ y.to_ascii_lowercase()));
    std::hint::black_box(diff) == 0
}

fn hash_hex(alg: Algorithm, parts: &[&str]) -> String {
    if alg.is_sha256() {
        hex(&joined::<Sha256>(parts))
    } else {
        hex(&joined::<Md5>(parts))
    }
}

/// Hashes `parts` joined by ':' without building the joined string.
fn joined<D: Digest>(parts: &[&str]) -> impl AsRef<[u8]> {
    let mut h = D::new();
    for (i, p) in parts.iter().enumerate() {
        if i > 0 {
            h.update(b":");
        }
        h.update(p.as_bytes());
    }
    h.finalize()
}

fn hex(bytes: &impl AsRef<[u8]>) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let bytes = bytes.as_ref();
    let mut s = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        s.push(char::from(DIGITS[usize::from(b >> 4)]));
        s.push(char::from(DIGITS[usize::from(b & 0xf)]));
    }
    s
}

/// Writes `s` as a quoted-string. Control characters cannot be represented
/// in a SIP quoted-string (quoted-pair excludes CR and LF), so they are
/// dropped rather than allowed to split the header.
fn push_quoted(out: &mut String, s: &str) {
    out.push('"');
    for c in s.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            '\t' => out.push(c),
            c if c.is_ascii_control() => {}
            c => out.push(c),
        }
    }
    out.push('"');
}

fn is_lws_char(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// RFC 3261 `token` characters.
fn is_token_byte(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b"-.!%*_+`'~".contains(&b)
}

/// Iterator over the `name=value` pairs following the `Digest` scheme.
struct Params<'a> {
    s: &'a str,
    pos: usize,
    failed: bool,
}

impl<'a> Params<'a> {
    fn new(value: &'a str) -> Result<Self, DigestError> {
        if value.len() > MAX_HEADER_LEN {
            return Err(DigestError::TooLong);
        }
        let rest = value.trim_start_matches(is_lws_char);
        let scheme_end = rest.find(is_lws_char).unwrap_or(rest.len());
        let (scheme, rest) = rest.split_at(scheme_end);
        if !scheme.eq_ignore_ascii_case("Digest") {
            return Err(DigestError::NotDigest);
        }
        Ok(Params {
            s: rest,
            pos: 0,
            failed: false,
        })
    }

    fn peek(&self) -> Option<u8> {
        self.s.as_bytes().get(self.pos).copied()
    }

    fn skip_while(&mut self, f: impl Fn(u8) -> bool) {
        while self.peek().is_some_and(&f) {
            self.pos += 1;
        }
    }

    fn skip_lws(&mut self) {
        self.skip_while(|b| is_lws_char(char::from(b)));
    }

    fn param(&mut self) -> Result<(&'a str, Cow<'a, str>), DigestError> {
        let start = self.pos;
        self.skip_while(is_token_byte);
        let name = self.s.get(start..self.pos).unwrap_or("");
        if name.is_empty() {
            return Err(DigestError::BadParamName);
        }
        self.skip_lws();
        if self.peek() != Some(b'=') {
            return Err(DigestError::MissingEquals);
        }
        self.pos += 1;
        self.skip_lws();
        let value = if self.peek() == Some(b'"') {
            self.quoted()?
        } else {
            // Looser than RFC `token`: some UAs send e.g. `uri=sip:a@b`
            // unquoted, and refusing them gains nothing.
            let start = self.pos;
            self.skip_while(|b| b > b' ' && b != 0x7f && b != b',' && b != b'"');
            let v = self.s.get(start..self.pos).unwrap_or("");
            if v.is_empty() {
                return Err(match self.peek() {
                    Some(b) if b < b' ' || b == 0x7f => DigestError::ControlChar,
                    _ => DigestError::EmptyValue,
                });
            }
            Cow::Borrowed(v)
        };
        self.skip_lws();
        match self.peek() {
            None | Some(b',') => Ok((name, value)),
            Some(b) if b < b' ' || b == 0x7f => Err(DigestError::ControlChar),
            Some(_) => Err(DigestError::ExpectedComma),
        }
    }

    /// Reads a quoted-string starting at the opening quote, unescaping
    /// quoted-pairs; borrows when there is nothing to unescape.
    fn quoted(&mut self) -> Result<Cow<'a, str>, DigestError> {
        let body_start = self.pos + 1;
        let body = self.s.get(body_start..).unwrap_or("");
        let mut owned: Option<String> = None;
        let mut chars = body.char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos = body_start + i + 1;
                    let borrowed = body.get(..i).unwrap_or("");
                    return Ok(owned.map_or(Cow::Borrowed(borrowed), Cow::Owned));
                }
                '\\' => {
                    let buf = owned.get_or_insert_with(|| body.get(..i).unwrap_or("").to_owned());
                    match chars.next() {
                        None => return Err(DigestError::UnterminatedQuote),
                        // quoted-pair = "\" (%x00-09 / %x0B-0C / %x0E-7F)
                        Some((_, e)) if !e.is_ascii() || e == '\r' || e == '\n' => {
                            return Err(DigestError::BadEscape);
                        }
                        Some((_, e)) if e.is_ascii_control() && e != '\t' => {
                            return Err(DigestError::ControlChar);
                        }
                        Some((_, e)) => buf.push(e),
                    }
                }
                // Tabs are LWS; every other control character could only
                // be an injection attempt or garbage.
                c if c.is_ascii_control() && c != '\t' => return Err(DigestError::ControlChar),
                c => {
                    if let Some(buf) = owned.as_mut() {
                        buf.push(c);
                    }
                }
            }
        }
        Err(DigestError::UnterminatedQuote)
    }
}

impl<'a> Iterator for Params<'a> {
    type Item = Result<(&'a str, Cow<'a, str>), DigestError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        // Tolerate empty list elements (", ,"), as the HTTP #rule does.
        self.skip_while(|b| b == b',' || is_lws_char(char::from(b)));
        self.peek()?;
        let item = self.param();
        if item.is_err() {
            self.failed = true;
        } else {
            // Step over the separating comma, if any; param() left us on it or at the end.
            self.pos += usize::from(self.peek() == Some(b','));
        }
        Some(item)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const RFC7616_NONCE: &str = "7ypf/xlj9XXwfDPEoM4URrv/xwf94BcCAzFZH4GiTo0v";
    const RFC7616_CNONCE: &str = "f2/wE4q74E6zIJEtWaHKaf5wv/H5QzzpXusqGemxURZJ";
    const RFC7616_REALM: &str = "http-auth@example.org";

    fn rfc7616_response(alg: Algorithm) -> String {
        let ha1 = ha1(alg, "Mufasa", RFC7616_REALM, "Circle of Life");
        let qop = QopAuth {
            cnonce: RFC7616_CNONCE,
            nc: 1,
        };
        response(
            alg,
            &ha1,
            RFC7616_NONCE,
            Some(qop),
            "GET",
            "/dir/index.html",
        )
    }

    #[test]
    fn rfc7616_md5_vector() {
        assert_eq!(
            rfc7616_response(Algorithm::Md5),
            "8ca523f5e9506fed4657c9700eebdbec"
        );
    }

    #[test]
    fn rfc7616_sha256_vector() {
        assert_eq!(
            rfc7616_response(Algorithm::Sha256),
            "753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1"
        );
    }

    #[test]
    fn rfc2617_md5_vector() {
        let ha1 = ha1(
            Algorithm::Md5,
            "Mufasa",
            "testrealm@host.com",
            "Circle Of Life",
        );
        let qop = QopAuth {
            cnonce: "0a4f113b",
            nc: 1,
        };
        let nonce = "dcd98b7102dd2f0e8b11d0f600bfb0c093";
        let r = response(
            Algorithm::Md5,
            &ha1,
            nonce,
            Some(qop),
            "GET",
            "/dir/index.html",
        );
        assert_eq!(r, "6629fae49393a05397450978507c4ef1");
    }

    #[test]
    fn rfc2069_and_sess_follow_their_formulas() {
        let h1 = ha1(Algorithm::Md5, "u", "r", "p");
        let ha2 = hash_hex(Algorithm::Md5, &["REGISTER", "sip:r"]);
        assert_eq!(
            response(Algorithm::Md5, &h1, "n", None, "REGISTER", "sip:r"),
            hash_hex(Algorithm::Md5, &[&h1, "n", &ha2])
        );
        let h1 = ha1(Algorithm::Sha256, "u", "r", "p");
        let sess_ha1 = hash_hex(Algorithm::Sha256, &[&h1, "n", "c"]);
        let ha2 = hash_hex(Algorithm::Sha256, &["INVITE", "sip:x"]);
        let qop = QopAuth {
            cnonce: "c",
            nc: 0x1f,
        };
        assert_eq!(
            response(
                Algorithm::Sha256Sess,
                &h1,
                "n",
                Some(qop),
                "INVITE",
                "sip:x"
            ),
            hash_hex(
                Algorithm::Sha256,
                &[&sess_ha1, "n", "0000001f", "c", "auth", &ha2]
            )
        );
    }

    #[test]
    fn parses_rfc7616_authorization_example() {
        let v = format!(
            "Digest username=\"Mufasa\",\r\n realm=\"{RFC7616_REALM}\",\r\n uri=\"/dir/index.html\",\r\n \
             algorithm=SHA-256,\r\n nonce=\"{RFC7616_NONCE}\",\r\n nc=00000001,\r\n cnonce=\"{RFC7616_CNONCE}\",\r\n \
             qop=auth,\r\n response=\"753927fa0e85d155564e2e272a28d1802ca10daf4496794697cf8db5856cb6c1\",\r\n \
             opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
        );
        let c = Credentials::parse(&v).unwrap();
        assert_eq!(c.username, "Mufasa");
        assert_eq!(c.algorithm, Algorithm::Sha256);
        assert_eq!((c.qop, c.nc), (Some(Qop::Auth), Some(1)));
        assert_eq!(c.cnonce.as_deref(), Some(RFC7616_CNONCE));
        assert_eq!(c.response, rfc7616_response(Algorithm::Sha256));
        assert_eq!(Credentials::parse(&c.to_header_value()), Ok(c));
    }

    #[test]
    fn answer_reproduces_rfc7616_and_round_trips() {
        let ch = Challenge::parse(&format!(
            "Digest realm=\"{RFC7616_REALM}\", qop=\"auth, auth-int\", algorithm=MD5, \
             nonce=\"{RFC7616_NONCE}\", opaque=\"FQhe/qaU925kfnzjCev0ciny7QMkPqMAFRtzCUYo5tdS\""
        ))
        .unwrap();
        assert!(ch.qop_auth && !ch.stale);
        let c = answer(
            &ch,
            "GET",
            "/dir/index.html",
            "Mufasa",
            "Circle of Life",
            RFC7616_CNONCE,
            1,
        );
        assert_eq!(c.response, "8ca523f5e9506fed4657c9700eebdbec");
        assert_eq!(c.opaque, ch.opaque);
        let header = c.to_header_value();
        assert!(header.contains(", qop=auth, nc=00000001"), "{header}");
        assert_eq!(Credentials::parse(&header), Ok(c));
    }

    #[test]
    fn answer_without_qop_offered_omits_qop() {
        let ch = Challenge::parse("Digest realm=\"r\", nonce=\"n\"").unwrap();
        assert_eq!(ch.algorithm, Algorithm::Md5);
        let c = answer(&ch, "REGISTER", "sip:r", "u", "p", "ignored", 1);
        assert_eq!((c.qop, c.nc, c.cnonce.as_deref()), (None, None, None));
        assert!(!c.to_header_value().contains("nc="));
        assert_eq!(Credentials::parse(&c.to_header_value()), Ok(c));
    }

    #[test]
    fn challenge_formats_and_round_trips() {
        let ch = Challenge {
            realm: "switchyard".into(),
            nonce: "abc".into(),
            opaque: Some("xyz".into()),
            algorithm: Algorithm::Sha256,
            qop_auth: true,
            stale: true,
        };
        let v = ch.to_header_value();
        assert_eq!(
            v,
            "Digest realm=\"switchyard\", nonce=\"abc\", opaque=\"xyz\", algorithm=SHA-256, qop=\"auth\", stale=true"
        );
        assert_eq!(Challenge::parse(&v), Ok(ch.clone()));
        let plain = Challenge {
            stale: false,
            opaque: None,
            qop_auth: false,
            ..ch
        };
        assert!(!plain.to_header_value().contains("stale"));
        assert_eq!(Challenge::parse(&plain.to_header_value()), Ok(plain));
    }

    #[test]
    fn formatting_escapes_and_drops_controls() {
        let ch = Challenge {
            realm: "a\"b\\c\r\nVia: evil".into(),
            nonce: "n".into(),
            opaque: None,
            algorithm: Algorithm::Md5,
            qop_auth: false,
            stale: false,
        };
        let v = ch.to_header_value();
        assert!(
            v.starts_with("Digest realm=\"a\\\"b\\\\cVia: evil\""),
            "{v}"
        );
        assert_eq!(Challenge::parse(&v).unwrap().realm, "a\"b\\cVia: evil");
    }

    #[test]
    fn parses_tricky_but_valid_inputs() {
        let c = Credentials::parse(
            "  dIgEsT\tNC = 0000000A ,RESPONSE=\"ABCDEF\", ,  UserName = \"Mu\\\"fa\\\\sa\" ,\
             unknown=\"a, b=c\", x-ext=tok, algorithm=md5-SESS, cnonce=\"c\", qop=\"AUTH\", \
             realm=\"r\\ealm\", uri=sip:bob@example.com;transport=tcp, nonce=\"n\",",
        )
        .unwrap();
        assert_eq!(c.username, "Mu\"fa\\sa");
        assert_eq!(c.realm, "realm");
        assert_eq!(c.uri, "sip:bob@example.com;transport=tcp");
        assert_eq!(c.nc, Some(10));
        assert_eq!(c.qop, Some(Qop::Auth));
        assert_eq!(c.algorithm, Algorithm::Md5Sess);
        assert_eq!(c.response, "ABCDEF");
        let ch = Challenge::parse(
            "Digest realm=\"\", nonce=\"ü\", stale=TRUE, qop=auth-int, domain=\"sip:a\"",
        )
        .unwrap();
        assert_eq!((ch.realm.as_str(), ch.nonce.as_str()), ("", "ü"));
        assert!(ch.stale && !ch.qop_auth);
        assert!(
            !Challenge::parse("Digest realm=r, nonce=n, stale=no")
                .unwrap()
                .stale
        );
    }

    #[test]
    fn malformed_inputs_give_typed_errors() {
        use DigestError::*;
        let creds = |s: &str| {
            Credentials::parse(&format!(
                "Digest username=\"u\", realm=\"r\", nonce=\"n\", uri=\"u\", response=\"x\"{s}"
            ))
        };
        let cases: &[(&str, DigestError)] = &[
            (", cnonce=\"abc", UnterminatedQuote),
            (", cnonce=\"abc\\", UnterminatedQuote),
            (", cnonce=\"a\\\rb\"", BadEscape),
            (", cnonce=\"a\nb\"", ControlChar),
            (", cnonce=\"a\0b\"", ControlChar),
            (", cnonce=a\x01", ControlChar),
            (", realm=\"r2\"", DuplicateParam("realm")),
            (", NONCE=n2", DuplicateParam("nonce")),
            (", cnonce", MissingEquals),
            (", cnonce \"x\"", MissingEquals),
            (", cnonce=", EmptyValue),
            (", cnonce=,", EmptyValue),
            (", =x", BadParamName),
            (", cnonce=\"a\"b", ExpectedComma),
            (", cnonce=a b", ExpectedComma),
            (", nc=0000001", BadNonceCount),
            (", nc=+0000001", BadNonceCount),
            (", nc=0000000g", BadNonceCount),
            (", nc=000000001", BadNonceCount),
            (", algorithm=SHA-512-256", UnsupportedAlgorithm),
            (", qop=auth-conf, nc=00000001, cnonce=c", UnsupportedQop),
            (", qop=auth, cnonce=c", MissingParam("nc")),
            (", qop=auth, nc=00000001", MissingParam("cnonce")),
        ];
        for (suffix, want) in cases {
            assert_eq!(creds(suffix).as_ref(), Err(want), "suffix {suffix:?}");
        }
        assert_eq!(
            Credentials::parse("Digest realm=\"r\""),
            Err(MissingParam("username"))
        );
        assert_eq!(
            Challenge::parse("Digest realm=\"r\""),
            Err(MissingParam("nonce"))
        );
        assert_eq!(
            Challenge::parse("Digest nonce=\"n\""),
            Err(MissingParam("realm"))
        );
        for not_digest in [
            "",
            "   ",
            "Basic realm=\"r\"",
            "Digestrealm=\"r\"",
            "Digest\u{a0}realm=r",
        ] {
            assert_eq!(
                Challenge::parse(not_digest),
                Err(NotDigest),
                "{not_digest:?}"
            );
        }
        let long = format!("Digest realm=\"{}\", nonce=n", "a".repeat(MAX_HEADER_LEN));
        assert_eq!(Challenge::parse(&long), Err(TooLong));
    }

    #[test]
    fn preferred_challenge_picks_sha256() {
        let mk = |algorithm| Challenge {
            realm: "r".into(),
            nonce: "n".into(),
            opaque: None,
            algorithm,
            qop_auth: true,
            stale: false,
        };
        let list = [
            mk(Algorithm::Md5),
            mk(Algorithm::Sha256),
            mk(Algorithm::Sha256Sess),
        ];
        assert_eq!(
            preferred_challenge(&list).map(|c| c.algorithm),
            Some(Algorithm::Sha256)
        );
        assert_eq!(
            preferred_challenge(&list[..1]).map(|c| c.algorithm),
            Some(Algorithm::Md5)
        );
        assert_eq!(preferred_challenge(&[]), None);
    }

    #[test]
    fn digest_eq_is_exact_up_to_peer_case() {
        assert!(digest_eq("0a1b", "0a1b"));
        assert!(digest_eq("0a1b", "0A1B"));
        assert!(!digest_eq("0a1b", "0a1c"));
        assert!(!digest_eq("0a1b", "0a1"));
        assert!(!digest_eq("0a1b", ""));
    }

    #[test]
    fn random_input_never_panics() {
        let mut rng = fastrand::Rng::with_seed(0x5157_4943_4841_5244);
        let valid = format!(
            "Digest username=\"Mufasa\", realm=\"{RFC7616_REALM}\", nonce=\"{RFC7616_NONCE}\", \
             uri=\"/dir/index.html\", qop=auth, nc=00000001, cnonce=\"{RFC7616_CNONCE}\", \
             response=\"8ca523f5e9506fed4657c9700eebdbec\", algorithm=MD5, stale=true, opaque=\"o\""
        );
        let alphabet: &[u8] = b"Digest =,\"\\\t\r\n aqnrcAuth-MD5SHA256x0\x00\xff\xc3\xa9";
        for round in 0..20_000 {
            let bytes: Vec<u8> = if round % 2 == 0 {
                let len = rng.usize(0..200);
                (0..len)
                    .map(|_| {
                        if rng.bool() {
                            rng.u8(..)
                        } else {
                            alphabet[rng.usize(..alphabet.len())]
                        }
                    })
                    .collect()
            } else {
                let mut b = valid.clone().into_bytes();
                for _ in 0..rng.usize(1..6) {
                    let i = rng.usize(..b.len());
                    match rng.u8(0..3) {
                        0 => b[i] = alphabet[rng.usize(..alphabet.len())],
                        1 => {
                            b.remove(i);
                        }
                        _ => b.insert(i, alphabet[rng.usize(..alphabet.len())]),
                    }
                }
                b
            };
            let s = String::from_utf8_lossy(&bytes);
            let prefixed = format!("Digest {s}");
            for input in [&*s, &prefixed] {
                if let Ok(c) = Credentials::parse(input) {
                    assert_eq!(Credentials::parse(&c.to_header_value()), Ok(c));
                }
                if let Ok(c) = Challenge::parse(input) {
                    let _ = c.to_header_value();
                }
            }
        }
    }
}
