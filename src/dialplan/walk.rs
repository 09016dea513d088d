//! Running a plan for one call, sans-IO: the session steps through actions that need no
//! media (`set`, `goto`, `gosub`/`return`, `if`, `transfer`) and stops at the first one the
//! switch must act on, returning it as a [`Decision`]. The caller acts, then calls
//! [`Session::next_decision`] again to go on (after a failed `bridge`, to the next line).
//!
//! A session holds an `Arc<Plan>`: a reload gives new calls the new plan, while this call
//! finishes on the one it started with.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use super::action::{Action, BridgeTarget, Cause, HuntMode, Step};
use super::condition::{Conditions, Facts};
use super::index::EntryId;
use super::plan::{ExtMatch, Origin, Plan};
use super::template::Vars;

/// Adds a line to the session's trace when it keeps one; the text is built only then, so
/// routing a call costs no formatting.
macro_rules! note {
    ($s:expr, $e:expr) => {
        if $s.tracing {
            let line = $e;
            $s.trace.push(line);
        }
    };
}

/// Longest chain of actions without a decision: a `goto` loop ends here, not in a hang.
const MAX_STEPS: u32 = 1000;
/// Deepest `gosub` nesting.
const MAX_DEPTH: usize = 32;

/// What the switch must do next for this call.
#[derive(Debug)]
#[non_exhaustive]
pub enum Decision {
    /// Ring these; if none answers, call `next` again.
    Bridge {
        /// Users and trunks with expanded numbers, in order.
        targets: Vec<Target>,
        /// In turn or all at once.
        mode: HuntMode,
        /// Per target (sequence) or overall (parallel).
        timeout: Duration,
    },
    /// End the call with this cause.
    Hangup(Cause),
    /// A media action (answer, playback, menu, record, …) for the IVR side of the switch.
    Media(Step),
    /// The extension ran out of actions: hang up normally.
    End,
    /// No extension matched the number (404).
    NoRoute,
    /// No context takes calls from this origin (403).
    NoContext,
    /// A `goto` loop or a `gosub` too deep: the plan is broken for this call (500).
    Loop,
}

/// A bridge target with its number expanded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Target {
    /// A local user.
    User(String),
    /// A trunk and the number to send.
    Trunk {
        /// Trunk name.
        trunk: String,
        /// Number after rewriting.
        number: String,
    },
}

/// Where in the plan a session is: an extension and a path into its nested blocks.
#[derive(Debug, Clone)]
struct Frame {
    ctx: usize,
    ext: EntryId,
    /// Actions given at run time (a webhook's reply) run instead of the extension's.
    injected: Option<Arc<[Step]>>,
    /// `(index, branch)` per nesting level; the last index is the next step to run.
    path: Vec<(usize, u16)>,
}

const THEN: u16 = 0;
const ELSE: u16 = 1;
const ON_FAIL: u16 = 2;
const ON_TIMEOUT: u16 = 3;
const ON_INVALID: u16 = 4;
/// Menu choice `i` is branch `CHOICE + i`.
const CHOICE: u16 = 5;

/// One call's run through a plan.
#[derive(Debug)]
pub struct Session {
    plan: Arc<Plan>,
    vars: HashMap<String, String>,
    stack: Vec<Frame>,
    caller: String,
    unix_ms: i64,
    /// Lines describing each step taken, kept after [`Session::with_trace`] (for `switchyard
    /// route` and debug logs).
    pub trace: Vec<String>,
    tracing: bool,
    captures: Vec<String>,
    started: bool,
    /// A menu ran out of retries and has no branch for it: hang up.
    hangup_next: bool,
    origin_ctx: Option<usize>,
}

impl Vars for Session {
    fn get(&self, name: &str) -> Option<&str> {
        // `$1`…`$9`: the captures of the regex the current extension matched.
        if let [d @ b'1'..=b'9'] = name.as_bytes() {
            return self.captures.get(usize::from(d - b'1')).map(String::as_str);
        }
        self.vars.get(name).map(String::as_str)
    }
}

