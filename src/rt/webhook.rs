//! The HTTP/1.1 client behind the dialplan's `webhook` action: POST the call's
//! state as JSON to an application server and hand its JSON reply back.
//!
//! The application server is outside the switch's control and a call waits on
//! it, so everything is bounded: one deadline covers resolving, connecting,
//! writing and reading; the response head is capped at 16 KiB and the body at
//! 1 MiB. A slow or hostile server can cost a call at most its timeout and the
//! process about a megabyte per request in flight, and no input makes this
//! code panic.
//!
//! Deliberately small: plain `http://` only (the switch has no outbound TLS,
//! see [`super::tls`]), one request per connection (`Connection: close`), no
//! redirects, no compression. A URL is a dialplan template, so after expansion
//! it may hold anything; characters that could split the request line or a
//! header are refused rather than escaped, because guessing which escaping the
//! application expects would hide a dialplan mistake.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Cap on one response head (status line, headers, blank line), and on the
/// trailer section of a chunked body.
const MAX_HEAD: usize = 16 * 1024;
/// Cap on the decoded response body.
const MAX_BODY: usize = 1024 * 1024;
/// A server could otherwise keep the request busy with an endless series of
/// `100 Continue` heads, each within the head cap.
const MAX_INTERIM: usize = 8;
/// Bytes asked of the socket per read.
const READ_CHUNK: usize = 8 * 1024;

