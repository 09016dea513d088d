//! A whole plan: every `*.dialplan` file of a directory, read, typed and cross-checked.
//!
//! Top-level statements: `timezone ZONE`, `prompts DIR`, `holidays NAME { dates }`, and
//! `context NAME { from …; include …; ext … { actions } }`. Context names are global to the
//! plan; files are read in name order, and within a context extensions keep file order.

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use jiff::civil::Date;
use jiff::tz::TimeZone;
use regex::Regex;

use super::action::{Action, BridgeTarget, Step, parse_steps};
use super::condition::{Conditions, Matcher, compile_regex, parse_date_range};
use super::error::{Diags, DialplanError, Pos};
use super::index::{EntryId, Index};
use super::pattern::Pattern;
use super::syntax::{self, Stmt, WordKind};

/// What an extension matches.
#[derive(Debug, Clone)]
pub(crate) enum ExtMatch {
    Exact(String),
    Pattern(Pattern),
    Regex(Regex),
}

/// One `ext` block.
#[derive(Debug, Clone)]
pub struct Extension {
    /// Where `ext` was written.
    pub pos: Pos,
    /// The pattern as written (`_NXXXXXX`, `/^00(\d+)$/`, `1000`).
    pub label: String,
    pub(crate) matcher: ExtMatch,
    pub(crate) when: Conditions,
    /// The actions.
    pub steps: Vec<Step>,
}

/// Where a call comes from, as `from` lines select it.
#[derive(Debug, Clone)]
pub(crate) enum Source {
    Any,
    AnyUser,
    User(Matcher),
    AnyTrunk,
    Trunk(String),
}