impl Session {
    /// A session for a call from `origin`, by `caller`, to `number`, at wall time `unix_ms`.
    pub fn new(plan: Arc<Plan>, origin: Origin<'_>, caller: &str, number: &str, unix_ms: i64) -> Session {
        let mut vars = HashMap::new();
        vars.insert("CALLER".to_owned(), caller.to_owned());
        vars.insert("DIALED".to_owned(), number.to_owned());
        let (kind, name) = match origin {
            Origin::User(u) => ("user", u),
            Origin::Trunk(t) => ("trunk", t),
        };
        vars.insert("ORIGIN".to_owned(), kind.to_owned());
        vars.insert("ORIGIN_NAME".to_owned(), name.to_owned());
        let origin_ctx = plan.context_for(origin);
        Session {
            plan,
            vars,
            stack: Vec::new(),
            caller: caller.to_owned(),
            unix_ms,
            trace: Vec::new(),
            tracing: false,
            captures: Vec::new(),
            started: false,
            hangup_next: false,
            origin_ctx,
        }
    }

    /// Keeps a line per step in `trace`.
    pub fn with_trace(mut self) -> Session {
        self.tracing = true;
        self
    }

    /// The plan this call runs on.
    pub fn plan(&self) -> &Arc<Plan> {
        &self.plan
    }

    /// Sets a variable (the IVR stores digits this way).
    pub fn set_var(&mut self, name: &str, value: &str) {
        self.vars.insert(name.to_owned(), value.to_owned());
    }

    /// Updates the wall time conditions are evaluated at.
    pub fn set_time(&mut self, unix_ms: i64) {
        self.unix_ms = unix_ms;
    }

    /// The context and extension being run, as `context/ext`.
    pub fn position(&self) -> Option<String> {
        let f = self.stack.last()?;
        let c = self.plan.context(f.ctx);
        Some(format!("{}/{}", c.name, c.exts[f.ext as usize].label))
    }

    /// Whether `cond` holds for this call now.
    fn holds(&self, cond: &Conditions) -> bool {
        let plan = &self.plan;
        let hol = |n: &str, d| plan.is_holiday(n, d);
        let var = |n: &str| self.vars.get(n).cloned();
        cond.holds(&Facts {
            unix_ms: self.unix_ms,
            default_tz: &plan.timezone,
            caller: &self.caller,
            holiday: &hol,
            var: &var,
        })
    }

    /// Moves to the extension of context `ctx` (or its includes) that `number` reaches now;
    /// `false` when none does.
    fn enter(&mut self, ctx: usize, number: &str) -> bool {
        let plan = self.plan.clone();
        let hit = plan.lookup(ctx, number, &mut |_, e| self.holds(&e.when));
        let Some((ci, id)) = hit else {
            note!(self, format!("no extension in context {} matches {number}", plan.context(ctx).name));
            return false;
        };
        let ext = &plan.context(ci).exts[id as usize];
        self.vars.insert("EXTEN".to_owned(), number.to_owned());
        self.vars.insert("CONTEXT".to_owned(), plan.context(ci).name.clone());
        self.captures.clear();
        if let ExtMatch::Regex(r) = &ext.matcher {
            if let Some(caps) = r.captures(number) {
                self.captures
                    .extend(caps.iter().skip(1).take(9).map(|c| c.map_or("", |m| m.as_str()).to_owned()));
            }
        }
        note!(
            self,
            format!("{}  context {} ext {} matches {number}", ext.pos, plan.context(ci).name, ext.label)
        );
        if let Some(f) = self.stack.last_mut() {
            *f = Frame {
                ctx: ci,
                ext: id,
                injected: None,
                path: vec![(0, THEN)],
            };
        } else {
            self.stack.push(Frame {
                ctx: ci,
                ext: id,
                injected: None,
                path: vec![(0, THEN)],
            });
        }
        true
    }

