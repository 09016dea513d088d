//! The switch core: one sans-IO state machine that owns the transaction layer,
//! the registrar, every call and every trunk registration.
//!
//! Call order, as for every core here: feed input with
//! [`Engine::handle_input`] / [`Engine::handle_timeout`], then drain
//! [`Engine::poll_transmit`] and [`Engine::poll_store`], then sleep until
//! [`Engine::poll_timeout`]. Nothing in here reads a clock or touches a socket.
//!
//! Layering: bytes → `sip::parse` → transaction layer (retransmissions absorbed)
//! → here: screening, authentication, REGISTER, and calls (`call.rs`), each call
//! two or more dialogs (`sip::dialog`) glued back to back.

mod auth;
mod call;
pub mod ids;
mod media;
mod register;
pub mod screen;
pub mod trunk;

pub use call::webhook::WebhookRequest;

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use tracing::{debug, info, warn};

use crate::config::Config;
use crate::registrar::{Policy, Registrar};
use crate::sip::auth::{StoredSecret, Verifier};
use crate::sip::build::response_to;
use crate::sip::header::HeaderName;
use crate::sip::message::{Message, Method};
use crate::sip::transaction::{ClientInput, ClientTxId, ServerInput, ServerTxId, TimerConfig, TransactionLayer, TxEvent};
use crate::sip::transport::{ConnId, Peer, Transmit, Transport};
use crate::store::{Binding, StoreOp};

use call::{Call, CallKey, CallTimer, Side};
use ids::Ids;
use screen::Refuse;
use trunk::TrunkRegistration;

/// Where the switch can be reached, per transport, as written in Via and
/// Contact.
#[derive(Clone, Debug, Default)]
pub struct LocalAddrs {
    /// UDP listen address.
    pub udp: Option<SocketAddr>,
    /// TCP listen address.
    pub tcp: Option<SocketAddr>,
    /// TLS listen address.
    pub tls: Option<SocketAddr>,
    /// Host to advertise instead of the listen IP.
    pub advertise: Option<String>,
}

impl LocalAddrs {
    /// From the configuration's first listen address of each transport.
    pub fn from_config(cfg: &Config) -> LocalAddrs {
        LocalAddrs {
            udp: cfg.server.udp.first().copied(),
            tcp: cfg.server.tcp.first().copied(),
            tls: cfg.server.tls.first().copied(),
            advertise: cfg.server.advertise.as_ref().map(|a| a.to_string()),
        }
    }

    fn addr(&self, t: Transport) -> Option<SocketAddr> {
        match t {
            Transport::Udp => self.udp,
            Transport::Tcp => self.tcp,
            Transport::Tls => self.tls,
        }
    }

    /// `host:port` for Via sent-by on transport `t`.
    pub fn sent_by(&self, t: Transport) -> String {
        let a = self.addr(t).or(self.udp).or(self.tcp).unwrap_or_else(|| SocketAddr::from(([127, 0, 0, 1], 5060)));
        match &self.advertise {
            Some(h) => format!("{h}:{}", a.port()),
            None => a.to_string(),
        }
    }

    /// Our Contact URI for transport `t`.
    pub fn contact(&self, t: Transport) -> String {
        match t {
            Transport::Udp => format!("<sip:switchyard@{}>", self.sent_by(t)),
            Transport::Tcp => format!("<sip:switchyard@{};transport=tcp>", self.sent_by(t)),
            Transport::Tls => format!("<sip:switchyard@{};transport=tls>", self.sent_by(t)),
        }
    }
}

/// Counters for logs and tests.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Messages that did not parse.
    pub malformed: u64,
    /// Calls started.
    pub calls: u64,
    /// CDRs written.
    pub cdrs: u64,
}


/// Table sizes of the core (see [`Engine::table_sizes`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[allow(missing_docs)]
pub struct TableSizes {
    pub calls: usize,
    pub call_ids: usize,
    pub recent_b_legs: usize,
    pub server_tx: usize,
    pub client_tx: usize,
    pub call_timers: usize,
    pub transactions: usize,
    pub out: usize,
    pub store: usize,
    pub media_ports: usize,
}

