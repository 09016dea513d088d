//! SIP HTTP Digest authentication, sans-IO.
//!
//! Covers RFC 3261 §22 and §25.1 (Digest in SIP), RFC 2617 / RFC 7616
//! (MD5, MD5-sess, SHA-256, SHA-256-sess; `qop=auth`; RFC 2069-style
//! answers without qop) and RFC 8760 (SHA-256 offered first, MD5 second).
//! Used by the registrar and B2BUA as a server ([`Verifier`]) and by trunks
//! as a client ([`answer`]).
//!
//! Out of scope: `qop=auth-int` (parsed, then refused with
//! [`Verdict::UnsupportedQop`]), `userhash` and `username*` (ignored, so such
//! users simply fail to authenticate), SHA-512-256, `charset`, `domain`, and
//! checking that the digest `uri` matches the Request-URI (the caller has the
//! request; this module only sees the header).
//!
//! Nothing here reads a clock or does I/O: `now_secs` is seconds since the
//! Unix epoch, supplied by the caller. Randomness comes from `getrandom`.

mod digest;
mod nonce;

use std::borrow::Cow;
use std::fmt;

pub use digest::{
    Algorithm, Challenge, Credentials, DigestError, MAX_HEADER_LEN, Qop, QopAuth, answer, ha1,
    preferred_challenge, response,
};
pub use nonce::{NonceKeeper, NonceStatus, client_nonce};

/// What the switch knows about a user's password.
///
/// An HA1 is bound to the realm it was computed with, so a secret stored as
/// HA1 only verifies in that realm.
#[derive(Clone, PartialEq, Eq)]
pub struct StoredSecret {
    password: Option<String>,
    ha1_md5: Option<String>,
    ha1_sha256: Option<String>,
}

/// Why a configured secret was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SecretError {
    /// No password and no HA1 was given.
    #[error("no password or HA1 given")]
    Empty,
    /// The named HA1 is not the right number of hex digits.
    #[error("{0} must be {1} hex digits")]
    BadHa1(&'static str, usize),
}

impl StoredSecret {
    /// A plaintext password: verifies every algorithm.
    pub fn from_password(password: impl Into<String>) -> Self {
        StoredSecret {
            password: Some(password.into()),
            ha1_md5: None,
            ha1_sha256: None,
        }
    }

    /// A secret from a `[[users]]` entry: any of a password and precomputed
    /// `H(user:realm:password)` values (hex, any case). Each HA1 verifies
    /// only algorithms using its hash; a password verifies every algorithm.
    pub fn new(
        password: Option<&str>,
        ha1_md5: Option<&str>,
        ha1_sha256: Option<&str>,
    ) -> Result<Self, SecretError> {
        fn check(
            v: Option<&str>,
            name: &'static str,
            len: usize,
        ) -> Result<Option<String>, SecretError> {
            v.map(|h| {
                if h.len() == len && h.bytes().all(|b| b.is_ascii_hexdigit()) {
                    Ok(h.to_ascii_lowercase())
                } else {
                    Err(SecretError::BadHa1(name, len))
                }
            })
            .transpose()
        }
        let secret = StoredSecret {
            password: password.map(str::to_owned),
            ha1_md5: check(ha1_md5, "ha1_md5", 32)?,
            ha1_sha256: check(ha1_sha256, "ha1_sha256", 64)?,
        };
        if secret.password.is_none() && secret.ha1_md5.is_none() && secret.ha1_sha256.is_none() {
            return Err(SecretError::Empty);
        }
        Ok(secret)
    }

    /// The (non-session) HA1 for `alg`, or `None` if this secret cannot
    /// produce one (only an HA1 for the other hash).
    pub fn ha1(&self, alg: Algorithm, username: &str, realm: &str) -> Option<Cow<'_, str>> {
        // A stored HA1 wins over the password: it is what the operator
        // configured explicitly for this hash, and it saves a hash.
        let stored = if alg.is_sha256() {
            &self.ha1_sha256
        } else {
            &self.ha1_md5
        };
        match (stored, &self.password) {
            (Some(h), _) => Some(Cow::Borrowed(h)),
            (None, Some(pw)) => Some(Cow::Owned(ha1(alg, username, realm, pw))),
            (None, None) => None,
        }
    }
}

