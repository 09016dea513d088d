//! The configuration file exactly as written: what serde reads before any checking.
//!
//! Every key is optional here (defaults are applied in `convert`, from the `Default` impls in
//! `model`) and most values keep their byte span so a semantic error can name its line.
//! `deny_unknown_fields` everywhere turns a misspelt key into an error instead of a silently
//! ignored setting.

use serde::Deserialize;
use toml::Spanned;

use super::model::{DigestAlgorithm, MediaCodec, Privacy, Transport};

pub(super) type S<T> = Spanned<T>;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawConfig {
    pub server: Option<S<RawServer>>,
    pub timers: Option<S<RawTimers>>,
    pub limits: Option<S<RawLimits>>,
    pub registrar: Option<S<RawRegistrar>>,
    pub session_timer: Option<S<RawSessionTimer>>,
    pub media: Option<S<RawMedia>>,
    #[serde(default)]
    pub users: Vec<S<RawUser>>,
    #[serde(default)]
    pub trunks: Vec<S<RawTrunk>>,
    #[serde(default)]
    pub routes: Vec<S<RawRoute>>,
    pub log: Option<S<RawLog>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawServer {
    pub udp: Option<S<Vec<S<String>>>>,
    pub tcp: Option<S<Vec<S<String>>>>,
    pub tls: Option<S<Vec<S<String>>>>,
    pub tls_cert: Option<S<String>>,
    pub tls_key: Option<S<String>>,
    pub domain: Option<S<String>>,
    pub advertise: Option<S<String>>,
    pub data_dir: Option<S<String>>,
    pub dialplan: Option<S<String>>,
    pub user_agent: Option<S<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTimers {
    pub t1_ms: Option<S<u64>>,
    pub t2_ms: Option<S<u64>>,
    pub t4_ms: Option<S<u64>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLimits {
    pub max_calls: Option<S<u32>>,
    pub retry_after_s: Option<S<u64>>,
    pub max_header_bytes: Option<S<usize>>,
    pub max_body_bytes: Option<S<usize>>,
    pub tcp_idle_timeout_s: Option<S<u64>>,
    pub drain_timeout_s: Option<S<u64>>,
    pub max_contacts_per_user: Option<S<u32>>,
    pub udp_buffer_bytes: Option<S<usize>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRegistrar {
    pub min_expires: Option<S<u32>>,
    pub max_expires: Option<S<u32>>,
    pub default_expires: Option<S<u32>>,
    pub nonce_ttl_s: Option<S<u64>>,
    pub digest_algorithms: Option<S<Vec<DigestAlgorithm>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawSessionTimer {
    pub session_expires_s: Option<S<u32>>,
    pub min_se_s: Option<S<u32>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawMedia {
    pub anchor: Option<bool>,
    pub address: Option<S<String>>,
    pub port_min: Option<S<u16>>,
    pub port_max: Option<S<u16>>,
    pub codecs: Option<S<Vec<MediaCodec>>>,
    pub ptime_ms: Option<S<u32>>,
    pub timeout_s: Option<u32>,
    pub opus_complexity: Option<S<u8>>,
    pub workers: Option<usize>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawUser {
    pub name: S<String>,
    pub password: Option<S<String>>,
    pub ha1_md5: Option<S<String>>,
    pub ha1_sha256: Option<S<String>>,
    pub display_name: Option<S<String>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawTrunk {
    pub name: S<String>,
    pub proxy: S<String>,
    pub transport: Option<Transport>,
    pub username: Option<S<String>>,
    pub password: Option<S<String>>,
    pub auth_username: Option<S<String>>,
    pub realm: Option<S<String>>,
    pub register: Option<S<bool>>,
    pub register_expires: Option<S<u32>>,
    pub register_retry_min_s: Option<S<u64>>,
    pub register_retry_max_s: Option<S<u64>>,
    pub inbound_acl: Option<Vec<S<String>>>,
    pub inbound_to: Option<S<String>>,
    pub caller_id: Option<S<String>>,
    pub privacy: Option<Privacy>,
    pub max_calls: Option<S<u32>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(super) struct RawRoute {
    // Required rather than defaulting to "": a catch-all route sends every unknown number to
    // a paid trunk, so it has to be asked for explicitly.
    pub prefix: S<String>,
    pub min_len: Option<S<usize>>,
    pub max_len: Option<S<usize>>,
    pub strip: Option<usize>,
    pub prepend: Option<S<String>>,
    pub trunk: S<String>,
    pub fallback: Option<Vec<S<String>>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub(super) struct RawLog {
    pub level: Option<S<String>>,
    pub json: Option<bool>,
}
