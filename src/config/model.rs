//! The typed configuration the rest of the switch reads, with the defaults used for every
//! key a file leaves out. Values here have already been checked: a `Config` that exists is valid.

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use serde::Deserialize;

pub use super::cidr::{Cidr, CidrError};

/// Port used when a trunk's `proxy` names no port (RFC 3261 §19.1.2).
pub const DEFAULT_SIP_PORT: u16 = 5060;

/// The whole configuration. [`Config::default`] is what an empty file yields (no users, trunks
/// or routes); the embedded default adds demo users, a trunk and routes on top.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Config {
    /// `[server]`.
    pub server: Server,
    /// `[timers]`.
    pub timers: Timers,
    /// `[limits]`.
    pub limits: Limits,
    /// `[registrar]`.
    pub registrar: Registrar,
    /// `[session_timer]`.
    pub session_timer: SessionTimer,
    /// `[media]`.
    pub media: Media,
    /// Local users; names are unique.
    pub users: Vec<User>,
    /// Carrier trunks; names are unique.
    pub trunks: Vec<Trunk>,
    /// Outbound number rules, in file order: the first that matches wins.
    pub routes: Vec<Route>,
    /// `[log]`.
    pub log: Log,
}

impl Config {
    /// The local user with this exact user part (user parts compare case-sensitively, RFC 3261 §19.1.4).
    pub fn user(&self, name: &str) -> Option<&User> {
        self.users.iter().find(|u| u.name == name)
    }

    /// The trunk with this name.
    pub fn trunk(&self, name: &str) -> Option<&Trunk> {
        self.trunks.iter().find(|t| t.name == name)
    }

    /// The first route whose rule matches the dialled number.
    pub fn route_for(&self, number: &str) -> Option<&Route> {
        self.routes.iter().find(|r| r.matches(number))
    }
}

/// `[server]`: where the switch listens and how it names itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Server {
    /// UDP listen addresses. Default `["127.0.0.1:5060"]`.
    pub udp: Vec<SocketAddr>,
    /// TCP listen addresses. Default `["127.0.0.1:5060"]`.
    pub tcp: Vec<SocketAddr>,
    /// TLS listen addresses. Default empty; when non-empty `tls_cert` and `tls_key` are set.
    pub tls: Vec<SocketAddr>,
    /// PEM certificate chain; a relative path in a file is resolved against the file's directory.
    pub tls_cert: Option<PathBuf>,
    /// PEM private key; resolved like `tls_cert`.
    pub tls_key: Option<PathBuf>,
    /// SIP domain and digest realm. Default `"switchyard.local"`.
    pub domain: String,
    /// Address written into Via/Contact/Record-Route instead of the listen address (NAT,
    /// wildcard listeners). Default `None`.
    pub advertise: Option<Advertise>,
    /// Where state is kept. Default `"var/switchyard"` relative to the current directory;
    /// a relative path given in a file is resolved against the file's directory.
    pub data_dir: PathBuf,
    /// The dialplan. Default `None`: calls are routed by `[[routes]]` alone (local users
    /// first, then the first matching prefix), as before dialplans existed.
    pub dialplan: Option<DialplanSource>,
    /// User-Agent / Server header value. Default `"Switchyard/<crate version>"`.
    pub user_agent: String,
}

impl Default for Server {
    fn default() -> Self {
        let loopback = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), DEFAULT_SIP_PORT);
        Server {
            udp: vec![loopback],
            tcp: vec![loopback],
            tls: Vec::new(),
            tls_cert: None,
            tls_key: None,
            domain: "switchyard.local".to_owned(),
            advertise: None,
            data_dir: PathBuf::from("var/switchyard"),
            dialplan: None,
            user_agent: concat!("Switchyard/", env!("CARGO_PKG_VERSION")).to_owned(),
        }
    }
}

