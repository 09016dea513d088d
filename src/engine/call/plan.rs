//! Routing by the dialplan: a call's `dialplan::Session` decides where it rings, and after
//! every failed `bridge` it decides again (the next line of the extension). A call keeps the
//! plan it started with; `Engine::set_plan` only changes what new calls get.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::{info, warn};

use crate::dialplan::{Decision, HuntMode, Origin, Plan, Session};
use crate::engine::Engine;
use crate::sip::transport::Peer;

use super::{CallKey, CallTimer, Routed, Target};

/// Standard reason phrases for the statuses a plan can end a call with.
pub(in crate::engine) fn reason_for(code: u16) -> &'static str {
    match code {
        403 => "Forbidden",
        404 => "Not Found",
        408 => "Request Timeout",
        480 => "Temporarily Unavailable",
        484 => "Address Incomplete",
        486 => "Busy Here",
        487 => "Request Terminated",
        500 => "Server Internal Error",
        501 => "Not Implemented",
        503 => "Service Unavailable",
        603 => "Decline",
        _ => "",
    }
}

/// What a plan decided for a call.
pub(in crate::engine) enum Routing {
    /// Ring someone.
    Ring(Planned),
    /// A media action: the switch answers and acts itself (IVR).
    Media(crate::dialplan::Step),
}

/// A plan's routing decision, ready for the B2BUA.
pub(in crate::engine) struct Planned {
    pub(in crate::engine) routed: Routed,
    pub(in crate::engine) ring_timeout: Duration,
}

impl Engine {
    /// Replaces the plan new calls start on; calls in progress keep theirs. `None` routes by
    /// `[[routes]]`.
    pub fn set_plan(&mut self, plan: Option<Arc<Plan>>) {
        self.plan = plan;
    }

    /// The plan new calls start on.
    pub fn plan(&self) -> Option<&Arc<Plan>> {
        self.plan.as_ref()
    }

    pub(in crate::engine) fn new_route_session(&self, now: Instant, trunk: Option<&str>, caller: &str, callee: &str) -> Option<Session> {
        let plan = self.plan.clone()?;
        let origin = match trunk {
            Some(t) => Origin::Trunk(t),
            None => Origin::User(caller),
        };
        let s = Session::new(plan, origin, caller, callee, self.wall_ms(now) as i64);
        // The steps are logged at debug level: build them only when that is on.
        Some(if tracing::enabled!(target: "dialplan", tracing::Level::DEBUG) {
            s.with_trace()
        } else {
            s
        })
    }

    /// Runs the session to its next bridge that has someone to ring. `best` is the final
    /// status of the bridge that just failed, if any: a plain `hangup` (or the end of the
    /// extension) passes it on, so a busy callee stays busy for the caller.
    pub(in crate::engine) fn plan_route(
        &self,
        now: Instant,
        s: &mut Session,
        mut best: Option<u16>,
    ) -> Result<Routing, (u16, &'static str)> {
        for _ in 0..64 {
            let from = s.trace.len();
            let d = s.next_decision();
            for line in s.trace.drain(from..) {
                tracing::debug!(target: "dialplan", "{line}");
            }
            match d {
                Decision::Bridge { targets, mode, timeout } => {
                    let mut resolved = Vec::new();
                    let mut why = 480;
                    for t in targets {
                        match t {
                            crate::dialplan::Target::User(u) => {
                                if !self.secrets.contains_key(&u) {
                                    why = why.max(404);
                                    continue;
                                }
                                for b in self.reg.lookup(&u, self.wall_secs(now)) {
                                    resolved.push(Target::User {
                                        aor: u.clone(),
                                        contact: b.contact.clone(),
                                        peer: Peer {
                                            transport: b.transport,
                                            addr: b.source,
                                            conn: None,
                                        },
                                    });
                                }
                            }
                            crate::dialplan::Target::Trunk { trunk, number } => {
                                if self.cfg.trunk(&trunk).is_none() {
                                    warn!(trunk = %trunk, "the plan names a trunk the configuration does not have");
                                    why = 503;
                                } else if !self.trunk_has_room(&trunk) {
                                    why = 503;
                                } else {
                                    resolved.push(Target::Trunk { name: trunk, number });
                                }
                            }
                        }
                    }
                    if resolved.is_empty() {
                        // Nobody to ring: as if the bridge had failed at once.
                        best = Some(best.map_or(why, |b| b.max(why)));
                        continue;
                    }
                    let routed = match mode {
                        HuntMode::Parallel => Routed::Fork(resolved),
                        HuntMode::Sequence => Routed::Hunt(resolved.into_iter().collect::<VecDeque<_>>()),
                    };
                    return Ok(Routing::Ring(Planned {
                        routed,
                        ring_timeout: timeout,
                    }));
                }
                Decision::Hangup(c) => {
                    let code = match best {
                        Some(b) if c.name == "normal" => b,
                        _ => c.code,
                    };
                    return Err((code, reason_for(code)));
                }
                Decision::End => {
                    let code = best.unwrap_or(480);
                    return Err((code, reason_for(code)));
                }
                Decision::NoRoute => return Err((404, "Not Found")),
                Decision::NoContext => return Err((403, "Forbidden")),
                Decision::Loop => {
                    warn!(position = ?s.position(), "dialplan loops for this call");
                    return Err((500, "Server Internal Error"));
                }
                Decision::Media(step) => {
                    if self.media.is_none() {
                        info!(at = %step.pos, "dialplan reached a media action, but media.anchor is off");
                        return Err((501, "Not Implemented"));
                    }
                    return Ok(Routing::Media(step));
                }
            }
        }
        Err((500, "Server Internal Error"))
    }