/// Errors building an engine from a configuration.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum EngineError {
    /// A user's secret is unusable.
    #[error("user {user}: {source}")]
    Secret {
        /// User name.
        user: String,
        /// Why.
        source: crate::sip::auth::SecretError,
    },
    /// A trunk host did not resolve.
    #[error("trunk {trunk}: cannot resolve {host}")]
    Resolve {
        /// Trunk name.
        trunk: String,
        /// Host.
        host: String,
    },
}

/// The switch core.
pub struct Engine {
    cfg: Arc<Config>,
    local: LocalAddrs,
    tx: TransactionLayer,
    reg: Registrar,
    verifier: Verifier,
    secrets: HashMap<String, StoredSecret>,
    trunk_addrs: HashMap<String, SocketAddr>,
    trunk_regs: Vec<TrunkRegistration>,
    calls: HashMap<CallKey, Call>,
    by_call_id: HashMap<Box<str>, (CallKey, Side)>,
    /// Channels in use per trunk (inbound calls from it and legs placed on
    /// it by calls in progress), against `trunks.max_calls`.
    trunk_channels: HashMap<String, u32>,
    /// B-leg Call-IDs of calls that ended, with when they may be forgotten: a
    /// late 2xx on one of them is hung up, on any other Call-ID ignored.
    recent_b_legs: HashMap<Box<str>, Instant>,
    server_tx: HashMap<ServerTxId, (CallKey, Side)>,
    client_tx: HashMap<ClientTxId, (CallKey, call::Purpose)>,
    /// Call timers, earliest first. A set rather than a heap so that a call
    /// that ends takes its pending timers with it (each call lists its own).
    timers: BTreeSet<(Instant, CallKey, CallTimer)>,
    out: VecDeque<Transmit>,
    store: VecDeque<StoreOp>,
    scratch_ops: Vec<StoreOp>,
    ids: Ids,
    anchor: (Instant, u64),
    next_key: u64,
    draining: bool,
    stats: Stats,
    next_housekeeping: Instant,
    /// Ports and commands of the media plane; `None` when media is not anchored.
    media: Option<media::MediaPlane>,
    /// The dialplan new calls start on; `None` routes by `[[routes]]`.
    plan: Option<Arc<crate::dialplan::Plan>>,
    /// Webhook requests for the edge to send, and the calls waiting for their replies.
    hooks_out: VecDeque<call::webhook::WebhookRequest>,
    hook_calls: HashMap<u64, CallKey>,
    next_hook: u64,
    /// Recordings in progress by (media id, number): where each goes once its audio comes.
    recordings: HashMap<(u64, u32), (String, String, call::ivr::RecordTo)>,
}