/// Why a webhook request failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WebhookError {
    /// The URL is not one this client can use; the text says why.
    #[error("bad webhook URL: {0}")]
    BadUrl(String),
    /// The host could not be resolved or no address accepted the connection.
    #[error("cannot connect to the application server: {0}")]
    Connect(#[source] std::io::Error),
    /// The whole exchange did not finish within the timeout.
    #[error("the application server did not answer in time")]
    Timeout,
    /// Writing the request or reading the response failed.
    #[error("I/O error talking to the application server: {0}")]
    Io(#[source] std::io::Error),
    /// The final status was not 2xx.
    #[error("the application server answered with status {0}")]
    Status(u16),
    /// The response is not well-formed HTTP/1.x; the text says what is wrong.
    #[error("malformed response from the application server: {0}")]
    BadResponse(&'static str),
    /// The response head exceeds 16 KiB or the body 1 MiB.
    #[error("response from the application server is too large (limits: 16 KiB of headers, 1 MiB of body)")]
    TooLarge,
}

/// POSTs `body` (JSON) to `url` and returns the reply's body, all within `timeout`
/// (connect, write, read together).
pub async fn post_json(url: &str, body: &[u8], timeout: Duration) -> Result<Vec<u8>, WebhookError> {
    let target = Target::parse(url)?;
    match tokio::time::timeout(timeout, exchange(&target, body)).await {
        Ok(result) => result,
        // Dropping the future closes the socket. A name lookup already handed
        // to the blocking pool runs on, but nothing waits for it.
        Err(_elapsed) => Err(WebhookError::Timeout),
    }
}

async fn exchange(target: &Target, body: &[u8]) -> Result<Vec<u8>, WebhookError> {
    let mut stream = connect(target).await?;
    // One write: the head and body in separate segments would meet Nagle and
    // the peer's delayed ACK, costing tens of milliseconds per call.
    stream.write_all(&target.request(body)).await.map_err(WebhookError::Io)?;
    stream.flush().await.map_err(WebhookError::Io)?;
    read_response(stream).await
}

async fn connect(target: &Target) -> Result<TcpStream, WebhookError> {
    let addrs: Vec<SocketAddr> = match target.host {
        Host::Ip(ip) => vec![SocketAddr::new(ip, target.port)],
        Host::Name(ref name) => tokio::net::lookup_host((name.as_str(), target.port))
            .await
            .map_err(WebhookError::Connect)?
            .collect(),
    };
    let mut last = None;
    // In order, not raced: the shared deadline bounds the total, and a
    // webhook server is normally one address on the local network.
    for addr in addrs {
        match TcpStream::connect(addr).await {
            Ok(stream) => {
                // Best effort; the request goes out in one write anyway.
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = Some(e),
        }
    }
    Err(WebhookError::Connect(last.unwrap_or_else(|| {
        std::io::Error::new(std::io::ErrorKind::NotFound, "the host name resolved to no address")
    })))
}

/// Where to send the request, parsed from the URL.
#[derive(Debug, PartialEq, Eq)]
struct Target {
    host: Host,
    port: u16,
    /// Value of the `Host` header: the authority as written, minus a default port.
    authority: String,
    /// Request target: path and query, never empty.
    path: String,
}

#[derive(Debug, PartialEq, Eq)]
enum Host {
    Ip(IpAddr),
    Name(String),
}

fn bad_url(why: impl Into<String>) -> WebhookError {
    WebhookError::BadUrl(why.into())
}

impl Target {
    fn parse(url: &str) -> Result<Target, WebhookError> {
        let rest = match url.split_once("://") {
            Some((scheme, rest)) if scheme.eq_ignore_ascii_case("http") => rest,
            Some((scheme, _)) if scheme.eq_ignore_ascii_case("https") => {
                return Err(bad_url(format!(
                    "`{url}`: https is not supported (the switch has no outbound TLS); use http://"
                )));
            }
            Some((scheme, _)) => return Err(bad_url(format!("`{url}`: scheme `{scheme}` is not supported; use http://"))),
            None => return Err(bad_url(format!("`{url}`: no scheme; a webhook URL starts with http://"))),
        };
        // Anything here would end up in the request line or the Host header.
        if let Some(c) = rest.chars().find(|c| !c.is_ascii_graphic()) {
            return Err(bad_url(format!(
                "`{url}`: contains {c:?}; spaces, control and non-ASCII characters must be percent-encoded"
            )));
        }
        // The fragment belongs to the client and is never sent.
        let rest = rest.split_once('#').map_or(rest, |(before, _)| before);
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, path) = rest.split_at(split);
        if authority.contains('@') {
            return Err(bad_url(format!("`{url}`: user credentials in the URL are not supported")));
        }
        let (host_text, port_text) = if let Some(after) = authority.strip_prefix('[') {
            let Some((inside, after)) = after.split_once(']') else {
                return Err(bad_url(format!("`{url}`: `[` without a closing `]`")));
            };
            let Ok(v6) = inside.parse::<Ipv6Addr>() else {
                return Err(bad_url(format!(
                    "`{url}`: `{inside}` is not an IPv6 address (zone IDs are not supported)"
                )));
            };
            let port = match after {
                "" => None,
                p => match p.strip_prefix(':') {
                    Some(p) => Some(p),
                    None => return Err(bad_url(format!("`{url}`: unexpected `{p}` after the IPv6 address"))),
                },
            };
            (Host::Ip(IpAddr::V6(v6)), port)
        } else {
            let (name, port) = match authority.split_once(':') {
                Some((name, port)) => (name, Some(port)),
                None => (authority, None),
            };
            (parse_host(url, name)?, port)
        };
        let port = match port_text {
            None => 80,
            Some(p) => parse_port(url, p)?,
        };
        let host_for_header = match host_text {
            Host::Ip(IpAddr::V6(v6)) => format!("[{v6}]"),
            Host::Ip(IpAddr::V4(v4)) => v4.to_string(),
            Host::Name(ref n) => n.clone(),
        };
        let authority = if port == 80 {
            host_for_header
        } else {
            format!("{host_for_header}:{port}")
        };
        let path = match path {
            "" => "/".to_owned(),
            p if p.starts_with('?') => format!("/{p}"),
            p => p.to_owned(),
        };
        Ok(Target {
            host: host_text,
            port,
            authority,
            path,
        })
    }

    fn request(&self, body: &[u8]) -> Vec<u8> {
        let head = format!(
            "POST {} HTTP/1.1\r\nHost: {}\r\nContent-Type: application/json\r\nAccept: application/json\r\n\
             Content-Length: {}\r\nConnection: close\r\nUser-Agent: switchyard\r\n\r\n",
            self.path,
            self.authority,
            body.len()
        );
        let mut out = Vec::with_capacity(head.len() + body.len());
        out.extend_from_slice(head.as_bytes());
        out.extend_from_slice(body);
        out
    }
}

fn parse_host(url: &str, name: &str) -> Result<Host, WebhookError> {
    if name.is_empty() {
        return Err(bad_url(format!("`{url}`: no host")));
    }
    if name.len() > 253 {
        return Err(bad_url(format!("`{url}`: host name longer than 253 characters")));
    }
    if let Some(c) = name.chars().find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '-' | '.' | '_'))) {
        return Err(bad_url(format!("`{url}`: {c:?} is not allowed in a host name")));
    }
    if let Ok(v4) = name.parse::<Ipv4Addr>() {
        return Ok(Host::Ip(IpAddr::V4(v4)));
    }
    // The system resolver would read `0177.0.0.1`, `2130706433` or `0x7f.1`
    // as 127.0.0.1; only the dotted-quad form is taken as an address, and
    // anything else that looks numeric is refused rather than guessed at.
    let last = name.trim_end_matches('.').rsplit('.').next().unwrap_or("");
    let hex = last.strip_prefix("0x").or_else(|| last.strip_prefix("0X"));
    let numeric =
        (!last.is_empty() && last.bytes().all(|b| b.is_ascii_digit())) || hex.is_some_and(|h| h.bytes().all(|b| b.is_ascii_hexdigit()));
    if numeric {
        return Err(bad_url(format!("`{url}`: `{name}` is not a dotted-quad IPv4 address")));
    }
    Ok(Host::Name(name.to_owned()))
}