    /// After every leg of a bridge failed: ask the call's plan what next. `true` when new
    /// legs were started; `false` leaves the caller's answer to the B2BUA (`fail_a`), with
    /// the status the plan chose in `code`.
    pub(in crate::engine) fn plan_after_failure(&mut self, now: Instant, key: CallKey, code: &mut u16) -> bool {
        let Some(mut s) = self.calls.get_mut(&key).and_then(|c| c.route.take()) else {
            return false;
        };
        let result = self.plan_route(now, &mut s, Some(*code));
        if let Some(c) = self.calls.get_mut(&key) {
            c.route = Some(s);
        }
        match result {
            Ok(r) => {
                self.plan_act(now, key, r);
                true
            }
            Err((c, reason)) if self.ivr_answered(key) => {
                self.plan_fail(now, key, c, reason);
                true
            }
            Err((c, _)) => {
                *code = c;
                false
            }
        }
    }

    /// Runs the call's plan on to its next decision and acts on it (after an IVR step).
    pub(in crate::engine) fn plan_next(&mut self, now: Instant, key: CallKey, best: Option<u16>) {
        let Some(mut s) = self.calls.get_mut(&key).and_then(|c| c.route.take()) else { return };
        let result = self.plan_route(now, &mut s, best);
        if let Some(c) = self.calls.get_mut(&key) {
            c.route = Some(s);
        }
        match result {
            Ok(r) => self.plan_act(now, key, r),
            Err((code, reason)) => self.plan_fail(now, key, code, reason),
        }
    }

    /// Acts on a plan's decision.
    pub(in crate::engine) fn plan_act(&mut self, now: Instant, key: CallKey, r: Routing) {
        match r {
            Routing::Media(step) => self.ivr_exec(now, key, step),
            Routing::Ring(p) => {
                if self.ivr_answered(key) {
                    self.ivr_bridge(key);
                }
                self.start_planned(now, key, p);
            }
        }
    }

    /// The plan ends the call: a final status before the switch answered, a BYE after.
    pub(in crate::engine) fn plan_fail(&mut self, now: Instant, key: CallKey, code: u16, reason: &str) {
        if !self.ivr_answered(key) {
            self.fail_a(now, key, code, reason, super::cause_for(code));
            return;
        }
        // 480 is what a plain `hangup` or the end of the plan gives: a normal end here.
        let cause = if code == 480 { "normal" } else { super::cause_for(code) };
        if let Some(c) = self.calls.get_mut(&key) {
            if c.state == super::State::Answered {
                if let Some(i) = c.ivr.as_mut() {
                    i.hangup_on_ack = Some(cause);
                    return;
                }
            }
        }
        self.end_call_by_switch(now, key, cause);
    }

    /// Rings what a plan decided: all at once, or the first of a hunt.
    pub(in crate::engine) fn start_planned(&mut self, now: Instant, key: CallKey, p: Planned) {
        let first: Vec<Target> = match p.routed {
            Routed::Fork(t) => t,
            Routed::Hunt(mut t) => {
                let first = t.pop_front().into_iter().collect();
                if let Some(c) = self.calls.get_mut(&key) {
                    c.next_trunks = t;
                }
                first
            }
        };
        if let Some(c) = self.calls.get_mut(&key) {
            c.ring_timeout = Some(p.ring_timeout);
            c.best = None;
        }
        for t in first {
            self.start_b_leg(now, key, t);
        }
    }

    /// A leg placed by a plan's `bridge` rang too long: CANCEL it; its 487 then counts as a
    /// timeout (408), so the hunt moves on.
    pub(in crate::engine) fn ring_timeout(&mut self, now: Instant, key: CallKey, i: usize) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        let Some(leg) = call.b.get_mut(i) else { return };
        if leg.state == super::BState::Done || leg.state == super::BState::Answered {
            return;
        }
        leg.timed_out = true;
        self.cancel_b(now, key, i);
    }

    pub(in crate::engine) fn arm_ring_timeout(&mut self, now: Instant, key: CallKey, i: usize) {
        if let Some(t) = self.calls.get(&key).and_then(|c| c.ring_timeout) {
            self.set_timer(now + t, key, CallTimer::RingTimeout(i));
        }
    }
}
