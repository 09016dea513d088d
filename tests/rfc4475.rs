//! RFC 4475 torture messages: every one gets the verdict in `expect.tsv`.
//!
//! Reads `../shared/testdata/rfc4475/` (byte-exact files, not copied into the
//! project). Section 3.3 messages parse and then get the answer the RFC asks of
//! the element; that part is checked in `sip_torture_answers` against the
//! switch's request screening.

use std::path::PathBuf;

use switchyard::sip;

fn corpus() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata/rfc4475");
    assert!(
        dir.join("expect.tsv").is_file(),
        "this test needs the RFC 4475 corpus at {} (the shared/ folder beside the project)",
        dir.display()
    );
    dir
}

fn cases() -> Vec<(String, String, String, Vec<u8>)> {
    let dir = corpus();
    let tsv = std::fs::read_to_string(dir.join("expect.tsv")).expect("read expect.tsv");
    tsv.lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut it = l.split('\t');
            let file = it.next().unwrap().to_string();
            let section = it.next().unwrap().to_string();
            let verdict = it.next().unwrap().to_string();
            let bytes = std::fs::read(dir.join(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
            (file, section, verdict, bytes)
        })
        .collect()
}

#[test]
fn every_torture_message_gets_its_verdict() {
    let cases = cases();
    assert_eq!(cases.len(), 50, "expect.tsv lists 50 messages");
    let mut wrong = Vec::new();
    for (file, section, verdict, bytes) in &cases {
        let got = match sip::parse(bytes) {
            Ok(_) => "parse",
            Err(_) => "reject",
        };
        if got != verdict {
            wrong.push(format!("{file} ({section}): expected {verdict}, got {got}: {:?}", sip::parse(bytes).err()));
        }
    }
    assert!(wrong.is_empty(), "{} wrong verdicts:\n{}", wrong.len(), wrong.join("\n"));
}

#[test]
fn refused_requests_get_400_or_505_when_answerable() {
    for (file, _section, verdict, bytes) in cases() {
        if verdict != "reject" {
            continue;
        }
        let err = sip::parse(&bytes).unwrap_err();
        let answer = sip::reject::response_to_unparsable(&bytes, err.status(), &err.to_string(), "t1");
        let is_response = bytes.starts_with(b"SIP/");
        if is_response {
            assert!(answer.is_none(), "{file}: a response is never answered");
            continue;
        }
        if let Some(a) = answer {
            // Header lines are copied verbatim (RFC 3261 §8.2.6.2), malformed or
            // not, so only our status line is checked here.
            let want = if file.starts_with("TC_BADVERS") { "SIP/2.0 505 " } else { "SIP/2.0 400 " };
            assert!(a.starts_with(want.as_bytes()), "{file}: {}", String::from_utf8_lossy(&a));
        } else {
            // Only messages missing a mandatory header line may go unanswered.
            assert!(file.starts_with("TC_TEST_I"), "{file}: a refused request with all mandatory lines must be answered");
        }
    }
}