impl Engine {
    /// Builds the core. `now`/`wall_now` anchor the mapping from the monotonic
    /// clock to wall time (CDRs, registration expiry, nonces); `restored` are the
    /// bindings the store kept; `trunk_addrs` the resolved trunk addresses.
    pub fn new(
        cfg: Arc<Config>,
        local: LocalAddrs,
        now: Instant,
        wall_now: SystemTime,
        restored: Vec<Binding>,
        trunk_addrs: HashMap<String, SocketAddr>,
    ) -> Result<Engine, EngineError> {
        let wall_ms = wall_now.duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64);
        let mut secrets = HashMap::new();
        for u in &cfg.users {
            let s = StoredSecret::new(u.password.as_deref(), u.ha1_md5.as_deref(), u.ha1_sha256.as_deref())
                .map_err(|source| EngineError::Secret { user: u.name.clone(), source })?;
            secrets.insert(u.name.clone(), s);
        }
        for t in &cfg.trunks {
            if !trunk_addrs.contains_key(&t.name) {
                return Err(EngineError::Resolve { trunk: t.name.clone(), host: t.host.clone() });
            }
        }
        let mut key = [0u8; 32];
        if getrandom::fill(&mut key).is_err() {
            // Without OS randomness nonces would be forgeable; a process-unique
            // fallback keeps them at least unpredictable across restarts.
            key[..8].copy_from_slice(&wall_ms.to_le_bytes());
            key[8..16].copy_from_slice(&u64::from(std::process::id()).to_le_bytes());
        }
        let policy = Policy {
            min_expires: cfg.registrar.min_expires,
            max_expires: cfg.registrar.max_expires,
            default_expires: cfg.registrar.default_expires,
            max_contacts: cfg.limits.max_contacts_per_user as usize,
        };
        let reg = Registrar::new(policy, restored, wall_ms / 1000);
        let timers = TimerConfig { t1: cfg.timers.t1, t2: cfg.timers.t2, t4: cfg.timers.t4 };
        let trunk_regs = cfg
            .trunks
            .iter()
            .filter(|t| t.register)
            .map(|t| TrunkRegistration::new(t, trunk_addrs[&t.name], now))
            .collect();
        let cfg_media = Arc::clone(&cfg);
        let media_ip = match &cfg.server.advertise {
            Some(crate::config::Advertise::Ip(ip)) => *ip,
            _ => local.udp.or(local.tcp).map_or(std::net::IpAddr::from([127, 0, 0, 1]), |a| a.ip()),
        };
        Ok(Engine {
            verifier: Verifier::new(key, cfg.registrar.nonce_ttl.as_secs()),
            cfg,
            local,
            tx: TransactionLayer::new(timers),
            reg,
            secrets,
            trunk_addrs,
            trunk_regs,
            calls: HashMap::new(),
            by_call_id: HashMap::new(),
            recent_b_legs: HashMap::new(),
            trunk_channels: HashMap::new(),
            server_tx: HashMap::new(),
            client_tx: HashMap::new(),
            timers: BTreeSet::new(),
            out: VecDeque::new(),
            store: VecDeque::new(),
            scratch_ops: Vec::new(),
            ids: Ids::new(),
            anchor: (now, wall_ms),
            next_key: 1,
            draining: false,
            stats: Stats::default(),
            next_housekeeping: now + Duration::from_secs(1),
            media: media::MediaPlane::from_config(&cfg_media, media_ip),
            plan: None,
            hooks_out: VecDeque::new(),
            hook_calls: HashMap::new(),
            next_hook: 0,
            recordings: HashMap::new(),
        })
    }

    /// Wall-clock milliseconds for a monotonic instant.
    fn wall_ms(&self, now: Instant) -> u64 {
        self.anchor.1 + now.saturating_duration_since(self.anchor.0).as_millis() as u64
    }

    fn wall_secs(&self, now: Instant) -> u64 {
        self.wall_ms(now) / 1000
    }

    /// One datagram or stream frame from `peer`.
    pub fn handle_input(&mut self, now: Instant, peer: Peer, bytes: &[u8]) {
        match crate::sip::parse(bytes) {
            Ok(msg) => {
                if msg.is_request() {
                    self.on_request(now, msg, peer);
                } else {
                    self.on_response(now, msg, peer);
                }
            }
            Err(e) => {
                self.stats.malformed += 1;
                debug!(peer = %peer.addr, error = %e, "malformed message");
                let tag = self.ids.tag();
                if let Some(resp) = crate::sip::reject::response_to_unparsable(bytes, e.status(), &e.to_string(), &tag) {
                    self.out.push_back(Transmit { dest: peer, bytes: Bytes::from(resp) });
                }
            }
        }
    }

    fn on_request(&mut self, now: Instant, req: Message, peer: Peer) {
        // Responses must be formable before anything else; a request without
        // the mandatory headers is answered 400 without a transaction (it could
        // not be matched to one anyway).
        if let Some(d) = req.defect() {
            if *req.method() != Method::Ack && req.top_via().is_some() && req.header(HeaderName::CSeq).is_some() {
                let tag = self.ids.tag();
                let b = response_to(&req, 400, &d.to_string(), Some(&tag), Some(peer.addr)).finish(None, b"");
                self.out.push_back(Transmit { dest: peer, bytes: b });
            }
            return;
        }
        match self.tx.on_request(now, req, peer) {
            ServerInput::New(id, req) => self.on_new_request(now, id, req, peer),
            ServerInput::Ack(ack) => self.on_ack(now, ack, peer),
            ServerInput::Absorbed => {}
        }
        self.drive_tx_events(now);
    }

    fn on_new_request(&mut self, now: Instant, id: ServerTxId, req: Message, peer: Peer) {
        if let Err(r) = screen::screen(&req) {
            self.refuse(now, id, &req, r);
            return;
        }
        let in_dialog = req.to_tag().is_some();
        match req.method().clone() {
            Method::Cancel => self.on_cancel(now, id, &req),
            _ if in_dialog => self.on_in_dialog(now, id, req, peer),
            Method::Register => self.on_register(now, id, &req, peer),
            Method::Options => {
                let extra = [
                    (HeaderName::Allow, screen::ALLOW.to_owned()),
                    (HeaderName::Accept, "application/sdp".to_owned()),
                    (HeaderName::Supported, screen::SUPPORTED.join(", ")),
                ];
                self.answer(now, id, &req, 200, "", &extra);
            }
            Method::Invite => self.on_invite(now, id, req, peer),
            Method::Bye | Method::Info | Method::Update | Method::Refer | Method::Notify => {
                // Requests that only make sense inside a dialog.
                self.reply(now, id, &req, 481, "Call/Transaction Does Not Exist");
            }
            _ => {
                let r = Refuse { code: 405, reason: "Method Not Allowed".into(), headers: vec![(HeaderName::Allow, screen::ALLOW.into())] };
                self.refuse(now, id, &req, r);
            }
        }
    }

    fn on_response(&mut self, now: Instant, resp: Message, peer: Peer) {
        if resp.defect().is_some() {
            return;
        }
        match self.tx.on_response(now, resp, peer) {
            ClientInput::Response(id, resp) => self.on_client_response(now, id, resp, peer),
            ClientInput::Stray(resp) => self.on_stray_response(now, resp, peer),
            ClientInput::Absorbed => {}
        }
        self.drive_tx_events(now);
    }

    fn on_client_response(&mut self, now: Instant, id: ClientTxId, resp: Message, peer: Peer) {
        if let Some(i) = self.trunk_regs.iter().position(|t| t.owns(id)) {
            let wall = self.wall_secs(now);
            self.trunk_regs[i].on_response(now, wall, id, &resp);
            return;
        }
        let final_ = resp.status().is_some_and(|c| c >= 200);
        let Some(&(key, purpose)) = self.client_tx.get(&id) else {
            if resp.status().is_some_and(|c| (200..300).contains(&c)) && *resp.method() == Method::Invite {
                self.on_stray_response(now, resp, peer);
            }
            return;
        };
        if final_ && *resp.method() != Method::Invite {
            self.client_tx.remove(&id);
        }
        self.call_client_response(now, key, purpose, id, resp, peer);
    }

    /// A 2xx to an INVITE that no call wants any more (a fork answering after
    /// another, or an answer racing a CANCEL): acknowledge and hang it up so the
    /// far end does not keep a phantom call (RFC 3261 §13.2.2.4, §15).
    fn on_stray_response(&mut self, now: Instant, resp: Message, peer: Peer) {
        if *resp.method() != Method::Invite || !resp.status().is_some_and(|c| (200..300).contains(&c)) {
            return;
        }
        if let Some(&(key, Side::B(i))) = self.by_call_id.get(resp.call_id()) {
            // Still known: a retransmitted 2xx whose ACK was lost.
            self.resend_b_ack(now, key, i, &resp, peer);
            return;
        }
        // Only legs this switch placed, and only for as long as a callee may
        // still answer them (64·T1 after the call ended). Anything else is
        // dropped: answering a forged 2xx would let anyone aim our ACK and BYE
        // retransmissions at a third party.
        if self.recent_b_legs.remove(resp.call_id()).is_some() {
            call::hang_up_stray(self, now, &resp, peer);
        }
    }

    fn drive_tx_events(&mut self, now: Instant) {
        while let Some(ev) = self.tx.poll_event() {
            match ev {
                TxEvent::Timeout(id) => {
                    if let Some(i) = self.trunk_regs.iter().position(|t| t.owns(id)) {
                        self.trunk_regs[i].on_timeout(now, id);
                        continue;
                    }
                    if let Some((key, purpose)) = self.client_tx.remove(&id) {
                        self.call_client_timeout(now, key, purpose, id);
                    }
                }
                TxEvent::AckTimeout(id) => {
                    self.server_tx.remove(&id);
                }
                _ => {}
            }
        }
    }

    /// Timers fire.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.tx.handle_timeout(now);
        self.drive_tx_events(now);
        while let Some(&(at, key, t)) = self.timers.first() {
            if at > now {
                break;
            }
            self.timers.pop_first();
            if let Some(c) = self.calls.get_mut(&key) {
                c.forget_timer(at, t);
            }
            self.call_timer(now, key, t);
        }
        for i in 0..self.trunk_regs.len() {
            if self.trunk_regs[i].poll_timeout().is_some_and(|t| t <= now) {
                let wall = self.wall_secs(now);
                if let Some(bytes) = self.trunk_regs[i].handle_timeout(now, wall, &self.local, &mut self.ids) {
                    let dest = self.trunk_regs[i].peer();
                    match self.tx.send_request(now, bytes, dest) {
                        Ok(id) => self.trunk_regs[i].sent(id),
                        Err(e) => warn!(error = %e, "trunk REGISTER could not be sent"),
                    }
                }
            }
        }
        if now >= self.next_housekeeping {
            self.next_housekeeping = now + Duration::from_secs(1);
            let wall = self.wall_secs(now);
            let mut ops = std::mem::take(&mut self.scratch_ops);
            self.reg.expire(wall, &mut ops);
            self.store.extend(ops.drain(..));
            self.scratch_ops = ops;
            self.verifier.keeper_mut().purge_expired(wall);
            self.recent_b_legs.retain(|_, until| *until > now);
            self.shrink();
        }
        self.drive_tx_events(now);
    }

    /// The next instant [`Engine::handle_timeout`] wants to run.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let mut next = Some(self.next_housekeeping);
        let mut take = |t: Option<Instant>| {
            if let Some(t) = t {
                next = Some(next.map_or(t, |n| n.min(t)));
            }
        };
        take(self.tx.poll_timeout());
        take(self.timers.first().map(|(t, _, _)| *t));
        for r in &self.trunk_regs {
            take(r.poll_timeout());
        }
        next
    }

    /// Next message to send.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if let Some(t) = self.out.pop_front() {
            return Some(t);
        }
        self.tx.poll_transmit()
    }

    /// Next write for the store.
    pub fn poll_store(&mut self) -> Option<StoreOp> {
        self.store.pop_front()
    }

    /// A stream connection went away; nothing is pinned to connections beyond
    /// what the edge reopens on demand, so this is informational.
    pub fn connection_closed(&mut self, _now: Instant, conn: ConnId) {
        debug!(conn = conn.0, "connection closed");
    }

    /// Stop taking new calls (SIGTERM).
    pub fn begin_drain(&mut self, _now: Instant) {
        self.draining = true;
        info!(calls = self.calls.len(), "draining: new calls get 503");
    }

    /// Calls in progress.
    pub fn active_calls(&self) -> usize {
        self.calls.len()
    }

    /// End every call now (drain deadline).
    pub fn end_all_calls(&mut self, now: Instant) {
        let keys: Vec<CallKey> = self.calls.keys().copied().collect();
        for k in keys {
            self.end_call_by_switch(now, k, "shutdown");
        }
    }

    /// Counters.
    pub fn stats(&self) -> Stats {
        self.stats
    }

    /// Registered bindings.
    pub fn bindings(&self) -> usize {
        self.reg.len()
    }

    /// Each registering trunk's name and state, for operators and tests.
    pub fn trunk_states(&self) -> Vec<(&str, trunk::RegState)> {
        self.trunk_regs.iter().map(|t| (t.name(), t.state())).collect()
    }

    /// Gives back memory kept since a load peak: maps and queues otherwise
    /// hold their largest capacity for good.
    fn shrink(&mut self) {
        use crate::sip::transaction::{shrink_map, shrink_queue};
        self.tx.shrink();
        shrink_map(&mut self.calls);
        shrink_map(&mut self.by_call_id);
        shrink_map(&mut self.recent_b_legs);
        shrink_map(&mut self.server_tx);
        shrink_map(&mut self.client_tx);
        shrink_queue(&mut self.out);
        shrink_queue(&mut self.store);
    }

    /// Sizes of every table the core keeps, to prove that nothing stays behind
    /// once calls and their transactions are over.
    pub fn table_sizes(&self) -> TableSizes {
        TableSizes {
            calls: self.calls.len(),
            call_ids: self.by_call_id.len(),
            recent_b_legs: self.recent_b_legs.len(),
            server_tx: self.server_tx.len(),
            client_tx: self.client_tx.len(),
            call_timers: self.timers.len(),
            transactions: self.tx.len(),
            out: self.out.len(),
            store: self.store.len(),
            media_ports: self.media.as_ref().map_or(0, media::MediaPlane::ports_in_use),
        }
    }

    /// Live SIP transactions.
    pub fn transactions(&self) -> usize {
        self.tx.len()
    }

    // ---- helpers shared by the submodules ----

    /// Answers a request the switch handles itself: a response with no body,
    /// a To tag added when the request had none (RFC 3261 §8.2.6.2), the extra
    /// headers given, and Server. Every locally generated answer goes here.
    fn answer(&mut self, now: Instant, id: ServerTxId, req: &Message, code: u16, reason: &str, extra: &[(HeaderName, String)]) {
        if *req.method() == Method::Ack {
            return;
        }
        let tag = if req.to_tag().is_none() { Some(self.ids.tag()) } else { None };
        let source = self.tx.server_peer(id).map(|p| p.addr);
        let mut w = response_to(req, code, reason, tag.as_deref(), source);
        for (h, v) in extra {
            w.header(*h, v);
        }
        w.header(HeaderName::Server, &self.cfg.server.user_agent);
        self.send_response(now, id, w.finish(None, b""));
    }

    fn reply(&mut self, now: Instant, id: ServerTxId, req: &Message, code: u16, reason: &str) {
        self.answer(now, id, req, code, reason, &[]);
    }

    fn refuse(&mut self, now: Instant, id: ServerTxId, req: &Message, r: Refuse) {
        self.answer(now, id, req, r.code, &r.reason, &r.headers);
    }

    fn send_response(&mut self, now: Instant, id: ServerTxId, bytes: Bytes) {
        if let Err(e) = self.tx.send_response(now, id, bytes) {
            debug!(error = %e, "response not sent");
        }
    }

    /// Whether trunk `name` has a free channel under its `max_calls`.
    fn trunk_has_room(&self, name: &str) -> bool {
        let max = self.cfg.trunk(name).and_then(|t| t.max_calls);
        max.is_none_or(|m| self.trunk_channels.get(name).copied().unwrap_or(0) < m)
    }

    fn new_key(&mut self) -> CallKey {
        let k = CallKey(self.next_key);
        self.next_key += 1;
        k
    }

    fn set_timer(&mut self, at: Instant, key: CallKey, t: CallTimer) {
        if let Some(c) = self.calls.get_mut(&key) {
            c.remember_timer(at, t);
            self.timers.insert((at, key, t));
        }
    }
}