fn parse_port(url: &str, port: &str) -> Result<u16, WebhookError> {
    // `u16::from_str` would accept a leading `+`.
    if port.is_empty() || !port.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad_url(format!("`{url}`: port `{port}` is not a number")));
    }
    match port.parse::<u16>() {
        Ok(0) | Err(_) => Err(bad_url(format!("`{url}`: port `{port}` is out of range (1-65535)"))),
        Ok(p) => Ok(p),
    }
}

/// Reads one response (after any interim ones) and returns its body if the
/// final status is 2xx.
async fn read_response<R: AsyncRead + Unpin>(io: R) -> Result<Vec<u8>, WebhookError> {
    let mut r = Reader {
        io,
        buf: Vec::new(),
        pos: 0,
    };
    let mut interim = 0;
    let head = loop {
        let head = read_head(&mut r).await?;
        match head.status {
            101 => return Err(WebhookError::BadResponse("the server switched protocols")),
            100..=199 => {
                interim += 1;
                if interim > MAX_INTERIM {
                    return Err(WebhookError::BadResponse("too many interim (1xx) responses"));
                }
            }
            _ => break head,
        }
    };
    if !(200..=299).contains(&head.status) {
        // The error body is not read: the caller only acts on the status, and
        // the connection is closed anyway.
        return Err(WebhookError::Status(head.status));
    }
    if head.status == 204 {
        return Ok(Vec::new());
    }
    match head.framing {
        Framing::Chunked => read_chunked(&mut r).await,
        Framing::Length(n) => {
            let n = usize::try_from(n).ok().filter(|&n| n <= MAX_BODY).ok_or(WebhookError::TooLarge)?;
            let mut body = Vec::with_capacity(n);
            r.take_exact(&mut body, n).await?;
            Ok(body)
        }
        Framing::Eof => r.take_to_eof().await,
    }
}

#[derive(Debug)]
struct Head {
    status: u16,
    framing: Framing,
}

#[derive(Debug, PartialEq, Eq)]
enum Framing {
    Chunked,
    Length(u64),
    Eof,
}

async fn read_head<R: AsyncRead + Unpin>(r: &mut Reader<R>) -> Result<Head, WebhookError> {
    let mut budget = MAX_HEAD;
    let line = r
        .line(&mut budget)
        .await?
        .ok_or(WebhookError::BadResponse("connection closed before a complete response head"))?;
    let status = parse_status_line(&line)?;
    let mut length: Option<u64> = None;
    let mut chunked = false;
    let mut transfer_encoding = false;
    loop {
        let line = r
            .line(&mut budget)
            .await?
            .ok_or(WebhookError::BadResponse("connection closed before a complete response head"))?;
        if line.is_empty() {
            break;
        }
        if matches!(line.first(), Some(b' ' | b'\t')) {
            return Err(WebhookError::BadResponse("obsolete line folding in a header"));
        }
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            return Err(WebhookError::BadResponse("header line without a colon"));
        };
        let (name, value) = (&line[..colon], trim_ows(&line[colon + 1..]));
        if name.is_empty() || name.iter().any(|b| !b.is_ascii_graphic()) {
            return Err(WebhookError::BadResponse("malformed header name"));
        }
        if name.eq_ignore_ascii_case(b"content-length") {
            // A repeated or list-valued Content-Length is tolerated only when
            // every value agrees; otherwise the framing is ambiguous.
            for item in value.split(|&b| b == b',') {
                let n = parse_decimal(trim_ows(item)).ok_or(WebhookError::BadResponse("invalid Content-Length"))?;
                if length.is_some_and(|l| l != n) {
                    return Err(WebhookError::BadResponse("conflicting Content-Length values"));
                }
                length = Some(n);
            }
        } else if name.eq_ignore_ascii_case(b"transfer-encoding") {
            // Only plain `chunked` is decodable here; `gzip, chunked` would
            // hand the dialplan compressed bytes.
            for item in value.split(|&b| b == b',') {
                let item = trim_ows(item);
                if item.is_empty() {
                    continue;
                }
                if !item.eq_ignore_ascii_case(b"chunked") || chunked {
                    return Err(WebhookError::BadResponse(
                        "unsupported Transfer-Encoding (only chunked is accepted)",
                    ));
                }
                chunked = true;
            }
            transfer_encoding = true;
        }
    }
    let framing = if transfer_encoding {
        if !chunked {
            return Err(WebhookError::BadResponse("empty Transfer-Encoding"));
        }
        // Transfer-Encoding overrides Content-Length (RFC 9112 §6.3).
        Framing::Chunked
    } else {
        length.map_or(Framing::Eof, Framing::Length)
    };
    Ok(Head { status, framing })
}