impl Server {
    /// Whether a Request-URI host designates this switch: the domain, the advertised address,
    /// or the IP of a listen address. Wildcard listeners (0.0.0.0, ::) are not expanded here:
    /// only the transport layer knows the interface addresses.
    pub fn is_local_host(&self, host: &str) -> bool {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.eq_ignore_ascii_case(&self.domain) {
            return true;
        }
        let ip = host.parse::<IpAddr>().ok();
        match (&self.advertise, ip) {
            (Some(Advertise::Host(name)), _) if name.eq_ignore_ascii_case(host) => return true,
            (Some(Advertise::Ip(adv)), Some(ip)) if *adv == ip => return true,
            _ => {}
        }
        ip.is_some_and(|ip| {
            self.udp
                .iter()
                .chain(&self.tcp)
                .chain(&self.tls)
                .any(|a| a.ip() == ip)
        })
    }
}

/// The address the switch advertises in its own headers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Advertise {
    /// An IP address.
    Ip(IpAddr),
    /// A host name (checked to be a syntactically valid DNS name).
    Host(String),
}

impl fmt::Display for Advertise {
    /// Formats as a SIP URI host: IPv6 in brackets, as Via and Contact need it.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Advertise::Ip(IpAddr::V6(ip)) => write!(f, "[{ip}]"),
            Advertise::Ip(IpAddr::V4(ip)) => write!(f, "{ip}"),
            Advertise::Host(name) => f.write_str(name),
        }
    }
}

/// `[timers]`: RFC 3261 transaction timers, given in the file as `t1_ms`, `t2_ms`, `t4_ms`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timers {
    /// RTT estimate. Default 500 ms; always > 0.
    pub t1: Duration,
    /// Retransmit cap for non-INVITE requests and INVITE responses. Default 4 s; always >= t1.
    pub t2: Duration,
    /// Maximum time a message stays in the network. Default 5 s.
    pub t4: Duration,
}

impl Default for Timers {
    fn default() -> Self {
        Timers {
            t1: Duration::from_millis(500),
            t2: Duration::from_secs(4),
            t4: Duration::from_secs(5),
        }
    }
}

/// `[limits]`: overload and resource bounds.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Limits {
    /// Concurrent calls before new INVITEs get 503. Default 10 000; always > 0.
    pub max_calls: u32,
    /// Retry-After sent with that 503 (`retry_after_s`). Default 5 s.
    pub retry_after: Duration,
    /// Largest accepted header section. Default 16 384; always > 0.
    pub max_header_bytes: usize,
    /// Largest accepted body. Default 65 536; always > 0.
    pub max_body_bytes: usize,
    /// Idle TCP/TLS connections are closed after this (`tcp_idle_timeout_s`). Default 300 s; > 0.
    pub tcp_idle_timeout: Duration,
    /// On shutdown, how long calls may finish before being torn down (`drain_timeout_s`). Default 30 s.
    pub drain_timeout: Duration,
    /// Registered contacts kept per user. Default 10; always > 0.
    pub max_contacts_per_user: u32,
    /// Kernel send and receive buffer asked for each UDP socket. Default 4 MiB:
    /// signalling comes in bursts and the kernel default (~208 KB) loses
    /// datagrams under load. Capped by `net.core.rmem_max`; always > 0.
    pub udp_buffer_bytes: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_calls: 10_000,
            retry_after: Duration::from_secs(5),
            max_header_bytes: 16_384,
            max_body_bytes: 65_536,
            tcp_idle_timeout: Duration::from_secs(300),
            drain_timeout: Duration::from_secs(30),
            max_contacts_per_user: 10,
            udp_buffer_bytes: 4 << 20,
        }
    }
}

