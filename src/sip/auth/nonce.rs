//! Stateless-verifiable server nonces and nonce-count replay tracking.
//!
//! A nonce is `base64url(ts ‖ rand ‖ mac)`, 43 characters, where `ts` is
//! the issue time (u64 big-endian seconds), `rand` 8 random bytes and `mac`
//! the first 16 bytes of HMAC-SHA256(secret, ts ‖ rand). Any node holding
//! the secret can check a nonce without remembering having issued it; only
//! nonce counts need state, and only for nonces actually used with `qop`.

use std::collections::{HashMap, VecDeque};
use std::fmt;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

const TS_LEN: usize = 8;
const RAND_LEN: usize = 8;
const MAC_LEN: usize = 16;
const RAW_LEN: usize = TS_LEN + RAND_LEN + MAC_LEN;
/// Length of an issued nonce: 32 bytes in unpadded base64.
const NONCE_LEN: usize = 43;
/// How far in the future a nonce's timestamp may be: tolerates clock skew
/// between nodes sharing a secret, and a clock stepped back a little.
const MAX_FUTURE_SECS: u64 = 30;

/// The identity of an issued nonce for replay tracking: `ts ‖ rand`. The
/// MAC is a function of these, so it adds nothing to uniqueness.
type NonceId = [u8; TS_LEN + RAND_LEN];

/// Result of checking a nonce presented by a client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NonceStatus {
    /// Ours and within its lifetime.
    Valid,
    /// Ours, but expired (or dated too far in the future): re-challenge with
    /// `stale=true` if the digest was otherwise right.
    Stale,
    /// Not issued with our secret, or malformed.
    Invalid,
}

/// Issues and checks nonces, and remembers the highest nonce count used
/// with each nonce.
pub struct NonceKeeper {
    mac: HmacSha256,
    ttl_secs: u64,
    opaque: String,
    max_tracked: usize,
    /// Highest nc seen, per nonce.
    seen: HashMap<NonceId, u32>,
    /// Tracked nonces in insertion order with their issue time, so expired
    /// ones can be dropped from the front without scanning the map.
    order: VecDeque<(NonceId, u64)>,
    /// Issue time of the newest nonce evicted for lack of room. An unknown
    /// nonce this old may be one we forgot, so its counts can't be trusted.
    evicted_up_to: Option<u64>,
}

impl NonceKeeper {
    /// Default bound on the number of nonces whose count is remembered.
    pub const DEFAULT_MAX_TRACKED: usize = 100_000;

    /// Creates a keeper whose nonces live `ttl_secs` seconds.
    ///
    /// Nodes sharing `secret` accept each other's nonces; keep it stable
    /// across restarts to avoid a burst of re-challenges.
    pub fn new(secret: [u8; 32], ttl_secs: u64) -> Self {
        // HMAC accepts keys of any length, so new_from_slice cannot fail.
        let mac = HmacSha256::new_from_slice(&secret).expect("HMAC takes any key length");
        // Derived rather than drawn at random so all nodes sharing the secret
        // (and restarts) hand out the same opaque. The label is longer than
        // the 16-byte nonce input, so the two MAC uses cannot collide.
        let tag = mac
            .clone()
            .chain_update(b"switchyard digest opaque")
            .finalize()
            .into_bytes();
        let opaque = URL_SAFE_NO_PAD.encode(&tag[..12]); // tag: 32 bytes
        NonceKeeper {
            mac,
            ttl_secs,
            opaque,
            max_tracked: Self::DEFAULT_MAX_TRACKED,
            seen: HashMap::new(),
            order: VecDeque::new(),
            evicted_up_to: None,
        }
    }

    /// Changes the bound on remembered nonce counts (at least 1).
    pub fn with_max_tracked(mut self, max_tracked: usize) -> Self {
        self.max_tracked = max_tracked.max(1);
        self
    }

    /// Nonce lifetime in seconds.
    pub fn ttl_secs(&self) -> u64 {
        self.ttl_secs
    }

    /// The `opaque` value to put in challenges.
    pub fn opaque(&self) -> &str {
        &self.opaque
    }

    /// Number of nonces whose count is currently remembered.
    pub fn tracked(&self) -> usize {
        self.seen.len()
    }

    /// Issues a fresh nonce dated `now_secs`.
    pub fn issue(&self, now_secs: u64) -> String {
        let mut rand = [0u8; RAND_LEN];
        if getrandom::fill(&mut rand).is_err() {
            // The MAC, not the random part, is what makes nonces unforgeable;
            // the random part only keeps same-second nonces distinct, which a
            // non-cryptographic generator still does.
            fastrand::fill(&mut rand);
        }
        self.issue_with(now_secs, rand)
    }

