//! Session timers (RFC 4028): the Session-Expires and Min-SE headers, the
//! 422 check a UAS makes, and the deadlines that keep a session alive.
//!
//! Negotiation yields a [`Negotiated`] interval and refresher; a
//! [`SessionTimer`] then says when we must refresh (if we are the refresher)
//! and when the session has expired (either way). Sending the refresh
//! (re-INVITE or UPDATE) and the BYE is the caller's; nothing here reads a clock.
//!
//! Call order for [`SessionTimer`]: create it when the 2xx that negotiated the
//! interval is sent or received; wait until [`SessionTimer::poll_timeout`];
//! call [`SessionTimer::handle_timeout`] and act on what it returns; call
//! [`SessionTimer::refreshed`] (or [`SessionTimer::renegotiated`]) on every
//! 2xx to a refresh, in either direction.

use std::fmt;
use std::time::{Duration, Instant};

use crate::sip::grammar::{ParamIter, params_ok, parse_u32, trim_str};
use crate::sip::header::HeaderName;
use crate::sip::message::Message;

/// The smallest Min-SE anyone may ask for, in seconds (RFC 4028 §4, §5).
pub const MIN_SE_FLOOR: u32 = 90;

/// The interval RFC 4028 §4 recommends when we pick one, in seconds.
pub const DEFAULT_SESSION_EXPIRES: u32 = 1800;

/// Who sends the refreshes, named from the transaction that negotiated them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Refresher {
    /// The sender of the request.
    Uac,
    /// Its recipient.
    Uas,
}

impl Refresher {
    fn as_str(self) -> &'static str {
        match self {
            Refresher::Uac => "uac",
            Refresher::Uas => "uas",
        }
    }
}

/// A Session-Expires value: `delta-seconds [;refresher=uac|uas]` (§4).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SessionExpires {
    /// The interval in seconds.
    pub delta: u32,
    /// The refresher, when the value names one.
    pub refresher: Option<Refresher>,
}

impl SessionExpires {
    /// Parses one value; `None` when it breaks the grammar or names a
    /// refresher other than `uac` or `uas`.
    pub fn parse(s: &str) -> Option<SessionExpires> {
        let (delta, params) = delta_and_params(s)?;
        let refresher = match ParamIter::new(params).find(|(n, _)| n.eq_ignore_ascii_case("refresher")) {
            None => None,
            Some((_, Some(v))) if v.eq_ignore_ascii_case("uac") => Some(Refresher::Uac),
            Some((_, Some(v))) if v.eq_ignore_ascii_case("uas") => Some(Refresher::Uas),
            Some(_) => return None,
        };
        Some(SessionExpires { delta, refresher })
    }

    /// The Session-Expires of a message (long or compact `x` form).
    pub fn of(m: &Message) -> Result<Option<SessionExpires>, SessionTimerError> {
        match m.header(HeaderName::SessionExpires) {
            None => Ok(None),
            Some(v) => {
                SessionExpires::parse(v).map(Some).ok_or(SessionTimerError::Malformed(HeaderName::SessionExpires))
            }
        }
    }
}

impl fmt::Display for SessionExpires {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.delta)?;
        if let Some(r) = self.refresher {
            write!(f, ";refresher={}", r.as_str())?;
        }
        Ok(())
    }
}

/// The Min-SE of a message in seconds (§5), if it has one.
pub fn min_se_of(m: &Message) -> Result<Option<u32>, SessionTimerError> {
    match m.header(HeaderName::MinSe) {
        None => Ok(None),
        Some(v) => delta_and_params(v).map(|(d, _)| Some(d)).ok_or(SessionTimerError::Malformed(HeaderName::MinSe)),
    }
}

/// `delta-seconds *(SEMI generic-param)`. An overlong number is the largest
/// one, as for Expires (RFC 4475 §3.1.2.4).
fn delta_and_params(s: &str) -> Option<(u32, &str)> {
    let s = trim_str(s);
    let end = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (digits, params) = s.split_at(end);
    let params = trim_str(params);
    if digits.is_empty() || !params_ok(params.as_bytes()) {
        return None;
    }
    let delta = parse_u32(digits.as_bytes(), u64::from(u32::MAX)).unwrap_or(u32::MAX);
    Some((delta, params))
}

/// What was wrong with a request's or response's session-timer headers.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SessionTimerError {
    /// The header breaks the RFC 4028 grammar.
    #[error("malformed {0} header")]
    Malformed(HeaderName),
    /// The peer asked for an interval below what we accept; the 422 carries
    /// `Min-SE: min_se` (§9).
    #[error("Session-Expires below our minimum of {min_se} s")]
    IntervalTooSmall {
        /// The Min-SE the 422 must carry.
        min_se: u32,
    },
}

