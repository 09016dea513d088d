//! The actions of an extension, parsed from statements into types when the plan loads.
//!
//! One action per line: a verb, positional arguments, `key=value` options. `menu`, `if` and
//! `webhook` take blocks. Every argument that names a number, prompt, file or URL is a
//! [`Template`], so variables and captures work everywhere.

use std::time::Duration;

use super::condition::Conditions;
use super::error::{Diags, Pos};
use super::syntax::{Stmt, Word, WordKind};
use super::template::Template;

/// An action and where it was written.
#[derive(Debug, Clone)]
pub struct Step {
    /// The verb's position, for `route` output and runtime logs.
    pub pos: Pos,
    /// What to do.
    pub action: Action,
}

/// Call progress tones the switch can play.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ToneKind {
    /// Ringback.
    Ringback,
    /// Busy.
    Busy,
    /// Congestion (fast busy).
    Congestion,
    /// Dial tone.
    Dial,
    /// A short 1 kHz beep.
    Beep,
}

/// How `bridge` with several targets proceeds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HuntMode {
    /// One after another, each for `timeout` (and on failure).
    Sequence,
    /// All at once; the first to answer wins; `timeout` bounds the whole attempt.
    Parallel,
}

/// Where `bridge` rings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BridgeTarget {
    /// A local user's registered contacts (`user:1001`).
    User(Template),
    /// A trunk, with the number to send (`trunk:carrier-a/+${EXTEN}`).
    Trunk {
        /// Trunk name as configured.
        trunk: String,
        /// The number to send, after rewriting.
        number: Template,
    },
}

/// A SIP final response (or hang-up cause) to end the call with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Cause {
    /// The status when the call is not answered; an answered call gets BYE.
    pub code: u16,
    /// The name as written or the standard one.
    pub name: &'static str,
}

const CAUSES: [(&str, u16); 9] = [
    ("normal", 480),
    ("busy", 486),
    ("no-answer", 480),
    ("unavailable", 480),
    ("rejected", 603),
    ("congestion", 503),
    ("not-found", 404),
    ("forbidden", 403),
    ("invalid-number", 484),
];

/// An IVR menu.
#[derive(Debug, Clone)]
pub struct Menu {
    /// Its name, for logs and the CDR.
    pub name: String,
    /// Played (in order) each time the menu starts.
    pub prompts: Vec<Template>,
    /// Played before retrying after a wrong key.
    pub invalid_prompt: Option<Template>,
    /// Wait for the first key after the prompt.
    pub timeout: Duration,
    /// How many more times the prompt is played after a timeout or wrong key.
    pub retries: u8,
    /// Keys per choice (1 for most menus).
    pub digits: u8,
    /// `key => actions`, in file order.
    pub choices: Vec<(String, Vec<Step>)>,
    /// When retries are used up by timeouts; empty hangs up.
    pub on_timeout: Vec<Step>,
    /// When retries are used up by wrong keys; empty hangs up.
    pub on_invalid: Vec<Step>,
}