/// Who placed the call, as the switch knows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Origin<'a> {
    /// An authenticated local user.
    User(&'a str),
    /// A configured trunk, by name.
    Trunk(&'a str),
}

impl Source {
    /// How specifically it selects `o`; 0 = not at all.
    fn score(&self, o: Origin<'_>) -> u8 {
        match (self, o) {
            (Source::Trunk(n), Origin::Trunk(t)) if n == t => 3,
            (Source::User(m), Origin::User(u)) if m.matches(u) => 3,
            (Source::AnyTrunk, Origin::Trunk(_)) | (Source::AnyUser, Origin::User(_)) => 2,
            (Source::Any, _) => 1,
            _ => 0,
        }
    }
}

/// One context.
#[derive(Debug, Clone)]
pub struct Context {
    /// Its name.
    pub name: String,
    /// Where it was declared.
    pub pos: Pos,
    pub(crate) sources: Vec<(Source, Pos)>,
    pub(crate) includes: Vec<(String, Pos)>,
    /// Its own extensions, in file order.
    pub exts: Vec<Extension>,
    pub(crate) index: Index,
    /// Labels of extensions without `when`, to find ones that can never run.
    unconditional: HashMap<String, Pos>,
}

/// A checked plan, shared read-only by the calls that started on it.
#[derive(Debug)]
pub struct Plan {
    pub(crate) contexts: Vec<Context>,
    by_name: HashMap<String, usize>,
    pub(crate) timezone: TimeZone,
    pub(crate) holidays: HashMap<String, Vec<(Date, Date)>>,
    /// Where prompt names are resolved (`None` for plans given as text).
    pub prompt_dir: Option<PathBuf>,
    /// The files it was read from.
    pub files: Vec<String>,
    /// Its prompts, decoded (empty until [`Plan::load_audio`]; built in for the embedded plan).
    pub audio: super::audio::PromptAudio,
}

/// The embedded default plan's files, so the switch routes with no configuration at all.
pub const EMBEDDED: &[(&str, &str)] = &[("default.dialplan", include_str!("../../dialplans/default/default.dialplan"))];

/// File extensions a prompt may have, in the order they are tried.
pub const PROMPT_EXTENSIONS: [&str; 4] = ["wav", "flac", "ogg", "mp3"];

impl Plan {
    /// The plan built into the binary (`dialplans/default/`).
    pub fn embedded() -> Result<Plan, DialplanError> {
        let files: Vec<(String, String)> = EMBEDDED
            .iter()
            .map(|(n, t)| (format!("<embedded default>/{n}"), (*t).to_owned()))
            .collect();
        let mut plan = Plan::from_texts(&files, None)?;
        plan.audio = super::audio::PromptAudio::embedded();
        Ok(plan)
    }

    /// Actions given at run time (a webhook's reply), read and checked against this plan as
    /// if written in context `ctx`: one statement per line, blocks allowed. `Err` lists
    /// every problem, positions relative to `source`.
    pub fn parse_actions(&self, source: &str, text: &str, ctx: &str) -> Result<Vec<Step>, Vec<super::error::Diagnostic>> {
        let mut d = Diags::default();
        let stmts = syntax::parse(Arc::from(source), text, &mut d);
        let steps = parse_steps(&stmts, &mut d);
        if let Some(c) = self.by_name.get(ctx).map(|&i| &self.contexts[i]) {
            self.check_steps(c, &steps, &mut d);
        }
        if d.is_empty() { Ok(steps) } else { Err(d.0) }
    }

    /// Decodes every prompt in the plan's prompt directory for the calls to play; one line
    /// per file that could not be (those prompts then play as silence).
    pub fn load_audio(&mut self) -> Vec<String> {
        let Some(dir) = &self.prompt_dir else { return Vec::new() };
        let (audio, errors) = super::audio::PromptAudio::load_dir(dir);
        self.audio = audio;
        errors
    }

    /// Reads a plan from a `.dialplan` file or a directory of them.
    pub fn load(path: &Path) -> Result<Plan, DialplanError> {
        let read_err = |source| DialplanError::Read {
            path: path.display().to_string(),
            source,
        };
        let meta = std::fs::metadata(path).map_err(read_err)?;
        let (paths, dir) = if meta.is_dir() {
            let mut v: Vec<PathBuf> = std::fs::read_dir(path)
                .map_err(read_err)?
                .filter_map(|e| e.ok().map(|e| e.path()))
                .filter(|p| p.extension().is_some_and(|e| e == "dialplan") && p.is_file())
                .collect();
            v.sort();
            (v, path.to_path_buf())
        } else {
            (vec![path.to_path_buf()], path.parent().map(Path::to_path_buf).unwrap_or_default())
        };
        if paths.is_empty() {
            return Err(DialplanError::Invalid(vec![super::error::Diagnostic {
                pos: None,
                message: format!("{}: no *.dialplan files", path.display()),
            }]));
        }
        let mut files = Vec::new();
        for p in paths {
            // `dir/./x.dialplan` names the file as `dir/x.dialplan` in every diagnostic.
            let p: PathBuf = p.components().collect();
            let text = std::fs::read_to_string(&p).map_err(|source| DialplanError::Read {
                path: p.display().to_string(),
                source,
            })?;
            files.push((p.display().to_string(), text));
        }
        Plan::from_texts(&files, Some(&dir))
    }

    /// Builds a plan from `(file name, text)` pairs; `dir` resolves `prompts`.
    pub fn from_texts(files: &[(String, String)], dir: Option<&Path>) -> Result<Plan, DialplanError> {
        let mut d = Diags::default();
        let mut plan = Plan {
            contexts: Vec::new(),
            by_name: HashMap::new(),
            timezone: TimeZone::UTC,
            holidays: HashMap::new(),
            prompt_dir: dir.map(|d| d.join("prompts")),
            files: files.iter().map(|(n, _)| n.clone()).collect(),
            audio: Default::default(),
        };
        let mut holiday_pos: HashMap<String, Pos> = HashMap::new();
        let mut tz_seen: Option<Pos> = None;
        for (name, text) in files {
            let stmts = syntax::parse(Arc::from(name.as_str()), text, &mut d);
            for s in &stmts {
                plan.top_level(s, dir, &mut d, &mut holiday_pos, &mut tz_seen);
            }
        }
        plan.cross_check(&mut d);
        if d.is_empty() { Ok(plan) } else { Err(DialplanError::Invalid(d.0)) }
    }

    fn top_level(
        &mut self,
        s: &Stmt,
        dir: Option<&Path>,
        d: &mut Diags,
        holiday_pos: &mut HashMap<String, Pos>,
        tz_seen: &mut Option<Pos>,
    ) {
        let w = &s.words;
        match w[0].text.as_str() {
            "timezone" => {
                if let Some(prev) = tz_seen {
                    d.at(&w[0].pos, format!("`timezone` is already set at {prev}"));
                }
                *tz_seen = Some(w[0].pos.clone());
                match w.get(1).filter(|_| w.len() == 2) {
                    Some(z) => match TimeZone::get(&z.text) {
                        Ok(tz) => self.timezone = tz,
                        Err(_) => d.at(
                            &z.pos,
                            format!("`{}` is not a time zone of the tz database (e.g. Asia/Shanghai)", z.text),
                        ),
                    },
                    None => d.at(&w[0].pos, "`timezone` takes one zone name, like Asia/Shanghai"),
                }
            }
            "prompts" => match (w.get(1).filter(|_| w.len() == 2), dir) {
                (Some(p), Some(dir)) => self.prompt_dir = Some(dir.join(&p.text)),
                (Some(_), None) => {}
                (None, _) => d.at(&w[0].pos, "`prompts` takes one directory, relative to the plan's"),
            },
            "holidays" => {
                let Some(name) = w.get(1).filter(|_| w.len() == 2) else {
                    d.at(&w[0].pos, "`holidays NAME { dates }`");
                    return;
                };
                if let Some(prev) = holiday_pos.get(&name.text) {
                    d.at(&name.pos, format!("holiday list `{}` is already defined at {prev}", name.text));
                }
                holiday_pos.insert(name.text.clone(), name.pos.clone());
                let mut ranges = Vec::new();
                for line in s.block.iter().flat_map(|b| &b.stmts) {
                    for word in &line.words {
                        for part in word.text.split(',').filter(|p| !p.is_empty()) {
                            match parse_date_range(part) {
                                Ok(r) => ranges.push(r),
                                Err(m) => d.at(&word.pos, m),
                            }
                        }
                    }
                }
                if s.block.is_none() {
                    d.at(&w[0].pos, "`holidays NAME` needs a `{ … }` block of dates (YYYY-MM-DD or A..B)");
                }
                self.holidays.insert(name.text.clone(), ranges);
            }
            "context" => self.read_context(s, d),
            other => d.at(
                &w[0].pos,
                format!("unknown statement `{other}` at the top level (context, holidays, timezone, prompts)"),
            ),
        }
    }

    fn read_context(&mut self, s: &Stmt, d: &mut Diags) {
        let w = &s.words;
        let Some(name) = w
            .get(1)
            .filter(|n| w.len() == 2 && n.kind == WordKind::Bare && valid_context_name(&n.text))
        else {
            d.at(&w[0].pos, "`context NAME { … }` (letters, digits, `-`, `_`)");
            return;
        };
        if let Some(&i) = self.by_name.get(&name.text) {
            d.at(
                &name.pos,
                format!("context `{}` is already defined at {}", name.text, self.contexts[i].pos),
            );
            return;
        }
        let Some(block) = &s.block else {
            d.at(&w[0].pos, "`context NAME` needs a `{ … }` block");
            return;
        };
        let mut ctx = Context {
            name: name.text.clone(),
            pos: name.pos.clone(),
            sources: Vec::new(),
            includes: Vec::new(),
            exts: Vec::new(),
            index: Index::new(),
            unconditional: HashMap::new(),
        };
        for item in &block.stmts {
            let iw = &item.words;
            match iw[0].text.as_str() {
                "from" => match (iw.get(1).map(|w| w.text.as_str()), iw.get(2)) {
                    (Some("any"), None) => ctx.sources.push((Source::Any, iw[0].pos.clone())),
                    (Some("user"), None) => ctx.sources.push((Source::AnyUser, iw[0].pos.clone())),
                    (Some("trunk"), None) => ctx.sources.push((Source::AnyTrunk, iw[0].pos.clone())),
                    (Some("user"), Some(u)) if iw.len() == 3 => match Matcher::parse(&u.text) {
                        Ok(m) => ctx.sources.push((Source::User(m), iw[0].pos.clone())),
                        Err((_, m)) => d.at(&u.pos, m),
                    },
                    (Some("trunk"), Some(t)) if iw.len() == 3 => ctx.sources.push((Source::Trunk(t.text.clone()), iw[0].pos.clone())),
                    _ => d.at(
                        &iw[0].pos,
                        "`from` is `from user`, `from user PATTERN`, `from trunk`, `from trunk NAME` or `from any`",
                    ),
                },
                "include" => {
                    if iw.len() != 2 {
                        d.at(&iw[0].pos, "`include CONTEXT`");
                    } else {
                        ctx.includes.push((iw[1].text.clone(), iw[1].pos.clone()));
                    }
                }
                "ext" => self.extension(&mut ctx, item, d),
                other => d.at(&iw[0].pos, format!("unknown statement `{other}` in a context (from, include, ext)")),
            }
        }
        self.by_name.insert(ctx.name.clone(), self.contexts.len());
        self.contexts.push(ctx);
    }

    fn extension(&self, ctx: &mut Context, s: &Stmt, d: &mut Diags) {
        let w = &s.words;
        let Some(label) = w.get(1) else {
            d.at(&w[0].pos, "`ext PATTERN [when CONDITIONS] { actions }`");
            return;
        };
        let matcher = match label.kind {
            WordKind::Regex => match compile_regex(&label.text) {
                Ok(r) => ExtMatch::Regex(r),
                Err(m) => {
                    d.at(&label.pos, m);
                    return;
                }
            },
            _ => match label.text.strip_prefix('_') {
                Some(p) => match Pattern::parse(p) {
                    Ok(p) => ExtMatch::Pattern(p),
                    Err((i, m)) => {
                        let mut pos = label.pos.clone();
                        pos.col += i as u32 + 1;
                        d.at(&pos, m);
                        return;
                    }
                },
                None if !label.text.is_empty() => ExtMatch::Exact(label.text.clone()),
                None => {
                    d.at(&label.pos, "an extension cannot be empty");
                    return;
                }
            },
        };
        let mut when = Conditions::default();
        match w.get(2) {
            Some(k) if k.text == "when" && k.kind == WordKind::Bare => {
                if w.len() == 3 {
                    d.at(&k.pos, "`when` needs at least one condition");
                }
                for c in &w[3..] {
                    if let Err((i, m)) = when.add(&c.text) {
                        let mut pos = c.pos.clone();
                        pos.col += i as u32;
                        d.at(&pos, m);
                    }
                }
            }
            Some(k) => d.at(
                &k.pos,
                format!("`{}`: after the pattern comes `when CONDITIONS` or the `{{ … }}` block", k.text),
            ),
            None => {}
        }
        let Some(block) = &s.block else {
            d.at(&w[0].pos, "`ext` needs a `{ … }` block of actions");
            return;
        };
        let steps = parse_steps(&block.stmts, d);
        if steps.is_empty() {
            d.at(&block.open, "an extension needs at least one action");
        }
        let label_text = if label.kind == WordKind::Regex {
            format!("/{}/", label.text)
        } else {
            label.text.clone()
        };
        // Same pattern, earlier, without conditions: this one could never run.
        if let Some(prev) = ctx.unconditional.get(&label_text) {
            d.at(
                &label.pos,
                format!("unreachable: `ext {label_text}` at {prev} has no `when` and comes first"),
            );
        } else if when.is_empty() {
            ctx.unconditional.insert(label_text.clone(), w[0].pos.clone());
        }
        let id = ctx.exts.len() as EntryId;
        match &matcher {
            ExtMatch::Exact(n) => ctx.index.add_exact(n, id),
            ExtMatch::Pattern(p) => ctx.index.add_pattern(p, id),
            ExtMatch::Regex(_) => ctx.index.add_regex(id),
        }
        ctx.exts.push(Extension {
            pos: w[0].pos.clone(),
            label: label_text,
            matcher,
            when,
            steps,
        });
    }

    fn cross_check(&self, d: &mut Diags) {
        if self.contexts.is_empty() {
            d.plan(format!("{}: the plan defines no context", self.files.join(", ")));
        }
        let mut claimed: Vec<(String, Pos, &str)> = Vec::new();
        for ctx in &self.contexts {
            for (inc, pos) in &ctx.includes {
                if !self.by_name.contains_key(inc) {
                    d.at(pos, format!("`include {inc}`: no such context"));
                }
            }
            for (src, pos) in &ctx.sources {
                let key = match src {
                    Source::Any => "any".to_owned(),
                    Source::AnyUser => "user".to_owned(),
                    Source::AnyTrunk => "trunk".to_owned(),
                    Source::Trunk(t) => format!("trunk {t}"),
                    Source::User(_) => continue,
                };
                if let Some((_, prev, other)) = claimed.iter().find(|(k, _, _)| *k == key) {
                    d.at(pos, format!("`from {key}` is already claimed by context `{other}` at {prev}"));
                } else {
                    claimed.push((key, pos.clone(), &ctx.name));
                }
            }
            for e in &ctx.exts {
                for h in e.when.holidays() {
                    if !self.holidays.contains_key(h) {
                        d.at(&e.pos, format!("`holiday={h}`: no `holidays {h}` list in the plan"));
                    }
                }
                self.check_steps(ctx, &e.steps, d);
            }
        }
    }

    fn check_steps(&self, ctx: &Context, steps: &[Step], d: &mut Diags) {
        for s in steps {
            match &s.action {
                Action::Goto { context, exten } | Action::Gosub { context, exten } | Action::Transfer { context, exten } => {
                    let target = context.as_deref().unwrap_or(&ctx.name);
                    match self.by_name.get(target) {
                        None => d.at(&s.pos, format!("no context `{target}`")),
                        Some(&i) if exten.is_literal() => {
                            let number = exten.to_string().replace("$$", "$");
                            if self.find_any(i, &number).is_none() {
                                d.at(&s.pos, format!("no extension in context `{target}` matches `{number}`"));
                            }
                        }
                        Some(_) => {}
                    }
                }
                Action::If { cond, then, otherwise } => {
                    for h in cond.holidays() {
                        if !self.holidays.contains_key(h) {
                            d.at(&s.pos, format!("`holiday={h}`: no `holidays {h}` list in the plan"));
                        }
                    }
                    self.check_steps(ctx, then, d);
                    self.check_steps(ctx, otherwise, d);
                }
                Action::Menu(m) => {
                    for (_, steps) in &m.choices {
                        self.check_steps(ctx, steps, d);
                    }
                    self.check_steps(ctx, &m.on_timeout, d);
                    self.check_steps(ctx, &m.on_invalid, d);
                }
                Action::Webhook { on_fail, .. } => self.check_steps(ctx, on_fail, d),
                _ => {}
            }
        }
    }

    /// Any extension of context `i` (or its includes) matching `number`, ignoring conditions.
    fn find_any(&self, i: usize, number: &str) -> Option<(usize, EntryId)> {
        self.lookup(i, number, &mut |_, _| true)
    }

    /// The first extension matching `number` in context `i`, then in its includes (depth
    /// first, each context once), for which `accept` holds.
    pub(crate) fn lookup(&self, i: usize, number: &str, accept: &mut dyn FnMut(usize, &Extension) -> bool) -> Option<(usize, EntryId)> {
        let mut seen = HashSet::new();
        self.lookup_in(i, number, accept, &mut seen)
    }

    fn lookup_in(
        &self,
        i: usize,
        number: &str,
        accept: &mut dyn FnMut(usize, &Extension) -> bool,
        seen: &mut HashSet<usize>,
    ) -> Option<(usize, EntryId)> {
        if !seen.insert(i) {
            return None;
        }
        let ctx = &self.contexts[i];
        let found = ctx.index.find(
            number,
            |id| accept(i, &ctx.exts[id as usize]),
            |id| matches!(&ctx.exts[id as usize].matcher, ExtMatch::Regex(r) if r.is_match(number)),
        );
        if let Some(id) = found {
            return Some((i, id));
        }
        for (inc, _) in &ctx.includes {
            if let Some(&j) = self.by_name.get(inc) {
                if let Some(hit) = self.lookup_in(j, number, accept, seen) {
                    return Some(hit);
                }
            }
        }
        None
    }

    /// The context for calls from `o`: the most specific `from` wins (a named trunk or user
    /// pattern, then any trunk/any user, then `from any`); equal ones go by load order.
    pub fn context_for(&self, o: Origin<'_>) -> Option<usize> {
        let mut best: Option<(u8, usize)> = None;
        for (i, c) in self.contexts.iter().enumerate() {
            let s = c.sources.iter().map(|(s, _)| s.score(o)).max().unwrap_or(0);
            if s > 0 && best.is_none_or(|(b, _)| s > b) {
                best = Some((s, i));
            }
        }
        best.map(|(_, i)| i)
    }

    /// A context's index by name.
    pub fn context_index(&self, name: &str) -> Option<usize> {
        self.by_name.get(name).copied()
    }

    /// How many contexts it has.
    pub fn contexts_len(&self) -> usize {
        self.contexts.len()
    }

    /// A context by index.
    pub fn context(&self, i: usize) -> &Context {
        &self.contexts[i]
    }

    /// Whether `date` is in holiday list `name`.
    pub(crate) fn is_holiday(&self, name: &str, date: Date) -> bool {
        self.holidays
            .get(name)
            .is_some_and(|r| r.iter().any(|(a, b)| (*a..=*b).contains(&date)))
    }

    /// Trunk names that `bridge` actions name, with where, for checking against the config.
    pub fn trunk_refs(&self) -> Vec<(String, Pos)> {
        let mut out = Vec::new();
        self.each_step(&mut |s| {
            if let Action::Bridge { targets, .. } = &s.action {
                for t in targets {
                    if let BridgeTarget::Trunk { trunk, .. } = t {
                        out.push((trunk.clone(), s.pos.clone()));
                    }
                }
            }
        });
        out
    }

    /// Every prompt name written literally, with where (templates with variables are
    /// resolved at run time and cannot be listed).
    pub fn prompt_refs(&self) -> Vec<(String, Pos)> {
        let mut out = Vec::new();
        let mut add = |t: &super::template::Template, p: &Pos| {
            if t.is_literal() {
                out.push((t.to_string().replace("$$", "$"), p.clone()));
            }
        };
        self.each_step(&mut |s| match &s.action {
            Action::Playback(ps) => ps.iter().for_each(|t| add(t, &s.pos)),
            Action::Menu(m) => m.prompts.iter().chain(&m.invalid_prompt).for_each(|t| add(t, &s.pos)),
            Action::Read { prompt: Some(t), .. } => add(t, &s.pos),
            _ => {}
        });
        out
    }

    fn each_step(&self, f: &mut dyn FnMut(&Step)) {
        fn walk(steps: &[Step], f: &mut dyn FnMut(&Step)) {
            for s in steps {
                f(s);
                match &s.action {
                    Action::If { then, otherwise, .. } => {
                        walk(then, f);
                        walk(otherwise, f);
                    }
                    Action::Menu(m) => {
                        for (_, st) in &m.choices {
                            walk(st, f);
                        }
                        walk(&m.on_timeout, f);
                        walk(&m.on_invalid, f);
                    }
                    Action::Webhook { on_fail, .. } => walk(on_fail, f),
                    _ => {}
                }
            }
        }
        for c in &self.contexts {
            for e in &c.exts {
                walk(&e.steps, f);
            }
        }
    }

    /// The file of a prompt, trying each known extension unless one is given.
    pub fn prompt_path(&self, name: &str) -> Option<PathBuf> {
        let dir = self.prompt_dir.as_ref()?;
        let base = dir.join(name);
        if base.extension().is_some_and(|e| PROMPT_EXTENSIONS.iter().any(|x| e == *x)) {
            return base.is_file().then_some(base);
        }
        PROMPT_EXTENSIONS.iter().map(|x| base.with_extension(x)).find(|p| p.is_file())
    }
}

fn valid_context_name(s: &str) -> bool {
    !s.is_empty() && s.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

impl Plan {
    /// What the plan names outside itself: trunks (known to `trunk_exists`) and prompt files
    /// (in the prompt directory, when the plan came from files). One diagnostic per miss.
    pub fn check_refs(&self, trunk_exists: &dyn Fn(&str) -> bool) -> Vec<super::error::Diagnostic> {
        let mut d = Diags::default();
        for (t, pos) in self.trunk_refs() {
            if !trunk_exists(&t) {
                d.at(&pos, format!("`bridge` names trunk `{t}`, which the configuration does not define"));
            }
        }
        if let Some(dir) = &self.prompt_dir {
            for (p, pos) in self.prompt_refs() {
                match self.prompt_path(&p) {
                    None => d.at(&pos, format!("prompt `{p}` not found in {} (tried {})", dir.display(), PROMPT_EXTENSIONS.join(", "))),
                    // Played only when a caller gets there: a file that does not decode must
                    // fail the check, not the call. Decoded already when loaded to run.
                    Some(file) if self.audio.get(&p).is_none() => {
                        if let Err(e) = crate::media::prompt::decode(&file) {
                            d.at(&pos, format!("prompt `{p}`: {e}"));
                        }
                    }
                    Some(_) => {}
                }
            }
        }
        d.0
    }
}