impl SessionTimerError {
    /// The status code owed to a request refused for this reason.
    pub fn status(&self) -> u16 {
        match self {
            SessionTimerError::Malformed(_) => 400,
            SessionTimerError::IntervalTooSmall { .. } => 422,
        }
    }
}

/// An agreed interval and refresher.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Negotiated {
    /// The session interval in seconds.
    pub interval: u32,
    /// Who refreshes, relative to the negotiating transaction.
    pub refresher: Refresher,
}

impl Negotiated {
    /// The Session-Expires value for the 2xx (§9: it always names the refresher).
    pub fn session_expires(&self) -> SessionExpires {
        SessionExpires { delta: self.interval, refresher: Some(self.refresher) }
    }

    /// True when the 2xx must carry `Require: timer` (§9): the UAC is to refresh
    /// and must be told it is obliged to.
    pub fn requires_timer(&self) -> bool {
        self.refresher == Refresher::Uac
    }

    /// Whether we refresh, given our side of the negotiating transaction.
    pub fn we_refresh(&self, we_are_uac: bool) -> bool {
        (self.refresher == Refresher::Uac) == we_are_uac
    }

    /// The interval as a `Duration`.
    pub fn interval(&self) -> Duration {
        Duration::from_secs(u64::from(self.interval))
    }

    /// What a 2xx to our INVITE or UPDATE agreed (§7.2). No Session-Expires
    /// means the session does not expire; a missing refresher makes us refresh,
    /// which is harmless if the peer also does.
    pub fn from_response(resp: &Message) -> Result<Option<Negotiated>, SessionTimerError> {
        Ok(SessionExpires::of(resp)?
            .map(|se| Negotiated { interval: se.delta, refresher: se.refresher.unwrap_or(Refresher::Uac) }))
    }
}

/// The UAS check of §9 for an INVITE or UPDATE we answer, with `min_se` our
/// minimum (raised to [`MIN_SE_FLOOR`]). `Ok(None)`: no session timer asked
/// for. `Err(IntervalTooSmall)`: answer 422 with its Min-SE. Otherwise the
/// request's interval is kept and the refresher is the one asked for or, when
/// none is named, the UAC if it supports timers and we otherwise (§9).
pub fn check_request(req: &Message, min_se: u32) -> Result<Option<Negotiated>, SessionTimerError> {
    let Some(se) = SessionExpires::of(req)? else {
        return Ok(None);
    };
    // A malformed Min-SE is refused even though we do not need its value.
    min_se_of(req)?;
    let floor = min_se.max(MIN_SE_FLOOR);
    if se.delta < floor {
        return Err(SessionTimerError::IntervalTooSmall { min_se: floor });
    }
    let refresher = se.refresher.unwrap_or_else(|| {
        let uac_supports = req.values(HeaderName::Supported).iter().any(|v| v.eq_ignore_ascii_case("timer"));
        if uac_supports { Refresher::Uac } else { Refresher::Uas }
    });
    Ok(Some(Negotiated { interval: se.delta, refresher }))
}

/// After a 422 to our request that asked for `asked` seconds, the interval to
/// retry with (§7.4): the 422's Min-SE. `None` when the 422 carries no usable
/// Min-SE or one that is no larger, as a retry would only loop.
pub fn retry_interval_after_422(resp: &Message, asked: u32) -> Option<u32> {
    let m = min_se_of(resp).ok().flatten()?;
    (m > asked).then_some(m.max(MIN_SE_FLOOR))
}

/// What a session timer asks of the caller.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum SessionTimerAction {
    /// We are the refresher and half the interval has passed: send a re-INVITE
    /// or UPDATE carrying Session-Expires.
    Refresh,
    /// No refresh arrived in time: send BYE (§10) and end the call.
    Expired,
}

/// The refresh and expiry deadlines of one session (§10).
#[derive(Clone, Debug)]
pub struct SessionTimer {
    interval: Duration,
    we_refresh: bool,
    refresh_at: Option<Instant>,
    expire_at: Option<Instant>,
}

impl SessionTimer {
    /// Starts the deadlines at `now`, the time the negotiating 2xx was sent or
    /// received.
    pub fn new(now: Instant, interval: Duration, we_refresh: bool) -> SessionTimer {
        let mut t = SessionTimer { interval, we_refresh, refresh_at: None, expire_at: None };
        t.refreshed(now);
        t
    }

    /// Starts the deadlines from a negotiation, given our side of the
    /// negotiating transaction.
    pub fn from_negotiated(now: Instant, n: &Negotiated, we_are_uac: bool) -> SessionTimer {
        SessionTimer::new(now, n.interval(), n.we_refresh(we_are_uac))
    }