impl fmt::Debug for StoredSecret {
    // Hand-written so passwords and HA1s never reach a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StoredSecret")
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("ha1_md5", &self.ha1_md5.as_ref().map(|_| "<redacted>"))
            .field(
                "ha1_sha256",
                &self.ha1_sha256.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

/// Outcome of [`Verifier::verify`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    /// Authenticated.
    Ok,
    /// Right digest, expired nonce: re-challenge with `stale=true`.
    Stale,
    /// Right digest, but the nonce count was already used (or can no longer
    /// be tracked): re-challenge with `stale=true`. A replaying attacker
    /// gains nothing from the fresh nonce.
    Replay,
    /// Wrong password (or method/uri differ from what was signed).
    BadResponse,
    /// The nonce was not issued by us; re-challenge.
    InvalidNonce,
    /// The credentials are for another realm.
    WrongRealm,
    /// `qop=auth-int`, which is not implemented.
    UnsupportedQop,
    /// The stored secret has no HA1 for this algorithm's hash (e.g. only an
    /// MD5 HA1 and a SHA-256 answer); re-challenge offering MD5 only.
    SecretUnavailable,
    /// Self-contradictory credentials: qop without nc/cnonce, or a `-sess`
    /// algorithm without qop (there is no cnonce to derive the session key).
    Malformed,
}

impl Verdict {
    /// Whether the client should be re-challenged with `stale=true`.
    pub fn wants_stale(self) -> bool {
        matches!(self, Verdict::Stale | Verdict::Replay)
    }
}

/// Server side: issues challenges and verifies credentials.
#[derive(Debug)]
pub struct Verifier {
    nonces: NonceKeeper,
}

impl Verifier {
    /// A verifier whose nonces are keyed with `secret` and live `nonce_ttl_secs`.
    pub fn new(secret: [u8; 32], nonce_ttl_secs: u64) -> Self {
        Verifier {
            nonces: NonceKeeper::new(secret, nonce_ttl_secs),
        }
    }

    /// A verifier around an existing keeper (e.g. with a custom bound).
    pub fn with_keeper(nonces: NonceKeeper) -> Self {
        Verifier { nonces }
    }

    /// The nonce keeper, e.g. to call [`NonceKeeper::purge_expired`] from a timer.
    pub fn keeper_mut(&mut self) -> &mut NonceKeeper {
        &mut self.nonces
    }

    /// One challenge for `algorithm`, with `qop="auth"` and our opaque.
    pub fn challenge(
        &self,
        now_secs: u64,
        realm: &str,
        algorithm: Algorithm,
        stale: bool,
    ) -> Challenge {
        self.challenge_with_nonce(self.nonces.issue(now_secs), realm, algorithm, stale)
    }

    /// The challenges for a 401/407, in the order to send them as separate
    /// header fields: SHA-256 then MD5 (RFC 8760 §2.4). They share a nonce,
    /// which needs only one nonce-count entry whichever the client picks.
    pub fn challenges(&self, now_secs: u64, realm: &str, stale: bool) -> [Challenge; 2] {
        let nonce = self.nonces.issue(now_secs);
        [
            self.challenge_with_nonce(nonce.clone(), realm, Algorithm::Sha256, stale),
            self.challenge_with_nonce(nonce, realm, Algorithm::Md5, stale),
        ]
    }

    fn challenge_with_nonce(
        &self,
        nonce: String,
        realm: &str,
        algorithm: Algorithm,
        stale: bool,
    ) -> Challenge {
        Challenge {
            realm: realm.to_owned(),
            nonce,
            opaque: Some(self.nonces.opaque().to_owned()),
            algorithm,
            qop_auth: true,
            stale,
        }
    }