fn parse_status_line(line: &[u8]) -> Result<u16, WebhookError> {
    const BAD: WebhookError = WebhookError::BadResponse("invalid status line");
    let rest = line.strip_prefix(b"HTTP/1.").ok_or(BAD)?;
    let [minor, b' ', d1, d2, d3, tail @ ..] = rest else {
        return Err(BAD);
    };
    if !minor.is_ascii_digit() || !matches!(tail.first(), None | Some(b' ')) {
        return Err(BAD);
    }
    let digits = [*d1, *d2, *d3];
    if !digits.iter().all(u8::is_ascii_digit) || *d1 == b'0' {
        return Err(BAD);
    }
    Ok(digits.iter().fold(0u16, |acc, d| acc * 10 + u16::from(d - b'0')))
}

async fn read_chunked<R: AsyncRead + Unpin>(r: &mut Reader<R>) -> Result<Vec<u8>, WebhookError> {
    const TRUNCATED: WebhookError = WebhookError::BadResponse("connection closed inside a chunked body");
    let mut body = Vec::new();
    loop {
        // Each size line gets its own allowance: a line is short unless the
        // server pads it with extensions, and the body cap and deadline bound
        // how many lines there can be.
        let mut budget = MAX_HEAD;
        let line = r.line(&mut budget).await?.ok_or(TRUNCATED)?;
        let size_text = line.split(|&b| b == b';').next().map_or(&[][..], trim_ows);
        if size_text.is_empty() || !size_text.iter().all(u8::is_ascii_hexdigit) {
            return Err(WebhookError::BadResponse("invalid chunk size"));
        }
        // Saturating, so a size with many digits turns into TooLarge below
        // instead of wrapping; leading zeros stay harmless.
        let size = size_text.iter().fold(0u64, |acc, &d| {
            let v = u64::from(char::from(d).to_digit(16).unwrap_or(0));
            acc.saturating_mul(16).saturating_add(v)
        });
        if size == 0 {
            break;
        }
        let size = usize::try_from(size)
            .ok()
            .filter(|&s| s <= MAX_BODY - body.len())
            .ok_or(WebhookError::TooLarge)?;
        r.take_exact(&mut body, size).await.map_err(|e| match e {
            WebhookError::BadResponse(_) => TRUNCATED,
            e => e,
        })?;
        let mut budget = MAX_HEAD;
        match r.line(&mut budget).await {
            Ok(Some(l)) if l.is_empty() => {}
            Ok(Some(_)) | Err(WebhookError::TooLarge) => return Err(WebhookError::BadResponse("chunk data longer than its size")),
            Ok(None) => return Err(TRUNCATED),
            Err(e) => return Err(e),
        }
    }
    // Trailers are skipped. A close before the final blank line is accepted:
    // the zero-size chunk already proved the body complete, and nothing else
    // is expected on this connection.
    let mut budget = MAX_HEAD;
    while let Some(line) = r.line(&mut budget).await? {
        if line.is_empty() {
            break;
        }
    }
    Ok(body)
}

fn trim_ows(mut s: &[u8]) -> &[u8] {
    while let [b' ' | b'\t', rest @ ..] = s {
        s = rest;
    }
    while let [rest @ .., b' ' | b'\t'] = s {
        s = rest;
    }
    s
}

fn parse_decimal(s: &[u8]) -> Option<u64> {
    if s.is_empty() || !s.iter().all(u8::is_ascii_digit) {
        return None;
    }
    s.iter()
        .try_fold(0u64, |acc, &d| acc.checked_mul(10)?.checked_add(u64::from(d - b'0')))
}

/// A read buffer over the connection: the head is read line by line and the
/// body may already sit partly in the buffer when the head ends.
struct Reader<R> {
    io: R,
    buf: Vec<u8>,
    /// Start of the unconsumed bytes in `buf`.
    pos: usize,
}

impl<R: AsyncRead + Unpin> Reader<R> {
    fn pending(&self) -> &[u8] {
        self.buf.get(self.pos..).unwrap_or_default()
    }

    /// Reads more from the connection into the buffer; `false` at end of stream.
    async fn fill(&mut self) -> Result<bool, WebhookError> {
        // Consumed bytes are dropped first so the buffer never outgrows what
        // is still unread plus one read.
        self.buf.drain(..self.pos.min(self.buf.len()));
        self.pos = 0;
        let start = self.buf.len();
        self.buf.resize(start + READ_CHUNK, 0);
        let result = self.io.read(&mut self.buf[start..]).await;
        let n = *result.as_ref().unwrap_or(&0);
        self.buf.truncate(start + n);
        result.map(|n| n > 0).map_err(WebhookError::Io)
    }

