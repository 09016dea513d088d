//! Digest authentication of requests from local users (RFC 3261 §22, RFC 8760):
//! REGISTER is challenged with 401/WWW-Authenticate, INVITE with
//! 407/Proxy-Authenticate.

use std::time::Instant;

use crate::sip::auth::{Credentials, Verdict};
use crate::sip::header::HeaderName;
use crate::sip::message::{Message, Method};
use crate::sip::transaction::ServerTxId;

use super::Engine;

/// Outcome of checking a request's credentials.
pub(super) enum Authn {
    /// Authenticated as this user.
    User(String),
    /// A challenge (or refusal) was sent; stop processing.
    Answered,
}

impl Engine {
    /// Authenticates `req` or answers it with a challenge. The user must be a
    /// configured one, and the digest must cover this request's method.
    pub(super) fn authenticate(&mut self, now: Instant, id: ServerTxId, req: &Message) -> Authn {
        let proxy = *req.method() != Method::Register;
        let hdr = if proxy { HeaderName::ProxyAuthorization } else { HeaderName::Authorization };
        let realm = self.cfg.server.domain.clone();
        let wall = self.wall_secs(now);
        let mut stale = false;
        // A request may carry credentials for several realms; ours is the one
        // that counts (RFC 3261 §22.4).
        let creds = req.header_lines(hdr).filter_map(|v| Credentials::parse(v).ok()).find(|c| c.realm == realm);
        if let Some(c) = creds {
            match self.secrets.get(&c.username) {
                Some(secret) => {
                    let secret = secret.clone();
                    match self.verifier.verify(wall, req.method().as_str(), &c, &secret, &realm) {
                        Verdict::Ok => return Authn::User(c.username),
                        v if v.wants_stale() => stale = true,
                        Verdict::InvalidNonce => {}
                        Verdict::BadResponse => {
                            tracing::info!(user = %c.username, method = %req.method(), "authentication failed: wrong password");
                            self.reply(now, id, req, 403, "Forbidden");
                            return Authn::Answered;
                        }
                        _ => {}
                    }
                }
                None => {
                    tracing::info!(user = %c.username, "authentication for unknown user");
                    self.reply(now, id, req, 403, "Forbidden");
                    return Authn::Answered;
                }
            }
        }
        let code = if proxy { 407 } else { 401 };
        let chal_hdr = if proxy { HeaderName::ProxyAuthenticate } else { HeaderName::WwwAuthenticate };
        let challenges: Vec<_> = self
            .cfg
            .registrar
            .digest_algorithms
            .iter()
            .map(|a| {
                let alg = match a {
                    crate::config::DigestAlgorithm::Md5 => crate::sip::auth::Algorithm::Md5,
                    crate::config::DigestAlgorithm::Sha256 => crate::sip::auth::Algorithm::Sha256,
                };
                self.verifier.challenge(wall, &realm, alg, stale)
            })
            .collect();
        let extra: Vec<_> = challenges.iter().map(|c| (chal_hdr, c.to_header_value())).collect();
        self.answer(now, id, req, code, "", &extra);
        Authn::Answered
    }
}
