//! Identifiers the switch mints: tags, branches, Call-IDs (RFC 3261 §19.3).
//! They need global uniqueness, not secrecy, so a fast seeded PRNG will do.

/// Generates identifiers.
#[derive(Debug)]
pub struct Ids {
    rng: fastrand::Rng,
}

const ALNUM: &[u8] = b"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";

impl Ids {
    /// Seeded from the OS so two switches (or restarts) never collide.
    pub fn new() -> Ids {
        let mut seed = [0u8; 8];
        // On failure the fallback seed still differs per process start.
        if getrandom::fill(&mut seed).is_err() {
            seed = (std::process::id() as u64).to_le_bytes();
        }
        Ids { rng: fastrand::Rng::with_seed(u64::from_le_bytes(seed)) }
    }

    /// Deterministic, for tests.
    pub fn with_seed(seed: u64) -> Ids {
        Ids { rng: fastrand::Rng::with_seed(seed) }
    }

    fn token(&mut self, out: &mut String, n: usize) {
        for _ in 0..n {
            out.push(ALNUM[self.rng.usize(..ALNUM.len())] as char);
        }
    }

    /// A `tag` (From/To).
    pub fn tag(&mut self) -> String {
        let mut s = String::with_capacity(12);
        self.token(&mut s, 12);
        s
    }

    /// A branch with the RFC 3261 magic cookie.
    pub fn branch(&mut self) -> String {
        let mut s = String::with_capacity(7 + 16);
        s.push_str(crate::sip::header::MAGIC_COOKIE);
        self.token(&mut s, 16);
        s
    }

    /// A Call-ID.
    pub fn call_id(&mut self) -> String {
        let mut s = String::with_capacity(32);
        self.token(&mut s, 20);
        s.push_str("@switchyard");
        s
    }

    /// A number in `0..n`.
    pub fn below(&mut self, n: u32) -> u32 {
        self.rng.u32(..n.max(1))
    }
}

impl Default for Ids {
    fn default() -> Self {
        Ids::new()
    }
}
