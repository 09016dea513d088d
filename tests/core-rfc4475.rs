//! RFC 4475 torture messages fed to a whole engine, each to a fresh one from a
//! peer in no trunk ACL: the answer each gets (complements `tests/rfc4475.rs`,
//! which checks the parser's verdicts alone).
//!
//! Reads `../shared/testdata/rfc4475/` (byte-exact files kept beside the project).

#[path = "core-support/mod.rs"]
mod support;

use std::path::PathBuf;

use support::*;

const PEER: &str = "127.0.0.9:5060";

fn corpus() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata/rfc4475");
    assert!(
        dir.join("expect.tsv").is_file(),
        "the RFC 4475 corpus is missing: expected {} (the shared/ folder beside the project, \
         with TC_*.dat and expect.tsv)",
        dir.display()
    );
    dir
}

/// What the engine sent back for one message.
struct Answer {
    /// Status codes of the responses, in order.
    codes: Vec<u16>,
    /// Requests it sent (method names).
    requests: Vec<String>,
    /// Every message's text, for failure output.
    texts: Vec<String>,
}

fn feed(file: &str) -> Answer {
    let bytes = std::fs::read(corpus().join(file)).unwrap_or_else(|e| panic!("{file}: {e}"));
    let mut net = Net::standard();
    net.take();
    net.send_bytes(PEER, &bytes);
    let out = net.take_raw();
    let mut texts: Vec<String> = out.msgs.iter().map(|m| m.text()).collect();
    // A 400 copies the request's header lines verbatim, malformed or not.
    texts.extend(out.unparsed.iter().map(|(_, t)| t.clone()));
    for m in &out.msgs {
        assert_eq!(m.to, addr(PEER), "{file}: something sent elsewhere: {m:?}");
    }
    for (a, t) in &out.unparsed {
        assert_eq!(*a, addr(PEER), "{file}: something sent elsewhere: {t}");
    }
    let mut codes = Vec::new();
    let mut requests = Vec::new();
    for t in &texts {
        match t.strip_prefix("SIP/2.0 ") {
            Some(r) => codes.push(r.get(..3).and_then(|c| c.parse().ok()).unwrap_or_else(|| panic!("{file}: bad status line: {t}"))),
            None => requests.push(t.split(' ').next().unwrap_or("").to_owned()),
        }
    }
    Answer { codes, requests, texts }
}

#[derive(Debug, Clone, Copy)]
enum Want {
    /// Exactly this one response.
    Code(u16),
    /// No message at all.
    Nothing,
    /// A response: never answered with a response (requests of the UA core,
    /// e.g. ACK/BYE for a stray 2xx, are allowed).
    NoResponse,
}

