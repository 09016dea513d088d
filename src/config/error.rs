//! Errors from loading a configuration: one `file:line: message` diagnostic per problem found.

use std::fmt;

/// Why a configuration could not be loaded.
///
/// `Display` prints one `FILE:LINE: message` line per problem, in file order, so an operator
/// can fix every mistake in one pass instead of one per restart.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The file could not be read (missing, unreadable, not UTF-8).
    #[error("{file}: cannot read the file: {source}")]
    Read {
        /// The path as given.
        file: String,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// The text was read but is not a valid configuration. Never empty.
    #[error("{}", render_lines(.0))]
    Invalid(Vec<Diagnostic>),
}

impl ConfigError {
    /// The individual problems; empty for [`ConfigError::Read`].
    pub fn diagnostics(&self) -> &[Diagnostic] {
        match self {
            ConfigError::Read { .. } => &[],
            ConfigError::Invalid(list) => list,
        }
    }
}

fn render_lines(list: &[Diagnostic]) -> String {
    list.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join("\n")
}

/// One problem at one place in one file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Diagnostic {
    /// The file name as given to `load`/`parse` (`<embedded default>` for the built-in one).
    pub file: String,
    /// 1-based line; `None` only when the TOML parser could not say where.
    pub line: Option<usize>,
    /// What is wrong there.
    pub problem: Problem,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{}: {}", self.file, line, self.problem),
            None => write!(f, "{}: {}", self.file, self.problem),
        }
    }
}