    fn issue_with(&self, now_secs: u64, rand: [u8; RAND_LEN]) -> String {
        let mut raw = [0u8; RAW_LEN];
        raw[..TS_LEN].copy_from_slice(&now_secs.to_be_bytes());
        raw[TS_LEN..TS_LEN + RAND_LEN].copy_from_slice(&rand);
        let tag = self
            .mac
            .clone()
            .chain_update(&raw[..TS_LEN + RAND_LEN])
            .finalize()
            .into_bytes();
        // The tag is 32 bytes, so the truncation is in bounds.
        raw[TS_LEN + RAND_LEN..].copy_from_slice(&tag[..MAC_LEN]);
        URL_SAFE_NO_PAD.encode(raw)
    }

    /// Checks that `nonce` is ours and still fresh.
    pub fn check(&self, nonce: &str, now_secs: u64) -> NonceStatus {
        match self.decode(nonce) {
            Some((_, ts)) => self.freshness(ts, now_secs),
            None => NonceStatus::Invalid,
        }
    }

    /// Records nonce count `nc` for `nonce`; false if `nonce` is not
    /// [`Valid`](NonceStatus::Valid) or `nc` is not greater than every count
    /// already seen with it (a replay). Call only once the digest verified,
    /// so unauthenticated peers cannot fill the table.
    pub fn check_nc(&mut self, nonce: &str, nc: u32, now_secs: u64) -> bool {
        match self.decode(nonce) {
            Some((id, ts)) if self.freshness(ts, now_secs) == NonceStatus::Valid => {
                self.record_nc(id, ts, nc, now_secs)
            }
            _ => false,
        }
    }

    /// Forgets counts of nonces that have expired. [`check_nc`](Self::check_nc)
    /// already does this incrementally; call it from a timer to release
    /// memory during quiet periods.
    pub fn purge_expired(&mut self, now_secs: u64) {
        while let Some(&(id, ts)) = self.order.front() {
            if self.freshness(ts, now_secs) == NonceStatus::Valid {
                // Insertion order is only roughly issue order, so an expired
                // entry may hide behind a live one. It is freed once the
                // front expires, at most about one ttl later.
                break;
            }
            self.order.pop_front();
            self.seen.remove(&id);
        }
    }

    pub(crate) fn record_nc(&mut self, id: NonceId, ts: u64, nc: u32, now_secs: u64) -> bool {
        if let Some(last) = self.seen.get_mut(&id) {
            if nc <= *last {
                return false;
            }
            *last = nc;
            return true;
        }
        // RFC 7616 §3.4: counting starts at 1, so 0 is never fresh.
        if nc == 0 || self.evicted_up_to.is_some_and(|e| ts <= e) {
            return false;
        }
        self.purge_expired(now_secs);
        while self.seen.len() >= self.max_tracked {
            let Some((old_id, old_ts)) = self.order.pop_front() else {
                break;
            };
            self.seen.remove(&old_id);
            self.evicted_up_to = Some(self.evicted_up_to.map_or(old_ts, |e| e.max(old_ts)));
        }
        self.seen.insert(id, nc);
        self.order.push_back((id, ts));
        true
    }

    /// Decodes and authenticates a nonce, returning its identity and issue time.
    pub(crate) fn decode(&self, nonce: &str) -> Option<(NonceId, u64)> {
        if nonce.len() != NONCE_LEN {
            return None;
        }
        let mut raw = [0u8; RAW_LEN];
        let n = URL_SAFE_NO_PAD.decode_slice(nonce, &mut raw).ok()?;
        if n != RAW_LEN {
            return None;
        }
        let (id_bytes, tag) = raw.split_at(TS_LEN + RAND_LEN);
        // Constant-time: a timing oracle on the MAC would let a peer forge nonces.
        self.mac
            .clone()
            .chain_update(id_bytes)
            .verify_truncated_left(tag)
            .ok()?;
        let id: NonceId = id_bytes.try_into().ok()?;
        let ts = u64::from_be_bytes(id[..TS_LEN].try_into().ok()?);
        Some((id, ts))
    }

    pub(crate) fn freshness(&self, ts: u64, now_secs: u64) -> NonceStatus {
        if ts > now_secs.saturating_add(MAX_FUTURE_SECS)
            || now_secs.saturating_sub(ts) > self.ttl_secs
        {
            NonceStatus::Stale
        } else {
            NonceStatus::Valid
        }
    }
}

impl fmt::Debug for NonceKeeper {
    // Hand-written so the keyed MAC state never reaches a log.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("NonceKeeper")
            .field("ttl_secs", &self.ttl_secs)
            .field("tracked", &self.seen.len())
            .field("max_tracked", &self.max_tracked)
            .finish_non_exhaustive()
    }
}

