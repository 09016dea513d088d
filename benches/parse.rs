//! SIP parsing: Switchyard's parser against rsip 0.4 (the design card's
//! message crate) on the same messages, plus how many RFC 4475 verdicts each
//! gets right. Run: `cargo bench --bench parse`.

use std::hint::black_box;
use std::path::PathBuf;

use criterion::{Criterion, criterion_group, criterion_main};

const INVITE: &[u8] = b"INVITE sip:9000@127.0.0.1:5060 SIP/2.0\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-12345-1-0\r\n\
From: sipp <sip:sipp@127.0.0.1:5061>;tag=12345SIPpTag001\r\n\
To: 9000 <sip:9000@127.0.0.1:5060>\r\n\
Call-ID: 1-12345@127.0.0.1\r\n\
CSeq: 1 INVITE\r\n\
Contact: sip:sipp@127.0.0.1:5061\r\n\
Max-Forwards: 70\r\n\
Subject: Performance Test\r\n\
Content-Type: application/sdp\r\n\
Content-Length: 129\r\n\
\r\n\
v=0\r\no=user1 53655765 2353687637 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 6000 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n";

const RESPONSE: &[u8] = b"SIP/2.0 200 OK\r\n\
Via: SIP/2.0/UDP 127.0.0.1:5060;branch=z9hG4bKabcdefabcdef0123;rport=5060;received=127.0.0.1\r\n\
From: <sip:sipp@switchyard.local>;tag=abcdefabcdef\r\n\
To: <sip:9000@127.0.0.1:5070>;tag=12345SIPpTag011\r\n\
Call-ID: abcdefabcdefabcdefab@switchyard\r\n\
CSeq: 1 INVITE\r\n\
Contact: <sip:127.0.0.1:5070;transport=UDP>\r\n\
Content-Length: 0\r\n\r\n";

fn verdicts() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/testdata/rfc4475");
    let Ok(tsv) = std::fs::read_to_string(dir.join("expect.tsv")) else {
        eprintln!("RFC 4475 corpus not found at {} (shared/ beside the project): verdict comparison skipped", dir.display());
        return;
    };
    let (mut ours, mut theirs, mut n) = (0, 0, 0);
    for line in tsv.lines().filter(|l| !l.starts_with('#') && !l.trim().is_empty()) {
        let f: Vec<&str> = line.split('\t').collect();
        let Ok(bytes) = std::fs::read(dir.join(f[0])) else { continue };
        let want_ok = f[2] == "parse";
        n += 1;
        if switchyard::sip::parse(&bytes).is_ok() == want_ok {
            ours += 1;
        }
        if rsip::SipMessage::try_from(bytes.as_slice()).is_ok() == want_ok {
            theirs += 1;
        }
    }
    println!("RFC 4475 verdicts right: switchyard {ours}/{n}, rsip {theirs}/{n}");
}

fn bench(c: &mut Criterion) {
    verdicts();
    let mut g = c.benchmark_group("parse");
    g.bench_function("switchyard/invite", |b| b.iter(|| switchyard::sip::parse(black_box(INVITE)).map(|m| m.cseq_seq())));
    g.bench_function("rsip/invite", |b| b.iter(|| rsip::SipMessage::try_from(black_box(INVITE)).is_ok()));
    g.bench_function("switchyard/200", |b| b.iter(|| switchyard::sip::parse(black_box(RESPONSE)).map(|m| m.cseq_seq())));
    g.bench_function("rsip/200", |b| b.iter(|| rsip::SipMessage::try_from(black_box(RESPONSE)).is_ok()));
    g.bench_function("switchyard/invite+top_via+from_tag", |b| {
        b.iter(|| {
            let m = switchyard::sip::parse(black_box(INVITE)).ok()?;
            let br = m.top_via()?.branch()?.len();
            Some(br + m.from_tag()?.len())
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
