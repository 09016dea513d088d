//! The registrar and location service (RFC 3261 §10.3), sans-IO.
//!
//! Bindings live in memory for lookups on every call and are mirrored to the
//! embedded store through [`StoreOp`]s so they survive a restart. Expiry is
//! wall-clock seconds (bindings outlive the process), passed in by the caller.
//! Authentication is the caller's job: [`Registrar::register`] is only called
//! for a request already authenticated as the user it registers.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::net::SocketAddr;

use crate::sip::header::NameAddr;
use crate::sip::message::Message;
use crate::sip::transport::Transport;
use crate::store::{Binding, StoreOp};

/// Registrar limits, from the configuration.
#[derive(Clone, Debug)]
pub struct Policy {
    /// Shortest registration accepted; shorter ones get 423 (RFC 3261 §10.3 step 7).
    pub min_expires: u32,
    /// Longest granted; longer requests are shortened.
    pub max_expires: u32,
    /// Used when neither the contact nor the request says.
    pub default_expires: u32,
    /// Contacts one user may hold.
    pub max_contacts: usize,
}

/// Why a REGISTER was refused; [`Refusal::status`] maps it to SIP.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// `Contact: *` with an Expires other than 0, or mixed with other contacts.
    #[error("Contact: * needs Expires: 0 and no other contact")]
    BadStar,
    /// A contact or Expires value is malformed.
    #[error("malformed Contact")]
    BadContact,
    /// Expiry below the minimum: answer 423 with Min-Expires.
    #[error("interval too brief")]
    TooBrief {
        /// The Min-Expires to send.
        min: u32,
    },
    /// Same Call-ID with a CSeq not above the stored one (RFC 3261 §10.3 step 7).
    #[error("REGISTER out of order")]
    OutOfOrder,
    /// The user would hold more contacts than allowed.
    #[error("too many contacts")]
    TooManyContacts,
}

impl Refusal {
    /// SIP status for the refusal.
    pub fn status(&self) -> u16 {
        match self {
            Refusal::TooBrief { .. } => 423,
            Refusal::TooManyContacts => 403,
            Refusal::OutOfOrder => 500,
            Refusal::BadStar | Refusal::BadContact => 400,
        }
    }
}

/// A current binding as reported in a 200 OK.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Granted {
    /// Contact URI.
    pub contact: String,
    /// Seconds left.
    pub expires: u32,
}

/// The location service.
#[derive(Debug)]
pub struct Registrar {
    policy: Policy,
    bindings: HashMap<String, Vec<Binding>>,
    // Earliest expiry first; entries are re-checked on pop, so refreshes need no
    // removal here.
    expiry: BinaryHeap<Reverse<(u64, String)>>,
    count: usize,
}

impl Registrar {
    /// A registrar holding the `restored` bindings (already expired ones are dropped).
    pub fn new(policy: Policy, restored: Vec<Binding>, now_unix: u64) -> Registrar {
        let mut r = Registrar { policy, bindings: HashMap::new(), expiry: BinaryHeap::new(), count: 0 };
        for b in restored.into_iter().filter(|b| b.expires_at > now_unix) {
            r.expiry.push(Reverse((b.expires_at, b.aor.clone())));
            r.bindings.entry(b.aor.clone()).or_default().push(b);
            r.count += 1;
        }
        r
    }

