//! Turns the file as written (`raw`) into the typed `Config`, applying defaults and collecting
//! every semantic problem with its line, so that one run reports all of them. The sections are
//! converted here; the `[[users]]`, `[[trunks]]` and `[[routes]]` entries in `entries`.

use std::net::SocketAddr;
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::time::Duration;

use super::entries::{route, trunk, users};
use super::error::Problem;
use super::model::{Advertise, Config, DialplanSource, Limits, Log, Media, Registrar, Server, SessionTimer, Timers};
use super::raw::{
    RawConfig, RawLimits, RawLog, RawMedia, RawRegistrar, RawServer, RawSessionTimer, RawTimers, S,
};
use super::syntax::{ip_host, is_hostname, is_user_char, line_of};

pub(super) struct Ctx<'a> {
    text: &'a str,
    /// Directory relative paths in the file are resolved against.
    base: &'a Path,
    problems: Vec<(Option<usize>, Problem)>,
}

impl<'a> Ctx<'a> {
    pub(super) fn new(text: &'a str, base: &'a Path) -> Self {
        Ctx {
            text,
            base,
            problems: Vec::new(),
        }
    }

    pub(super) fn into_problems(self) -> Vec<(Option<usize>, Problem)> {
        self.problems
    }

    pub(super) fn line(&self, span: &Range<usize>) -> usize {
        line_of(self.text, span.start)
    }

    pub(super) fn report(&mut self, span: Option<Range<usize>>, problem: Problem) {
        let line = span.map(|s| self.line(&s));
        self.problems.push((line, problem));
    }

    pub(super) fn at(&mut self, span: Range<usize>, problem: Problem) {
        self.report(Some(span), problem);
    }

    /// A string that is copied into SIP headers: non-empty and free of control characters,
    /// since a CR/LF in it would inject headers.
    pub(super) fn header_text(&mut self, key: &'static str, value: S<String>) -> String {
        let span = value.span();
        let value = value.into_inner();
        if value.is_empty() {
            self.at(span, Problem::Empty { key });
        } else if value.chars().any(char::is_control) {
            self.at(span, Problem::ControlChar { key });
        }
        value
    }

    pub(super) fn user_part(&mut self, key: &'static str, value: S<String>) -> String {
        let span = value.span();
        let value = value.into_inner();
        if value.is_empty() {
            self.at(span, Problem::Empty { key });
        } else if let Some(ch) = value.chars().find(|&c| !is_user_char(c)) {
            self.at(
                span,
                Problem::BadUserPart {
                    key,
                    value: value.clone(),
                    ch,
                },
            );
        }
        value
    }

    pub(super) fn number(&mut self, key: &'static str, value: S<String>) -> String {
        let span = value.span();
        let value = value.into_inner();
        if let Some(ch) = value
            .chars()
            .find(|&c| !(c.is_ascii_digit() || "+*#".contains(c)))
        {
            self.at(
                span,
                Problem::BadNumber {
                    key,
                    value: value.clone(),
                    ch,
                },
            );
        }
        value
    }

    pub(super) fn positive<T: Copy + Default + PartialEq>(
        &mut self,
        key: &'static str,
        value: Option<S<T>>,
        default: T,
    ) -> T {
        match value {
            None => default,
            Some(v) => {
                if *v.get_ref() == T::default() {
                    self.at(v.span(), Problem::MustBePositive { key });
                }
                v.into_inner()
            }
        }
    }

    pub(super) fn path(&mut self, key: &'static str, value: S<String>) -> PathBuf {
        let span = value.span();
        let value = value.into_inner();
        if value.is_empty() {
            self.at(span, Problem::Empty { key });
        }
        let path = Path::new(&value);
        if path.is_relative() {
            self.base.join(path)
        } else {
            path.to_path_buf()
        }
    }