    /// The step at the frame's cursor, or `None` when its block is done.
    /// `inj` is the frame's injected actions (passed apart so that the step borrows them,
    /// not the frame, which the caller moves on).
    fn current<'p>(plan: &'p Plan, inj: Option<&'p [Step]>, f: &Frame) -> Option<&'p Step> {
        let mut list: &[Step] = match inj {
            Some(steps) => steps,
            None => &plan.context(f.ctx).exts[f.ext as usize].steps,
        };
        for (i, &(idx, _)) in f.path.iter().enumerate() {
            let step = list.get(idx)?;
            let Some(&(_, branch)) = f.path.get(i + 1) else {
                return Some(step);
            };
            list = match (&step.action, branch) {
                (Action::If { then, .. }, THEN) => then,
                (Action::If { otherwise, .. }, _) => otherwise,
                (Action::Webhook { on_fail, .. }, _) => on_fail,
                (Action::Menu(m), ON_TIMEOUT) => &m.on_timeout,
                (Action::Menu(m), ON_INVALID) => &m.on_invalid,
                (Action::Menu(m), b) => &m.choices.get(usize::from(b.checked_sub(CHOICE)?))?.1,
                _ => return None,
            };
        }
        None
    }

    fn advance(f: &mut Frame) {
        if let Some(last) = f.path.last_mut() {
            last.0 += 1;
        }
    }

    /// Steps into a branch of the action last returned as [`Decision::Media`] (the cursor is
    /// just past it); the next [`Session::next_decision`] runs that branch, then what follows the action.
    fn branch(&mut self, b: u16) {
        if let Some(f) = self.stack.last_mut() {
            if let Some(last) = f.path.last_mut() {
                last.0 = last.0.saturating_sub(1);
            }
            f.path.push((0, b));
        }
    }

    fn last_step(&self) -> Option<&Step> {
        let f = self.stack.last()?;
        let mut f = f.clone();
        let last = f.path.last_mut()?;
        last.0 = last.0.checked_sub(1)?;
        Self::current(&self.plan, self.stack.last()?.injected.as_deref(), &f)
    }

    /// The caller chose `key` in the menu just returned. `false` when the key is not one of
    /// its choices (the IVR then retries or takes the `invalid` branch).
    pub fn menu_choice(&mut self, key: &str) -> bool {
        let Some(Step {
            action: Action::Menu(m), ..
        }) = self.last_step()
        else {
            return false;
        };
        let Some(i) = m.choices.iter().position(|(k, _)| k == key) else {
            return false;
        };
        note!(self, format!("key {key}"));
        self.branch(CHOICE + i as u16);
        true
    }

    /// The menu just returned used up its retries on timeouts (`true`) or wrong keys.
    pub fn menu_exhausted(&mut self, by_timeout: bool) {
        let Some(Step {
            action: Action::Menu(m), ..
        }) = self.last_step()
        else {
            return;
        };
        let empty = if by_timeout {
            m.on_timeout.is_empty()
        } else {
            m.on_invalid.is_empty()
        };
        note!(
            self,
            if by_timeout {
                "menu timed out".to_owned()
            } else {
                "menu: invalid keys".to_owned()
            }
        );
        if empty {
            self.hangup_next = true;
        } else {
            self.branch(if by_timeout { ON_TIMEOUT } else { ON_INVALID });
        }
    }

    /// The call's variables.
    pub fn vars(&self) -> &HashMap<String, String> {
        &self.vars
    }

    /// The context being run.
    pub fn context_name(&self) -> Option<&str> {
        self.stack.last().map(|f| self.plan.context(f.ctx).name.as_str())
    }

    /// Runs `steps` next, then what follows the action just returned (as a `gosub` would);
    /// a `goto` among them leaves for good.
    pub fn inject(&mut self, steps: Vec<Step>) {
        let Some(top) = self.stack.last().cloned() else { return };
        if self.stack.len() >= MAX_DEPTH {
            return;
        }
        note!(self, format!("{} actions from the webhook", steps.len()));
        self.stack.push(Frame {
            injected: Some(steps.into()),
            path: vec![(0, THEN)],
            ..top
        });
    }

