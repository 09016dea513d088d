//! The parser, stream framing and the 400-builder on arbitrary bytes: no
//! panic, and whatever parses exposes every view without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use switchyard::sip::{self, HeaderName};

fuzz_target!(|data: &[u8]| {
    if let Ok(m) = sip::parse(data) {
        let _ = (m.top_via().map(|v| (v.branch(), v.rport(), v.received())), m.from_tag(), m.to_tag(), m.call_id());
        let _ = (m.request_uri(), m.contacts(), m.expires(), m.content_type(), m.values(HeaderName::Route), m.body().len());
        let _ = (m.defect(), m.cseq(), m.max_forwards(), m.is_contact_star(), m.via_count());
        // Whatever we accept we must be able to answer.
        if m.is_request() && m.defect().is_none() {
            let r = sip::build::response_to(&m, 200, "", Some("t"), Some(([127, 0, 0, 1], 5060).into())).finish(None, b"");
            sip::parse(&r).expect("our response to an accepted request must parse");
        }
    } else {
        let _ = sip::reject::response_to_unparsable(data, 400, "x", "t");
    }
    let _ = sip::frame::next_frame(data, 4096, 4096);
});