    /// Invalid entries are reported and left out, so checking can go on.
    pub(super) fn sockets(
        &mut self,
        key: &'static str,
        list: S<Vec<S<String>>>,
    ) -> Vec<SocketAddr> {
        let mut out = Vec::new();
        for item in list.into_inner() {
            match item.get_ref().parse::<SocketAddr>() {
                Ok(addr) => out.push(addr),
                Err(_) => {
                    let value = item.get_ref().clone();
                    self.at(item.span(), Problem::BadSocketAddr { key, value });
                }
            }
        }
        out
    }
}

pub(super) fn convert(raw: RawConfig, cx: &mut Ctx) -> Config {
    // Collected before the trunks are converted so routes can be checked against every name,
    // including trunks that have problems of their own.
    let trunk_names: Vec<(String, usize)> = raw
        .trunks
        .iter()
        .map(|t| {
            let name = &t.get_ref().name;
            (name.get_ref().clone(), cx.line(&name.span()))
        })
        .collect();
    let names: Vec<String> = trunk_names.iter().map(|(n, _)| n.clone()).collect();
    Config {
        server: section(raw.server, |raw, at| server(cx, raw, at)),
        timers: section(raw.timers, |raw, at| timers(cx, raw, at)),
        limits: section(raw.limits, |raw, _| limits(cx, raw)),
        registrar: section(raw.registrar, |raw, at| registrar(cx, raw, at)),
        session_timer: section(raw.session_timer, |raw, _| session_timer(cx, raw)),
        media: section(raw.media, |raw, _| media(cx, raw)),
        users: users(cx, raw.users),
        trunks: raw
            .trunks
            .into_iter()
            .zip(0..)
            .map(|(t, i)| trunk(cx, t, &trunk_names[..i]))
            .collect(),
        routes: raw
            .routes
            .into_iter()
            .map(|r| route(cx, r.into_inner(), &names))
            .collect(),
        log: section(raw.log, |raw, _| log(cx, raw)),
    }
}

/// An absent section converts like an empty one; `at` is the section's span for problems that
/// involve keys the file left out.
fn section<R: Default, T>(
    raw: Option<S<R>>,
    convert: impl FnOnce(R, Option<Range<usize>>) -> T,
) -> T {
    match raw {
        Some(s) => {
            let span = s.span();
            convert(s.into_inner(), Some(span))
        }
        None => convert(R::default(), None),
    }
}

pub(super) fn span_of<T>(value: &Option<S<T>>) -> Option<Range<usize>> {
    value.as_ref().map(S::span)
}

pub(super) fn value_or<T>(value: Option<S<T>>, default: T) -> T {
    value.map_or(default, S::into_inner)
}

fn millis(d: Duration) -> u64 {
    u64::try_from(d.as_millis()).unwrap_or(u64::MAX)
}

fn server(cx: &mut Ctx, raw: RawServer, at: Option<Range<usize>>) -> Server {
    let d = Server::default();
    let tls_span = span_of(&raw.tls).or(at);
    let udp = raw.udp.map_or(d.udp, |l| cx.sockets("server.udp", l));
    let tcp = raw.tcp.map_or(d.tcp, |l| cx.sockets("server.tcp", l));
    let tls = raw.tls.map_or(d.tls, |l| cx.sockets("server.tls", l));
    let tls_cert = raw.tls_cert.map(|p| cx.path("server.tls_cert", p));
    let tls_key = raw.tls_key.map(|p| cx.path("server.tls_key", p));
    if !tls.is_empty() {
        if tls_cert.is_none() {
            cx.report(
                tls_span.clone(),
                Problem::TlsWithout {
                    missing: "tls_cert",
                },
            );
        }
        if tls_key.is_none() {
            cx.report(tls_span, Problem::TlsWithout { missing: "tls_key" });
        }
    }
    let domain = match raw.domain {
        None => d.domain,
        Some(v) => {
            let span = v.span();
            let domain = cx.header_text("server.domain", v);
            if !domain.is_empty() && ip_host(&domain).is_none() && !is_hostname(&domain) {
                cx.at(
                    span,
                    Problem::BadHost {
                        key: "server.domain",
                        value: domain.clone(),
                    },
                );
            }
            domain
        }
    };
    let advertise = raw.advertise.and_then(|v| {
        if let Some(ip) = ip_host(v.get_ref()) {
            Some(Advertise::Ip(ip))
        } else if is_hostname(v.get_ref()) {
            Some(Advertise::Host(v.into_inner()))
        } else {
            let value = v.get_ref().clone();
            cx.at(
                v.span(),
                Problem::BadHost {
                    key: "server.advertise",
                    value,
                },
            );
            None
        }
    });
    Server {
        udp,
        tcp,
        tls,
        tls_cert,
        tls_key,
        domain,
        advertise,
        data_dir: raw
            .data_dir
            .map_or(d.data_dir, |p| cx.path("server.data_dir", p)),
        dialplan: raw.dialplan.map(|p| {
            if p.get_ref() == "embedded" { DialplanSource::Embedded } else { DialplanSource::Path(cx.path("server.dialplan", p)) }
        }),
        user_agent: raw
            .user_agent
            .map_or(d.user_agent, |v| cx.header_text("server.user_agent", v)),
    }
}