    /// A blind transfer (SIP REFER) to `number`: the call continues at the extension that
    /// number reaches in the current context, leaving any `gosub` or webhook actions.
    /// `false` (and nothing changed) when no extension matches.
    pub fn transfer(&mut self, number: &str) -> bool {
        let Some(ctx) = self.stack.last().map(|f| f.ctx) else { return false };
        let kept = self.stack.clone();
        self.stack.truncate(1);
        if self.enter(ctx, number) {
            self.hangup_next = false;
            self.vars.insert("TRANSFERRED_TO".to_owned(), number.to_owned());
            true
        } else {
            self.stack = kept;
            false
        }
    }

    /// The webhook just returned failed; its block runs next.
    pub fn webhook_failed(&mut self) {
        if matches!(
            self.last_step(),
            Some(Step {
                action: Action::Webhook { .. },
                ..
            })
        ) {
            note!(self, "webhook failed".to_owned());
            self.branch(ON_FAIL);
        }
    }

    /// Runs until the switch has something to do.
    pub fn next_decision(&mut self) -> Decision {
        let plan = self.plan.clone();
        if !self.started {
            self.started = true;
            let Some(ctx) = self.origin_ctx else {
                return Decision::NoContext;
            };
            let number = self.vars.get("DIALED").cloned().unwrap_or_default();
            if !self.enter(ctx, &number) {
                return Decision::NoRoute;
            }
        }
        if std::mem::take(&mut self.hangup_next) {
            note!(self, "no branch for it: hang up".to_owned());
            return Decision::Hangup(Cause { code: 480, name: "normal" });
        }
        for _ in 0..MAX_STEPS {
            let Some(frame) = self.stack.last_mut() else {
                return Decision::End;
            };
            let inj = frame.injected.clone();
            let Some(step) = Self::current(&plan, inj.as_deref(), frame) else {
                // End of a nested block: continue after the statement that opened it.
                if frame.path.len() > 1 {
                    frame.path.pop();
                    Self::advance(frame);
                    continue;
                }
                if self.stack.len() > 1 {
                    // A gosub ran off its end: behave as `return`.
                    self.stack.pop();
                    continue;
                }
                note!(self, "end of extension: hang up".to_owned());
                return Decision::End;
            };
            Self::advance(frame);
            let step: &Step = step;
            if !matches!(step.action, Action::If { .. }) {
                note!(self, format!("{}  {}", step.pos, describe(step, self)));
            }
            match &step.action {
                Action::Set { var, value } => {
                    let v = value.expand(self);
                    self.vars.insert(var.clone(), v);
                }
                Action::If { cond, .. } => {
                    let ok = self.holds(cond);
                    note!(self, format!("{}  if … is {ok}", step.pos));
                    if let Some(f) = self.stack.last_mut() {
                        // The cursor already moved past the `if`; step back into it.
                        if let Some(last) = f.path.last_mut() {
                            last.0 -= 1;
                        }
                        f.path.push((0, if ok { THEN } else { ELSE }));
                    }
                }
                Action::Goto { context, exten } | Action::Transfer { context, exten } => {
                    let number = exten.expand(self);
                    let ctx = match context {
                        Some(c) => plan.context_index(c),
                        None => self.stack.last().map(|f| f.ctx),
                    };
                    let Some(ctx) = ctx else {
                        return Decision::NoRoute;
                    };
                    // A goto in a webhook's actions leaves the webhook's extension too.
                    while self.stack.len() > 1 && self.stack.last().is_some_and(|f| f.injected.is_some()) {
                        self.stack.pop();
                    }
                    if !self.enter(ctx, &number) {
                        return Decision::NoRoute;
                    }
                }
                Action::Gosub { context, exten } => {
                    if self.stack.len() >= MAX_DEPTH {
                        note!(self, format!("{}  gosub too deep", step.pos));
                        return Decision::Loop;
                    }
                    let number = exten.expand(self);
                    let here = self.stack.last().map_or(0, |f| f.ctx);
                    let Some(ctx) = context.as_ref().map_or(Some(here), |c| plan.context_index(c)) else {
                        return Decision::NoRoute;
                    };
                    if let Some(t) = self.stack.last().cloned() {
                        self.stack.push(t);
                    }
                    if !self.enter(ctx, &number) {
                        return Decision::NoRoute;
                    }
                }
                Action::Return => {
                    if self.stack.len() > 1 {
                        self.stack.pop();
                    } else {
                        return Decision::End;
                    }
                }
                Action::Bridge { targets, mode, timeout } => {
                    let targets = targets
                        .iter()
                        .map(|t| match t {
                            BridgeTarget::User(u) => Target::User(u.expand(self)),
                            BridgeTarget::Trunk { trunk, number } => Target::Trunk {
                                trunk: trunk.clone(),
                                number: number.expand(self),
                            },
                        })
                        .collect();
                    return Decision::Bridge {
                        targets,
                        mode: *mode,
                        timeout: *timeout,
                    };
                }
                Action::Hangup(c) => return Decision::Hangup(*c),
                _ => return Decision::Media(step.clone()),
            }
        }
        note!(self, format!("more than {MAX_STEPS} actions without a decision: a goto loop?"));
        Decision::Loop
    }
}