/// `[registrar]`: REGISTER expiry policy and digest nonce lifetime.
/// Always `min_expires <= default_expires <= max_expires`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Registrar {
    /// Shorter requested expiries get 423 Interval Too Brief. Default 60.
    pub min_expires: u32,
    /// Longer requested expiries are cut to this. Default 3600.
    pub max_expires: u32,
    /// Used when the REGISTER asks for no expiry. Default 3600.
    pub default_expires: u32,
    /// How long an issued nonce is accepted (`nonce_ttl_s`). Default 300 s; always > 0.
    pub nonce_ttl: Duration,
    /// Digest algorithms offered in 401/407, one challenge each, in this order
    /// (`digest_algorithms`). Default `["MD5"]`: deployed clients break on
    /// SHA-256 challenges (Debian 12's baresip/libre 1.1 refuses a 401 holding
    /// any non-MD5 challenge; SIPp 3.6 and sipsak answer only the first one), so
    /// SHA-256 (RFC 8760) is opt-in: `["SHA-256", "MD5"]` where devices support
    /// it, `["SHA-256"]` where all do. Never empty, no duplicates.
    pub digest_algorithms: Vec<DigestAlgorithm>,
}

/// A digest algorithm the registrar may offer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum DigestAlgorithm {
    /// MD5 (RFC 2617).
    #[serde(rename = "MD5")]
    Md5,
    /// SHA-256 (RFC 8760).
    #[serde(rename = "SHA-256")]
    Sha256,
}

impl Default for Registrar {
    fn default() -> Self {
        Registrar {
            min_expires: 60,
            max_expires: 3600,
            default_expires: 3600,
            nonce_ttl: Duration::from_secs(300),
            digest_algorithms: vec![DigestAlgorithm::Md5],
        }
    }
}

/// `[session_timer]`: RFC 4028 session timers.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionTimer {
    /// The longest session interval relayed: a larger Session-Expires in an
    /// INVITE is lowered to this on the outgoing leg (RFC 4028 §8.1 lets an
    /// intermediary lower it), which bounds how long a call whose endpoints
    /// vanished can linger. Default 1800; always >= min_se_s.
    pub session_expires_s: u32,
    /// Min-SE: an INVITE asking for a shorter Session-Expires gets 422. Default
    /// 90; never below the RFC 4028 floor of 90.
    pub min_se_s: u32,
}

impl SessionTimer {
    /// RFC 4028 §4: Min-SE is never below 90 seconds.
    pub const MIN_SE_FLOOR: u32 = 90;
}

impl Default for SessionTimer {
    fn default() -> Self {
        SessionTimer {
            session_expires_s: 1800,
            min_se_s: 90,
        }
    }
}

/// `[media]`: how the switch anchors audio (its own address in every SDP it relays).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Media {
    /// Anchor media. When false, SDP and RTP pass between the endpoints untouched (signalling
    /// only). Default true.
    pub anchor: bool,
    /// Address written into SDP and bound by the RTP sockets. Default: the advertised address,
    /// else the IP of the first UDP listener.
    pub address: Option<IpAddr>,
    /// Lowest RTP port handed out (even). Default 16384.
    pub port_min: u16,
    /// Highest RTP port handed out. Default 32767. Each call takes two even ports, each with
    /// its RTCP port above it.
    pub port_max: u16,
    /// Codecs offered and transcoded between, in preference order. Default PCMU, PCMA, G722, opus.
    pub codecs: Vec<MediaCodec>,
    /// Packetisation time of the streams the switch itself produces. Default 20 (10..=60, a
    /// multiple of 10).
    pub ptime_ms: u32,
    /// A call whose legs send no RTP for this long is hung up (cause `media-timeout`); 0 never.
    /// Legs on hold (sendonly/inactive) are exempt. Default 60.
    pub timeout_s: u32,
    /// Opus encoder complexity 0..=10 when transcoding to Opus. Default 5.
    pub opus_complexity: u8,
    /// Media worker threads; 0 = one per CPU. Default 0.
    pub workers: usize,
}

/// A codec named in `media.codecs`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum MediaCodec {
    /// G.711 mu-law.
    #[serde(rename = "PCMU")]
    Pcmu,
    /// G.711 A-law.
    #[serde(rename = "PCMA")]
    Pcma,
    /// G.722.
    #[serde(rename = "G722")]
    G722,
    /// Opus.
    #[serde(rename = "opus")]
    Opus,
}