    /// The next deadline, `None` once expired.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match (self.refresh_at, self.expire_at) {
            (Some(r), Some(e)) => Some(r.min(e)),
            (r, e) => r.or(e),
        }
    }

    /// Acts on the deadlines due at `now`. Each fires once: after `Refresh`
    /// the next is expiry, unless [`SessionTimer::refreshed`] comes first;
    /// after `Expired` nothing more.
    pub fn handle_timeout(&mut self, now: Instant) -> Option<SessionTimerAction> {
        if self.expire_at.is_some_and(|e| now >= e) {
            self.expire_at = None;
            self.refresh_at = None;
            return Some(SessionTimerAction::Expired);
        }
        if self.refresh_at.is_some_and(|r| now >= r) {
            self.refresh_at = None;
            return Some(SessionTimerAction::Refresh);
        }
        None
    }

    /// A refresh succeeded at `now` (2xx sent or received): both deadlines
    /// restart with the same interval and refresher.
    pub fn refreshed(&mut self, now: Instant) {
        // The refresher refreshes at half the interval (§10). The other side
        // gives up a little before the interval ends, by min(32 s, interval/3),
        // so that its BYE beats any element's own expiry. The refresher's own
        // backstop is the full interval: by then its refresh has failed.
        self.refresh_at = self.we_refresh.then(|| now + self.interval / 2);
        let margin = if self.we_refresh { Duration::ZERO } else { (self.interval / 3).min(Duration::from_secs(32)) };
        self.expire_at = Some(now + (self.interval - margin));
    }

    /// A refresh at `now` changed the interval or the refresher.
    pub fn renegotiated(&mut self, now: Instant, interval: Duration, we_refresh: bool) {
        self.interval = interval;
        self.we_refresh = we_refresh;
        self.refreshed(now);
    }

    /// The current interval.
    pub fn interval(&self) -> Duration {
        self.interval
    }

    /// Whether we are the refresher.
    pub fn we_refresh(&self) -> bool {
        self.we_refresh
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sip::parse;

    /// Any fixed instant will do; the tests only move forward from it.
    #[allow(clippy::disallowed_methods)]
    fn t0() -> Instant {
        Instant::now()
    }

    fn invite(extra: &str) -> Message {
        let s = format!(
            "INVITE sip:bob@192.0.2.4 SIP/2.0\r\n\
Via: SIP/2.0/UDP 198.51.100.1:5060;branch=z9hG4bKst\r\n\
From: <sip:alice@atlanta.example.com>;tag=a1\r\n\
To: <sip:bob@biloxi.example.com>\r\n\
Call-ID: st1\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:alice@198.51.100.1>\r\n\
{extra}\
Content-Length: 0\r\n\r\n"
        );
        parse(s.as_bytes()).expect("test INVITE parses")
    }

    #[test]
    fn parses_session_expires_and_min_se() {
        let se = SessionExpires::parse("1800;refresher=uac").unwrap();
        assert_eq!(se, SessionExpires { delta: 1800, refresher: Some(Refresher::Uac) });
        assert_eq!(se.to_string(), "1800;refresher=uac");
        assert_eq!(SessionExpires::parse(" 90 ; REFRESHER = UAS ").unwrap().refresher, Some(Refresher::Uas));
        assert_eq!(SessionExpires::parse("4000;x=y").unwrap(), SessionExpires { delta: 4000, refresher: None });
        assert_eq!(SessionExpires::parse("99999999999999").unwrap().delta, u32::MAX);
        for bad in ["", "abc", "-5", "1800;refresher=proxy", "1800;refresher", "1800 x", "1800;;"] {
            assert_eq!(SessionExpires::parse(bad), None, "{bad:?}");
        }
        let m = invite("x: 600;refresher=uas\r\nMin-SE: 120\r\n");
        assert_eq!(SessionExpires::of(&m).unwrap().unwrap().delta, 600);
        assert_eq!(min_se_of(&m), Ok(Some(120)));
        assert_eq!(min_se_of(&invite("Min-SE: soon\r\n")), Err(SessionTimerError::Malformed(HeaderName::MinSe)));
    }

    #[test]
    fn too_small_interval_gets_422_with_our_min_se() {
        let e = check_request(&invite("Session-Expires: 120\r\nSupported: timer\r\n"), 300).unwrap_err();
        assert_eq!(e, SessionTimerError::IntervalTooSmall { min_se: 300 });
        assert_eq!(e.status(), 422);
        // Our configured minimum never goes below the RFC floor of 90 s.
        let e = check_request(&invite("Session-Expires: 60\r\n"), 30).unwrap_err();
        assert_eq!(e, SessionTimerError::IntervalTooSmall { min_se: MIN_SE_FLOOR });
        assert_eq!(check_request(&invite("Session-Expires: 90\r\n"), 30).unwrap().unwrap().interval, 90);
        let e = check_request(&invite("Session-Expires: never\r\n"), 90).unwrap_err();
        assert_eq!(e.status(), 400);
    }

    #[test]
    fn refresher_choice() {
        assert_eq!(check_request(&invite(""), 90), Ok(None));
        let n = check_request(&invite("Session-Expires: 1800;refresher=uas\r\n"), 90).unwrap().unwrap();
        assert_eq!(n, Negotiated { interval: 1800, refresher: Refresher::Uas });
        assert!(!n.requires_timer());
        assert!(n.we_refresh(false));
        let n = check_request(&invite("Session-Expires: 1800\r\nSupported: 100rel, timer\r\n"), 90).unwrap().unwrap();
        assert_eq!(n.refresher, Refresher::Uac);
        assert!(n.requires_timer());
        assert!(!n.we_refresh(false));
        assert_eq!(n.session_expires().to_string(), "1800;refresher=uac");
        // A UAC that does not know the extension cannot refresh: we must.
        let n = check_request(&invite("Session-Expires: 1800\r\n"), 90).unwrap().unwrap();
        assert_eq!(n.refresher, Refresher::Uas);
    }

    #[test]
    fn retry_after_422_and_2xx_outcome() {
        let resp = |extra: &str| {
            let s = format!(
                "SIP/2.0 422 Session Interval Too Small\r\nVia: SIP/2.0/UDP h;branch=z9hG4bK1\r\n\
From: <sip:a@h>;tag=1\r\nTo: <sip:b@h>;tag=2\r\nCall-ID: c\r\nCSeq: 1 INVITE\r\n{extra}Content-Length: 0\r\n\r\n"
            );
            parse(s.as_bytes()).unwrap()
        };
        assert_eq!(retry_interval_after_422(&resp("Min-SE: 300\r\n"), 90), Some(300));
        assert_eq!(retry_interval_after_422(&resp("Min-SE: 300\r\n"), 300), None);
        assert_eq!(retry_interval_after_422(&resp(""), 90), None);
        let ok = resp("Session-Expires: 600;refresher=uas\r\n");
        let n = Negotiated::from_response(&ok).unwrap().unwrap();
        assert!(!n.we_refresh(true));
        assert_eq!(Negotiated::from_response(&resp("")), Ok(None));
        let n = Negotiated::from_response(&resp("Session-Expires: 600\r\n")).unwrap().unwrap();
        assert!(n.we_refresh(true));
    }

    #[test]
    fn refresher_refreshes_at_half_interval() {
        let t = t0();
        let s = Duration::from_secs;
        let mut st = SessionTimer::new(t, s(1800), true);
        assert_eq!(st.poll_timeout(), Some(t + s(900)));
        assert_eq!(st.handle_timeout(t + s(899)), None);
        assert_eq!(st.handle_timeout(t + s(900)), Some(SessionTimerAction::Refresh));
        assert_eq!(st.handle_timeout(t + s(901)), None);
        // Until the refresh succeeds the only deadline left is the full interval.
        assert_eq!(st.poll_timeout(), Some(t + s(1800)));
        st.refreshed(t + s(902));
        assert_eq!(st.poll_timeout(), Some(t + s(902 + 900)));
        assert_eq!(st.handle_timeout(t + s(902 + 1800)), Some(SessionTimerAction::Expired));
        assert_eq!(st.poll_timeout(), None);
        assert_eq!(st.handle_timeout(t + s(10_000)), None);
    }

    #[test]
    fn the_other_side_expires_before_the_interval_ends() {
        let t = t0();
        let s = Duration::from_secs;
        let mut st = SessionTimer::new(t, s(1800), false);
        assert_eq!(st.poll_timeout(), Some(t + s(1800 - 32)));
        assert_eq!(st.handle_timeout(t + s(1767)), None);
        st.refreshed(t + s(1000));
        assert_eq!(st.handle_timeout(t + s(1768)), None);
        assert_eq!(st.handle_timeout(t + s(1000 + 1768)), Some(SessionTimerAction::Expired));
        // Short intervals keep a third of themselves as margin: 90 - 30.
        let st = SessionTimer::new(t, s(90), false);
        assert_eq!(st.poll_timeout(), Some(t + s(60)));
        let n = Negotiated { interval: 90, refresher: Refresher::Uas };
        let mut st = SessionTimer::from_negotiated(t, &n, false);
        assert!(st.we_refresh());
        assert_eq!(st.poll_timeout(), Some(t + s(45)));
        st.renegotiated(t + s(10), s(600), false);
        assert_eq!(st.poll_timeout(), Some(t + s(10 + 568)));
    }
}
