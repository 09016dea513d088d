//! Conversion of the repeated entries, `[[users]]`, `[[trunks]]` and `[[routes]]`, which
//! besides their own values are checked against each other (unique names, known trunks).

use std::collections::HashMap;
use std::time::Duration;

use super::convert::{Ctx, span_of, value_or};
use super::error::Problem;
use super::model::{Cidr, DEFAULT_SIP_PORT, Route, Trunk, User};
use super::raw::{RawRoute, RawTrunk, RawUser, S};
use super::syntax::parse_proxy;

pub(super) fn users(cx: &mut Ctx, raw: Vec<S<RawUser>>) -> Vec<User> {
    let mut first_line: HashMap<String, usize> = HashMap::new();
    let mut out = Vec::with_capacity(raw.len());
    for entry in raw {
        let table_span = entry.span();
        let u = entry.into_inner();
        let name_span = u.name.span();
        let name = cx.user_part("users.name", u.name);
        if let Some(&first) = first_line.get(&name) {
            cx.at(
                name_span,
                Problem::DuplicateUser {
                    name: name.clone(),
                    first_line: first,
                },
            );
        } else {
            first_line.insert(name.clone(), cx.line(&name_span));
        }
        let password = u.password.map(|p| {
            if p.get_ref().is_empty() {
                cx.at(
                    p.span(),
                    Problem::Empty {
                        key: "users.password",
                    },
                );
            }
            p.into_inner()
        });
        let ha1_md5 = u.ha1_md5.map(|h| ha1(cx, "users.ha1_md5", h, 32));
        let ha1_sha256 = u.ha1_sha256.map(|h| ha1(cx, "users.ha1_sha256", h, 64));
        if password.is_none() && ha1_md5.is_none() && ha1_sha256.is_none() {
            cx.at(
                table_span,
                Problem::UserWithoutSecret { name: name.clone() },
            );
        }
        let display_name = u
            .display_name
            .map(|v| cx.header_text("users.display_name", v));
        out.push(User {
            name,
            password,
            ha1_md5,
            ha1_sha256,
            display_name,
        });
    }
    out
}

/// Lowercased so it compares directly with a freshly computed hex digest.
fn ha1(cx: &mut Ctx, key: &'static str, value: S<String>, digits: usize) -> String {
    let hex = value.get_ref();
    if hex.len() != digits || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        cx.at(value.span(), Problem::BadHa1 { key, digits });
    }
    value.into_inner().to_ascii_lowercase()
}