    /// Verifies `creds` sent with a request of `method`, for a user whose
    /// secret is `secret`, in `realm`.
    ///
    /// The nonce count is recorded only once the digest is right, so only
    /// peers knowing the password can consume replay-table space. SIP
    /// retransmissions must be absorbed by the transaction layer before
    /// this is called: a retransmitted request repeats its nc and would be
    /// reported as [`Verdict::Replay`].
    pub fn verify(
        &mut self,
        now_secs: u64,
        method: &str,
        creds: &Credentials,
        secret: &StoredSecret,
        realm: &str,
    ) -> Verdict {
        if creds.realm != realm {
            return Verdict::WrongRealm;
        }
        let qop = match (creds.qop, creds.nc, creds.cnonce.as_deref()) {
            (Some(Qop::AuthInt), ..) => return Verdict::UnsupportedQop,
            (Some(Qop::Auth), Some(nc), Some(cnonce)) => Some(QopAuth { cnonce, nc }),
            (Some(Qop::Auth), ..) => return Verdict::Malformed,
            (None, ..) if creds.algorithm.is_session() => return Verdict::Malformed,
            (None, ..) => None,
        };
        let Some((id, issued)) = self.nonces.decode(&creds.nonce) else {
            return Verdict::InvalidNonce;
        };
        let Some(ha1) = secret.ha1(creds.algorithm, &creds.username, realm) else {
            return Verdict::SecretUnavailable;
        };
        let expected = response(creds.algorithm, &ha1, &creds.nonce, qop, method, &creds.uri);
        if !digest::digest_eq(&expected, &creds.response) {
            return Verdict::BadResponse;
        }
        // Checked after the digest: RFC 7616 §3.3 allows stale=true only
        // when the digest was right, sparing the user a password prompt.
        if self.nonces.freshness(issued, now_secs) != NonceStatus::Valid {
            return Verdict::Stale;
        }
        // `opaque` is not compared: the nonce already carries its own MAC,
        // and some UAs drop or mangle opaque.
        match qop {
            Some(q) if !self.nonces.record_nc(id, issued, q.nc, now_secs) => Verdict::Replay,
            // Without qop there is no nc: RFC 2069/2617 clients legitimately
            // reuse a nonce for many requests, so such answers are accepted
            // while the nonce is fresh. That leaves a ttl-long replay window
            // for them, the price of interoperating with qop-less phones.
            _ => Verdict::Ok,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000;
    const REALM: &str = "switchyard";

    fn verifier() -> Verifier {
        Verifier::new([42; 32], 300)
    }

    /// A client answering the challenge for `alg` through the wire format.
    fn client(ch: &[Challenge; 2], alg: Algorithm, password: &str, nc: u32) -> Credentials {
        let ch = ch.iter().find(|c| c.algorithm == alg).unwrap();
        let c = answer(
            ch,
            "REGISTER",
            "sip:switchyard",
            "1001",
            password,
            "cn0nce",
            nc,
        );
        Credentials::parse(&c.to_header_value()).unwrap()
    }

    #[test]
    fn challenges_are_sha256_then_md5_sharing_a_nonce() {
        let v = verifier();
        let [a, b] = v.challenges(T0, REALM, false);
        assert_eq!(
            (a.algorithm, b.algorithm),
            (Algorithm::Sha256, Algorithm::Md5)
        );
        assert_eq!(a.nonce, b.nonce);
        assert!(a.qop_auth && !a.stale && a.opaque.is_some());
        assert!(v.challenges(T0, REALM, true)[1].stale);
        for c in [a, b] {
            assert_eq!(Challenge::parse(&c.to_header_value()), Ok(c));
        }
    }

    #[test]
    fn full_exchange_with_replay_protection() {
        let secret = StoredSecret::from_password("s3cret");
        for alg in [Algorithm::Sha256, Algorithm::Md5] {
            let mut v = verifier();
            let ch = v.challenges(T0, REALM, false);
            let c1 = client(&ch, alg, "s3cret", 1);
            assert_eq!(
                v.verify(T0 + 1, "REGISTER", &c1, &secret, REALM),
                Verdict::Ok
            );
            assert_eq!(
                v.verify(T0 + 2, "REGISTER", &c1, &secret, REALM),
                Verdict::Replay
            );
            let c2 = client(&ch, alg, "s3cret", 2);
            assert_eq!(
                v.verify(T0 + 2, "REGISTER", &c2, &secret, REALM),
                Verdict::Ok
            );
            assert_eq!(
                v.verify(
                    T0 + 2,
                    "INVITE",
                    &client(&ch, alg, "s3cret", 3),
                    &secret,
                    REALM
                ),
                Verdict::BadResponse
            );
            let c4 = client(&ch, alg, "s3cret", 4);
            assert_eq!(
                v.verify(T0 + 400, "REGISTER", &c4, &secret, REALM),
                Verdict::Stale
            );
            assert!(Verdict::Stale.wants_stale() && Verdict::Replay.wants_stale());
        }
    }

    #[test]
    fn wrong_password_is_bad_response_even_when_stale() {
        let mut v = verifier();
        let ch = v.challenges(T0, REALM, false);
        let secret = StoredSecret::from_password("right");
        let c = client(&ch, Algorithm::Sha256, "wrong", 1);
        assert_eq!(
            v.verify(T0, "REGISTER", &c, &secret, REALM),
            Verdict::BadResponse
        );
        assert_eq!(
            v.verify(T0 + 400, "REGISTER", &c, &secret, REALM),
            Verdict::BadResponse
        );
        // A wrong guess must not burn the nonce count for the real user.
        let good = client(&ch, Algorithm::Sha256, "right", 1);
        assert_eq!(v.verify(T0, "REGISTER", &good, &secret, REALM), Verdict::Ok);
    }

    #[test]
    fn ha1_stored_secrets_verify_their_own_hash_only() {
        let pw = "Circle of Life";
        let md5 = ha1(Algorithm::Md5, "1001", REALM, pw).to_ascii_uppercase();
        let sha = ha1(Algorithm::Sha256, "1001", REALM, pw);
        let md5_only = StoredSecret::new(None, Some(&md5), None).unwrap();
        let sha_only = StoredSecret::new(None, None, Some(&sha)).unwrap();
        let both =
            StoredSecret::new(Some("ignored for stored hashes"), Some(&md5), Some(&sha)).unwrap();
        let mut v = verifier();
        let ch = v.challenges(T0, REALM, false);
        let (m, s) = (
            client(&ch, Algorithm::Md5, pw, 1),
            client(&ch, Algorithm::Sha256, pw, 2),
        );
        assert_eq!(v.verify(T0, "REGISTER", &m, &md5_only, REALM), Verdict::Ok);
        assert_eq!(
            v.verify(T0, "REGISTER", &s, &md5_only, REALM),
            Verdict::SecretUnavailable
        );
        assert_eq!(v.verify(T0, "REGISTER", &s, &sha_only, REALM), Verdict::Ok);
        let (m, s) = (
            client(&ch, Algorithm::Md5, pw, 3),
            client(&ch, Algorithm::Sha256, pw, 4),
        );
        assert_eq!(
            v.verify(T0, "REGISTER", &m, &sha_only, REALM),
            Verdict::SecretUnavailable
        );
        assert_eq!(v.verify(T0, "REGISTER", &m, &both, REALM), Verdict::Ok);
        assert_eq!(v.verify(T0, "REGISTER", &s, &both, REALM), Verdict::Ok);
    }

    #[test]
    fn stored_secret_validation_and_redaction() {
        assert_eq!(StoredSecret::new(None, None, None), Err(SecretError::Empty));
        assert_eq!(
            StoredSecret::new(None, Some("abc"), None),
            Err(SecretError::BadHa1("ha1_md5", 32))
        );
        let not_hex = "g".repeat(64);
        assert_eq!(
            StoredSecret::new(None, None, Some(&not_hex)),
            Err(SecretError::BadHa1("ha1_sha256", 64))
        );
        let s = StoredSecret::new(Some("hunter2"), None, None).unwrap();
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn sess_algorithms_and_rfc2069_clients() {
        let secret = StoredSecret::from_password("pw");
        let mut v = verifier();
        let nonce = v.challenges(T0, REALM, false)[0].nonce.clone();
        for (alg, nc) in [(Algorithm::Md5Sess, 7), (Algorithm::Sha256Sess, 8)] {
            let ch = Challenge {
                realm: REALM.into(),
                nonce: nonce.clone(),
                opaque: None,
                algorithm: alg,
                qop_auth: true,
                stale: false,
            };
            let c = answer(&ch, "INVITE", "sip:x", "u", "pw", &client_nonce(), nc);
            assert_eq!(v.verify(T0, "INVITE", &c, &secret, REALM), Verdict::Ok);
            let no_qop = Credentials {
                qop: None,
                nc: None,
                cnonce: None,
                ..c
            };
            assert_eq!(
                v.verify(T0, "INVITE", &no_qop, &secret, REALM),
                Verdict::Malformed
            );
        }
        // Without qop a nonce may be reused while fresh (see verify()).
        let ch = Challenge {
            realm: REALM.into(),
            nonce,
            opaque: None,
            algorithm: Algorithm::Md5,
            qop_auth: false,
            stale: false,
        };
        let c = answer(&ch, "INVITE", "sip:x", "u", "pw", "", 0);
        assert_eq!(v.verify(T0, "INVITE", &c, &secret, REALM), Verdict::Ok);
        assert_eq!(v.verify(T0 + 10, "INVITE", &c, &secret, REALM), Verdict::Ok);
        assert_eq!(
            v.verify(T0 + 400, "INVITE", &c, &secret, REALM),
            Verdict::Stale
        );
    }

    #[test]
    fn other_refusals() {
        let secret = StoredSecret::from_password("pw");
        let mut v = verifier();
        let ch = v.challenges(T0, REALM, false);
        let c = client(&ch, Algorithm::Sha256, "pw", 1);
        assert_eq!(
            v.verify(T0, "REGISTER", &c, &secret, "other"),
            Verdict::WrongRealm
        );
        let int = Credentials {
            qop: Some(Qop::AuthInt),
            ..c.clone()
        };
        assert_eq!(
            v.verify(T0, "REGISTER", &int, &secret, REALM),
            Verdict::UnsupportedQop
        );
        let no_nc = Credentials {
            nc: None,
            ..c.clone()
        };
        assert_eq!(
            v.verify(T0, "REGISTER", &no_nc, &secret, REALM),
            Verdict::Malformed
        );
        let foreign = Verifier::new([1; 32], 300).challenges(T0, REALM, false);
        let f = client(&foreign, Algorithm::Sha256, "pw", 1);
        assert_eq!(
            v.verify(T0, "REGISTER", &f, &secret, REALM),
            Verdict::InvalidNonce
        );
        assert_eq!(v.verify(T0, "REGISTER", &c, &secret, REALM), Verdict::Ok);
    }
}