/// One action.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Action {
    /// Answer (200 OK with the switch's SDP).
    Answer,
    /// Play prompt files in order.
    Playback(Vec<Template>),
    /// Play a tone, for a time or until the next action's event.
    Tone {
        /// Which.
        tone: ToneKind,
        /// How long; `None` plays until the call moves on (e.g. under `bridge`).
        duration: Option<Duration>,
    },
    /// An IVR menu.
    Menu(Box<Menu>),
    /// Collect digits into a variable.
    Read {
        /// The variable.
        var: String,
        /// Played first.
        prompt: Option<Template>,
        /// Stop after this many digits.
        max: u8,
        /// Stop on this key (not stored).
        terminator: Option<char>,
        /// Stop when no key comes for this long.
        timeout: Duration,
    },
    /// Ring targets and connect the first to answer.
    Bridge {
        /// Where.
        targets: Vec<BridgeTarget>,
        /// In turn or all at once.
        mode: HuntMode,
        /// Per target in sequence; overall in parallel.
        timeout: Duration,
    },
    /// Blind transfer: the call continues at another extension.
    Transfer {
        /// Context, or the current one.
        context: Option<String>,
        /// Extension.
        exten: Template,
    },
    /// Continue at another extension.
    Goto {
        /// Context, or the current one.
        context: Option<String>,
        /// Extension.
        exten: Template,
    },
    /// Run another extension and come back at `return`.
    Gosub {
        /// Context, or the current one.
        context: Option<String>,
        /// Extension.
        exten: Template,
    },
    /// Back from `gosub`.
    Return,
    /// Record the caller to a WAV file in the data directory.
    Record {
        /// File name (relative to `<data_dir>/recordings`); default from the call id.
        file: Option<Template>,
        /// Beep before recording.
        beep: bool,
        /// Longest recording.
        max: Duration,
        /// Stop after this much silence.
        silence: Option<Duration>,
    },
    /// Leave a message in a voicemail box.
    Voicemail(Template),
    /// Set a variable.
    Set {
        /// Name.
        var: String,
        /// Value.
        value: Template,
    },
    /// POST the call's state; the JSON reply gives the next actions.
    Webhook {
        /// Where to POST.
        url: Template,
        /// How long to wait for the reply.
        timeout: Duration,
        /// What runs when the request fails, times out or the reply is not valid.
        on_fail: Vec<Step>,
    },
    /// Music on hold.
    Moh {
        /// The class (a prompt directory).
        class: String,
        /// How long; `None` until the call moves on.
        duration: Option<Duration>,
    },
    /// End the call.
    Hangup(Cause),
    /// Pause.
    Wait(Duration),
    /// Echo the caller's audio back (echo test).
    Echo,
    /// Branch on conditions.
    If {
        /// All terms must hold.
        cond: Box<Conditions>,
        /// When they do.
        then: Vec<Step>,
        /// When they do not.
        otherwise: Vec<Step>,
    },
}

pub(crate) fn parse_duration(s: &str) -> Option<Duration> {
    let (num, unit) = match s.find(|c: char| !c.is_ascii_digit() && c != '.') {
        Some(i) => s.split_at(i),
        None => (s, "s"),
    };
    let n: f64 = num.parse().ok().filter(|n: &f64| n.is_finite() && *n >= 0.0 && *n < 86_400_000.0)?;
    let ms = match unit {
        "ms" => n,
        "s" => n * 1000.0,
        "m" | "min" => n * 60_000.0,
        "h" => n * 3_600_000.0,
        _ => return None,
    };
    Some(Duration::from_millis(ms.round() as u64))
}

/// Positionals and options of one statement, consumed as the action is read.
struct Args<'a> {
    verb: &'a Word,
    pos: Vec<&'a Word>,
    opts: Vec<(&'a str, &'a str, &'a Word)>,
}

fn col(w: &Word, i: usize) -> Pos {
    let mut p = w.pos.clone();
    // A quoted word's text starts one column after its quote.
    p.col += i as u32 + u32::from(w.kind != WordKind::Bare);
    p
}

fn is_option(w: &Word) -> Option<(&str, &str)> {
    if w.kind != WordKind::Bare {
        return None;
    }
    let (k, v) = w.text.split_once('=')?;
    (!k.is_empty() && k.chars().all(|c| c.is_ascii_lowercase() || c == '_')).then_some((k, v))
}