/// `earlier` holds the names and lines of the trunks before this one, for the duplicate check.
pub(super) fn trunk(cx: &mut Ctx, entry: S<RawTrunk>, earlier: &[(String, usize)]) -> Trunk {
    let table_span = entry.span();
    let t = entry.into_inner();
    let name_span = t.name.span();
    let name = t.name.into_inner();
    if name.is_empty() {
        cx.at(name_span.clone(), Problem::Empty { key: "trunks.name" });
    } else if let Some((_, first_line)) = earlier.iter().find(|(n, _)| *n == name) {
        let first_line = *first_line;
        cx.at(
            name_span,
            Problem::DuplicateTrunk {
                name: name.clone(),
                first_line,
            },
        );
    }
    let (host, port) = parse_proxy(t.proxy.get_ref()).unwrap_or_else(|| {
        let value = t.proxy.get_ref().clone();
        cx.at(t.proxy.span(), Problem::BadProxy { value });
        (String::new(), DEFAULT_SIP_PORT)
    });

    let (user_span, pass_span) = (span_of(&t.username), span_of(&t.password));
    let username = t.username.map(|v| cx.header_text("trunks.username", v));
    let password = t.password.map(|p| {
        if p.get_ref().is_empty() {
            cx.at(
                p.span(),
                Problem::Empty {
                    key: "trunks.password",
                },
            );
        }
        p.into_inner()
    });
    let auth_username = t
        .auth_username
        .map(|v| cx.header_text("trunks.auth_username", v))
        .or_else(|| username.clone());
    let register_span = span_of(&t.register);
    let register = value_or(t.register, false);
    if register && (username.is_none() || password.is_none()) {
        cx.report(
            register_span,
            Problem::RegisterWithoutCredentials {
                trunk: name.clone(),
            },
        );
    } else if let (Some(span), None) = (&user_span, &pass_span) {
        let p = Problem::CredentialsHalf {
            trunk: name.clone(),
            present: "username",
            missing: "password",
        };
        cx.at(span.clone(), p);
    } else if let (None, Some(span)) = (&user_span, &pass_span) {
        let p = Problem::CredentialsHalf {
            trunk: name.clone(),
            present: "password",
            missing: "username",
        };
        cx.at(span.clone(), p);
    }

    let register_expires = match t.register_expires {
        None => Trunk::DEFAULT_REGISTER_EXPIRES,
        Some(v) => {
            if *v.get_ref() < Trunk::MIN_REGISTER_EXPIRES {
                cx.at(v.span(), Problem::RegisterExpiresTooLow(*v.get_ref()));
            }
            v.into_inner()
        }
    };
    let retry_spans = (
        span_of(&t.register_retry_min_s),
        span_of(&t.register_retry_max_s),
    );
    let retry_min = cx.positive(
        "trunks.register_retry_min_s",
        t.register_retry_min_s,
        Trunk::DEFAULT_REGISTER_RETRY_MIN.as_secs(),
    );
    let retry_max = value_or(
        t.register_retry_max_s,
        Trunk::DEFAULT_REGISTER_RETRY_MAX.as_secs(),
    );
    if retry_min > retry_max {
        cx.at(
            retry_spans.1.or(retry_spans.0).unwrap_or(table_span),
            Problem::RetryOrder {
                min: retry_min,
                max: retry_max,
            },
        );
    }

    let mut inbound_acl = Vec::new();
    for item in t.inbound_acl.unwrap_or_default() {
        match item.get_ref().parse::<Cidr>() {
            Ok(cidr) => inbound_acl.push(cidr),
            Err(e) => cx.at(item.span(), Problem::BadCidr(e)),
        }
    }
    let max_calls = t
        .max_calls
        .map(|v| cx.positive("trunks.max_calls", Some(v), 1));
    Trunk {
        name,
        host,
        port,
        transport: t.transport.unwrap_or_default(),
        username,
        password,
        auth_username,
        realm: t.realm.map(|v| cx.header_text("trunks.realm", v)),
        register,
        register_expires,
        register_retry_min: Duration::from_secs(retry_min),
        register_retry_max: Duration::from_secs(retry_max),
        inbound_acl,
        inbound_to: t.inbound_to.map(|v| cx.user_part("trunks.inbound_to", v)),
        caller_id: t.caller_id.map(|v| cx.user_part("trunks.caller_id", v)),
        privacy: t.privacy.unwrap_or_default(),
        max_calls,
    }
}

pub(super) fn route(cx: &mut Ctx, r: RawRoute, trunks: &[String]) -> Route {
    let max_span = span_of(&r.max_len);
    let min_len = r.min_len.map(S::into_inner);
    let max_len = r.max_len.map(S::into_inner);
    match (min_len, max_len, max_span) {
        (Some(min), Some(max), Some(span)) if min > max => {
            cx.at(span, Problem::RouteLenOrder { min, max });
        }
        _ => {}
    }
    let known = |cx: &mut Ctx, name: S<String>| {
        if !trunks.contains(name.get_ref()) {
            cx.at(name.span(), Problem::UnknownTrunk(name.get_ref().clone()));
        }
        name.into_inner()
    };
    let trunk = known(cx, r.trunk);
    let fallback = r
        .fallback
        .unwrap_or_default()
        .into_iter()
        .map(|n| known(cx, n))
        .collect();
    Route {
        prefix: cx.number("routes.prefix", r.prefix),
        min_len,
        max_len,
        strip: r.strip.unwrap_or(0),
        prepend: r
            .prepend
            .map_or_else(String::new, |p| cx.number("routes.prepend", p)),
        trunk,
        fallback,
    }
}
