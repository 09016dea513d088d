//! The IVR side of a call: the switch answers the caller itself and runs the plan's media
//! actions (prompts, tones, menus, digit collection, recording, voicemail, webhooks, music
//! on hold, echo), then may still bridge the caller to a user or a trunk.
//!
//! ```text
//!  plan ─Media(step)─▶ ivr_exec ─▶ MediaCommand::Play / Record ─▶ media worker (endpoint)
//!    ▲                    │  waits for: Played · Recorded · DTMF · a timer · a webhook reply
//!    └──── plan_next ◀────┘
//!  plan ─Bridge─▶ (answered) the switch offers B itself, plays ringback; B's 2xx is ACKed
//!                 here and B's answer moves A's audio from the endpoint to B.
//! ```
//!
//! The menu and `read` logic are the sans-IO machines of `crate::ivr`; this file only
//! connects them to the media plane, timers and the dialplan session.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::Bytes;
use tracing::{info, warn};

use crate::dialplan::{Action, Step, Vars};
use crate::ivr::collect::{ReadRun, ReadSpec};
use crate::ivr::menu::{MenuRun, MenuSpec};
use crate::ivr::{EndedBy, Output};
use crate::media::endpoint::{RecordEnd, Source, tone_plan};
use crate::media::{MediaCommand, MediaSide};
use crate::sip::build::response_to;
use crate::sip::dialog::Dialog;
use crate::sip::header::HeaderName;
use crate::store::{RecordingRecord, StoreOp};

use super::webhook::WebhookRequest;

use super::{CallKey, CallTimer, State};
use crate::engine::Engine;

/// Media actions run back to back without waiting for anything (answer, tones or music
/// under what follows): more than this is a loop in the plan (`goto` back to itself), ended
/// here rather than by the stack.
const MAX_CHAIN: u32 = 64;
/// Beep before `record` and `voicemail`.
const BEEP: Duration = Duration::from_millis(400);
/// A voicemail message at most, and the silence that ends it.
const VOICEMAIL_MAX: Duration = Duration::from_secs(180);
const VOICEMAIL_SILENCE: Duration = Duration::from_secs(5);

/// Where a recording goes.
#[derive(Debug, Clone)]
pub(in crate::engine) struct RecordTo {
    path: PathBuf,
    kind: &'static str,
    mailbox: String,
    max: Duration,
    silence: Option<Duration>,
    at_ms: u64,
}

/// What the IVR waits for before the plan goes on.
#[derive(Debug)]
pub(in crate::engine) enum Wait {
    /// Nothing: the next step runs now (a tone or music may play under it).
    Nothing,
    /// The playback with this number to finish.
    Played,
    /// Its timer (`wait`, `moh duration=`).
    Timer,
    /// The echo test: until `#`.
    Echo,
    Menu(Box<MenuRun>),
    Read(Box<ReadRun>, String),
    /// The beep before a recording.
    Beep(RecordTo),
    /// A recording (until its end, `#` or hang-up).
    Recording,
    Webhook(u64),
    /// B legs ringing after the caller was answered here.
    Bridging,
    /// B answered: the IVR is over.
    Bridged,
}

/// A call's IVR state.
#[derive(Debug)]
pub(in crate::engine) struct Ivr {
    pub(in crate::engine) wait: Wait,
    /// The switch sent its 2xx to A.
    answered: bool,
    play_seq: u32,
    rec_seq: u32,
    /// Music or a tone was started to play under what follows (a `bridge` keeps it).
    pub(in crate::engine) background: bool,
    /// Stale `CallTimer::Ivr` entries carry an older number.
    timer_gen: u32,
    /// Steps run since the IVR last waited for the caller, the media or a timer.
    chain: u32,
    /// The plan ended the call before A's ACK came: the BYE waits for it (RFC 3261
    /// §15.1.1), with this cause.
    pub(in crate::engine) hangup_on_ack: Option<&'static str>,
}

impl Ivr {
    pub(in crate::engine) fn new() -> Ivr {
        Ivr {
            wait: Wait::Nothing,
            answered: false,
            play_seq: 0,
            rec_seq: 0,
            background: false,
            timer_gen: 0,
            chain: 0,
            hangup_on_ack: None,
        }
    }

    /// The state of a call the switch takes over after it was answered elsewhere (a blind
    /// transfer): A has had its 200.
    pub(in crate::engine) fn taken_over() -> Ivr {
        Ivr {
            answered: true,
            ..Ivr::new()
        }
    }