/// What is wrong. Each message is a single line; keys are named as written in the file.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Problem {
    /// Syntax error, unknown key, wrong type or missing key, as reported by the TOML parser.
    #[error("{0}")]
    Toml(String),
    /// `registrar.digest_algorithms` is empty or repeats an algorithm.
    #[error("`registrar.digest_algorithms` must list \"MD5\" and/or \"SHA-256\", each once")]
    BadDigestAlgorithms,
    /// A string that must have content is empty.
    #[error("`{key}` must not be empty")]
    Empty {
        /// The key, as `section.key`.
        key: &'static str,
    },
    /// A string copied into SIP headers contains CR, LF or another control character.
    #[error("`{key}` must not contain control characters (it is copied into SIP headers)")]
    ControlChar {
        /// The key, as `section.key`.
        key: &'static str,
    },
    /// A count or duration that must not be 0 is 0.
    #[error("`{key}` must be greater than 0")]
    MustBePositive {
        /// The key, as `section.key`.
        key: &'static str,
    },
    /// A listen address is not `IP:PORT`.
    #[error(
        "`{key}`: `{value}` is not a socket address (expected IP:PORT, e.g. 127.0.0.1:5060 or [::1]:5060)"
    )]
    BadSocketAddr {
        /// The key, as `section.key`.
        key: &'static str,
        /// The value as written.
        value: String,
    },
    /// `domain` or `advertise` is neither a DNS name nor an IP address.
    #[error("`{key}`: `{value}` is not a host name or IP address")]
    BadHost {
        /// The key, as `section.key`.
        key: &'static str,
        /// The value as written.
        value: String,
    },
    /// TLS listeners are configured without a certificate or key.
    #[error("`server.tls` has listen addresses but `server.{missing}` is not set")]
    TlsWithout {
        /// `tls_cert` or `tls_key`.
        missing: &'static str,
    },
    /// RFC 3261 needs T2 >= T1 for the retransmit doubling to make sense.
    #[error("`timers.t2_ms` ({t2}) must be at least `timers.t1_ms` ({t1})")]
    T2BelowT1 {
        /// T1 in milliseconds.
        t1: u64,
        /// T2 in milliseconds.
        t2: u64,
    },
    /// The registrar expiry bounds are out of order.
    #[error(
        "registrar expiry must satisfy min_expires ({min}) <= default_expires ({default}) <= max_expires ({max})"
    )]
    ExpiresOrder {
        /// `min_expires`.
        min: u32,
        /// `default_expires`.
        default: u32,
        /// `max_expires`.
        max: u32,
    },
    /// `media.address` is not a usable IP address.
    #[error("`media.address` must be a specific IP address, not `{0}`")]
    BadMediaAddress(String),
    /// The RTP port range cannot hold even two calls.
    #[error("`media.port_min`..`media.port_max` ({min}..{max}) must be above 1023 and span at least 8 ports")]
    MediaPortRange {
        /// `port_min`.
        min: u16,
        /// `port_max`.
        max: u16,
    },
    /// `media.codecs` is empty.
    #[error("`media.codecs` must name at least one codec")]
    NoMediaCodecs,
    /// ptime the switch cannot packetise.
    #[error("`media.ptime_ms` ({0}) must be 10, 20, 30, 40, 50 or 60")]
    BadPtime(u32),
    /// Opus complexity out of range.
    #[error("`media.opus_complexity` ({0}) must be 0..=10")]
    BadOpusComplexity(u8),
    /// Min-SE below 90 seconds, which RFC 4028 forbids.
    #[error("`session_timer.min_se_s` ({0}) is below the RFC 4028 floor of 90")]
    MinSeTooLow(u32),
    /// Session-Expires below Min-SE, which every peer would reject with 422.
    #[error(
        "`session_timer.session_expires_s` ({session_expires}) must be at least `min_se_s` ({min_se})"
    )]
    SessionExpiresBelowMinSe {
        /// `session_expires_s`.
        session_expires: u32,
        /// `min_se_s`.
        min_se: u32,
    },
    /// A user name, `inbound_to` or `caller_id` has a character a SIP user part cannot hold.
    #[error("`{key}`: `{value}` contains `{ch}`, which is not allowed in a SIP user part")]
    BadUserPart {
        /// The key, as `section.key`.
        key: &'static str,
        /// The value as written.
        value: String,
        /// The first offending character.
        ch: char,
    },
    /// Two `[[users]]` share a name.
    #[error("duplicate user `{name}` (first defined on line {first_line})")]
    DuplicateUser {
        /// The shared name.
        name: String,
        /// Line of the first user with that name.
        first_line: usize,
    },
    /// A user has no password and no HA1.
    #[error("user `{name}` needs one of `password`, `ha1_md5` or `ha1_sha256`")]
    UserWithoutSecret {
        /// The user's name.
        name: String,
    },
    /// An HA1 value is not a hex digest of the right length.
    #[error("`{key}` must be {digits} hexadecimal digits")]
    BadHa1 {
        /// `users.ha1_md5` or `users.ha1_sha256`.
        key: &'static str,
        /// 32 or 64.
        digits: usize,
    },
    /// Two `[[trunks]]` share a name.
    #[error("duplicate trunk `{name}` (first defined on line {first_line})")]
    DuplicateTrunk {
        /// The shared name.
        name: String,
        /// Line of the first trunk with that name.
        first_line: usize,
    },
    /// A trunk `proxy` is not `host`, `host:port`, `ip` or `ip:port`.
    #[error(
        "`trunks.proxy`: `{value}` is not HOST or HOST:PORT (e.g. sip.example.net:5060 or 192.0.2.1)"
    )]
    BadProxy {
        /// The value as written.
        value: String,
    },
    /// Only one of `username` and `password` is set on a trunk.
    #[error("trunk `{trunk}`: `{present}` is set but `{missing}` is not")]
    CredentialsHalf {
        /// The trunk's name.
        trunk: String,
        /// The key that is set.
        present: &'static str,
        /// The key that is not.
        missing: &'static str,
    },
    /// A registering trunk lacks `username` or `password`.
    #[error("trunk `{trunk}`: `register = true` needs both `username` and `password`")]
    RegisterWithoutCredentials {
        /// The trunk's name.
        trunk: String,
    },
    /// `register_expires` below 60.
    #[error("`trunks.register_expires` ({0}) must be at least 60")]
    RegisterExpiresTooLow(u32),
    /// The registration backoff bounds are out of order.
    #[error("`trunks.register_retry_min_s` ({min}) must not exceed `register_retry_max_s` ({max})")]
    RetryOrder {
        /// `register_retry_min_s`.
        min: u64,
        /// `register_retry_max_s`.
        max: u64,
    },
    /// An `inbound_acl` entry is not a CIDR block or address.
    #[error("`trunks.inbound_acl`: {0}")]
    BadCidr(#[from] super::cidr::CidrError),
    /// A route `prefix` or `prepend` has a character a dialled number cannot hold.
    #[error("`{key}`: `{value}` contains `{ch}`; only digits, `+`, `*` and `#` are allowed")]
    BadNumber {
        /// The key, as `section.key`.
        key: &'static str,
        /// The value as written.
        value: String,
        /// The first offending character.
        ch: char,
    },
    /// A route's `min_len` exceeds its `max_len`, so it could never match.
    #[error("route `min_len` ({min}) is greater than `max_len` ({max})")]
    RouteLenOrder {
        /// `min_len`.
        min: usize,
        /// `max_len`.
        max: usize,
    },
    /// A route's `trunk` or `fallback` names no configured trunk.
    #[error("route names unknown trunk `{0}`")]
    UnknownTrunk(String),
    /// `log.level` is empty or not printable ASCII.
    #[error(
        "`log.level` `{0}` must be non-empty printable ASCII, e.g. `info` or `switchyard=debug,warn`"
    )]
    BadLogLevel(String),
}