/// The answer each message is owed. For 3.1.1 (valid syntax) and 3.2 the
/// numbers are what the switch does as a UAS for an unauthenticated peer
/// (405 unknown method, 407/401 challenges, 481 for a To-tagged request with no
/// dialog, 200 for OPTIONS), checked below never to be 400/505.
const TABLE: &[(&str, &str, Want)] = &[
    ("TC_WSINV.dat", "3.1.1.1", Want::Code(481)),
    ("TC_INTMETH.dat", "3.1.1.2", Want::Code(405)),
    ("TC_ESC01_V.dat", "3.1.1.3", Want::Code(407)),
    ("TC_ESCNULL_V.dat", "3.1.1.4", Want::Code(401)),
    ("TC_ESC02_V.dat", "3.1.1.5", Want::Code(405)),
    ("TC_LWSDISP_V.dat", "3.1.1.6", Want::Code(200)),
    ("TC_LONGREQ_V.dat", "3.1.1.7", Want::Code(407)),
    ("TC_DBLREQ.dat", "3.1.1.8", Want::Code(401)),
    ("TC_SEMIURI_V.dat", "3.1.1.9", Want::Code(200)),
    ("TC_TRANSPORTS_V.dat", "3.1.1.10", Want::Code(200)),
    ("TC_MPART01.dat", "3.1.1.11", Want::Code(405)),
    ("TC_UNREASON_V.dat", "3.1.1.12", Want::NoResponse),
    ("TC_NOREASON_V.dat", "3.1.1.13", Want::NoResponse),
    ("TC_BADINV01_I.dat", "3.1.2.1", Want::Code(400)),
    ("TC_CLERR_I.dat", "3.1.2.2", Want::Code(400)),
    ("TC_NCL_I.dat", "3.1.2.3", Want::Code(400)),
    ("TC_SCALAR02_V.dat", "3.1.2.4", Want::Code(400)),
    ("TC_SCALARLG_V.dat", "3.1.2.5", Want::Nothing),
    ("TC_QUOTBAL_I.dat", "3.1.2.6", Want::Code(400)),
    ("TC_LTGTRURI_I.dat", "3.1.2.7", Want::Code(400)),
    ("TC_LWSRURI_I.dat", "3.1.2.8", Want::Code(400)),
    ("TC_LWSSTART_V.dat", "3.1.2.9", Want::Code(400)),
    ("TC_TRWS_I.dat", "3.1.2.10", Want::Code(400)),
    ("TC_ESCRURI_V.dat", "3.1.2.11", Want::Code(400)),
    ("TC_BADDATE_V.dat", "3.1.2.12", Want::Code(400)),
    ("TC_REGBADCT_I.dat", "3.1.2.13", Want::Code(400)),
    ("TC_BADASPEC_I.dat", "3.1.2.14", Want::Code(400)),
    ("TC_BADDN_I.dat", "3.1.2.15", Want::Code(400)),
    ("TC_BADVERS_V.dat", "3.1.2.16", Want::Code(505)),
    ("TC_MISMATCH01_V.dat", "3.1.2.17", Want::Code(400)),
    ("TC_MISMATCH02_V.dat", "3.1.2.18", Want::Code(400)),
    ("TC_BIGCODE_V.dat", "3.1.2.19", Want::Nothing),
    ("TC_BADBRANCH_V.dat", "3.2.1", Want::Code(200)),
    ("TC_INSUF_I.dat", "3.3.1", Want::Code(400)),
    ("TC_UNKSCM_V.dat", "3.3.2", Want::Code(416)),
    ("TC_NOVELSC_V.dat", "3.3.3", Want::Code(416)),
    ("TC_UNKSM2_V.dat", "3.3.4", Want::Code(416)),
    ("TC_BEXT01_V.dat", "3.3.5", Want::Code(420)),
    ("TC_INVUT_V.dat", "3.3.6", Want::Code(415)),
    ("TC_REGAUT01_V.dat", "3.3.7", Want::Code(401)),
    ("TC_MULTI01_I.dat", "3.3.8", Want::Code(400)),
    ("TC_MCL01_I.dat", "3.3.9", Want::Code(400)),
    // "An element receiving this response will simply discard it."
    ("TC_BCAST_V.dat", "3.3.10", Want::Nothing),
    // The switch is the target UAS of an OPTIONS, so Max-Forwards 0 is no hop.
    ("TC_ZEROMF_V.dat", "3.3.11", Want::Code(200)),
    ("TC_CPARAM01_V.dat", "3.3.12", Want::Code(401)),
    ("TC_CPARAM02_V.dat", "3.3.13", Want::Code(401)),
    ("TC_REGESCRT_V.dat", "3.3.14", Want::Code(401)),
    ("TC_SDP01_V.dat", "3.3.15", Want::Code(406)),
    ("TC_INV2543_I.dat", "3.4.1", Want::Code(407)),
    // Not from the RFC: no SIP version, no colon; nothing to answer with.
    ("TC_TEST_I.dat", "none", Want::Nothing),
];

fn check(file: &str, section: &str, want: Want, a: &Answer) -> Option<String> {
    let ok = match want {
        Want::Code(c) => a.codes == [c] && a.requests.is_empty(),
        Want::Nothing => a.texts.is_empty(),
        Want::NoResponse => a.codes.is_empty(),
    };
    if section.starts_with("3.1.1") || section.starts_with("3.2") || section.starts_with("3.4") {
        // Valid syntax is never refused for its syntax.
        if a.codes.iter().any(|&c| c == 400 || c == 505) {
            return Some(format!("{file} ({section}): valid message refused: {:?}\n{}", a.codes, a.texts.join("\n")));
        }
    }
    (!ok).then(|| {
        format!(
            "{file} ({section}): want {want:?}, got responses {:?} requests {:?}:\n{}",
            a.codes,
            a.requests,
            a.texts.join("\n-----\n")
        )
    })
}

#[test]
fn table_covers_the_corpus() {
    let tsv = std::fs::read_to_string(corpus().join("expect.tsv")).expect("read expect.tsv");
    let files: Vec<(String, String)> = tsv
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut it = l.split('\t');
            (it.next().unwrap().to_owned(), it.next().unwrap_or("").to_owned())
        })
        .collect();
    assert_eq!(files.len(), TABLE.len());
    for (f, s) in &files {
        assert!(TABLE.iter().any(|(tf, ts, _)| tf == f && ts == s), "{f} ({s}) missing from TABLE");
    }
}