impl Default for Media {
    fn default() -> Self {
        Media {
            anchor: true,
            address: None,
            port_min: 16384,
            port_max: 32767,
            codecs: vec![MediaCodec::Pcmu, MediaCodec::Pcma, MediaCodec::G722, MediaCodec::Opus],
            ptime_ms: 20,
            timeout_s: 60,
            opus_complexity: 5,
            workers: 0,
        }
    }
}

/// `[[users]]`: a local account. At least one of the three secrets is set. HA1 values are
/// stored lowercase and are only valid for the realm `server.domain` they were computed with.
#[derive(Clone, PartialEq, Eq)]
pub struct User {
    /// SIP user part, e.g. "1001".
    pub name: String,
    /// Plain-text password.
    pub password: Option<String>,
    /// MD5(name:realm:password), 32 lowercase hex digits.
    pub ha1_md5: Option<String>,
    /// SHA-256(name:realm:password), 64 lowercase hex digits.
    pub ha1_sha256: Option<String>,
    /// Shown to called parties; free of control characters.
    pub display_name: Option<String>,
}

// Hand-written so that secrets never reach a log line through `{:?}`.
impl fmt::Debug for User {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("User")
            .field("name", &self.name)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("ha1_md5", &self.ha1_md5.as_ref().map(|_| "<redacted>"))
            .field(
                "ha1_sha256",
                &self.ha1_sha256.as_ref().map(|_| "<redacted>"),
            )
            .field("display_name", &self.display_name)
            .finish()
    }
}

/// Transport used to reach a trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    /// UDP (the default).
    #[default]
    Udp,
    /// TCP.
    Tcp,
    /// TLS over TCP.
    Tls,
}

impl Transport {
    /// The token used in Via headers and `transport=` URI parameters.
    pub fn as_str(self) -> &'static str {
        match self {
            Transport::Udp => "UDP",
            Transport::Tcp => "TCP",
            Transport::Tls => "TLS",
        }
    }
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Caller-ID presentation on outbound calls through a trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Privacy {
    /// Present the caller normally.
    #[default]
    None,
    /// Send `Privacy: id` and present "anonymous" (RFC 3323/3325).
    Id,
}

/// `[[trunks]]`: a carrier or peer the switch sends calls to and accepts calls from.
#[derive(Clone, PartialEq, Eq)]
pub struct Trunk {
    /// Unique name that routes refer to.
    pub name: String,
    /// Proxy host from `proxy`: a host name or an IP (IPv6 without brackets).
    pub host: String,
    /// Proxy port from `proxy`; [`DEFAULT_SIP_PORT`] when none was given.
    pub port: u16,
    /// Default udp.
    pub transport: Transport,
    /// Set together with `password`, or neither is.
    pub username: Option<String>,
    /// Digest password; set together with `username`.
    pub password: Option<String>,
    /// Digest username; already defaulted to `username` when not given.
    pub auth_username: Option<String>,
    /// Expected digest realm; `None` accepts whatever realm the carrier challenges with.
    pub realm: Option<String>,
    /// Whether the switch registers to the carrier. Default false; when true, credentials are set.
    pub register: bool,
    /// Expires requested when registering. Default 300; always >= 60.
    pub register_expires: u32,
    /// Backoff bounds after a failed registration (`register_retry_min_s`/`register_retry_max_s`).
    /// Defaults 5 s and 300 s; min > 0 and min <= max.
    pub register_retry_min: Duration,
    /// See `register_retry_min`.
    pub register_retry_max: Duration,
    /// Sources whose requests are accepted as coming from this trunk. Empty (the default)
    /// means no inbound calls are accepted from it.
    pub inbound_acl: Vec<Cidr>,
    /// Local user an inbound call rings when the Request-URI user is not a local user;
    /// `None` routes by the Request-URI user alone.
    pub inbound_to: Option<String>,
    /// Number presented as the From user on outbound calls; `None` keeps the caller's.
    pub caller_id: Option<String>,
    /// Default [`Privacy::None`].
    pub privacy: Privacy,
    /// Concurrent calls allowed on this trunk; `None` = only the global limit. Never 0.
    pub max_calls: Option<u32>,
}

