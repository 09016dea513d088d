//! REGISTER handling: authenticate, then hand the bindings to the registrar
//! and answer with what is in force (RFC 3261 §10.3).

use std::time::Instant;

use crate::sip::header::HeaderName;
use crate::sip::message::Message;
use crate::sip::transaction::ServerTxId;
use crate::sip::transport::Peer;

use super::Engine;
use super::auth::Authn;

impl Engine {
    pub(super) fn on_register(&mut self, now: Instant, id: ServerTxId, req: &Message, peer: Peer) {
        let Some(aor) = req.to().and_then(|t| t.uri()).and_then(|u| u.user.map(str::to_owned)) else {
            self.reply(now, id, req, 404, "Not Found");
            return;
        };
        if !self.secrets.contains_key(&aor) {
            // Unknown users are challenged like known ones so that the answer
            // does not reveal which extensions exist (svwar enumerates by it).
            let _ = self.authenticate(now, id, req);
            return;
        }
        let user = match self.authenticate(now, id, req) {
            Authn::User(u) => u,
            Authn::Answered => return,
        };
        if user != aor {
            tracing::info!(user = %user, aor = %aor, "REGISTER for another user's address refused");
            self.reply(now, id, req, 403, "Forbidden");
            return;
        }
        let wall = self.wall_secs(now);
        let mut ops = std::mem::take(&mut self.scratch_ops);
        let result = self.reg.register(&aor, req, peer.addr, peer.transport, wall, &mut ops);
        self.store.extend(ops.drain(..));
        self.scratch_ops = ops;
        match result {
            Ok(granted) => {
                let tag = self.ids.tag();
                let mut w = crate::sip::build::response_to(req, 200, "", Some(&tag), Some(peer.addr));
                for g in &granted {
                    w.header(HeaderName::Contact, format_args!("<{}>;expires={}", g.contact, g.expires));
                }
                w.header(HeaderName::Date, http_date(wall));
                w.header(HeaderName::Server, &self.cfg.server.user_agent);
                tracing::info!(user = %aor, contacts = granted.len(), "registered");
                self.send_response(now, id, w.finish(None, b""));
            }
            Err(refusal) => {
                let code = refusal.status();
                let extra = match refusal {
                    crate::registrar::Refusal::TooBrief { min } => vec![(HeaderName::MinExpires, min.to_string())],
                    _ => Vec::new(),
                };
                tracing::info!(user = %aor, code, reason = %refusal, "REGISTER refused");
                self.answer(now, id, req, code, "", &extra);
            }
        }
    }
}

/// RFC 1123 date for the Date header of a REGISTER response (§10.3 step 8
/// lets simple devices set their clocks from it).
pub(crate) fn http_date(unix: u64) -> String {
    const DAYS: [&str; 7] = ["Thu", "Fri", "Sat", "Sun", "Mon", "Tue", "Wed"];
    const MONTHS: [&str; 12] = ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"];
    let days = unix / 86_400;
    let secs = unix % 86_400;
    let weekday = DAYS[(days % 7) as usize];
    // Civil-from-days (Howard Hinnant's algorithm), valid for all u64 days we meet.
    let z = days as i64 + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{weekday}, {d:02} {} {y} {:02}:{:02}:{:02} GMT",
        MONTHS[(m - 1) as usize],
        secs / 3600,
        secs % 3600 / 60,
        secs % 60
    )
}

#[cfg(test)]
mod tests {
    #[test]
    fn dates() {
        assert_eq!(super::http_date(0), "Thu, 01 Jan 1970 00:00:00 GMT");
        assert_eq!(super::http_date(1_700_000_000), "Tue, 14 Nov 2023 22:13:20 GMT");
        assert_eq!(super::http_date(951_782_400), "Tue, 29 Feb 2000 00:00:00 GMT");
    }
}