impl<'a> Args<'a> {
    fn new(stmt: &'a Stmt, options_allowed: bool) -> Args<'a> {
        let mut a = Args {
            verb: &stmt.words[0],
            pos: Vec::new(),
            opts: Vec::new(),
        };
        for w in &stmt.words[1..] {
            match is_option(w).filter(|_| options_allowed) {
                Some((k, v)) => a.opts.push((k, v, w)),
                None => a.pos.push(w),
            }
        }
        a
    }

    fn take_opt(&mut self, key: &str) -> Option<(&'a str, &'a Word)> {
        let i = self.opts.iter().position(|(k, _, _)| *k == key)?;
        let (_, v, w) = self.opts.remove(i);
        Some((v, w))
    }

    fn template(&self, w: &Word, text: &str, d: &mut Diags) -> Template {
        let skip = w.text.len() - text.len();
        match Template::parse(text) {
            Ok(t) => t,
            Err((i, m)) => {
                d.at(&col(w, w.text[..skip].chars().count() + i), m);
                Template::default()
            }
        }
    }

    fn opt_template(&mut self, key: &str, d: &mut Diags) -> Option<Template> {
        let (v, w) = self.take_opt(key)?;
        Some(self.template(w, v, d))
    }

    fn opt_duration(&mut self, key: &str, default: Option<Duration>, d: &mut Diags) -> Option<Duration> {
        let Some((v, w)) = self.take_opt(key) else {
            return default;
        };
        match parse_duration(v) {
            Some(t) => Some(t),
            None => {
                d.at(&col(w, key.len() + 1), format!("`{v}` is not a duration (like 5s, 500ms, 2m)"));
                default
            }
        }
    }

    fn opt_u8(&mut self, key: &str, default: u8, range: std::ops::RangeInclusive<u8>, d: &mut Diags) -> u8 {
        let Some((v, w)) = self.take_opt(key) else {
            return default;
        };
        match v.parse::<u8>().ok().filter(|n| range.contains(n)) {
            Some(n) => n,
            None => {
                d.at(
                    &col(w, key.len() + 1),
                    format!("`{key}` is a whole number from {} to {}", range.start(), range.end()),
                );
                default
            }
        }
    }

    fn opt_bool(&mut self, key: &str, default: bool, d: &mut Diags) -> bool {
        let Some((v, w)) = self.take_opt(key) else {
            return default;
        };
        match v {
            "yes" | "true" | "on" => true,
            "no" | "false" | "off" => false,
            _ => {
                d.at(&col(w, key.len() + 1), format!("`{key}` is yes or no"));
                default
            }
        }
    }

    /// Reports what was not consumed, and positionals beyond `max`.
    fn finish(&self, max_pos: usize, allowed: &str, d: &mut Diags) {
        for (k, _, w) in &self.opts {
            d.at(&w.pos, format!("`{}` has no option `{k}`{allowed}", self.verb.text));
        }
        for w in self.pos.iter().skip(max_pos) {
            d.at(
                &w.pos,
                format!(
                    "`{}` takes at most {max_pos} argument(s); `{}` is one too many",
                    self.verb.text, w.text
                ),
            );
        }
    }

    fn need(&self, n: usize, what: &str, d: &mut Diags) -> bool {
        if self.pos.len() < n {
            d.at(&self.verb.pos, format!("`{}` needs {what}", self.verb.text));
            return false;
        }
        true
    }
}

/// Context and extension of `goto`/`gosub`/`transfer`: `goto EXTEN` or `goto CONTEXT EXTEN`.
fn target(a: &Args<'_>, d: &mut Diags) -> (Option<String>, Template) {
    match a.pos.as_slice() {
        [e] => (None, a.template(e, &e.text, d)),
        [c, e, ..] => (Some(c.text.clone()), a.template(e, &e.text, d)),
        [] => (None, Template::default()),
    }
}

/// A name `set` (and a webhook's reply) may give a variable: letters, digits and `_`, not
/// starting with a digit (`$1`..`$9` are a pattern's captures).
pub fn is_var_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') && !s.starts_with(|c: char| c.is_ascii_digit())
}

fn var_name(w: &Word, d: &mut Diags) -> String {
    if !is_var_name(&w.text) {
        d.at(&w.pos, format!("`{}` is not a variable name (letters, digits, `_`)", w.text));
    }
    w.text.clone()
}

/// Reads a block of action statements.
pub(crate) fn parse_steps(stmts: &[Stmt], d: &mut Diags) -> Vec<Step> {
    stmts.iter().filter_map(|s| parse_step(s, d)).collect()
}

fn no_block(stmt: &Stmt, d: &mut Diags) {
    if let Some(b) = &stmt.block {
        d.at(&b.open, format!("`{}` does not take a block", stmt.words[0].text));
    }
}