fn timers(cx: &mut Ctx, raw: RawTimers, at: Option<Range<usize>>) -> Timers {
    let d = Timers::default();
    let (t1_span, t2_span) = (span_of(&raw.t1_ms), span_of(&raw.t2_ms));
    let t1 = cx.positive("timers.t1_ms", raw.t1_ms, millis(d.t1));
    let t2 = value_or(raw.t2_ms, millis(d.t2));
    if t2 < t1 {
        cx.report(t2_span.or(t1_span).or(at), Problem::T2BelowT1 { t1, t2 });
    }
    Timers {
        t1: Duration::from_millis(t1),
        t2: Duration::from_millis(t2),
        t4: raw
            .t4_ms
            .map_or(d.t4, |v| Duration::from_millis(v.into_inner())),
    }
}

fn limits(cx: &mut Ctx, raw: RawLimits) -> Limits {
    let d = Limits::default();
    Limits {
        max_calls: cx.positive("limits.max_calls", raw.max_calls, d.max_calls),
        retry_after: raw
            .retry_after_s
            .map_or(d.retry_after, |v| Duration::from_secs(v.into_inner())),
        max_header_bytes: cx.positive(
            "limits.max_header_bytes",
            raw.max_header_bytes,
            d.max_header_bytes,
        ),
        max_body_bytes: cx.positive(
            "limits.max_body_bytes",
            raw.max_body_bytes,
            d.max_body_bytes,
        ),
        tcp_idle_timeout: Duration::from_secs(cx.positive(
            "limits.tcp_idle_timeout_s",
            raw.tcp_idle_timeout_s,
            d.tcp_idle_timeout.as_secs(),
        )),
        drain_timeout: raw
            .drain_timeout_s
            .map_or(d.drain_timeout, |v| Duration::from_secs(v.into_inner())),
        max_contacts_per_user: cx.positive(
            "limits.max_contacts_per_user",
            raw.max_contacts_per_user,
            d.max_contacts_per_user,
        ),
        udp_buffer_bytes: cx.positive("limits.udp_buffer_bytes", raw.udp_buffer_bytes, d.udp_buffer_bytes),
    }
}

fn registrar(cx: &mut Ctx, raw: RawRegistrar, at: Option<Range<usize>>) -> Registrar {
    let d = Registrar::default();
    let spans = [&raw.min_expires, &raw.default_expires, &raw.max_expires].map(span_of);
    let min = value_or(raw.min_expires, d.min_expires);
    let default = value_or(raw.default_expires, d.default_expires);
    let max = value_or(raw.max_expires, d.max_expires);
    // Point at the key that breaks the order, falling back to its neighbour when it is a default.
    let blame = if min > default {
        Some(spans[0].clone().or(spans[1].clone()))
    } else if default > max {
        Some(spans[1].clone().or(spans[2].clone()))
    } else {
        None
    };
    if let Some(span) = blame {
        cx.report(span.or(at), Problem::ExpiresOrder { min, default, max });
    }
    Registrar {
        min_expires: min,
        max_expires: max,
        default_expires: default,
        nonce_ttl: Duration::from_secs(cx.positive(
            "registrar.nonce_ttl_s",
            raw.nonce_ttl_s,
            d.nonce_ttl.as_secs(),
        )),
        digest_algorithms: match raw.digest_algorithms {
            Some(v) => {
                let span = v.span();
                let list = v.into_inner();
                let dup = list.iter().enumerate().any(|(i, a)| list[..i].contains(a));
                if list.is_empty() || dup {
                    cx.report(Some(span), Problem::BadDigestAlgorithms);
                    d.digest_algorithms
                } else {
                    list
                }
            }
            None => d.digest_algorithms,
        },
    }
}