/// One test per section so each mismatch shows on its own.
fn run_section(prefix: &str) {
    let mut wrong = Vec::new();
    for &(file, section, want) in TABLE.iter().filter(|(_, s, _)| s.starts_with(prefix)) {
        if let Some(w) = check(file, section, want, &feed(file)) {
            wrong.push(w);
        }
    }
    assert!(wrong.is_empty(), "{} message(s) answered wrongly:\n\n{}", wrong.len(), wrong.join("\n\n"));
}

#[test]
fn valid_messages_3_1_1_are_processed() {
    run_section("3.1.1");
}

#[test]
fn invalid_messages_3_1_2_get_400_or_nothing() {
    run_section("3.1.2");
}

#[test]
fn transaction_layer_3_2_and_rfc2543_3_4() {
    run_section("3.2");
    run_section("3.4");
}

#[test]
fn application_layer_3_3_answers() {
    run_section("3.3");
}

#[test]
fn unparsable_extra_gets_nothing() {
    run_section("none");
}

fn header<'a>(text: &'a str, name: &str) -> Vec<&'a str> {
    text.split("\r\n\r\n")
        .next()
        .unwrap_or("")
        .split("\r\n")
        .filter_map(|l| l.split_once(':'))
        .filter(|(n, _)| n.trim().eq_ignore_ascii_case(name))
        .map(|(_, v)| v.trim())
        .collect()
}

#[test]
fn bext01_lists_the_unsupported_extensions() {
    let a = feed("TC_BEXT01_V.dat");
    assert_eq!(a.codes, [420], "{:?}", a.texts);
    assert_eq!(header(&a.texts[0], "Unsupported"), ["nothingSupportsThis, nothingSupportsThisEither"], "{}", a.texts[0]);
}

#[test]
fn invut_says_what_it_accepts() {
    let a = feed("TC_INVUT_V.dat");
    assert_eq!(a.codes, [415], "{:?}", a.texts);
    let accept = header(&a.texts[0], "Accept");
    assert!(accept.iter().any(|v| v.contains("application/sdp")), "{}", a.texts[0]);
}

#[test]
fn sdp01_says_what_it_can_send() {
    let a = feed("TC_SDP01_V.dat");
    assert_eq!(a.codes, [406], "{:?}", a.texts);
}

#[test]
fn regaut01_is_challenged_not_refused() {
    let a = feed("TC_REGAUT01_V.dat");
    assert_eq!(a.codes, [401], "{:?}", a.texts);
    assert!(!header(&a.texts[0], "WWW-Authenticate").is_empty(), "{}", a.texts[0]);
}

/// RFC 3261 §8.2.1: a 405 lists in Allow the methods the UAS supports, so it
/// cannot list the method it refuses.
#[test]
fn method_refusals_do_not_allow_the_refused_method() {
    for file in ["TC_INTMETH.dat", "TC_ESC02_V.dat", "TC_MPART01.dat"] {
        let a = feed(file);
        assert_eq!(a.codes, [405], "{file}: {:?}", a.texts);
        let raw = std::fs::read(corpus().join(file)).unwrap();
        let method = String::from_utf8_lossy(&raw).split(' ').next().unwrap().to_owned();
        let allow = header(&a.texts[0], "Allow");
        assert!(!allow.is_empty(), "{file}: 405 without Allow:\n{}", a.texts[0]);
        let listed = allow.iter().flat_map(|v| v.split(',')).any(|m| m.trim() == method);
        assert!(!listed, "{file}: 405 for {method} lists {method} in Allow:\n{}", a.texts[0]);
    }
}

/// A 2xx to an INVITE the switch never sent (RFC 4475 §3.3.10 says to discard
/// it) must not make the switch send anything: every reaction to a spoofed
/// response is traffic reflected at whoever the spoofer names.
#[test]
fn stray_2xx_responses_are_not_reflected() {
    for file in ["TC_BCAST_V.dat", "TC_UNREASON_V.dat"] {
        let bytes = std::fs::read(corpus().join(file)).unwrap();
        let mut net = Net::standard();
        net.take();
        net.send_bytes(PEER, &bytes);
        net.advance(std::time::Duration::from_secs(40));
        let out = net.take_raw();
        let n = out.msgs.len() + out.unparsed.len();
        assert_eq!(n, 0, "{file}: one spoofed datagram made the switch send {n} message(s) in 40 s: {:?}", out.msgs);
    }
}