    /// The next line without its terminator (CRLF, or a bare LF, which
    /// RFC 9112 §2.2 lets a recipient accept), charged against `budget`.
    /// `None` if the stream ends first.
    async fn line(&mut self, budget: &mut usize) -> Result<Option<Vec<u8>>, WebhookError> {
        loop {
            let pending = self.pending();
            let window = &pending[..pending.len().min(*budget)];
            if let Some(end) = window.iter().position(|&b| b == b'\n') {
                let mut line = window[..end].to_vec();
                if line.last() == Some(&b'\r') {
                    line.pop();
                }
                self.pos += end + 1;
                *budget -= end + 1;
                return Ok(Some(line));
            }
            if pending.len() >= *budget {
                return Err(WebhookError::TooLarge);
            }
            if !self.fill().await? {
                return Ok(None);
            }
        }
    }

    /// Appends exactly `n` bytes to `out`.
    async fn take_exact(&mut self, out: &mut Vec<u8>, mut n: usize) -> Result<(), WebhookError> {
        loop {
            let pending = self.pending();
            let take = pending.len().min(n);
            out.extend_from_slice(&pending[..take]);
            self.pos += take;
            n -= take;
            if n == 0 {
                return Ok(());
            }
            if !self.fill().await? {
                return Err(WebhookError::BadResponse("connection closed before the end of the body"));
            }
        }
    }