impl crate::rt::core::SipCore for Engine {
    fn replace_plan(&mut self, plan: Arc<crate::dialplan::Plan>) {
        let on_old = self.calls.len();
        self.set_plan(Some(plan));
        tracing::info!(calls_on_previous_plan = on_old, "new calls use the reloaded dialplan");
    }
    fn handle_input(&mut self, now: Instant, peer: Peer, bytes: &[u8]) {
        Engine::handle_input(self, now, peer, bytes);
    }
    fn handle_timeout(&mut self, now: Instant) {
        Engine::handle_timeout(self, now);
    }
    fn poll_timeout(&self) -> Option<Instant> {
        Engine::poll_timeout(self)
    }
    fn poll_transmit(&mut self) -> Option<Transmit> {
        Engine::poll_transmit(self)
    }
    fn poll_store(&mut self) -> Option<StoreOp> {
        Engine::poll_store(self)
    }
    fn connection_closed(&mut self, now: Instant, conn: ConnId) {
        Engine::connection_closed(self, now, conn);
    }
    fn begin_drain(&mut self, now: Instant) {
        Engine::begin_drain(self, now);
    }
    fn active_calls(&self) -> usize {
        Engine::active_calls(self)
    }
    fn end_all_calls(&mut self, now: Instant) {
        Engine::end_all_calls(self, now);
    }
    fn poll_media(&mut self) -> Option<crate::media::MediaCommand> {
        Engine::poll_media(self)
    }
    fn handle_media_event(&mut self, now: Instant, ev: crate::media::MediaEvent) {
        Engine::handle_media_event(self, now, ev);
    }
    fn poll_webhook(&mut self) -> Option<call::webhook::WebhookRequest> {
        Engine::poll_webhook(self)
    }
    fn handle_webhook_reply(&mut self, now: Instant, id: u64, reply: Result<Vec<u8>, String>) {
        Engine::handle_webhook_reply(self, now, id, reply);
    }
}