    /// The switch sent (or a transfer inherited) A's 200.
    pub(in crate::engine) fn answered(&self) -> bool {
        self.answered
    }

    /// B legs are ringing for a caller the switch already answered.
    pub(in crate::engine) fn bridging(&self) -> bool {
        matches!(self.wait, Wait::Bridging)
    }
}

impl Engine {
    /// Runs one media step of the call's plan.
    pub(in crate::engine) fn ivr_exec(&mut self, now: Instant, key: CallKey, step: Step) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        let ivr = call.ivr.get_or_insert_with(|| Box::new(Ivr::new()));
        ivr.wait = Wait::Nothing;
        ivr.chain += 1;
        if ivr.chain > MAX_CHAIN {
            warn!(at = %step.pos, "{MAX_CHAIN} media actions in a row without waiting: a loop in the plan; hanging up");
            self.plan_fail(now, key, 500, "Server Internal Error");
            return;
        }
        let needs_answer = !matches!(step.action, Action::Wait(_) | Action::Webhook { .. });
        if needs_answer && !self.ivr_answer(now, key) {
            warn!(at = %step.pos, "the switch cannot answer this call itself (media.anchor off, or no SDP offer from the caller)");
            self.plan_fail(now, key, 501, "Not Implemented");
            return;
        }
        let expand = |key: CallKey, e: &Engine, t: &crate::dialplan::Template| -> String {
            e.calls
                .get(&key)
                .and_then(|c| c.route.as_ref())
                .map(|s| t.expand(s as &dyn Vars))
                .unwrap_or_default()
        };
        match &step.action {
            Action::Answer => self.plan_next(now, key, None),
            Action::Playback(list) => {
                let names: Vec<String> = list.iter().map(|t| expand(key, self, t)).collect();
                let clips = self.ivr_clips(key, &names);
                if clips.is_empty() {
                    self.plan_next(now, key, None);
                } else {
                    self.ivr_play(key, Source::Clips { clips, looped: false }, Wait::Played);
                }
            }
            Action::Tone { tone, duration } => {
                let src = Source::Tone {
                    plan: tone_plan(*tone),
                    duration: *duration,
                };
                match duration {
                    Some(_) => self.ivr_play(key, src, Wait::Played),
                    None => {
                        self.ivr_play(key, src, Wait::Nothing);
                        self.plan_next(now, key, None);
                    }
                }
            }
            Action::Wait(d) => {
                self.ivr_set_wait(key, Wait::Timer);
                self.ivr_timer_at(now + *d, key);
            }
            Action::Echo => self.ivr_play(key, Source::Echo, Wait::Echo),
            Action::Moh { class, duration } => {
                let mut clips = self
                    .calls
                    .get(&key)
                    .and_then(|c| c.route.as_ref())
                    .map(|s| s.plan().audio.class(class))
                    .unwrap_or_default();
                if clips.is_empty() {
                    // A class with no files still plays something rather than dead air.
                    clips = crate::dialplan::audio::PromptAudio::embedded().class("default");
                }
                match duration {
                    Some(d) => {
                        self.ivr_play(key, Source::Clips { clips, looped: true }, Wait::Timer);
                        self.ivr_timer_at(now + *d, key);
                    }
                    None => {
                        self.ivr_play(key, Source::Clips { clips, looped: true }, Wait::Nothing);
                        self.plan_next(now, key, None);
                    }
                }
            }
            Action::Menu(m) => {
                let spec = MenuSpec {
                    prompts: m.prompts.iter().map(|t| expand(key, self, t)).collect(),
                    invalid_prompt: m.invalid_prompt.as_ref().map(|t| expand(key, self, t)),
                    timeout: m.timeout,
                    retries: m.retries,
                    digits: m.digits,
                    choices: m.choices.iter().map(|(k, _)| k.clone()).collect(),
                };
                info!(menu = %m.name, "menu");
                self.ivr_set_wait(key, Wait::Menu(Box::new(MenuRun::new(spec))));
                self.ivr_drive(now, key);
            }
            Action::Read {
                var,
                prompt,
                max,
                terminator,
                timeout,
            } => {
                let spec = ReadSpec {
                    prompt: prompt.as_ref().map(|t| expand(key, self, t)),
                    max: *max,
                    terminator: *terminator,
                    timeout: *timeout,
                };
                self.ivr_set_wait(key, Wait::Read(Box::new(ReadRun::new(now, spec)), var.clone()));
                self.ivr_drive(now, key);
            }
            Action::Record { file, beep, max, silence } => {
                let name = file.as_ref().map(|t| expand(key, self, t));
                let to = self.record_to(now, key, name, *max, *silence);
                self.ivr_record(key, to, *beep);
            }
            Action::Voicemail(mailbox) => {
                let mailbox = safe_name(&expand(key, self, mailbox));
                let caller = self.calls.get(&key).map(|c| safe_name(&c.caller)).unwrap_or_default();
                let at_ms = self.wall_ms(now);
                let path = self
                    .cfg
                    .server
                    .data_dir
                    .join("voicemail")
                    .join(&mailbox)
                    .join(format!("{at_ms}-{caller}.wav"));
                let to = RecordTo {
                    path,
                    kind: "voicemail",
                    mailbox,
                    max: VOICEMAIL_MAX,
                    silence: Some(VOICEMAIL_SILENCE),
                    at_ms,
                };
                self.ivr_record(key, to, true);
            }
            Action::Webhook { url, timeout, .. } => {
                let url = expand(key, self, url);
                let body = self.webhook_body(key);
                self.next_hook += 1;
                let id = self.next_hook;
                self.hook_calls.insert(id, key);
                self.hooks_out.push_back(WebhookRequest {
                    id,
                    url,
                    body,
                    timeout: *timeout,
                });
                self.ivr_set_wait(key, Wait::Webhook(id));
            }
            _ => {
                warn!(at = %step.pos, "not a media action");
                self.plan_next(now, key, None);
            }
        }
    }

    /// Sends the switch's own 200 to A (once). `false` when it cannot: no anchored media,
    /// or no offer from A to answer.
    fn ivr_answer(&mut self, now: Instant, key: CallKey) -> bool {
        let Some(call) = self.calls.get(&key) else { return false };
        if call.ivr.as_ref().is_some_and(|i| i.answered) {
            return true;
        }
        if call.state != State::Setup {
            return false;
        }
        let (Some(plane), Some(anchor)) = (self.media.as_mut(), self.calls.get_mut(&key).and_then(|c| c.anchor.as_mut())) else {
            return false;
        };
        let body = match anchor.answer_locally(&plane.local, MediaSide::A) {
            Ok(b) => b,
            Err(e) => {
                info!(error = %e, "cannot answer the caller's offer");
                return false;
            }
        };
        plane.drain(anchor);
        let contact = self.local.contact(
            self.calls
                .get(&key)
                .map_or(crate::sip::transport::Transport::Udp, |c| c.a.peer.transport),
        );
        let answer_ms = self.wall_ms(now);
        let Some(call) = self.calls.get_mut(&key) else { return false };
        let a = &call.a;
        let mut w = response_to(&a.req, 200, "OK", Some(&a.to_tag), Some(a.peer.addr));
        w.copy(&a.req, HeaderName::RecordRoute);
        w.header(HeaderName::Contact, &contact);
        w.header(HeaderName::Allow, crate::engine::screen::ALLOW);
        w.header(HeaderName::Server, &self.cfg.server.user_agent);
        let bytes: Bytes = w.finish(Some("application/sdp"), &body);
        call.a.dialog = Dialog::uas(&call.a.req, &call.a.to_tag, &contact, call.a.peer).ok();
        call.a.ok = Some(bytes.clone());
        call.a.ok_interval = self.cfg.timers.t1;
        call.state = State::Answered;
        call.answer_ms = Some(answer_ms);
        call.status = 200;
        call.destination = "ivr".to_owned();
        if let Some(i) = call.ivr.as_mut() {
            i.answered = true;
        }
        let tx = call.a.tx;
        {
            let _e = call.span.enter();
            info!("answered by the switch");
        }
        self.send_response(now, tx, bytes);
        let t1 = self.cfg.timers.t1;
        self.set_timer(now + t1, key, CallTimer::A2xxRetransmit);
        self.set_timer(now + t1 * 64, key, CallTimer::A2xxGiveUp);
        true
    }

    /// Whether the switch answered this call itself.
    pub(in crate::engine) fn ivr_answered(&self, key: CallKey) -> bool {
        self.calls.get(&key).and_then(|c| c.ivr.as_ref()).is_some_and(|i| i.answered)
    }

    fn ivr_clips(&self, key: CallKey, names: &[String]) -> Vec<std::sync::Arc<[i16]>> {
        let Some(s) = self.calls.get(&key).and_then(|c| c.route.as_ref()) else {
            return Vec::new();
        };
        let audio = &s.plan().audio;
        names
            .iter()
            .filter(|n| !n.is_empty())
            .filter_map(|n| {
                let p = audio.get(n);
                if p.is_none() {
                    warn!(prompt = %n, "prompt not loaded; skipped");
                }
                p
            })
            .collect()
    }

    pub(in crate::engine) fn ivr_set_wait(&mut self, key: CallKey, wait: Wait) {
        if let Some(i) = self.calls.get_mut(&key).and_then(|c| c.ivr.as_mut()) {
            i.wait = wait;
        }
    }

    /// Plays `src` (replacing what played) and waits as said.
    pub(in crate::engine) fn ivr_play(&mut self, key: CallKey, src: Source, wait: Wait) {
        let Some(call) = self.calls.get_mut(&key) else { return };
        let (Some(ivr), Some(anchor)) = (call.ivr.as_mut(), call.anchor.as_ref()) else {
            return;
        };
        ivr.play_seq += 1;
        ivr.background = matches!(wait, Wait::Nothing) && !matches!(src, Source::Silence);
        ivr.wait = wait;
        let cmd = MediaCommand::Play {
            id: anchor.id(),
            seq: ivr.play_seq,
            source: src,
        };
        if let Some(p) = self.media.as_mut() {
            p.push(cmd);
        }
    }

    fn ivr_timer_at(&mut self, at: Instant, key: CallKey) {
        let Some(i) = self.calls.get_mut(&key).and_then(|c| c.ivr.as_mut()) else {
            return;
        };
        i.timer_gen += 1;
        let g = i.timer_gen;
        self.set_timer(at, key, CallTimer::Ivr(g));
    }

    fn record_to(&self, now: Instant, key: CallKey, name: Option<String>, max: Duration, silence: Option<Duration>) -> RecordTo {
        let at_ms = self.wall_ms(now);
        let file = match name.map(|n| safe_path(&n)).filter(|n| !n.is_empty()) {
            Some(n) if n.ends_with(".wav") => n,
            Some(n) => format!("{n}.wav"),
            None => format!("{}-{at_ms}.wav", self.calls.get(&key).map_or("call", |c| c.cdr_id.as_str())),
        };
        RecordTo {
            path: self.cfg.server.data_dir.join("recordings").join(file),
            kind: "record",
            mailbox: String::new(),
            max,
            silence,
            at_ms,
        }
    }

    fn ivr_record(&mut self, key: CallKey, to: RecordTo, beep: bool) {
        if beep {
            let src = Source::Tone {
                plan: tone_plan(crate::dialplan::ToneKind::Beep),
                duration: Some(BEEP),
            };
            self.ivr_play(key, src, Wait::Beep(to));
            return;
        }
        self.ivr_start_recording(key, to);
    }

    fn ivr_start_recording(&mut self, key: CallKey, to: RecordTo) {
        self.ivr_play(key, Source::Silence, Wait::Recording);
        let Some(call) = self.calls.get_mut(&key) else { return };
        let (Some(ivr), Some(anchor)) = (call.ivr.as_mut(), call.anchor.as_ref()) else {
            return;
        };
        ivr.rec_seq += 1;
        let (id, seq) = (anchor.id(), ivr.rec_seq);
        let (max, silence) = (to.max, to.silence);
        {
            let _e = call.span.enter();
            info!(kind = to.kind, path = %to.path.display(), "recording");
        }
        // Kept on the engine, not the call: a caller who hangs up ends the recording, and
        // its audio arrives after the call is gone (voicemail usually ends that way).
        self.recordings.insert((id.0, seq), (call.cdr_id.clone(), call.caller.clone(), to));
        if let Some(p) = self.media.as_mut() {
            p.push(MediaCommand::Record { id, seq, max, silence });
        }
    }

    /// Feeds the menu or `read` machine's outputs to the media plane and the plan.
    fn ivr_drive(&mut self, now: Instant, key: CallKey) {
        for _ in 0..16 {
            let Some(ivr) = self.calls.get_mut(&key).and_then(|c| c.ivr.as_mut()) else {
                return;
            };
            let out = match &mut ivr.wait {
                Wait::Menu(m) => m.poll_output(),
                Wait::Read(r, _) => r.poll_output(),
                _ => return,
            };
            let Some(out) = out else { break };
            match out {
                Output::Play(names) => {
                    let clips = self.ivr_clips(key, &names);
                    let wait = self
                        .calls
                        .get_mut(&key)
                        .and_then(|c| c.ivr.as_mut())
                        .map(|i| std::mem::replace(&mut i.wait, Wait::Nothing));
                    let Some(wait) = wait else { return };
                    if clips.is_empty() {
                        self.ivr_set_wait(key, wait);
                        self.ivr_with_run(key, |m| m.handle_prompt_done(now), |r| r.handle_prompt_done(now));
                    } else {
                        self.ivr_play(key, Source::Clips { clips, looped: false }, wait);
                    }
                }
                Output::StopPlayback => {
                    let wait = self
                        .calls
                        .get_mut(&key)
                        .and_then(|c| c.ivr.as_mut())
                        .map(|i| std::mem::replace(&mut i.wait, Wait::Nothing));
                    if let Some(wait) = wait {
                        self.ivr_play(key, Source::Silence, wait);
                    }
                }
                Output::Chose(k) => {
                    self.ivr_set_wait(key, Wait::Nothing);
                    if let Some(s) = self.calls.get_mut(&key).and_then(|c| c.route.as_mut()) {
                        s.menu_choice(&k);
                    }
                    info!(choice = %k, "menu choice");
                    self.plan_next(now, key, None);
                    return;
                }
                Output::Exhausted { by_timeout } => {
                    self.ivr_set_wait(key, Wait::Nothing);
                    if let Some(s) = self.calls.get_mut(&key).and_then(|c| c.route.as_mut()) {
                        s.menu_exhausted(by_timeout);
                    }
                    info!(by_timeout, "menu tries used up");
                    self.plan_next(now, key, None);
                    return;
                }
                Output::Collected { digits, by } => {
                    let var = match self
                        .calls
                        .get_mut(&key)
                        .and_then(|c| c.ivr.as_mut())
                        .map(|i| std::mem::replace(&mut i.wait, Wait::Nothing))
                    {
                        Some(Wait::Read(_, var)) => var,
                        _ => return,
                    };
                    if let Some(s) = self.calls.get_mut(&key).and_then(|c| c.route.as_mut()) {
                        s.set_var(&var, &digits);
                    }
                    // The digits may be an account or a PIN: their count, not their value.
                    info!(var = %var, digits = digits.len(), timeout = by == EndedBy::Timeout, "read");
                    self.plan_next(now, key, None);
                    return;
                }
            }
        }
        let at = self.calls.get(&key).and_then(|c| c.ivr.as_ref()).and_then(|i| match &i.wait {
            Wait::Menu(m) => m.poll_timeout(),
            Wait::Read(r, _) => r.poll_timeout(),
            _ => None,
        });
        if let Some(at) = at {
            self.ivr_timer_at(at, key);
        }
    }

    fn ivr_with_run(&mut self, key: CallKey, m: impl FnOnce(&mut MenuRun), r: impl FnOnce(&mut ReadRun)) {
        match self.calls.get_mut(&key).and_then(|c| c.ivr.as_mut()).map(|i| &mut i.wait) {
            Some(Wait::Menu(run)) => m(run),
            Some(Wait::Read(run, _)) => r(run),
            _ => {}
        }
    }

    /// Something from outside the plan happened (media, a key, a timer, a reply): the chain
    /// of steps run without waiting starts again.
    pub(in crate::engine) fn ivr_woken(&mut self, key: CallKey) {
        if let Some(i) = self.calls.get_mut(&key).and_then(|c| c.ivr.as_mut()) {
            i.chain = 0;
        }
    }

    /// What `Play` started finished.
    pub(in crate::engine) fn ivr_played(&mut self, now: Instant, key: CallKey, seq: u32) {
        self.ivr_woken(key);
        let Some(ivr) = self.calls.get_mut(&key).and_then(|c| c.ivr.as_mut()) else {
            return;
        };
        if ivr.play_seq != seq {
            return;
        }
        match std::mem::replace(&mut ivr.wait, Wait::Nothing) {
            Wait::Played => self.plan_next(now, key, None),
            Wait::Beep(to) => self.ivr_start_recording(key, to),
            w @ (Wait::Menu(_) | Wait::Read(..)) => {
                ivr.wait = w;
                self.ivr_with_run(key, |m| m.handle_prompt_done(now), |r| r.handle_prompt_done(now));
                self.ivr_drive(now, key);
            }
            w => ivr.wait = w,
        }
    }

    /// A key from the caller.
    pub(in crate::engine) fn ivr_digit(&mut self, now: Instant, key: CallKey, digit: char) {
        self.ivr_woken(key);
        let Some(ivr) = self.calls.get_mut(&key).and_then(|c| c.ivr.as_mut()) else {
            return;
        };
        match &mut ivr.wait {
            Wait::Menu(m) => {
                m.handle_key(now, digit);
                self.ivr_drive(now, key);
            }
            Wait::Read(r, _) => {
                r.handle_key(now, digit);
                self.ivr_drive(now, key);
            }
            Wait::Echo if digit == '#' => {
                ivr.wait = Wait::Nothing;
                self.ivr_play(key, Source::Silence, Wait::Nothing);
                self.plan_next(now, key, None);
            }
            Wait::Recording if digit == '#' => {
                if let (Some(p), Some(a)) = (self.media.as_mut(), self.calls.get(&key).and_then(|c| c.anchor.as_ref())) {
                    p.push(MediaCommand::StopRecord { id: a.id() });
                }
            }
            _ => {}
        }
    }

    /// A recording ended: written by the store thread, linked from the CDR; the plan goes on
    /// if its call is still up.
    pub(in crate::engine) fn ivr_recorded(&mut self, now: Instant, media_id: u64, seq: u32, pcm: Vec<i16>, rate: u32, by: RecordEnd) {
        let Some((cdr_id, caller, to)) = self.recordings.remove(&(media_id, seq)) else {
            return;
        };
        let key = CallKey(media_id);
        self.ivr_woken(key);
        let ms = pcm.len() as u64 * 1000 / u64::from(rate.max(1));
        if pcm.is_empty() {
            info!(path = %to.path.display(), "nothing recorded");
        } else {
            info!(path = %to.path.display(), ms, ?by, "recorded");
            self.store.push_back(StoreOp::Recording(RecordingRecord {
                cdr_id,
                kind: to.kind.to_owned(),
                mailbox: to.mailbox.clone(),
                path: to.path.clone(),
                caller,
                at_ms: to.at_ms,
                rate,
                pcm,
            }));
        }
        let Some(ivr) = self.calls.get_mut(&key).and_then(|c| c.ivr.as_mut()) else {
            return;
        };
        if !matches!(ivr.wait, Wait::Recording) || ivr.rec_seq != seq {
            return;
        }
        ivr.wait = Wait::Nothing;
        if let Some(s) = self.calls.get_mut(&key).and_then(|c| c.route.as_mut()) {
            s.set_var("RECORDING", &to.path.to_string_lossy());
            s.set_var("RECORDING_MS", &ms.to_string());
        }
        self.plan_next(now, key, None);
    }

    /// The IVR's own timer.
    pub(in crate::engine) fn ivr_timer(&mut self, now: Instant, key: CallKey, g: u32) {
        let span = self.calls.get(&key).map(|c| c.span.clone());
        let _e = span.as_ref().map(|s| s.enter());
        self.ivr_woken(key);
        let Some(ivr) = self.calls.get_mut(&key).and_then(|c| c.ivr.as_mut()) else {
            return;
        };
        if ivr.timer_gen != g {
            return;
        }
        match &mut ivr.wait {
            Wait::Timer => {
                ivr.wait = Wait::Nothing;
                self.plan_next(now, key, None);
            }
            Wait::Menu(m) => {
                m.handle_timeout(now);
                self.ivr_drive(now, key);
            }
            Wait::Read(r, _) => {
                r.handle_timeout(now);
                self.ivr_drive(now, key);
            }
            _ => {}
        }
    }
}

/// A name safe as one path component: letters, digits, `-`, `_`, `.` (not leading), `+`.
fn safe_name(s: &str) -> String {
    let t: String = s
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() || "-_+.".contains(c) { c } else { '_' })
        .collect();
    let t = t.trim_start_matches('.').to_owned();
    if t.is_empty() {
        "_".to_owned()
    } else {
        t.chars().take(64).collect()
    }
}

/// A relative path made of safe components (no `..`, no root).
fn safe_path(s: &str) -> String {
    s.split('/')
        .filter(|p| !p.is_empty() && *p != "." && *p != "..")
        .map(safe_name)
        .collect::<Vec<_>>()
        .join("/")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_stay_inside_their_directory() {
        assert_eq!(safe_path("../../etc/passwd"), "etc/passwd");
        assert_eq!(safe_path("/abs/x y.wav"), "abs/x_y.wav");
        assert_eq!(safe_name("..hidden"), "hidden");
        assert_eq!(safe_name(""), "_");
        assert_eq!(safe_name("+8613812345678"), "+8613812345678");
    }
}