    /// Applies an authenticated REGISTER for `aor`. Returns the bindings now in
    /// force (for the 200 OK) and pushes the store writes onto `ops`.
    pub fn register(
        &mut self,
        aor: &str,
        req: &Message,
        source: SocketAddr,
        transport: Transport,
        now_unix: u64,
        ops: &mut Vec<StoreOp>,
    ) -> Result<Vec<Granted>, Refusal> {
        self.expire_user(aor, now_unix, ops);
        let call_id = req.call_id();
        let cseq = req.cseq_seq();
        let header_expires = req.expires();
        if req.is_contact_star() {
            // RFC 3261 §10.3 step 6: `*` only with Expires: 0 and alone.
            if header_expires != Some(0) || req.values(crate::sip::HeaderName::Contact).len() != 1 {
                return Err(Refusal::BadStar);
            }
            if let Some(list) = self.bindings.get(aor) {
                if list.iter().any(|b| b.call_id == call_id && b.cseq >= cseq) {
                    return Err(Refusal::OutOfOrder);
                }
            }
            if let Some(list) = self.bindings.remove(aor) {
                self.count -= list.len();
            }
            ops.push(StoreOp::RemoveAll { aor: aor.to_owned() });
            return Ok(Vec::new());
        }
        let contacts: Vec<NameAddr<'_>> = req.contacts();
        if contacts.len() != req.values(crate::sip::HeaderName::Contact).len() {
            return Err(Refusal::BadContact);
        }
        // Validate everything before changing anything: a REGISTER applies whole
        // or not at all.
        let mut plan = Vec::with_capacity(contacts.len());
        for c in &contacts {
            if !c.uri().is_some_and(|u| u.is_sip()) {
                return Err(Refusal::BadContact);
            }
            let asked = match c.param("expires") {
                Some(Some(v)) => v.parse::<u64>().map(|n| u32::try_from(n).unwrap_or(u32::MAX)).map_err(|_| Refusal::BadContact)?,
                Some(None) => return Err(Refusal::BadContact),
                None => header_expires.unwrap_or(self.policy.default_expires),
            };
            if asked != 0 && asked < self.policy.min_expires {
                return Err(Refusal::TooBrief { min: self.policy.min_expires });
            }
            let granted = asked.min(self.policy.max_expires);
            let q = match c.param("q") {
                Some(Some(v)) => parse_q(v).ok_or(Refusal::BadContact)?,
                _ => 1000,
            };
            if let Some(existing) = self.bindings.get(aor).and_then(|l| l.iter().find(|b| b.contact == c.uri)) {
                if existing.call_id == call_id && existing.cseq >= cseq {
                    return Err(Refusal::OutOfOrder);
                }
            }
            plan.push((c.uri.to_owned(), granted, q));
        }
        let current = self.bindings.get(aor).map_or(0, Vec::len);
        let adding = plan
            .iter()
            .filter(|(uri, exp, _)| *exp > 0 && !self.bindings.get(aor).is_some_and(|l| l.iter().any(|b| &b.contact == uri)))
            .count();
        if current + adding > self.policy.max_contacts {
            return Err(Refusal::TooManyContacts);
        }
        let ua = req.header(crate::sip::HeaderName::UserAgent).unwrap_or("").chars().take(128).collect::<String>();
        let list = self.bindings.entry(aor.to_owned()).or_default();
        for (uri, granted, q) in plan {
            let pos = list.iter().position(|b| b.contact == uri);
            if granted == 0 {
                if let Some(p) = pos {
                    list.remove(p);
                    self.count -= 1;
                    ops.push(StoreOp::RemoveBinding { aor: aor.to_owned(), contact: uri });
                }
                continue;
            }
            let b = Binding {
                aor: aor.to_owned(),
                contact: uri,
                expires_at: now_unix + u64::from(granted),
                q,
                call_id: call_id.to_owned(),
                cseq,
                transport,
                source,
                user_agent: ua.clone(),
            };
            self.expiry.push(Reverse((b.expires_at, aor.to_owned())));
            ops.push(StoreOp::SaveBinding(b.clone()));
            match pos {
                Some(p) => list[p] = b,
                None => {
                    list.push(b);
                    self.count += 1;
                }
            }
        }
        let granted = self.current(aor, now_unix);
        if self.bindings.get(aor).is_some_and(Vec::is_empty) {
            self.bindings.remove(aor);
        }
        Ok(granted)
    }

    /// The bindings in force for a user with their remaining seconds.
    pub fn current(&self, aor: &str, now_unix: u64) -> Vec<Granted> {
        self.bindings
            .get(aor)
            .map(|l| {
                l.iter()
                    .filter(|b| b.expires_at > now_unix)
                    .map(|b| Granted { contact: b.contact.clone(), expires: u32::try_from(b.expires_at - now_unix).unwrap_or(u32::MAX) })
                    .collect()
            })
            .unwrap_or_default()
    }

    /// Live contacts of a user, best `q` first (the order to ring them in).
    pub fn lookup(&self, aor: &str, now_unix: u64) -> Vec<&Binding> {
        let mut v: Vec<&Binding> = self.bindings.get(aor).map(|l| l.iter().filter(|b| b.expires_at > now_unix).collect()).unwrap_or_default();
        v.sort_by_key(|b| std::cmp::Reverse(b.q));
        v
    }

    /// Drops expired bindings everywhere; call when [`Registrar::next_expiry`] passes.
    pub fn expire(&mut self, now_unix: u64, ops: &mut Vec<StoreOp>) {
        while let Some(Reverse((at, _))) = self.expiry.peek() {
            if *at > now_unix {
                break;
            }
            let Some(Reverse((_, aor))) = self.expiry.pop() else { break };
            self.expire_user(&aor, now_unix, ops);
        }
    }

    /// Earliest time (Unix seconds) a binding may expire.
    pub fn next_expiry(&self) -> Option<u64> {
        self.expiry.peek().map(|Reverse((at, _))| *at)
    }

    /// Number of bindings held.
    pub fn len(&self) -> usize {
        self.count
    }

    /// True when nothing is registered.
    pub fn is_empty(&self) -> bool {
        self.count == 0
    }

    fn expire_user(&mut self, aor: &str, now_unix: u64, ops: &mut Vec<StoreOp>) {
        let Some(list) = self.bindings.get_mut(aor) else { return };
        let before = list.len();
        list.retain(|b| {
            let keep = b.expires_at > now_unix;
            if !keep {
                ops.push(StoreOp::RemoveBinding { aor: b.aor.clone(), contact: b.contact.clone() });
            }
            keep
        });
        self.count -= before - list.len();
        if list.is_empty() {
            self.bindings.remove(aor);
        }
    }
}

/// `q` = "0" [ "." 0*3DIGIT ] / "1" [ "." 0*3("0") ], as thousandths.
fn parse_q(v: &str) -> Option<u16> {
    let (int, frac) = v.split_once('.').unwrap_or((v, ""));
    if frac.len() > 3 || !frac.bytes().all(|c| c.is_ascii_digit()) {
        return None;
    }
    let mut f = 0u16;
    for (i, c) in frac.bytes().enumerate() {
        f += u16::from(c - b'0') * [100, 10, 1][i];
    }
    match int {
        "0" => Some(f),
        "1" if f == 0 => Some(1000),
        _ => None,
    }
}

#[cfg(test)]
mod tests;