pub(crate) fn parse_step(stmt: &Stmt, d: &mut Diags) -> Option<Step> {
    let verb = &stmt.words[0];
    let pos = verb.pos.clone();
    if verb.kind != WordKind::Bare {
        d.at(
            &pos,
            "an action starts with its name (answer, playback, menu, bridge, …), not a quoted string",
        );
        return None;
    }
    if stmt.else_block.is_some() && verb.text != "if" {
        d.at(&pos, "`else` only follows `if`");
    }
    let mut a = Args::new(stmt, !matches!(verb.text.as_str(), "set" | "if"));
    let action = match verb.text.as_str() {
        "answer" | "return" | "echo" => {
            a.finish(0, "", d);
            no_block(stmt, d);
            match verb.text.as_str() {
                "answer" => Action::Answer,
                "return" => Action::Return,
                _ => Action::Echo,
            }
        }
        "playback" => {
            a.need(1, "at least one prompt", d);
            no_block(stmt, d);
            let prompts = a.pos.iter().map(|w| a.template(w, &w.text, d)).collect();
            a.finish(usize::MAX, "", d);
            Action::Playback(prompts)
        }
        "tone" => {
            no_block(stmt, d);
            let tone = match a.pos.first().map(|w| w.text.as_str()) {
                Some("ringback") => ToneKind::Ringback,
                Some("busy") => ToneKind::Busy,
                Some("congestion") => ToneKind::Congestion,
                Some("dial") => ToneKind::Dial,
                Some("beep") => ToneKind::Beep,
                _ => {
                    d.at(
                        a.pos.first().map_or(&pos, |w| &w.pos),
                        "`tone` is one of ringback, busy, congestion, dial, beep",
                    );
                    ToneKind::Ringback
                }
            };
            let duration = a.opt_duration("duration", None, d);
            a.finish(1, " (duration=)", d);
            Action::Tone { tone, duration }
        }
        "menu" => return parse_menu(stmt, a, d),
        "read" => {
            no_block(stmt, d);
            a.need(1, "the variable to read into", d);
            let var = a.pos.first().map(|w| var_name(w, d)).unwrap_or_default();
            let prompt = a.opt_template("prompt", d);
            let max = a.opt_u8("max", 20, 1..=64, d);
            let terminator = match a.take_opt("terminator") {
                None => Some('#'),
                Some(("none", _)) => None,
                Some((v, w)) => {
                    let mut cs = v.chars();
                    match (cs.next(), cs.next()) {
                        (Some(c), None) if "0123456789*#ABCD".contains(c) => Some(c),
                        _ => {
                            d.at(&col(w, 11), "`terminator` is one key (0-9, *, #, A-D) or none");
                            None
                        }
                    }
                }
            };
            let timeout = a.opt_duration("timeout", Some(Duration::from_secs(5)), d).unwrap_or_default();
            a.finish(1, " (prompt=, max=, terminator=, timeout=)", d);
            Action::Read {
                var,
                prompt,
                max,
                terminator,
                timeout,
            }
        }
        "bridge" => {
            no_block(stmt, d);
            a.need(1, "a target (user:NAME or trunk:NAME/NUMBER)", d);
            let mut targets = Vec::new();
            for w in &a.pos {
                if let Some(u) = w.text.strip_prefix("user:") {
                    targets.push(BridgeTarget::User(a.template(w, u, d)));
                } else if let Some(t) = w.text.strip_prefix("trunk:") {
                    match t.split_once('/') {
                        Some((name, num)) if !name.is_empty() && !num.is_empty() => targets.push(BridgeTarget::Trunk {
                            trunk: name.to_owned(),
                            number: a.template(w, num, d),
                        }),
                        _ => d.at(&w.pos, format!("`{}`: a trunk target is trunk:NAME/NUMBER", w.text)),
                    }
                } else {
                    d.at(&w.pos, format!("`{}` is not a target: user:NAME or trunk:NAME/NUMBER", w.text));
                }
            }
            let mode = match a.take_opt("mode") {
                None | Some(("sequence", _)) => HuntMode::Sequence,
                Some(("parallel", _)) => HuntMode::Parallel,
                Some((_, w)) => {
                    d.at(&col(w, 5), "`mode` is sequence or parallel");
                    HuntMode::Sequence
                }
            };
            let timeout = a.opt_duration("timeout", Some(Duration::from_secs(30)), d).unwrap_or_default();
            a.finish(usize::MAX, " (mode=, timeout=)", d);
            Action::Bridge { targets, mode, timeout }
        }
        "goto" | "gosub" | "transfer" => {
            no_block(stmt, d);
            a.need(1, "an extension (`goto EXTEN` or `goto CONTEXT EXTEN`)", d);
            let (context, exten) = target(&a, d);
            a.finish(2, "", d);
            match verb.text.as_str() {
                "goto" => Action::Goto { context, exten },
                "gosub" => Action::Gosub { context, exten },
                _ => Action::Transfer { context, exten },
            }
        }
        "record" => {
            no_block(stmt, d);
            let file = a.opt_template("file", d);
            let beep = a.opt_bool("beep", true, d);
            let max = a.opt_duration("max", Some(Duration::from_secs(300)), d).unwrap_or_default();
            let silence = a.opt_duration("silence", None, d);
            a.finish(0, " (file=, beep=, max=, silence=)", d);
            Action::Record { file, beep, max, silence }
        }
        "voicemail" => {
            no_block(stmt, d);
            a.need(1, "a mailbox", d);
            let mailbox = a.pos.first().map(|w| a.template(w, &w.text, d)).unwrap_or_default();
            a.finish(1, "", d);
            Action::Voicemail(mailbox)
        }
        "set" => {
            no_block(stmt, d);
            let Some(w) = a.pos.first().filter(|_| a.pos.len() == 1) else {
                d.at(&pos, "`set` takes one `NAME=value` (quote the value if it has spaces)");
                return None;
            };
            let Some((name, value)) = w.text.split_once('=') else {
                d.at(&w.pos, "`set` takes `NAME=value`");
                return None;
            };
            let var = var_name(
                &Word {
                    text: name.to_owned(),
                    kind: WordKind::Bare,
                    pos: w.pos.clone(),
                },
                d,
            );
            let value = a.template(w, value, d);
            Action::Set { var, value }
        }
        "webhook" => {
            a.need(1, "a URL", d);
            let url = a.pos.first().map(|w| a.template(w, &w.text, d)).unwrap_or_default();
            if let Some(w) = a.pos.first() {
                if !(w.text.starts_with("http://") || w.text.starts_with("https://")) {
                    d.at(&w.pos, "a webhook URL starts with http:// or https://");
                }
            }
            let timeout = a.opt_duration("timeout", Some(Duration::from_secs(3)), d).unwrap_or_default();
            a.finish(1, " (timeout=)", d);
            let on_fail = stmt.block.as_ref().map(|b| parse_steps(&b.stmts, d)).unwrap_or_default();
            Action::Webhook { url, timeout, on_fail }
        }
        "moh" => {
            no_block(stmt, d);
            let class = a.pos.first().map_or_else(|| "default".to_owned(), |w| w.text.clone());
            let duration = a.opt_duration("duration", None, d);
            a.finish(1, " (duration=)", d);
            Action::Moh { class, duration }
        }
        "hangup" => {
            no_block(stmt, d);
            let cause = match a.pos.first() {
                None => Cause { code: 480, name: "normal" },
                Some(w) => match CAUSES.iter().find(|(n, _)| *n == w.text) {
                    Some(&(name, code)) => Cause { code, name },
                    None => match w.text.parse::<u16>() {
                        Ok(code @ 400..=699) => Cause { code, name: "status" },
                        _ => {
                            d.at(
                                &w.pos,
                                format!(
                                    "`{}` is not a cause: a status 400–699 or one of {}",
                                    w.text,
                                    CAUSES.map(|c| c.0).join(", ")
                                ),
                            );
                            Cause { code: 480, name: "normal" }
                        }
                    },
                },
            };
            a.finish(1, "", d);
            Action::Hangup(cause)
        }
        "wait" => {
            no_block(stmt, d);
            let t = match a.pos.first() {
                Some(w) => parse_duration(&w.text).unwrap_or_else(|| {
                    d.at(&w.pos, format!("`{}` is not a duration (like 5s, 500ms)", w.text));
                    Duration::ZERO
                }),
                None => {
                    d.at(&pos, "`wait` needs a duration");
                    Duration::ZERO
                }
            };
            a.finish(1, "", d);
            Action::Wait(t)
        }
        "if" => {
            let mut cond = Conditions::default();
            if a.pos.is_empty() {
                d.at(&pos, "`if` needs at least one condition");
            }
            for w in &a.pos {
                if let Err((i, m)) = cond.add(&w.text) {
                    d.at(&col(w, i), m);
                }
            }
            let Some(b) = &stmt.block else {
                d.at(&pos, "`if` needs a `{ … }` block");
                return None;
            };
            let then = parse_steps(&b.stmts, d);
            let otherwise = stmt.else_block.as_ref().map(|b| parse_steps(&b.stmts, d)).unwrap_or_default();
            Action::If {
                cond: Box::new(cond),
                then,
                otherwise,
            }
        }
        other => {
            d.at(&pos, format!("unknown action `{other}` (answer, playback, tone, menu, read, bridge, transfer, goto, gosub, return, record, voicemail, set, webhook, moh, hangup, wait, echo, if)"));
            return None;
        }
    };
    Some(Step { pos, action })
}