fn session_timer(cx: &mut Ctx, raw: RawSessionTimer) -> SessionTimer {
    let d = SessionTimer::default();
    let (se_span, min_se_span) = (span_of(&raw.session_expires_s), span_of(&raw.min_se_s));
    let session_expires_s = value_or(raw.session_expires_s, d.session_expires_s);
    let min_se_s = value_or(raw.min_se_s, d.min_se_s);
    if min_se_s < SessionTimer::MIN_SE_FLOOR {
        cx.report(min_se_span, Problem::MinSeTooLow(min_se_s));
    } else if session_expires_s < min_se_s {
        cx.report(
            se_span.or(min_se_span),
            Problem::SessionExpiresBelowMinSe {
                session_expires: session_expires_s,
                min_se: min_se_s,
            },
        );
    }
    SessionTimer {
        session_expires_s,
        min_se_s,
    }
}

fn media(cx: &mut Ctx, raw: RawMedia) -> Media {
    let d = Media::default();
    let address = raw.address.and_then(|v| match v.get_ref().parse::<std::net::IpAddr>() {
        Ok(ip) if !ip.is_unspecified() => Some(ip),
        _ => {
            cx.at(v.span(), Problem::BadMediaAddress(v.get_ref().clone()));
            None
        }
    });
    let (min_span, max_span) = (span_of(&raw.port_min), span_of(&raw.port_max));
    let port_min = value_or(raw.port_min, d.port_min);
    let port_max = value_or(raw.port_max, d.port_max);
    // Two calls' worth of even RTP ports with their RTCP ports: anything smaller is a typo.
    if port_min < 1024 || port_max <= port_min || port_max - port_min < 7 {
        cx.report(min_span.or(max_span), Problem::MediaPortRange { min: port_min, max: port_max });
    }
    let codecs = match raw.codecs {
        Some(v) if v.get_ref().is_empty() => {
            cx.at(v.span(), Problem::NoMediaCodecs);
            d.codecs
        }
        Some(v) => v.into_inner(),
        None => d.codecs,
    };
    let ptime_span = span_of(&raw.ptime_ms);
    let ptime_ms = value_or(raw.ptime_ms, d.ptime_ms);
    if !(10..=60).contains(&ptime_ms) || ptime_ms % 10 != 0 {
        cx.report(ptime_span, Problem::BadPtime(ptime_ms));
    }
    let cx_span = span_of(&raw.opus_complexity);
    let opus_complexity = value_or(raw.opus_complexity, d.opus_complexity);
    if opus_complexity > 10 {
        cx.report(cx_span, Problem::BadOpusComplexity(opus_complexity));
    }
    Media {
        anchor: raw.anchor.unwrap_or(d.anchor),
        address,
        port_min,
        port_max,
        codecs,
        ptime_ms,
        timeout_s: raw.timeout_s.unwrap_or(d.timeout_s),
        opus_complexity,
        workers: raw.workers.unwrap_or(d.workers),
    }
}

fn log(cx: &mut Ctx, raw: RawLog) -> Log {
    let d = Log::default();
    let level = match raw.level {
        None => d.level,
        Some(v) => {
            let ok = !v.get_ref().is_empty() && v.get_ref().bytes().all(|b| b.is_ascii_graphic());
            if !ok {
                cx.at(v.span(), Problem::BadLogLevel(v.get_ref().clone()));
            }
            v.into_inner()
        }
    };
    Log {
        level,
        json: raw.json.unwrap_or(d.json),
    }
}