impl Trunk {
    /// `register_expires` when not given.
    pub const DEFAULT_REGISTER_EXPIRES: u32 = 300;
    /// Lowest accepted `register_expires`: carriers commonly refuse shorter registrations.
    pub const MIN_REGISTER_EXPIRES: u32 = 60;
    /// `register_retry_min_s` when not given.
    pub const DEFAULT_REGISTER_RETRY_MIN: Duration = Duration::from_secs(5);
    /// `register_retry_max_s` when not given.
    pub const DEFAULT_REGISTER_RETRY_MAX: Duration = Duration::from_secs(300);

    /// Whether a request from this source address may be taken as coming from the trunk.
    pub fn admits(&self, source: &IpAddr) -> bool {
        self.inbound_acl.iter().any(|c| c.contains(source))
    }
}

impl fmt::Debug for Trunk {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Trunk")
            .field("name", &self.name)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("transport", &self.transport)
            .field("username", &self.username)
            .field("password", &self.password.as_ref().map(|_| "<redacted>"))
            .field("auth_username", &self.auth_username)
            .field("realm", &self.realm)
            .field("register", &self.register)
            .field("register_expires", &self.register_expires)
            .field("register_retry_min", &self.register_retry_min)
            .field("register_retry_max", &self.register_retry_max)
            .field("inbound_acl", &self.inbound_acl)
            .field("inbound_to", &self.inbound_to)
            .field("caller_id", &self.caller_id)
            .field("privacy", &self.privacy)
            .field("max_calls", &self.max_calls)
            .finish()
    }
}

/// Where the dialplan comes from (`server.dialplan`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DialplanSource {
    /// `"embedded"`: the plan built into the binary (`dialplans/default/`).
    Embedded,
    /// A `.dialplan` file or a directory of them, resolved like `data_dir`.
    Path(PathBuf),
}

/// `[[routes]]`: picks a trunk for a dialled number that is not a local user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    /// The number must start with this (digits, `+`, `*`, `#`); "" matches every number.
    pub prefix: String,
    /// Bounds on the length of the whole dialled number, in characters.
    pub min_len: Option<usize>,
    /// See `min_len`; never below it.
    pub max_len: Option<usize>,
    /// Characters removed from the front before sending. Default 0.
    pub strip: usize,
    /// Put in front after stripping. Default "".
    pub prepend: String,
    /// The trunk tried first; always names a configured trunk.
    pub trunk: String,
    /// Trunks tried next, in order, on 503/408/timeout; each names a configured trunk.
    pub fallback: Vec<String>,
}

impl Route {
    /// Whether the dialled number starts with `prefix` and its length is within bounds.
    pub fn matches(&self, number: &str) -> bool {
        let len = number.chars().count();
        number.starts_with(&self.prefix)
            && self.min_len.is_none_or(|min| len >= min)
            && self.max_len.is_none_or(|max| len <= max)
    }

    /// The number to send: `strip` characters removed, then `prepend` added. Counting
    /// characters rather than bytes keeps odd input from splitting a UTF-8 sequence.
    pub fn rewrite(&self, number: &str) -> String {
        let mut out = self.prepend.clone();
        out.extend(number.chars().skip(self.strip));
        out
    }

    /// The primary trunk followed by the fallbacks, in the order to try them.
    pub fn trunks(&self) -> impl Iterator<Item = &str> {
        std::iter::once(self.trunk.as_str()).chain(self.fallback.iter().map(String::as_str))
    }
}

/// `[log]`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Log {
    /// error/warn/info/debug/trace or an EnvFilter directive. Default "info".
    pub level: String,
    /// JSON lines instead of human-readable text. Default false.
    pub json: bool,
}

impl Default for Log {
    fn default() -> Self {
        Log {
            level: "info".to_owned(),
            json: false,
        }
    }
}