/// A fresh random client nonce (`cnonce`) for answering a challenge.
pub fn client_nonce() -> String {
    let mut bytes = [0u8; 12];
    if getrandom::fill(&mut bytes).is_err() {
        // The cnonce guards against chosen-plaintext games by a malicious
        // server; a weaker generator beats failing the call outright.
        fastrand::fill(&mut bytes);
    }
    URL_SAFE_NO_PAD.encode(bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    const T0: u64 = 1_700_000_000;

    fn keeper() -> NonceKeeper {
        NonceKeeper::new([7; 32], 300)
    }

    #[test]
    fn issued_nonce_is_valid_until_ttl_then_stale() {
        let k = keeper();
        let n = k.issue(T0);
        assert_eq!(n.len(), NONCE_LEN);
        assert!(
            n.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        );
        assert_eq!(k.check(&n, T0), NonceStatus::Valid);
        assert_eq!(k.check(&n, T0 + 300), NonceStatus::Valid);
        assert_eq!(k.check(&n, T0 + 301), NonceStatus::Stale);
        // A clock stepped back a little is tolerated; far back is not.
        assert_eq!(k.check(&n, T0 - MAX_FUTURE_SECS), NonceStatus::Valid);
        assert_eq!(k.check(&n, T0 - MAX_FUTURE_SECS - 1), NonceStatus::Stale);
        assert_ne!(n, k.issue(T0), "same-second nonces must differ");
    }

    #[test]
    fn layout_is_timestamp_random_mac() {
        let k = keeper();
        let n = k.issue_with(T0, [1, 2, 3, 4, 5, 6, 7, 8]);
        let raw = URL_SAFE_NO_PAD.decode(&n).unwrap();
        assert_eq!(raw[..8], T0.to_be_bytes());
        assert_eq!(raw[8..16], [1, 2, 3, 4, 5, 6, 7, 8]);
        let full = HmacSha256::new_from_slice(&[7; 32])
            .unwrap()
            .chain_update(&raw[..16])
            .finalize()
            .into_bytes();
        assert_eq!(raw[16..], full[..16]);
    }

    #[test]
    fn tampered_or_foreign_nonces_are_invalid() {
        let k = keeper();
        let n = k.issue(T0);
        for i in 0..n.len() {
            let mut b = n.clone().into_bytes();
            b[i] = if b[i] == b'A' { b'B' } else { b'A' };
            let tampered = String::from_utf8(b).unwrap();
            assert_eq!(k.check(&tampered, T0), NonceStatus::Invalid, "byte {i}");
        }
        let other = NonceKeeper::new([8; 32], 300);
        assert_eq!(other.check(&n, T0), NonceStatus::Invalid);
        for junk in [
            "",
            "abc",
            &n[..42],
            &format!("{n}A"),
            &"=".repeat(43),
            &"é".repeat(22),
        ] {
            assert_eq!(k.check(junk, T0), NonceStatus::Invalid, "{junk:?}");
        }
    }

    #[test]
    fn nc_must_increase_per_nonce() {
        let mut k = keeper();
        let (a, b) = (k.issue(T0), k.issue(T0));
        assert!(!k.check_nc(&a, 0, T0), "nc starts at 1");
        assert!(k.check_nc(&a, 1, T0));
        assert!(!k.check_nc(&a, 1, T0), "replay");
        assert!(k.check_nc(&a, 3, T0 + 1), "gaps are fine");
        assert!(!k.check_nc(&a, 2, T0 + 1), "going back is a replay");
        assert!(k.check_nc(&b, 1, T0 + 1), "counts are per nonce");
        assert!(!k.check_nc(&a, 4, T0 + 301), "expired nonce");
        assert!(!k.check_nc("bogus", 1, T0));
        assert_eq!(k.tracked(), 2);
    }

    #[test]
    fn expired_entries_are_purged() {
        let mut k = keeper();
        for i in 0..10 {
            let n = k.issue(T0 + i);
            assert!(k.check_nc(&n, 1, T0 + i));
        }
        assert_eq!(k.tracked(), 10);
        let fresh = k.issue(T0 + 305);
        assert!(k.check_nc(&fresh, 1, T0 + 305));
        assert_eq!(k.tracked(), 6, "nonces from T0..T0+4 have expired");
        k.purge_expired(T0 + 10_000);
        assert_eq!(k.tracked(), 0);
    }

    #[test]
    fn full_table_evicts_oldest_and_refuses_forgotten_nonces() {
        let mut k = keeper().with_max_tracked(3);
        let nonces: Vec<String> = (0..4).map(|i| k.issue(T0 + i)).collect();
        for n in &nonces {
            assert!(k.check_nc(n, 1, T0 + 10));
        }
        assert_eq!(k.tracked(), 3);
        // The evicted nonce's history is gone, so it must not start over at 1.
        assert!(!k.check_nc(&nonces[0], 1, T0 + 10));
        assert!(!k.check_nc(&nonces[0], 2, T0 + 10));
        assert!(k.check_nc(&nonces[3], 2, T0 + 10));
        let newer = k.issue(T0 + 20);
        assert!(k.check_nc(&newer, 1, T0 + 20));
    }

    #[test]
    fn opaque_is_stable_per_secret() {
        assert_eq!(keeper().opaque(), keeper().opaque());
        assert_ne!(keeper().opaque(), NonceKeeper::new([8; 32], 300).opaque());
        assert_eq!(keeper().opaque().len(), 16);
        assert!(!format!("{:?}", keeper()).contains(keeper().opaque()));
    }

    #[test]
    fn client_nonces_differ() {
        let (a, b) = (client_nonce(), client_nonce());
        assert_eq!(a.len(), 16);
        assert_ne!(a, b);
    }
}