    /// Everything up to the end of the stream, within the body cap.
    async fn take_to_eof(&mut self) -> Result<Vec<u8>, WebhookError> {
        let mut body = Vec::new();
        loop {
            let pending = self.pending();
            if body.len() + pending.len() > MAX_BODY {
                return Err(WebhookError::TooLarge);
            }
            body.extend_from_slice(pending);
            self.pos = self.buf.len();
            if !self.fill().await? {
                return Ok(body);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rt::Clock;
    use tokio::net::TcpListener;
    use tokio::task::JoinHandle;

    const T: Duration = Duration::from_secs(5);

    /// Reads one request (head and Content-Length body) off `stream`.
    async fn read_request(stream: &mut TcpStream) -> Vec<u8> {
        let mut req = Vec::new();
        let mut buf = [0u8; 4096];
        loop {
            if let Some(end) = req.windows(4).position(|w| w == b"\r\n\r\n") {
                let head = String::from_utf8_lossy(&req[..end]).to_ascii_lowercase();
                let len: usize = head
                    .lines()
                    .find_map(|l| l.strip_prefix("content-length:"))
                    .map(|v| v.trim().parse().unwrap())
                    .unwrap_or(0);
                if req.len() >= end + 4 + len {
                    return req;
                }
            }
            let n = stream.read(&mut buf).await.unwrap();
            if n == 0 {
                return req;
            }
            req.extend_from_slice(&buf[..n]);
        }
    }

    /// A server for one connection: reads the request, writes `parts` one
    /// write at a time with a pause between them, then closes. Yields the
    /// request it received.
    async fn serve_once(parts: Vec<Vec<u8>>) -> (String, JoinHandle<Vec<u8>>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let req = read_request(&mut stream).await;
            for (i, part) in parts.iter().enumerate() {
                if i > 0 {
                    Clock::sleep(Duration::from_millis(5)).await;
                }
                // The client may hang up early (e.g. on TooLarge); that is not
                // the server's failure.
                if stream.write_all(part).await.is_err() {
                    break;
                }
                let _ = stream.flush().await;
            }
            req
        });
        (format!("http://127.0.0.1:{port}"), task)
    }

    fn parts(list: &[&str]) -> Vec<Vec<u8>> {
        list.iter().map(|s| s.as_bytes().to_vec()).collect()
    }

    #[tokio::test]
    async fn content_length_reply_and_request_shape() {
        let (base, server) = serve_once(parts(&[
            "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nContent-Length: 11\r\n\r\n{\"ok\":true}",
        ]))
        .await;
        let body = br#"{"call":"abc","from":"1001"}"#;
        let reply = post_json(&format!("{base}/hooks/call?id=42&x=y"), body, T).await.unwrap();
        assert_eq!(reply, br#"{"ok":true}"#);

        let req = server.await.unwrap();
        let text = String::from_utf8(req).unwrap();
        let (head, sent_body) = text.split_once("\r\n\r\n").unwrap();
        let mut lines = head.split("\r\n");
        assert_eq!(lines.next(), Some("POST /hooks/call?id=42&x=y HTTP/1.1"));
        let headers: Vec<&str> = lines.collect();
        let port = base.rsplit(':').next().unwrap();
        assert!(headers.contains(&format!("Host: 127.0.0.1:{port}").as_str()), "{headers:?}");
        assert!(headers.contains(&format!("Content-Length: {}", body.len()).as_str()), "{headers:?}");
        for h in [
            "Content-Type: application/json",
            "Accept: application/json",
            "Connection: close",
            "User-Agent: switchyard",
        ] {
            assert!(headers.contains(&h), "missing {h} in {headers:?}");
        }
        assert_eq!(sent_body.as_bytes(), body);
    }

    #[tokio::test]
    async fn chunked_reply_split_across_writes() {
        let (base, server) = serve_once(parts(&[
            "HTTP/1.1 200 OK\r\nTransfer-",
            "Encoding: Chunked\r\n\r\n",
            "5;ext=1\r\n{\"a\":",
            "\r\n",
            "0",
            "3\r\n12}\r\n",
            "0\r\nX-Trailer: yes\r\n",
            "\r\n",
        ]))
        .await;
        let reply = post_json(&format!("{base}/"), b"{}", T).await.unwrap();
        assert_eq!(reply, br#"{"a":12}"#);
        server.await.unwrap();
    }

    #[tokio::test]
    async fn reply_read_to_eof() {
        let (base, server) = serve_once(parts(&["HTTP/1.0 200 OK\r\n", "Content-Type: application/json\r\n\r\n[1,", "2,3]"])).await;
        let reply = post_json(&base, b"{}", T).await.unwrap();
        assert_eq!(reply, b"[1,2,3]");
        let req = server.await.unwrap();
        assert!(req.starts_with(b"POST / HTTP/1.1\r\n"), "{}", String::from_utf8_lossy(&req));
    }

    #[tokio::test]
    async fn server_error_status() {
        let (base, server) = serve_once(parts(&["HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n\r\noops!"])).await;
        let err = post_json(&format!("{base}/x"), b"{}", T).await.unwrap_err();
        assert!(matches!(err, WebhookError::Status(500)), "{err:?}");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn interim_response_skipped() {
        let (base, server) = serve_once(parts(&[
            "HTTP/1.1 100 Continue\r\n\r\n",
            "HTTP/1.1 200 OK\r\ncontent-length: 2\r\n\r\n{}",
        ]))
        .await;
        assert_eq!(post_json(&base, b"{}", T).await.unwrap(), b"{}");
        server.await.unwrap();
    }

    #[tokio::test]
    async fn silent_server_times_out() {
        // Connections complete in the listen backlog without an accept, so
        // the server simply never answers.
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/", listener.local_addr().unwrap());
        let timeout = Duration::from_millis(200);
        let start = Clock::now();
        let err = post_json(&url, b"{}", timeout).await.unwrap_err();
        let elapsed = start.elapsed();
        assert!(matches!(err, WebhookError::Timeout), "{err:?}");
        assert!(elapsed >= timeout, "{elapsed:?}");
        assert!(elapsed < timeout + Duration::from_millis(800), "{elapsed:?}");
        drop(listener);
    }

    #[tokio::test]
    async fn oversized_headers() {
        let big = format!(
            "HTTP/1.1 200 OK\r\nX-Junk: {}\r\nContent-Length: 2\r\n\r\n{{}}",
            "a".repeat(MAX_HEAD)
        );
        let (base, server) = serve_once(vec![big.into_bytes()]).await;
        let err = post_json(&base, b"{}", T).await.unwrap_err();
        assert!(matches!(err, WebhookError::TooLarge), "{err:?}");
        server.await.unwrap();

        // Many small headers count together.
        let many = format!("HTTP/1.1 200 OK\r\n{}\r\n", "X-A: b\r\n".repeat(MAX_HEAD / 8 + 1));
        let err = read_response(many.as_bytes()).await.unwrap_err();
        assert!(matches!(err, WebhookError::TooLarge), "{err:?}");
    }

    #[tokio::test]
    async fn bad_urls() {
        let cases = [
            ("https://example.com/x", "https is not supported"),
            ("HTTPS://example.com/x", "https is not supported"),
            ("example.com/x", "no scheme"),
            ("/just/a/path", "no scheme"),
            ("ftp://example.com/", "scheme `ftp`"),
            ("http://example.com:99999/", "out of range"),
            ("http://example.com:0/", "out of range"),
            ("http://example.com:abc/", "not a number"),
            ("http://example.com:+80/", "not a number"),
            ("http://example.com:/", "not a number"),
            ("http://127.0.0.1:80:80/", "not a number"),
            ("http:///path", "no host"),
            ("http://", "no host"),
            ("http://user:pw@example.com/", "credentials"),
            ("http://[::1/", "closing"),
            ("http://[nope]/", "not an IPv6 address"),
            ("http://[::1]x/", "unexpected"),
            ("http://exa mple.com/", "percent-encoded"),
            ("http://example.com/a b", "percent-encoded"),
            ("http://example.com/a\r\nX-Injected: 1", "percent-encoded"),
            ("http://example.com/é", "percent-encoded"),
            ("http://0177.0.0.1/", "dotted-quad"),
            ("http://2130706433/", "dotted-quad"),
            ("http://0x7f.1/", "dotted-quad"),
            ("http://exa%6dple.com/", "not allowed in a host name"),
        ];
        for (url, why) in cases {
            match post_json(url, b"{}", T).await {
                Err(WebhookError::BadUrl(msg)) => assert!(msg.contains(why), "{url}: {msg}"),
                other => panic!("{url}: {other:?}"),
            }
        }
    }

    #[test]
    fn url_forms() {
        let t = Target::parse("http://[::1]:8080?q=1#frag").unwrap();
        assert_eq!(t.host, Host::Ip("::1".parse().unwrap()));
        assert_eq!((t.port, t.authority.as_str(), t.path.as_str()), (8080, "[::1]:8080", "/?q=1"));

        let t = Target::parse("HTTP://Hooks.Example.com").unwrap();
        assert_eq!(t.host, Host::Name("Hooks.Example.com".into()));
        assert_eq!((t.port, t.authority.as_str(), t.path.as_str()), (80, "Hooks.Example.com", "/"));

        let t = Target::parse("http://10.0.0.7:80/a/b?c=d&e=%20").unwrap();
        assert_eq!(t.host, Host::Ip("10.0.0.7".parse().unwrap()));
        assert_eq!((t.port, t.authority.as_str(), t.path.as_str()), (80, "10.0.0.7", "/a/b?c=d&e=%20"));

        let t = Target::parse("http://app_server-1:9000/").unwrap();
        assert_eq!((t.port, t.authority.as_str()), (9000, "app_server-1:9000"));

        let req = String::from_utf8(Target::parse("http://[::1]/x").unwrap().request(b"{}")).unwrap();
        assert!(req.starts_with("POST /x HTTP/1.1\r\nHost: [::1]\r\n"), "{req}");
        assert!(req.ends_with("\r\n\r\n{}"), "{req}");
    }

    #[tokio::test]
    async fn name_resolution() {
        let (base, server) = serve_once(parts(&["HTTP/1.1 200 OK\r\nContent-Length: 1\r\n\r\n1"])).await;
        let url = base.replace("127.0.0.1", "localhost");
        // Whether `localhost` also resolves to ::1 first depends on the host;
        // connect falls through to 127.0.0.1 either way.
        assert_eq!(post_json(&url, b"{}", T).await.unwrap(), b"1");
        let req = server.await.unwrap();
        let port = url.rsplit(':').next().unwrap();
        assert!(String::from_utf8_lossy(&req).contains(&format!("\r\nHost: localhost:{port}\r\n")));
    }

    #[tokio::test]
    async fn connection_refused() {
        // Bind then drop: the port is (very likely) closed right after.
        let port = TcpListener::bind("127.0.0.1:0").await.unwrap().local_addr().unwrap().port();
        let err = post_json(&format!("http://127.0.0.1:{port}/"), b"{}", T).await.unwrap_err();
        assert!(matches!(err, WebhookError::Connect(_)), "{err:?}");
    }

    async fn parse(raw: &[u8]) -> Result<Vec<u8>, WebhookError> {
        read_response(raw).await
    }

    #[tokio::test]
    async fn response_framing() {
        assert_eq!(parse(b"HTTP/1.1 204 No Content\r\nContent-Length: 9\r\n\r\n").await.unwrap(), b"");
        assert_eq!(
            parse(b"HTTP/1.1 201 Created\r\nContent-Length: 2\r\n\r\n{}trailing").await.unwrap(),
            b"{}"
        );
        assert_eq!(parse(b"HTTP/1.1 200\r\nContent-Length: 2, 2\r\n\r\n{}").await.unwrap(), b"{}");
        assert_eq!(parse(b"HTTP/1.1 200 OK\nContent-Length: 2\n\n{}").await.unwrap(), b"{}");
        assert_eq!(parse(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n").await.unwrap(), b"");
        // Transfer-Encoding wins over Content-Length.
        assert_eq!(
            parse(b"HTTP/1.1 200 OK\r\nContent-Length: 99\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n\r\n")
                .await
                .unwrap(),
            b"{}"
        );
        // Close right after the last chunk: the body is complete.
        assert_eq!(
            parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n0\r\n")
                .await
                .unwrap(),
            b"{}"
        );
        assert_eq!(
            parse(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n000A \r\n0123456789\r\n0\r\n\r\n")
                .await
                .unwrap(),
            b"0123456789"
        );

        let bad = |e: &WebhookError| matches!(e, WebhookError::BadResponse(_));
        for raw in [
            &b""[..],
            b"HTTP/1.1 200 OK\r\n",
            b"HTTP/2 200\r\n\r\n",
            b"HTTP/1.1 20 OK\r\n\r\n",
            b"HTTP/1.1 2000 OK\r\n\r\n",
            b"HTTP/1.1 099 OK\r\n\r\n",
            b"ICY 200 OK\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nno colon\r\n\r\n",
            b"HTTP/1.1 200 OK\r\n: empty name\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nX: a\r\n folded\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 1, 2\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\nContent-Length: -1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999999999999999\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n{}",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, chunked\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: \r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n+2\r\n{}\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}xx\r\n0\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\n{}",
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\n{}\r\n",
            b"HTTP/1.1 101 Switching Protocols\r\n\r\n",
        ] {
            let r = parse(raw).await;
            assert!(r.as_ref().is_err_and(bad), "{:?}: {r:?}", String::from_utf8_lossy(raw));
        }

        let too_many = "HTTP/1.1 100 Continue\r\n\r\n".repeat(MAX_INTERIM + 1);
        assert!(parse(too_many.as_bytes()).await.is_err_and(|e| bad(&e)));
        assert!(matches!(
            parse(b"HTTP/1.1 404 Not Found\r\n\r\n").await,
            Err(WebhookError::Status(404))
        ));
        assert!(matches!(
            parse(b"HTTP/1.1 302 Found\r\nLocation: /x\r\n\r\n").await,
            Err(WebhookError::Status(302))
        ));
    }

    #[tokio::test]
    async fn body_caps() {
        let huge = format!("HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n", MAX_BODY + 1);
        assert!(matches!(parse(huge.as_bytes()).await, Err(WebhookError::TooLarge)));
        let exact = format!("HTTP/1.1 200 OK\r\nContent-Length: {MAX_BODY}\r\n\r\n{}", "x".repeat(MAX_BODY));
        assert_eq!(parse(exact.as_bytes()).await.unwrap().len(), MAX_BODY);

        let to_eof = format!("HTTP/1.1 200 OK\r\n\r\n{}", "x".repeat(MAX_BODY + 1));
        assert!(matches!(parse(to_eof.as_bytes()).await, Err(WebhookError::TooLarge)));

        let huge_chunk = "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffffffffff\r\n";
        assert!(matches!(parse(huge_chunk.as_bytes()).await, Err(WebhookError::TooLarge)));
        // Many chunks that only together pass the cap.
        let chunk = format!("{:x}\r\n{}\r\n", 4096, "y".repeat(4096));
        let many = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n{}0\r\n\r\n",
            chunk.repeat(MAX_BODY / 4096 + 1)
        );
        assert!(matches!(parse(many.as_bytes()).await, Err(WebhookError::TooLarge)));

        let long_ext = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1;{}\r\n",
            "e".repeat(MAX_HEAD)
        );
        assert!(matches!(parse(long_ext.as_bytes()).await, Err(WebhookError::TooLarge)));
        let long_trailer = format!(
            "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\nX: {}\r\n\r\n",
            "t".repeat(MAX_HEAD)
        );
        assert!(matches!(parse(long_trailer.as_bytes()).await, Err(WebhookError::TooLarge)));
    }

    #[tokio::test]
    async fn one_byte_at_a_time() {
        let raw = b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n1;x=y\r\nd\r\n0\r\nT: 1\r\n\r\n";
        let (mut tx, rx) = tokio::io::duplex(1);
        let writer = tokio::spawn(async move { tx.write_all(raw).await.unwrap() });
        assert_eq!(read_response(rx).await.unwrap(), b"abcd");
        writer.await.unwrap();
    }

    /// No prefix of a valid response, and no byte flipped in one, may panic.
    #[tokio::test]
    async fn hostile_input_never_panics() {
        let samples: [&[u8]; 3] = [
            b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3;e\r\nabc\r\n0\r\nT: 1\r\n\r\n",
            b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nabcd",
            b"HTTP/1.0 200 OK\r\n\r\nabcd",
        ];
        let mut seed = 0x2545_f491_4f6c_dd1du64;
        for sample in samples {
            for cut in 0..=sample.len() {
                let _ = parse(&sample[..cut]).await;
            }
            for i in 0..sample.len() {
                for _ in 0..8 {
                    seed ^= seed << 13;
                    seed ^= seed >> 7;
                    seed ^= seed << 17;
                    let mut m = sample.to_vec();
                    m[i] = seed.to_le_bytes()[0];
                    let _ = parse(&m).await;
                }
            }
        }
    }
}
