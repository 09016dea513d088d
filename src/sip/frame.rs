//! Splitting SIP messages off a byte stream (TCP, TLS): RFC 3261 §18.3 frames by
//! Content-Length. Header and body sizes are capped so a peer cannot make the
//! switch buffer without bound.

use super::grammar::{is_ws, parse_u32};
use super::header::HeaderName;

/// What the next bytes of a stream hold.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Frame {
    /// Not enough bytes yet.
    Partial,
    /// `skip` bytes of CRLF keep-alive (RFC 5626 §3.5.1: a double CRLF is a ping
    /// to be answered with one CRLF), then nothing else yet.
    KeepAlive {
        /// Bytes to drop.
        skip: usize,
        /// True when a full CRLFCRLF ping was seen.
        ping: bool,
    },
    /// A complete message at `start..end`.
    Message {
        /// First byte of the start line.
        start: usize,
        /// One past the body.
        end: usize,
    },
}

/// Why the stream cannot be framed; the connection must be closed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum FrameError {
    /// The header block grew past the cap without ending.
    #[error("header block exceeds {0} bytes")]
    HeadersTooLarge(usize),
    /// Content-Length is over the cap.
    #[error("body exceeds {0} bytes")]
    BodyTooLarge(usize),
    /// Content-Length missing (mandatory on streams), malformed or repeated with
    /// different values.
    #[error("missing or malformed Content-Length on a stream")]
    BadContentLength,
}

/// Finds the next message in `buf`.
pub fn next_frame(buf: &[u8], max_header: usize, max_body: usize) -> Result<Frame, FrameError> {
    let mut start = 0;
    while start + 1 < buf.len() && buf[start] == b'\r' && buf[start + 1] == b'\n' {
        start += 2;
    }
    if start > 0 {
        return Ok(Frame::KeepAlive { skip: start, ping: start >= 4 });
    }
    let search_end = buf.len().min(max_header + 4);
    let head_end = match buf[..search_end].windows(4).position(|w| w == b"\r\n\r\n") {
        Some(p) => p,
        None if buf.len() > max_header => return Err(FrameError::HeadersTooLarge(max_header)),
        None => return Ok(Frame::Partial),
    };
    let cl = content_length(&buf[..head_end])?;
    if cl > max_body {
        return Err(FrameError::BodyTooLarge(max_body));
    }
    let end = head_end + 4 + cl;
    if buf.len() < end {
        return Ok(Frame::Partial);
    }
    Ok(Frame::Message { start: 0, end })
}

/// Reads Content-Length (or `l`) from a header block, line by line.
fn content_length(head: &[u8]) -> Result<usize, FrameError> {
    let mut found: Option<u32> = None;
    for line in head.split(|&b| b == b'\n') {
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        if line.first().is_some_and(|&b| is_ws(b)) {
            continue;
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else { continue };
        let name = super::grammar::trim(&line[..colon]);
        if HeaderName::from_bytes(name) != HeaderName::ContentLength {
            continue;
        }
        let v = super::grammar::trim(&line[colon + 1..]);
        let n = parse_u32(v, u64::from(u32::MAX)).ok_or(FrameError::BadContentLength)?;
        if found.is_some_and(|f| f != n) {
            return Err(FrameError::BadContentLength);
        }
        found = Some(n);
    }
    found.map(|n| n as usize).ok_or(FrameError::BadContentLength)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn frames() {
        let m = b"OPTIONS sip:a@b SIP/2.0\r\nl: 3\r\n\r\nabcOPTIONS";
        assert_eq!(next_frame(m, 1000, 1000), Ok(Frame::Message { start: 0, end: 36 }));
        assert_eq!(next_frame(&m[..30], 1000, 1000), Ok(Frame::Partial));
        assert_eq!(next_frame(b"\r\n\r\nX", 1000, 1000), Ok(Frame::KeepAlive { skip: 4, ping: true }));
        assert_eq!(next_frame(b"X\r\n\r\n", 1000, 1000), Err(FrameError::BadContentLength));
        assert_eq!(next_frame(&[b'a'; 2000], 1000, 1000), Err(FrameError::HeadersTooLarge(1000)));
        assert_eq!(
            next_frame(b"A sip:a SIP/2.0\r\nContent-Length: 99999\r\n\r\n", 1000, 1000),
            Err(FrameError::BodyTooLarge(1000))
        );
        assert_eq!(
            next_frame(b"A sip:a SIP/2.0\r\nContent-Length: 1\r\nl: 2\r\n\r\n", 1000, 1000),
            Err(FrameError::BadContentLength)
        );
    }
}
