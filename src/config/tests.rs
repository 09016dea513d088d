//! Tests of the configuration format: the shipped files parse, defaults apply, and each kind
//! of mistake produces its exact `file:line: message`.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use super::*;

const EXAMPLE: &str = include_str!("../../switchyard.example.toml");

fn errors(text: &str) -> String {
    match parse(text, "t.toml") {
        Ok(config) => panic!("expected an error, got {config:?}"),
        Err(e) => e.to_string(),
    }
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

fn cidr(s: &str) -> Cidr {
    s.parse().unwrap()
}

const TRUNK: &str = "[[trunks]]\nname = \"c\"\nproxy = \"192.0.2.1\"\n";

#[test]
fn embedded_default_parses() {
    let config = parse(DEFAULT_TOML, EMBEDDED_NAME).unwrap();
    assert_eq!(config, embedded_default());
    // The default server section, except that it routes by the embedded plan.
    assert_eq!(config.server, Server { dialplan: Some(DialplanSource::Embedded), ..Server::default() });
    let names: Vec<&str> = config.users.iter().map(|u| u.name.as_str()).collect();
    assert_eq!(names, ["1001", "1002", "1003", "1004"]);
    assert_eq!(
        config.user("1002").unwrap().password.as_deref(),
        Some("1002-demo")
    );
    let u1004 = config.user("1004").unwrap();
    assert_eq!(u1004.password, None);
    assert_eq!(
        u1004.ha1_md5.as_deref(),
        Some("d00c1a6e5c6b9429c60561ab86ab527e")
    );
    let trunk = config.trunk("demo-carrier").unwrap();
    assert_eq!((trunk.host.as_str(), trunk.port), ("127.0.0.1", 5080));
    assert!(!trunk.register);
    assert!(trunk.admits(&ip("127.0.0.1")) && !trunk.admits(&ip("127.0.0.2")));
    assert_eq!(trunk.caller_id.as_deref(), Some("+861088880000"));
    // Routing is the embedded plan's (tests/dialplan-examples.rs), not [[routes]].
    assert_eq!(config.server.dialplan, Some(DialplanSource::Embedded));
    assert!(config.routes.is_empty());
}

#[test]
fn example_parses_and_documents_the_defaults() {
    let config = parse(EXAMPLE, "switchyard.example.toml").unwrap();
    // The keys marked "(default)" in the example must really be the defaults.
    assert_eq!(config.timers, Timers::default());
    assert_eq!(config.limits, Limits::default());
    assert_eq!(config.registrar, Registrar::default());
    assert_eq!(config.session_timer, SessionTimer::default());
    assert_eq!(config.log, Log::default());
    let d = Server::default();
    let s = &config.server;
    assert_eq!(
        (&s.udp, &s.tcp, &s.domain, &s.data_dir),
        (&d.udp, &d.tcp, &d.domain, &d.data_dir)
    );
    assert_eq!(s.tls, ["127.0.0.1:5061".parse::<SocketAddr>().unwrap()]);
    assert_eq!(s.tls_cert, Some(PathBuf::from("tls/switchyard.crt")));
    let carrier = config.trunk("carrier").unwrap();
    assert!(carrier.register);
    assert_eq!(carrier.auth_username.as_deref(), Some("customer-4711"));
    assert_eq!(carrier.register_retry_max, Duration::from_secs(300));
    assert_eq!(
        config.trunk("backup-carrier").unwrap().transport,
        Transport::Tls
    );
    let route = config.route_for("030123456").unwrap();
    assert_eq!(
        route.trunks().collect::<Vec<_>>(),
        ["carrier", "backup-carrier"]
    );
    assert_eq!(route.rewrite("030123456"), "+4930123456");
}

#[test]
fn absent_sections_take_their_defaults() {
    assert_eq!(parse("", "t.toml").unwrap(), Config::default());
    let config = parse("[timers]\nt1_ms = 250\n[limits]\n", "t.toml").unwrap();
    assert_eq!(config.timers.t1, Duration::from_millis(250));
    assert_eq!(config.timers.t2, Duration::from_secs(4));
    assert_eq!(config.limits, Limits::default());
    assert_eq!(
        config.server.udp,
        ["127.0.0.1:5060".parse::<SocketAddr>().unwrap()]
    );
    assert!(config.server.user_agent.starts_with("Switchyard/"));
    assert!(config.users.is_empty() && config.trunks.is_empty() && config.routes.is_empty());
    let d = Config::default();
    assert_eq!(d.limits.max_calls, 10_000);
    assert_eq!(d.registrar.nonce_ttl, Duration::from_secs(300));
    assert_eq!(d.session_timer.min_se_s, 90);
}

#[test]
fn trunk_defaults() {
    let config = parse(TRUNK, "t.toml").unwrap();
    let t = &config.trunks[0];
    assert_eq!(t.transport, Transport::Udp);
    assert_eq!(t.privacy, Privacy::None);
    assert_eq!((t.register, t.register_expires), (false, 300));
    assert_eq!(t.register_retry_min, Duration::from_secs(5));
    assert_eq!(
        (t.username.clone(), t.auth_username.clone(), t.max_calls),
        (None, None, None)
    );
    assert!(t.inbound_acl.is_empty() && !t.admits(&ip("192.0.2.1")));
}

#[test]
fn syntax_error_names_its_line() {
    assert_eq!(
        errors("[server]\ndomain = \"unterminated\n"),
        "t.toml:2: invalid basic string, expected `\"`"
    );
    assert_eq!(
        errors("\n\n[server\n"),
        "t.toml:3: unclosed table, expected `]`"
    );
}

#[test]
fn unknown_key_is_an_error() {
    assert_eq!(
        errors("[timers]\nt1_ms = 500\nt3_ms = 1\n"),
        "t.toml:3: unknown key `t3_ms`, expected one of `t1_ms`, `t2_ms`, `t4_ms`"
    );
    assert!(errors("[tiemrs]\n").starts_with("t.toml:1: unknown key `tiemrs`"));
}

#[test]
fn wrong_type_and_missing_key() {
    assert_eq!(
        errors("[limits]\nmax_calls = \"many\"\n"),
        "t.toml:2: invalid type: string \"many\", expected u32"
    );
    assert_eq!(
        errors("\n[[users]]\npassword = \"x\"\n"),
        "t.toml:2: missing key `name`"
    );
    assert_eq!(
        errors("[[trunks]]\nname = \"c\"\nproxy = \"h\"\ntransport = \"sctp\"\n"),
        "t.toml:4: unknown variant `sctp`, expected one of `udp`, `tcp`, `tls`"
    );
}

#[test]
fn duplicate_user_at_the_second_one() {
    let text = "[[users]]\nname = \"1001\"\npassword = \"a\"\n\n[[users]]\nname = \"1001\"\npassword = \"b\"\n";
    assert_eq!(
        errors(text),
        "t.toml:6: duplicate user `1001` (first defined on line 2)"
    );
}

#[test]
fn duplicate_trunk_at_the_second_one() {
    let text = format!("{TRUNK}{TRUNK}");
    assert_eq!(
        errors(&text),
        "t.toml:5: duplicate trunk `c` (first defined on line 2)"
    );
}

#[test]
fn route_to_unknown_trunk_at_its_line() {
    let text = format!(
        "{TRUNK}\n[[routes]]\nprefix = \"0\"\ntrunk = \"nope\"\nfallback = [\"c\",\n  \"gone\"]\n"
    );
    assert_eq!(
        errors(&text),
        "t.toml:7: route names unknown trunk `nope`\nt.toml:9: route names unknown trunk `gone`"
    );
}

#[test]
fn tls_without_cert_and_key() {
    assert_eq!(
        errors("[server]\ntls = [\"0.0.0.0:5061\"]\ntls_key = \"k.pem\"\n"),
        "t.toml:2: `server.tls` has listen addresses but `server.tls_cert` is not set"
    );
    let both = errors("[server]\ntls = [\"0.0.0.0:5061\"]\n");
    assert_eq!(both.lines().count(), 2);
    assert!(
        both.ends_with(
            "t.toml:2: `server.tls` has listen addresses but `server.tls_key` is not set"
        )
    );
}

#[test]
fn timer_order() {
    assert_eq!(
        errors("[timers]\nt1_ms = 500\nt2_ms = 100\n"),
        "t.toml:3: `timers.t2_ms` (100) must be at least `timers.t1_ms` (500)"
    );
    // t2 is left at its default 4000 here, so the blame goes to t1.
    assert_eq!(
        errors("[timers]\nt1_ms = 5000\n"),
        "t.toml:2: `timers.t2_ms` (4000) must be at least `timers.t1_ms` (5000)"
    );
    assert_eq!(
        errors("[timers]\nt1_ms = 0\n"),
        "t.toml:2: `timers.t1_ms` must be greater than 0"
    );
}

#[test]
fn bad_cidr() {
    let text = format!("{TRUNK}inbound_acl = [\"10.0.0.0/8\", \"10.0.0.0/33\", \"bogus\"]\n");
    assert_eq!(
        errors(&text),
        "t.toml:4: `trunks.inbound_acl`: prefix /33 is longer than 32 bits\n\
         t.toml:4: `trunks.inbound_acl`: `bogus` is not an IP address"
    );
}

#[test]
fn register_without_password() {
    let text = format!("{TRUNK}username = \"u\"\nregister = true\n");
    assert_eq!(
        errors(&text),
        "t.toml:5: trunk `c`: `register = true` needs both `username` and `password`"
    );
    let text = format!("{TRUNK}username = \"u\"\n");
    assert_eq!(
        errors(&text),
        "t.toml:4: trunk `c`: `username` is set but `password` is not"
    );
}

#[test]
fn user_without_secret() {
    assert_eq!(
        errors("[[users]]\nname = \"1001\"\ndisplay_name = \"A\"\n"),
        "t.toml:1: user `1001` needs one of `password`, `ha1_md5` or `ha1_sha256`"
    );
    assert_eq!(
        errors("[[users]]\nname = \"10 01\"\nha1_md5 = \"abc\"\n"),
        "t.toml:2: `users.name`: `10 01` contains ` `, which is not allowed in a SIP user part\n\
         t.toml:3: `users.ha1_md5` must be 32 hexadecimal digits"
    );
}

#[test]
fn other_semantic_errors_all_reported_in_line_order() {
    let text = "[server]\nudp = [\"127.0.0.1\"]\nadvertise = \"1.2.3.4:5060\"\n\
                [limits]\nmax_calls = 0\n[registrar]\nmin_expires = 7200\n\
                [session_timer]\nmin_se_s = 30\n[log]\nlevel = \"\"\n";
    assert_eq!(
        errors(text),
        "t.toml:2: `server.udp`: `127.0.0.1` is not a socket address (expected IP:PORT, e.g. 127.0.0.1:5060 or [::1]:5060)\n\
         t.toml:3: `server.advertise`: `1.2.3.4:5060` is not a host name or IP address\n\
         t.toml:5: `limits.max_calls` must be greater than 0\n\
         t.toml:7: registrar expiry must satisfy min_expires (7200) <= default_expires (3600) <= max_expires (3600)\n\
         t.toml:9: `session_timer.min_se_s` (30) is below the RFC 4028 floor of 90\n\
         t.toml:11: `log.level` `` must be non-empty printable ASCII, e.g. `info` or `switchyard=debug,warn`"
    );
}

#[test]
fn trunk_value_errors() {
    let text = "[[trunks]]\nname = \"c\"\nproxy = \"sip.example:0\"\nregister_expires = 30\n\
                register_retry_min_s = 60\nregister_retry_max_s = 10\ncaller_id = \"+49 30\"\n\
                max_calls = 0\n[[routes]]\nprefix = \"0x\"\nmin_len = 9\nmax_len = 3\ntrunk = \"c\"\n";
    assert_eq!(
        errors(text),
        "t.toml:3: `trunks.proxy`: `sip.example:0` is not HOST or HOST:PORT (e.g. sip.example.net:5060 or 192.0.2.1)\n\
         t.toml:4: `trunks.register_expires` (30) must be at least 60\n\
         t.toml:6: `trunks.register_retry_min_s` (60) must not exceed `register_retry_max_s` (10)\n\
         t.toml:7: `trunks.caller_id`: `+49 30` contains ` `, which is not allowed in a SIP user part\n\
         t.toml:8: `trunks.max_calls` must be greater than 0\n\
         t.toml:10: `routes.prefix`: `0x` contains `x`; only digits, `+`, `*` and `#` are allowed\n\
         t.toml:12: route `min_len` (9) is greater than `max_len` (3)"
    );
}

#[test]
fn header_injection_is_refused() {
    assert_eq!(
        errors("[[users]]\nname = \"1\"\npassword = \"p\"\ndisplay_name = \"a\\r\\nVia: x\"\n"),
        "t.toml:4: `users.display_name` must not contain control characters (it is copied into SIP headers)"
    );
}

#[test]
fn proxy_forms() {
    let proxy = |p: &str| {
        let config = parse(
            &format!("[[trunks]]\nname = \"c\"\nproxy = \"{p}\"\n"),
            "t.toml",
        )
        .unwrap();
        (config.trunks[0].host.clone(), config.trunks[0].port)
    };
    assert_eq!(
        proxy("sip.example.net"),
        ("sip.example.net".to_owned(), 5060)
    );
    assert_eq!(
        proxy("sip.example.net:5080"),
        ("sip.example.net".to_owned(), 5080)
    );
    assert_eq!(proxy("192.0.2.1:5070"), ("192.0.2.1".to_owned(), 5070));
    assert_eq!(
        proxy("[2001:db8::1]:5070"),
        ("2001:db8::1".to_owned(), 5070)
    );
    assert_eq!(proxy("2001:db8::1"), ("2001:db8::1".to_owned(), 5060));
    assert_eq!(proxy("localhost"), ("localhost".to_owned(), 5060));
    for bad in [
        "",
        "sip..example",
        "host:port",
        "1.2.3",
        "-x.example",
        "h:99999",
        "h:+5",
    ] {
        let text = format!("[[trunks]]\nname = \"c\"\nproxy = \"{bad}\"\n");
        assert!(parse(&text, "t.toml").is_err(), "{bad} should be refused");
    }
}

#[test]
fn relative_paths_follow_the_file() {
    let text = "[server]\ntls = [\"[::]:5061\"]\ntls_cert = \"certs/c.pem\"\ntls_key = \"/abs/k.pem\"\ndata_dir = \"state\"\n";
    let config = parse(text, "/etc/switchyard/switchyard.toml").unwrap();
    assert_eq!(
        config.server.tls_cert,
        Some(PathBuf::from("/etc/switchyard/certs/c.pem"))
    );
    assert_eq!(config.server.tls_key, Some(PathBuf::from("/abs/k.pem")));
    assert_eq!(
        config.server.data_dir,
        PathBuf::from("/etc/switchyard/state")
    );
    // Absent, data_dir stays relative to the working directory.
    assert_eq!(
        parse("", "/etc/s.toml").unwrap().server.data_dir,
        PathBuf::from("var/switchyard")
    );
}

#[test]
fn load_reads_a_file_and_reports_a_missing_one() {
    let dir = std::env::temp_dir().join(format!("switchyard-config-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("s.toml");
    std::fs::write(
        &path,
        "[server]\ndata_dir = \"d\"\n[limits]\nmax_calls = 0\n",
    )
    .unwrap();
    let err = load(&path).unwrap_err().to_string();
    assert_eq!(
        err,
        format!(
            "{}:4: `limits.max_calls` must be greater than 0",
            path.display()
        )
    );
    std::fs::write(&path, "[server]\ndata_dir = \"d\"\n").unwrap();
    assert_eq!(load(&path).unwrap().server.data_dir, dir.join("d"));
    std::fs::remove_dir_all(&dir).unwrap();
    let missing = load(&dir.join("nope.toml")).unwrap_err();
    assert!(matches!(missing, ConfigError::Read { .. }));
    assert!(missing.to_string().starts_with(&format!(
        "{}: cannot read the file: ",
        dir.join("nope.toml").display()
    )));
}

#[test]
fn diagnostics_are_typed() {
    let e = parse("[session_timer]\nmin_se_s = 10\n", "t.toml").unwrap_err();
    assert_eq!(
        e.diagnostics(),
        [Diagnostic {
            file: "t.toml".into(),
            line: Some(2),
            problem: Problem::MinSeTooLow(10)
        }]
    );
}

#[test]
fn no_panic_on_any_prefix_of_the_example() {
    for (i, _) in EXAMPLE.char_indices().step_by(3) {
        let _ = parse(&EXAMPLE[..i], "t.toml");
    }
}

#[test]
fn cidr_contains_v4() {
    let net = cidr("192.0.2.0/24");
    assert!(net.contains(&ip("192.0.2.0")) && net.contains(&ip("192.0.2.255")));
    assert!(!net.contains(&ip("192.0.3.1")));
    assert!(!net.contains(&ip("2001:db8::1")));
    // A dual-stack socket reports IPv4 peers as mapped IPv6 addresses.
    assert!(net.contains(&ip("::ffff:192.0.2.7")));
    assert!(cidr("0.0.0.0/0").contains(&ip("203.0.113.9")));
    let host = cidr("127.0.0.1");
    assert_eq!(host.prefix, 32);
    assert!(host.contains(&ip("127.0.0.1")) && !host.contains(&ip("127.0.0.2")));
    // Host bits in the address are ignored.
    assert!(cidr("10.1.2.3/8").contains(&ip("10.200.0.1")));
}

#[test]
fn cidr_contains_v6() {
    let net = cidr("2001:db8::/32");
    assert!(net.contains(&ip("2001:db8:ffff::1")));
    assert!(!net.contains(&ip("2001:db9::1")));
    assert!(!net.contains(&ip("192.0.2.1")));
    let lo = cidr("::1");
    assert_eq!(lo.prefix, 128);
    assert!(lo.contains(&ip("::1")) && !lo.contains(&ip("::2")));
    assert!(cidr("::/0").contains(&ip("fe80::1")));
    assert!(cidr("::ffff:10.0.0.0/104").contains(&ip("10.9.9.9")));
    assert_eq!(cidr("::1/128").to_string(), "::1/128");
}

#[test]
fn cidr_errors() {
    assert_eq!(
        "1.2.3.4/33".parse::<Cidr>(),
        Err(CidrError::PrefixTooLong {
            prefix: 33,
            max: 32
        })
    );
    assert_eq!(
        "::/129".parse::<Cidr>(),
        Err(CidrError::PrefixTooLong {
            prefix: 129,
            max: 128
        })
    );
    assert_eq!(
        "1.2.3.4/".parse::<Cidr>(),
        Err(CidrError::Prefix(String::new()))
    );
    assert_eq!(
        "1.2.3.4/+8".parse::<Cidr>(),
        Err(CidrError::Prefix("+8".into()))
    );
    assert_eq!(
        "1.2.3.4/999".parse::<Cidr>(),
        Err(CidrError::Prefix("999".into()))
    );
    assert_eq!(
        "host/8".parse::<Cidr>(),
        Err(CidrError::Address("host".into()))
    );
}

fn route(
    prefix: &str,
    min_len: Option<usize>,
    max_len: Option<usize>,
    strip: usize,
    prepend: &str,
) -> Route {
    Route {
        prefix: prefix.into(),
        min_len,
        max_len,
        strip,
        prepend: prepend.into(),
        trunk: "t".into(),
        fallback: vec![],
    }
}

#[test]
fn route_matches() {
    let national = route("0", Some(5), Some(12), 1, "+86");
    assert!(national.matches("01088886666"));
    assert!(!national.matches("0108"), "shorter than min_len");
    assert!(!national.matches("0108888666677"), "longer than max_len");
    assert!(!national.matches("11088886666"), "wrong prefix");
    let any = route("", None, None, 0, "");
    assert!(any.matches("") && any.matches("*98#"));
    assert!(route("*9", None, Some(4), 0, "").matches("*98#"));
}

#[test]
fn route_rewrite() {
    assert_eq!(
        route("0", None, None, 1, "+86").rewrite("01088886666"),
        "+861088886666"
    );
    assert_eq!(
        route("+", None, None, 0, "").rewrite("+4930123"),
        "+4930123"
    );
    assert_eq!(route("00", None, None, 2, "+").rewrite("004930"), "+4930");
    assert_eq!(
        route("9", None, None, 5, "x").rewrite("91"),
        "x",
        "over-long strip empties the number"
    );
    assert_eq!(route("", None, None, 1, "").rewrite("ä1"), "1");
}

#[test]
fn local_hosts() {
    let server = Server {
        advertise: Some(Advertise::Ip(ip("2001:db8::5"))),
        ..Server::default()
    };
    assert!(server.is_local_host("switchyard.local") && server.is_local_host("SWITCHYARD.local"));
    assert!(server.is_local_host("127.0.0.1"));
    assert!(server.is_local_host("[2001:db8::5]"));
    assert!(!server.is_local_host("example.com") && !server.is_local_host("127.0.0.2"));
    assert_eq!(server.advertise.unwrap().to_string(), "[2001:db8::5]");
}

#[test]
fn debug_hides_secrets() {
    let config = parse(EXAMPLE, "x.toml").unwrap();
    let shown = format!("{config:?}");
    assert!(!shown.contains("change-me") && !shown.contains("4fd83c7a"));
    assert!(shown.contains("<redacted>") && shown.contains("customer-4711"));
}