fn parse_menu(stmt: &Stmt, mut a: Args<'_>, d: &mut Diags) -> Option<Step> {
    let pos = stmt.words[0].pos.clone();
    let name = a.pos.first().map_or_else(|| "menu".to_owned(), |w| w.text.clone());
    let prompts = match a.take_opt("prompt") {
        Some((v, w)) => v
            .split(',')
            .scan(0usize, |at, p| {
                let start = *at;
                *at += p.chars().count() + 1;
                Some((start, p))
            })
            .map(|(start, p)| match Template::parse(p) {
                Ok(t) => t,
                Err((i, m)) => {
                    d.at(&col(w, 7 + start + i), m);
                    Template::default()
                }
            })
            .collect(),
        None => {
            d.at(&pos, "`menu` needs `prompt=` (one prompt, or several separated by commas)");
            Vec::new()
        }
    };
    let invalid_prompt = a.opt_template("invalid", d);
    let timeout = a.opt_duration("timeout", Some(Duration::from_secs(5)), d).unwrap_or_default();
    let retries = a.opt_u8("retries", 2, 0..=10, d);
    let digits = a.opt_u8("digits", 1, 1..=16, d);
    a.finish(1, " (prompt=, invalid=, timeout=, retries=, digits=)", d);
    let Some(block) = &stmt.block else {
        d.at(&pos, "`menu` needs a `{ … }` block of choices (`1 => goto …`, `2 { … }`)");
        return None;
    };
    let mut menu = Menu {
        name,
        prompts,
        invalid_prompt,
        timeout,
        retries,
        digits,
        choices: Vec::new(),
        on_timeout: Vec::new(),
        on_invalid: Vec::new(),
    };
    for item in &block.stmts {
        let key = &item.words[0];
        let steps = if item.words.get(1).is_some_and(|w| w.text == "=>" && w.kind == WordKind::Bare) {
            if item.block.is_some() && item.words.len() == 2 {
                d.at(
                    &item.words[1].pos,
                    "use `KEY { … }` for several actions, or `KEY => action` for one",
                );
            }
            let rest = Stmt {
                words: item.words[2..].to_vec(),
                block: item.block.clone(),
                else_block: item.else_block.clone(),
            };
            if rest.words.is_empty() {
                d.at(&item.words[1].pos, "`=>` must be followed by an action");
                Vec::new()
            } else {
                parse_step(&rest, d).into_iter().collect()
            }
        } else if item.words.len() == 1 && item.block.is_some() {
            item.block.as_ref().map(|b| parse_steps(&b.stmts, d)).unwrap_or_default()
        } else {
            d.at(&key.pos, "a menu choice is `KEY => action` or `KEY { actions }`");
            continue;
        };
        match key.text.as_str() {
            "timeout" => menu.on_timeout = steps,
            "invalid" => menu.on_invalid = steps,
            k if !k.is_empty() && k.chars().all(|c| "0123456789*#".contains(c)) => {
                if k.chars().count() > usize::from(menu.digits) {
                    d.at(&key.pos, format!("choice `{k}` is longer than the menu's digits={}", menu.digits));
                }
                if menu.choices.iter().any(|(c, _)| c == k) {
                    d.at(&key.pos, format!("choice `{k}` is already defined in this menu"));
                }
                menu.choices.push((k.to_owned(), steps));
            }
            k => d.at(
                &key.pos,
                format!("`{k}` is not a menu key: digits, `*`, `#`, `timeout` or `invalid`"),
            ),
        }
    }
    Some(Step {
        pos,
        action: Action::Menu(Box::new(menu)),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dialplan::syntax;

    fn steps(text: &str) -> (Vec<Step>, Vec<String>) {
        let mut d = Diags::default();
        let stmts = syntax::parse("x.dialplan".into(), text, &mut d);
        let s = parse_steps(&stmts, &mut d);
        (s, d.0.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn every_action_parses() {
        let (s, errs) = steps(
            "answer\nplayback bank/welcome ${LANG}/menu\ntone ringback duration=3s\n\
             read PIN prompt=enter-pin max=6 terminator=# timeout=7s\n\
             bridge user:${EXTEN} trunk:carrier-a/+86${EXTEN:1} mode=parallel timeout=20s\n\
             transfer sales 100\ngoto 200\ngosub lib greet\nreturn\nrecord beep=no max=60s silence=3s\n\
             voicemail ${EXTEN}\nset LANG=zh\nwebhook http://127.0.0.1:9/x timeout=1s {\n hangup 503\n}\n\
             moh default duration=10s\nhangup busy\nwait 500ms\necho\n\
             if $LANG=zh time=09:00-18:00 {\n goto zh\n} else {\n goto en\n}\n\
             menu main prompt=a,b invalid=bad timeout=4s retries=3 {\n 1 => goto one\n 2 {\n  set X=2\n  goto two\n }\n timeout => hangup\n}\n",
        );
        assert!(errs.is_empty(), "{errs:?}");
        assert_eq!(s.len(), 19);
        match &s[4].action {
            Action::Bridge { targets, mode, timeout } => {
                assert_eq!(targets.len(), 2);
                assert_eq!(*mode, HuntMode::Parallel);
                assert_eq!(*timeout, Duration::from_secs(20));
            }
            a => panic!("{a:?}"),
        }
        match &s[18].action {
            Action::Menu(m) => {
                assert_eq!((m.prompts.len(), m.retries, m.choices.len(), m.on_timeout.len()), (2, 3, 2, 1));
                assert_eq!(m.choices[1].1.len(), 2);
            }
            a => panic!("{a:?}"),
        }
    }

    #[test]
    fn errors_name_the_word() {
        let (_, e) = steps(
            "bogus 1\nbridge sip:x\nhangup 200\nwait soon\nread 9x\nmenu m {\n 1 => \n x => goto a\n}\nplayback ${B:x}\ntone beep volume=3\n",
        );
        assert_eq!(
            e,
            [
                "x.dialplan:1:1: unknown action `bogus` (answer, playback, tone, menu, read, bridge, transfer, goto, gosub, return, record, voicemail, set, webhook, moh, hangup, wait, echo, if)",
                "x.dialplan:2:8: `sip:x` is not a target: user:NAME or trunk:NAME/NUMBER",
                "x.dialplan:3:8: `200` is not a cause: a status 400–699 or one of normal, busy, no-answer, unavailable, rejected, congestion, not-found, forbidden, invalid-number",
                "x.dialplan:4:6: `soon` is not a duration (like 5s, 500ms)",
                "x.dialplan:5:6: `9x` is not a variable name (letters, digits, `_`)",
                "x.dialplan:6:1: `menu` needs `prompt=` (one prompt, or several separated by commas)",
                "x.dialplan:7:4: `=>` must be followed by an action",
                "x.dialplan:8:2: `x` is not a menu key: digits, `*`, `#`, `timeout` or `invalid`",
                "x.dialplan:10:10: `x` in `${B:x}` is not a whole number",
                "x.dialplan:11:11: `tone` has no option `volume` (duration=)",
            ]
        );
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("5"), Some(Duration::from_secs(5)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("x"), None);
        assert_eq!(parse_duration("-1s"), None);
    }
}