/// One line for a media action, with its arguments expanded.
pub fn describe(step: &Step, vars: &dyn Vars) -> String {
    match &step.action {
        Action::Answer => "answer".to_owned(),
        Action::Echo => "echo".to_owned(),
        Action::Playback(p) => format!("playback {}", p.iter().map(|t| t.expand(vars)).collect::<Vec<_>>().join(" ")),
        Action::Tone { tone, duration } => format!(
            "tone {tone:?}{}",
            duration.map(|d| format!(" for {} s", d.as_secs_f32())).unwrap_or_default()
        ),
        Action::Menu(m) => {
            let keys: Vec<&str> = m.choices.iter().map(|(k, _)| k.as_str()).collect();
            format!(
                "menu {} prompt={} keys {} (timeout {} s, {} retries)",
                m.name,
                m.prompts.iter().map(|t| t.expand(vars)).collect::<Vec<_>>().join(","),
                keys.join(" "),
                m.timeout.as_secs_f32(),
                m.retries
            )
        }
        Action::Read { var, max, .. } => format!("read {var} (up to {max} digits)"),
        Action::Record { max, .. } => format!("record (up to {} s)", max.as_secs()),
        Action::Voicemail(b) => format!("voicemail {}", b.expand(vars)),
        Action::Webhook { url, timeout, .. } => format!("webhook {} (timeout {} s)", url.expand(vars), timeout.as_secs_f32()),
        Action::Moh { class, .. } => format!("moh {class}"),
        Action::Wait(d) => format!("wait {} s", d.as_secs_f32()),
        Action::Goto { context, exten } => format!(
            "goto {}{}",
            context.as_ref().map(|c| format!("{c} ")).unwrap_or_default(),
            exten.expand(vars)
        ),
        Action::Gosub { context, exten } => format!(
            "gosub {}{}",
            context.as_ref().map(|c| format!("{c} ")).unwrap_or_default(),
            exten.expand(vars)
        ),
        Action::Transfer { context, exten } => format!(
            "transfer {}{}",
            context.as_ref().map(|c| format!("{c} ")).unwrap_or_default(),
            exten.expand(vars)
        ),
        Action::Return => "return".to_owned(),
        Action::Set { var, value } => format!("set {var}={}", value.expand(vars)),
        Action::If { .. } => "if …".to_owned(),
        Action::Hangup(c) => format!("hangup {} ({})", c.name, c.code),
        Action::Bridge { targets, mode, timeout } => {
            let t: Vec<String> = targets
                .iter()
                .map(|t| match t {
                    BridgeTarget::User(u) => format!("user:{}", u.expand(vars)),
                    BridgeTarget::Trunk { trunk, number } => format!("trunk:{trunk}/{}", number.expand(vars)),
                })
                .collect();
            format!("bridge {} ({mode:?}, {} s)", t.join(" "), timeout.as_secs_f32())
        }
    }
}
